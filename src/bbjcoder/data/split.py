"""Deterministic train/val/test split by a hash of each record's id, and the dataset manifest.

A record's split depends on its id and the shares only, so adding examples never moves old ones.
Every generation x type stratum is split with the same shares; see `assign_split` for tiny strata.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bbjcoder.data.records import Record
from bbjcoder.errors import DataError
from bbjcoder.fileio import atomic_write_json, atomic_write_jsonl, sha256_file

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SplitConfig:
    """`test_share` of all records is held out first; `val_share` of the rest is validation."""

    test_share: float = 0.05
    val_share: float = 0.10
    salt: str = "bbjcoder-split-v1"

    def __post_init__(self) -> None:
        for name in ("test_share", "val_share"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise DataError(f"{name} must be in [0, 1), got {value}")


def unit_hash(salt: str, record_id: str) -> float:
    """A uniform number in [0, 1) from sha256(salt:id): stable across runs and machines."""
    digest = hashlib.sha256(f"{salt}:{record_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign_split(record_id: str, config: SplitConfig) -> str:
    """The split of one record, a function of its id and the shares alone.

    Two independent hashes: the first holds out `test_share`, the second sends `val_share` of
    the remainder to validation. Because nothing depends on how many records share a stratum, a
    stratum of any size (even 1) is split the same way and no record ever moves when others are
    added: stratification holds in expectation, and the manifest shows the realised counts.
    """
    if unit_hash(config.salt + ":test", record_id) < config.test_share:
        return "test"
    if unit_hash(config.salt + ":val", record_id) < config.val_share:
        return "val"
    return "train"


def stratum(record: Record) -> str:
    return f"{'+'.join(record.generation)}/{record.type}"


def split_records(records: Sequence[Record], config: SplitConfig) -> dict[str, list[Record]]:
    """Records per split, each list sorted by id (so the files are stable byte for byte)."""
    out: dict[str, list[Record]] = {s: [] for s in SPLITS}
    for r in sorted(records, key=lambda r: r.id):
        out[assign_split(r.id, config)].append(r)
    return out


def write_split(
    records: Sequence[Record],
    out_dir: str | Path,
    config: SplitConfig,
    *,
    rejected: Iterable[Mapping[str, Any]] = (),
    inputs: Sequence[str | Path] = (),
    quality: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write `{train,val,test}.jsonl`, `rejected.jsonl` and `manifest.json`; return the manifest."""
    out = Path(out_dir)
    parts = split_records(records, config)
    files: dict[str, Any] = {}
    for name in SPLITS:
        path = out / f"{name}.jsonl"
        atomic_write_jsonl(path, (r.to_json() for r in parts[name]))
        files[name] = {"path": path.name, "records": len(parts[name]), "sha256": sha256_file(path)}
    rejected_list = list(rejected)
    rej_path = out / "rejected.jsonl"
    atomic_write_jsonl(rej_path, rejected_list)
    files["rejected"] = {
        "path": rej_path.name,
        "records": len(rejected_list),
        "sha256": sha256_file(rej_path),
    }

    counts: dict[str, dict[str, dict[str, int]]] = {}
    for name in SPLITS:
        table: dict[str, Counter[str]] = defaultdict(Counter)
        for r in parts[name]:
            table["+".join(r.generation)][r.type] += 1
        counts[name] = {g: dict(sorted(c.items())) for g, c in sorted(table.items())}
    manifest: dict[str, Any] = {
        "format": "bbjcoder-dataset/1",
        "parameters": {**asdict(config), "stratify": ["generation", "type"]},
        "inputs": [_input_entry(p) for p in inputs],
        "files": files,
        "counts": counts,
        "strata": _strata_report(parts),
        "reasons": dict(Counter(r.get("reason", "").split(":")[0] for r in rejected_list)),
    }
    if quality is not None:
        manifest["quality"] = quality
    atomic_write_json(out / "manifest.json", manifest)
    return manifest


def _input_entry(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    return {"path": p.as_posix(), "sha256": sha256_file(p) if p.is_file() else None}


def _strata_report(parts: dict[str, list[Record]]) -> dict[str, dict[str, int]]:
    """Counts per stratum (generation x type) and split: the realised stratification."""
    report: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SPLITS, 0))
    for name, recs in parts.items():
        for r in recs:
            report[stratum(r)][name] += 1
    return dict(sorted(report.items()))
