"""The code-extraction rule of evals/README.md, case by case."""

from __future__ import annotations

from bbjcoder.evaluate.extract import (
    extract_code,
    fenced_blocks,
    has_statements,
    is_prose_line,
    truncate_at_stop,
)


def test_bbj_fenced_blocks_win_over_other_blocks_and_are_joined() -> None:
    text = 'Intro:\n```python\nprint(1)\n```\n```bbj\nPRINT "a"\n```\nand\n```BBj\nPRINT "b"\n```\n'
    assert extract_code(text) == 'PRINT "a"\nPRINT "b"\n'


def test_unlabelled_fence_used_when_no_bbj_block() -> None:
    text = "Here is the code:\n```\nX = 1\nPRINT X\n```\nThat prints one."
    assert extract_code(text) == "X = 1\nPRINT X\n"


def test_unclosed_fence_runs_to_end_of_output() -> None:
    assert extract_code("```bbj\nPRINT 1\nPRINT 2") == "PRINT 1\nPRINT 2\n"


def test_raw_output_drops_prose_lines_but_keeps_code() -> None:
    text = 'Here is a program that greets you.\nPRINT "Hello"\nREM The end of it all\nEND\nThis prints Hello and stops.'
    assert extract_code(text) == 'PRINT "Hello"\nREM The end of it all\nEND\n'


def test_prose_rule_keeps_code_lines_that_start_like_sentences() -> None:
    assert is_prose_line("The following program opens a file:")
    assert not is_prose_line('Window! = sysgui!.addWindow(10, 10, 200, 100, "Hi")')
    assert not is_prose_line("PRINT the value")  # upper-case keyword, not a sentence
    assert not is_prose_line("Done:")  # a label: one word


def test_python_language_takes_python_blocks() -> None:
    text = "```bbj\nPRINT 1\n```\n```py\ndef f():\n    return 1\n```"
    assert extract_code(text, "python") == "def f():\n    return 1\n"


def test_empty_output_gives_empty_code() -> None:
    assert extract_code("") == ""
    assert extract_code("I cannot help with that request.") == ""


def test_longer_fence_closes_only_on_same_length_or_more() -> None:
    text = "````bbj\nA = 1\n```\nB = 2\n````\n"
    assert fenced_blocks(text) == [("bbj", "A = 1\n```\nB = 2\n")]


def test_truncate_at_earliest_stop_sequence() -> None:
    assert truncate_at_stop("abc<|im_end|>def\nEND", ["\nEND", "<|im_end|>"]) == "abc"
    assert truncate_at_stop("abc", []) == "abc"


def test_comment_only_code_has_no_statements() -> None:
    assert not has_statements("rem a comment\n\n  REM another\n0010 rem numbered\n")
    assert not has_statements("")


def test_code_with_one_statement_or_rem_like_names_has_statements() -> None:
    assert has_statements('rem header\nprint "hi"\n')
    assert has_statements("remark = 1\n")  # `remark` is a variable, not a comment
    assert has_statements('rem15$ = "x"\n')


def test_comment_only_sample_is_scored_as_not_compiling() -> None:
    from bbjcoder.bbj import check_source
    from bbjcoder.evaluate.scoring import score_sample
    from bbjcoder.evaluate.suite import Case

    case = Case(id="c", prompt="p", type="completion", generation=("all",), difficulty="basic")
    only_rem = score_sample(case, 0, "```bbj\nrem just a comment\n```", check_source)
    real = score_sample(case, 0, '```bbj\nrem hello\nprint "hello"\n```', check_source)
    assert not only_rem.compiles and "only comments" in only_rem.diagnostics[0]["message"]
    assert real.compiles
