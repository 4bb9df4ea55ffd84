"""The append-only sample log `samples.jsonl`: one line per generated sample, fsynced as produced.

Keyed by (model, case id, sample index). Re-opening a log after a kill drops a torn last line and
tells the generator which keys are done, so a resumed eval has neither duplicates nor gaps.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TypedDict

from bbjcoder.errors import DataError

Key = tuple[str, str, int]


class SampleRow(TypedDict):
    """One line of samples.jsonl: a model's `sample`-th answer to a case (or forgetting problem)."""

    model: str
    case_id: str
    sample: int
    seed: int
    text: str  # the raw generation
    code: str  # the code the sample is judged by
    seconds: float


class SampleStore:
    """samples.jsonl: one `SampleRow` per line."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._records: dict[Key, SampleRow] = {}
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        good_end = 0
        for lineno, raw in enumerate(data.splitlines(keepends=True), start=1):
            if not raw.endswith(b"\n"):
                break  # the writer died mid-line: drop the torn record, its sample is regenerated
            good_end += len(raw)
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
                key = (str(rec["model"]), str(rec["case_id"]), int(rec["sample"]))
            except (ValueError, KeyError, TypeError) as exc:
                raise DataError(f"corrupt sample record: {exc}", path=self.path, line=lineno) from exc
            self._records.setdefault(key, rec)  # keep the first copy of a key
        if good_end < len(data):
            with self.path.open("r+b") as fh:
                fh.truncate(good_end)

    def __contains__(self, key: Key) -> bool:
        return key in self._records

    def __len__(self) -> int:
        return len(self._records)

    def append(self, record: SampleRow) -> None:
        """Write one record durably (flush + fsync) before the next sample is generated."""
        key = (str(record["model"]), str(record["case_id"]), int(record["sample"]))
        if key in self._records:
            raise ValueError(f"sample {key} already recorded")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        self._records[key] = record

    def records(self, model: str | None = None) -> Iterator[SampleRow]:
        for key, rec in self._records.items():
            if model is None or key[0] == model:
                yield rec

    def models(self) -> list[str]:
        return list(dict.fromkeys(k[0] for k in self._records))
