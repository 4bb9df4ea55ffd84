"""The data stage reads the eval suite's texts itself (no import from the eval stage above it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bbjcoder.data.overlap import eval_ngrams, read_suite_cases, worst_overlap
from bbjcoder.errors import DataError
from bbjcoder.evaluate.suite import load_suite

ROOT = Path(__file__).resolve().parents[2]


def test_the_small_suite_reader_sees_the_same_texts_as_the_eval_stage() -> None:
    suite = ROOT / "evals" / "bbj-core"
    ours = read_suite_cases(suite)
    theirs = load_suite(suite).cases
    assert [(c.id, c.prompt, c.reference, c.prefix, c.suffix) for c in ours] == [
        (c.id, c.prompt, c.reference, c.prefix, c.suffix) for c in theirs
    ]
    assert eval_ngrams(ours) == eval_ngrams(theirs)


def test_a_copied_reference_is_found_through_the_small_reader(tmp_path: Path) -> None:
    ref = 'sysgui! = BBjAPI().openSysGui("X0")\nwindow! = sysgui!.addWindow(100, 100, 300, 140, "Hi")\nprocess_events\n'
    (tmp_path / "cases.jsonl").write_text(
        json.dumps({"id": "gui/1", "prompt": "Open a window.", "reference": ref}) + "\n"
    )
    worst = worst_overlap([ref.upper()], eval_ngrams(read_suite_cases(tmp_path)))
    assert worst is not None and worst.case_id == "gui/1" and worst.kind == "code" and worst.overlap == 1.0


def test_a_bad_case_line_names_the_file_and_line(tmp_path: Path) -> None:
    file = tmp_path / "cases.jsonl"
    file.write_text('{"id": "a", "prompt": "p"}\n\n{"id": "b", "prompt": 3}\n')
    with pytest.raises(DataError, match="prompt: expected a non-empty string") as info:
        read_suite_cases(tmp_path)
    assert info.value.path == str(file) and info.value.line == 3
    with pytest.raises(DataError, match="no suite here"):
        read_suite_cases(tmp_path / "missing")
