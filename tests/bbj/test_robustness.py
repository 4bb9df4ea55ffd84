"""The checker never raises on arbitrary text and stays linear-time on adversarial input."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from bbjcoder.bbj import Diagnostic, check_source, detect_generations
from bbjcoder.bbj.lexer import logical_lines

# Text biased towards BBj's own characters so the fuzzer reaches deep into the parser.
BBJ_ALPHABET = st.sampled_from(
    [
        *"()[],;:=<>+-*/^#@!$%?'\". \t\n\r:{}&|\\_aAzZ019",
        "PRINT ",
        "IF ",
        "THEN ",
        "FI",
        "class ",
        "method ",
        "methodend",
        "classend",
        "rem ",
        "new ",
        "::a::",
        "DEF FNA(",
        "FNEND",
        "READ(",
        "ERR=",
        "*NEXT",
        "'CS'",
        "@(",
        "FOR ",
        " TO ",
        "NEXT",
        "\n:",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_check_source_never_raises_on_arbitrary_text(text: str) -> None:
    diags = check_source(text)
    assert all(isinstance(d, Diagnostic) and d.line >= 1 and d.column >= 1 for d in diags)
    detect_generations(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(BBJ_ALPHABET, max_size=80).map("".join), st.booleans())
def test_check_source_never_raises_on_bbj_like_text(text: str, strict: bool) -> None:
    diags = check_source(text, strict=strict)
    physical_lines = text.replace("\r\n", "\n").count("\n") + 1
    assert all(1 <= d.line <= physical_lines for d in diags)
    assert diags == sorted(diags)


def test_logical_lines_cover_every_physical_line_once() -> None:
    text = "a\n:b\n:c\nd\n\n:e\n"
    got = [(ll.first_line, ll.text) for ll in logical_lines(text)]
    assert got == [(1, "abc"), (4, "d"), (5, "e"), (7, "")]


def timed(text: str, *, strict: bool = False) -> tuple[float, list[Diagnostic]]:
    start = time.perf_counter()
    diags = check_source(text, strict=strict)
    return time.perf_counter() - start, diags


def test_ten_megabyte_file_is_checked_in_linear_time() -> None:
    block = 'x = 1\nPRINT "value: ", x, str(x:"##0")\nIF x > 0 THEN y = x * 2 ELSE y = 0\n'
    small = block * 2_000
    big = block * (10_000_000 // len(block))
    t_small, _ = timed(small)
    t_big, diags = timed(big)
    assert diags == []
    ratio = len(big) / len(small)
    assert t_big < max(t_small, 0.005) * ratio * 4, (t_small, t_big)
    assert t_big < 60


def test_one_megabyte_single_line() -> None:
    line = "x = " + " + ".join(["a"] * 250_000) + "\n"
    elapsed, diags = timed(line)
    assert diags == [] and elapsed < 10
    junk = '"' * 1_000_000 + "\n"
    elapsed, _ = timed(junk)
    assert elapsed < 10


def test_deep_parenthesis_nesting_is_reported_not_crashing() -> None:
    deep = "x = " + "(" * 10_000 + "1" + ")" * 10_000 + "\n"
    elapsed, diags = timed(deep)
    assert elapsed < 10
    assert [d.line for d in diags] == [1]
    shallow = "x = " + "(" * 50 + "1" + ")" * 50 + "\n"
    assert check_source(shallow) == []


def test_ten_thousand_nested_ifs_in_strict_mode() -> None:
    src = "IF x THEN\n" * 10_000 + "FI\n" * 10_000
    elapsed, diags = timed(src, strict=True)
    assert diags == [] and elapsed < 10
    elapsed, diags = timed("IF x THEN\n" * 10_000, strict=True)
    assert len(diags) == 10_000 and elapsed < 10
