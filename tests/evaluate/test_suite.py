"""Suite loading: valid cases load, every malformed line is a DataError naming file:line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bbjcoder.errors import DataError
from bbjcoder.evaluate.suite import Idioms, check_idioms, load_suite

GOOD = {
    "id": "gui/hello",
    "prompt": "Write a window.",
    "type": "comprehension",
    "generation": ["bbj-gui", "dwc"],
    "difficulty": "basic",
    "idioms": {"must": ["setCallback"], "must_not": [r"PRINT\s+@\("]},
}


def _write(tmp_path: Path, *objs: object) -> Path:
    lines = [o if isinstance(o, str) else json.dumps(o) for o in objs]
    (tmp_path / "cases.jsonl").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_valid_suite_loads_cases_with_fim_fields(tmp_path: Path) -> None:
    fim = {**GOOD, "id": "c/fim", "type": "completion", "prefix": "A=1\n", "idioms": {"must": ["x"]}}
    suite = load_suite(_write(tmp_path, GOOD, fim))
    assert [c.id for c in suite.cases] == ["gui/hello", "c/fim"]
    assert suite.cases[0].generation == ("bbj-gui", "dwc")
    assert suite.cases[1].is_fim and suite.cases[1].suffix == ""
    assert suite.name == tmp_path.name


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        ({k: v for k, v in GOOD.items() if k != "prompt"}, "missing required field 'prompt'"),
        ({**GOOD, "type": "essay"}, "type 'essay' is not one of"),
        ({**GOOD, "generation": ["gui"]}, "generation ['gui'] not among"),
        ({**GOOD, "difficulty": "hard"}, "difficulty 'hard'"),
        ({**GOOD, "idioms": {"must": ["("]}}, "bad regex"),
        ({**GOOD, "colour": "red"}, "unknown field(s) ['colour']"),
        ({**GOOD, "prefix": "A=1"}, "only for type completion"),
        ("{not json", "invalid JSON"),
    ],
)
def test_bad_case_is_reported_with_file_and_line(tmp_path: Path, bad: object, needle: str) -> None:
    _write(tmp_path, GOOD, bad)
    with pytest.raises(DataError) as info:
        load_suite(tmp_path)
    assert needle in str(info.value)
    assert str(info.value).startswith(f"{tmp_path / 'cases.jsonl'}:2: ")


def test_duplicate_ids_are_rejected(tmp_path: Path) -> None:
    _write(tmp_path, GOOD, GOOD)
    with pytest.raises(DataError, match="duplicate id 'gui/hello' \\(first on line 1\\)"):
        load_suite(tmp_path)


def test_missing_suite_directory_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no suite here"):
        load_suite(tmp_path / "nope")


def test_idioms_are_case_insensitive_and_report_each_violation() -> None:
    idioms = Idioms(must=("setcallback",), must_not=(r"PRINT\s+@\(",))
    assert check_idioms(idioms, "btn!.setCallBack(x)") == (True, [])
    ok, problems = check_idioms(idioms, "print @(1,1)")
    assert not ok and len(problems) == 2
