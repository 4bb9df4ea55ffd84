"""The one fenced-code rule (CommonMark's), case by case, and its users agreeing on odd input."""

from __future__ import annotations

from bbjcoder.data.fences import (
    code_blocks,
    fenced_blocks,
    find_fences,
    has_unclosed_fence,
    is_fence_line,
    split_fences,
    strip_fenced,
)


def test_backtick_and_tilde_fences_with_info_strings() -> None:
    text = "a\n```bbj title=x\nPRINT 1\n```\nb\n~~~ Python extra\nprint(1)\n~~~\n"
    assert fenced_blocks(text) == [("bbj", "PRINT 1\n"), ("python", "print(1)\n")]
    assert [(f.line, f.close_line, f.marker) for f in find_fences(text)] == [(2, 4, "```"), (6, 8, "~~~")]


def test_a_fence_closes_only_on_its_own_character_at_least_as_long() -> None:
    text = "````bbj\nA = 1\n```\n~~~~\nB = 2\n`````\n"
    assert fenced_blocks(text) == [("bbj", "A = 1\n```\n~~~~\nB = 2\n")]
    assert fenced_blocks("~~~\nX\n```\n~~~\n") == [("", "X\n```\n")]


def test_a_closing_line_with_text_after_it_does_not_close() -> None:
    assert fenced_blocks("```\nX\n``` not a close\n```\n") == [("", "X\n``` not a close\n")]


def test_an_unclosed_fence_runs_to_the_end() -> None:
    assert fenced_blocks("```bbj\nPRINT 1\nPRINT 2") == [("bbj", "PRINT 1\nPRINT 2")]
    assert has_unclosed_fence("ok\n```bbj\nPRINT 1\n")
    assert not has_unclosed_fence("```bbj\nPRINT 1\n```\n")
    assert fenced_blocks("```") == [("", "")]


def test_backticks_in_a_backtick_info_string_make_inline_code_not_a_fence() -> None:
    text = "```inline``` is code in a sentence\n~~~ a`b\nX\n~~~\n"
    assert fenced_blocks(text) == [("a`b", "X\n")]
    assert not has_unclosed_fence("Use ```bbj``` around code.\n```bbj\nX\n```\n")
    assert not is_fence_line("```bbj```") and is_fence_line("  ~~~ a`b") and is_fence_line("```")


def test_up_to_three_spaces_indent_a_fence_and_are_removed_from_its_lines() -> None:
    text = "   ```bbj\n   A = 1\n     B = 2\n  C = 3\n   ```\n"
    assert fenced_blocks(text) == [("bbj", "A = 1\n  B = 2\nC = 3\n")]
    assert fenced_blocks("    ```bbj\n    X\n    ```\n") == []  # four spaces: indented code, not a fence
    assert not is_fence_line("    ```") and not is_fence_line("\t```")


def test_any_line_ending_is_read_the_same() -> None:
    assert code_blocks("a\r\n```bbj\r\nY=1\r\n```\r\n") == ["Y=1\n"]
    assert code_blocks("a\r```bbj\rY=1\r```\r") == ["Y=1\n"]


def test_split_and_strip_keep_the_prose_around_blocks() -> None:
    md = "Intro\n```bbj\nPRINT 1\n```\nmid ```inline``` text\n~~~\nX=2\n~~~\nend"
    blocks, prose = split_fences(md)
    assert blocks == ["PRINT 1\n", "X=2\n"]
    assert prose == "Intro\nmid ```inline``` text\nend"
    assert strip_fenced(md) == "Intro\n mid ```inline``` text\n end"
    assert split_fences("no code here") == ([], "no code here")


def test_every_reader_agrees_on_a_tilde_fence_and_an_inline_triple_backtick() -> None:
    """The five readers that had their own rule now give the same answer on the odd cases."""
    from bbjcoder.data.markdown import parse_example
    from bbjcoder.data.quality import lint_record
    from bbjcoder.data.records import Record
    from bbjcoder.evaluate.extract import extract_code
    from bbjcoder.evaluate.review import render_output

    answer = 'Write ```bbj``` blocks like this one:\n~~~bbj\nPRINT "x"\n~~~\n'
    assert extract_code(answer) == 'PRINT "x"\n'
    assert 'class="code"' in render_output(answer) and "Write ```bbj``` blocks" in render_output(answer)
    rec = Record(
        "r", "s", "completion", ("all",), (("user", "Print x."), ("assistant", answer)), difficulty="basic"
    )
    assert lint_record(rec).errors == []  # three ``` but no fence left open: not unbalanced
    example = (
        '---\ntitle: "T"\ntype: completion\ngeneration: all\ndifficulty: basic\n---\n\n'
        '## Code\n\n~~~bbj\nPRINT "x"\n~~~\n'
    )
    ex, _problems = parse_example(example, path="t.md", example_id="t")
    assert [(b.lang, b.code) for b in ex.all_blocks()] == [("bbj", 'PRINT "x"')]


def test_a_line_with_both_markers_is_one_fence_whose_info_is_the_other() -> None:
    assert fenced_blocks("```~~~\nX\n```\n") == [("~~~", "X\n")]
    assert fenced_blocks("~~~```\nX\n~~~\n") == [("```", "X\n")]  # a tilde fence's info may hold `
