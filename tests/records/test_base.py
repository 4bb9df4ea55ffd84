"""The record base: round trip, kind and version checks, legacy files, clear errors naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from bbjcoder.records import Record, RecordError


class Sample(Record):
    KIND = "sample"
    VERSION = 2
    name: str
    count: int = 0

    @classmethod
    def upgrade(cls, data: dict, version: int) -> dict:
        if version < 2 and "n" in data:
            data = dict(data)
            data["count"] = data.pop("n")
        return data


def test_save_then_load_gives_the_same_record_with_kind_and_version_in_the_file(tmp_path: Path) -> None:
    path = Sample(name="a", count=3).save(tmp_path / "sub" / "s.json")
    raw = json.loads(path.read_text())
    assert raw["schema"] == "sample" and raw["schema_version"] == 2
    assert Sample.load(path) == Sample(name="a", count=3)


def test_a_legacy_file_without_schema_keys_is_upgraded_from_version_1(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"name": "old", "n": 7}))
    assert Sample.load(path).count == 7


def test_another_kind_a_newer_version_and_bad_fields_are_errors_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"schema": "eval-report", "name": "x"}))
    with pytest.raises(RecordError, match="eval-report file, not a sample") as exc:
        Sample.load(path)
    assert exc.value.path == str(path)
    path.write_text(json.dumps({"schema": "sample", "schema_version": 3, "name": "x"}))
    with pytest.raises(RecordError, match="newer than this bbjcoder"):
        Sample.load(path)
    path.write_text(json.dumps({"name": "x", "count": "many", "extra": 1}))
    with pytest.raises(RecordError, match="count") as exc:
        Sample.load(path)
    assert "extra" in str(exc.value)


def test_missing_and_broken_files_are_record_errors_with_the_line(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="no sample file"):
        Sample.load(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "name": \n}')
    with pytest.raises(RecordError) as exc:
        Sample.load(bad)
    assert exc.value.line == 3


def test_records_are_frozen() -> None:
    s = Sample(name="a")
    with pytest.raises(ValidationError):
        s.name = "b"  # type: ignore[misc]
