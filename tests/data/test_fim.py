"""FIM splits for training: editor-shaped (line boundaries and inside lines), always with a suffix."""

from __future__ import annotations

import random

from bbjcoder.data.fim import FIM_END, fim_prompt, fim_splits, join_program

PREFIX = "sales = new BBjVector()\nhigh = sales.getItem(0)"  # no trailing newline, as in the examples
MIDDLE = "for m = 1 to sales.size() - 1\n    if sales.getItem(m) > high then high = sales.getItem(m)\nnext m"


def test_prompt_is_psm_with_qwen_tokens() -> None:
    assert fim_prompt("a\n", "c\n") == "<|fim_prefix|>a\n<|fim_suffix|>c\n<|fim_middle|>"


def test_record_without_suffix_gives_splits_with_suffix_and_no_glued_lines() -> None:
    program = join_program([PREFIX, MIDDLE, ""])
    for seed in range(30):
        splits = fim_splits(PREFIX, MIDDLE, "", random.Random(seed))
        assert {s.kind for s in splits} == {"lines", "inline"}
        for s in splits:
            assert s.prefix + s.middle + s.suffix == program
            assert s.suffix.strip() and s.middle
            assert s.target == s.middle + FIM_END
        lines = next(s for s in splits if s.kind == "lines")
        assert lines.prefix == "" or lines.prefix.endswith("\n")
        assert lines.middle.endswith("\n")
        inline = next(s for s in splits if s.kind == "inline")
        assert not inline.prefix.endswith("\n") and inline.prefix.split("\n")[-1].strip()
    assert "high = sales.getItem(0)\nfor m" in program  # the gluing of issue 17 is gone


def test_author_middle_is_kept_when_the_example_has_a_suffix() -> None:
    splits = fim_splits(PREFIX, "print high", "end", random.Random(0))
    first = splits[0]
    assert (first.prefix, first.middle, first.suffix) == (PREFIX + "\n", "print high\n", "end\n")


def test_one_line_program_gives_no_split() -> None:
    assert fim_splits("", "print 1", "", random.Random(0)) == []


def test_splits_are_seeded() -> None:
    a = fim_splits(PREFIX, MIDDLE, "", random.Random(3))
    b = fim_splits(PREFIX, MIDDLE, "", random.Random(3))
    assert a == b
