"""`DatasetManifest`: what the data stage wrote into `dataset/manifest.json`; `DatasetStats`:
`dataset/stats.json`.

The inputs it read (with their sha256), each output file with its record count and sha256, the
counts per split and stratum, why entries were left out, the quality step's counts and a short
summary of the stats (`DatasetStats.summary()`). `bbjcoder data build` (and the demo, which calls
the same `data.build`) writes it; train copies it into run.json. Manifests written before the
record existed (no `schema` key) load as version 1.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from bbjcoder.records.base import Record

SPLITS = ("train", "val", "test")
FORMAT = "bbjcoder-dataset/1"


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SplitParameters(_Part):
    test_share: float
    val_share: float
    salt: str
    stratify: list[str] = ["generation", "type"]


class InputFile(_Part):
    path: str
    sha256: str | None  # None: not a file (a directory, or gone)


class OutputFile(_Part):
    path: str  # relative to the dataset directory
    records: int
    sha256: str


class DedupSettings(_Part):
    threshold: float
    shingle: int
    num_perm: int
    enabled: bool


class QualityCounts(_Part):
    """The quality step: records in, left out per reason, kept; the dedup settings used."""

    input: int
    lint: int
    exact_duplicate: int
    near_duplicate: int
    duplicate_id: int
    kept: int
    lint_warnings: int
    dedup: DedupSettings


class TokenSummary(_Part):
    tokenizer: str
    total: int
    min: int
    median: int
    p95: int
    max: int


class StatsSummary(_Part):
    """The headline of dataset/stats.json (the file holds the full breakdown): `DatasetStats.summary`."""

    records: int
    per_split: dict[str, int]
    tokens: TokenSummary


class DatasetStats(_Part):
    """dataset/stats.json: counts over all splits and the token lengths of all records.

    Written as a plain JSON object (no `schema` keys; the file predates the records), in this
    field order. `data.stats.compute_stats` builds it; `data.stats.read_stats` reads it back.
    """

    records: int
    per_split: dict[str, int]
    by_type: dict[str, int]
    by_difficulty: dict[str, int]
    by_generation: dict[str, dict[str, dict[str, int]]]  # generation -> type -> difficulty -> records
    # provenance: written by people vs teacher drafts accepted in `data review` (files written
    # before `data synth` existed have no such key)
    by_origin: dict[str, int] = Field(default_factory=dict)
    tokens: TokenSummary

    def summary(self) -> StatsSummary:
        """The headline the dataset manifest keeps."""
        return StatsSummary(records=self.records, per_split=self.per_split, tokens=self.tokens)


class DatasetManifest(Record):
    KIND = "dataset-manifest"
    VERSION = 1

    format: str = FORMAT
    parameters: SplitParameters
    inputs: list[InputFile] = Field(default_factory=list)
    files: dict[str, OutputFile]  # train, val, test, rejected
    counts: dict[str, dict[str, dict[str, int]]]  # split -> generation -> type -> records
    strata: dict[str, dict[str, int]]  # "generation/type" -> split -> records
    reasons: dict[str, int]  # why entries were left out (the reason's first part) -> count
    quality: QualityCounts | None = None
    stats: StatsSummary | None = None

    def records_in(self, split: str) -> int:
        """Records in one output file: train, val, test or rejected."""
        entry = self.files.get(split)
        return entry.records if entry is not None else 0

    @property
    def left_out(self) -> int:
        """Entries in rejected.jsonl: everything the build left out on the way."""
        return self.records_in("rejected")

    def split_counts(self) -> dict[str, int]:
        return {s: self.records_in(s) for s in (*SPLITS, "rejected")}

    def empty_strata(self) -> list[str]:
        """Strata (generation/type) without a training record."""
        return [s for s, per in self.strata.items() if per.get("train", 0) == 0]
