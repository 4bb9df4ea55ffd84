"""`DemoStages`: the demo's `stages.json`, one `StageEntry` per stage with the hash of its inputs.

`bbjcoder demo` writes it after every stage event (a re-run skips a stage whose entry is done,
whose input hash still matches and whose outputs exist); report.html shows it. Files written
before the record existed (`"version": 1`, no `schema`) load as version 1.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from bbjcoder.fileio import sha256_file
from bbjcoder.records.base import Record, RecordError

Status = Literal["running", "done", "failed"]


class StageEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    status: Status
    title: str
    input_hash: str
    started: str  # ISO time of the run that produced this stage's output
    log: str  # relative to the demo directory
    seconds: float | None = None
    finished: str | None = None
    detail: str = ""
    result: dict[str, JsonValue] = Field(default_factory=dict)  # what the stage reported
    error: str | None = None
    resumed_at: str | None = None


class DemoStages(Record):
    KIND = "demo-stages"
    VERSION = 1

    profile: Literal["quick", "full", "real", "real-quick"] = "full"
    created: str = ""
    config_source: str = ""
    stages: dict[str, StageEntry] = Field(default_factory=dict)
    last_wall_s: float | None = None

    @classmethod
    def load_or_new(cls, path: Path, **fields: Any) -> DemoStages:
        """The record at `path`, or a new one with `fields` when there is none (or it is unreadable)."""
        try:
            return cls.load(path)
        except RecordError:
            return cls(**fields)

    @classmethod
    def latest(cls, runs_dir: Path, name: str, profile: str) -> Path | None:
        """The directory under `runs_dir` holding the newest demo record `name` of `profile`."""
        found = []
        for path in runs_dir.glob(f"*/{name}"):
            try:
                rec = cls.load(path)
            except RecordError:
                continue
            if rec.profile == profile:
                found.append((rec.created, path.parent.name, path.parent))
        return max(found)[2] if found else None

    @classmethod
    def upgrade(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        data.pop("version", None)  # the pre-record files' own version key (always 1)
        return data


def _walk_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        return []
    out = []
    for dirpath, dirnames, filenames in os.walk(path):
        # Drafts (_inbox), hidden files and caches are not inputs of any stage.
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")))
        out += [Path(dirpath) / f for f in sorted(filenames) if not f.startswith((".", "_"))]
    return out


def input_hash(paths: list[Path], params: object) -> str:
    """sha256 over the stage parameters and every input file (path relative to its root + content)."""
    h = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
    for root in paths:
        h.update(f"\0root:{root.name}\0".encode())
        for f in _walk_files(root):
            rel = f.relative_to(root).as_posix() if f != root else f.name
            h.update(f"{rel}\0{sha256_file(f)}\0".encode())
    return h.hexdigest()
