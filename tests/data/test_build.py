"""`bbjcoder.data.build(cfg)`: the data stage as a library call. It prints nothing, reports each
step through `progress` in the order `data build` runs them, and returns the manifest it wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bbjcoder.config import RunConfig
from bbjcoder.data import build
from bbjcoder.data.stage import Converted, CorpusBuilt, Imported, Outcome, SplitDone, StatsWritten
from bbjcoder.data.stats import read_stats
from bbjcoder.records.dataset import DatasetManifest, DatasetStats


def test_build_runs_the_steps_in_order_prints_nothing_and_returns_the_manifest(
    fixtures: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = RunConfig().with_overrides(
        {
            "data.training_data": [fixtures / "valid"],
            "data.corpus_dirs": [fixtures / "corpus"],
            "data.imports": [fixtures / "import" / "chatml.jsonl"],
            "data.dataset_dir": tmp_path / "ds",
            "data.val_share": 0.5,
        }
    )
    events: list[tuple[str, Outcome | None]] = []
    manifest = build(cfg, progress=lambda title, done: events.append((title, done)))
    out, err = capsys.readouterr()
    assert out == "" and err == ""
    titles = [t for t, done in events if done is None]
    assert titles == [
        "validate + convert",
        f"import {fixtures / 'import' / 'chatml.jsonl'}",
        "corpus",
        "quality + split",
        "stats",
    ]
    kinds = [type(done) for _, done in events if done is not None]
    assert kinds == [Converted, Imported, CorpusBuilt, SplitDone, StatsWritten]
    assert DatasetManifest.load(tmp_path / "ds" / "manifest.json") == manifest
    assert manifest.parameters.val_share == 0.5 and manifest.stats is not None
    assert [Path(i.path).name for i in manifest.inputs] == ["converted.jsonl", "imported.jsonl"]
    # rejected.jsonl lists what every step left out, and the manifest counts it
    stages = [
        json.loads(line)["stage"] for line in (tmp_path / "ds" / "rejected.jsonl").read_text().splitlines()
    ]
    assert manifest.left_out == len(stages) and "corpus" in stages
    assert sum(manifest.reasons.values()) == manifest.left_out


def test_stats_json_reads_back_typed_and_the_manifest_keeps_its_headline(
    fixtures: Path, tmp_path: Path
) -> None:
    cfg = RunConfig().with_overrides(
        {
            "data.training_data": [fixtures / "valid"],
            "data.dataset_dir": tmp_path / "ds",
            "data.val_share": 0.5,
        }
    )
    manifest = build(cfg)
    stats = read_stats(tmp_path / "ds" / "stats.json")
    assert isinstance(stats, DatasetStats)
    assert stats.records == sum(manifest.records_in(s) for s in ("train", "val", "test")) > 0
    assert manifest.stats == stats.summary()
    reloaded = DatasetManifest.load(tmp_path / "ds" / "manifest.json")
    assert reloaded.stats is not None
    assert reloaded.stats.model_dump() == {
        "records": stats.records,
        "per_split": stats.per_split,
        "tokens": stats.tokens.model_dump(),
    }
    # a stats.json from before `data synth` (no by_origin) still reads
    old = json.loads((tmp_path / "ds" / "stats.json").read_text(encoding="utf-8"))
    del old["by_origin"]
    (tmp_path / "old.json").write_text(json.dumps(old), encoding="utf-8")
    older = read_stats(tmp_path / "old.json")
    assert older is not None and older.by_origin == {} and older.summary() == stats.summary()
