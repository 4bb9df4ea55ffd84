"""The hash split: deterministic, stable when examples are added, and its manifest."""

from __future__ import annotations

import json

from bbjcoder.data.records import Record
from bbjcoder.data.split import SplitConfig, assign_split, split_records, write_split
from bbjcoder.fileio import sha256_file
from bbjcoder.records.dataset import DatasetManifest


def _records(n: int, start: int = 0) -> list[Record]:
    gens = [("all",), ("character",), ("bbj-gui", "dwc"), ("dwc",)]
    types = ["completion", "comprehension", "migration", "explanation"]
    return [
        Record(
            f"topic/ex-{i}",
            f"x/{i}.md",
            types[i % 4],
            gens[(i // 4) % 4],
            (("system", "s"), ("user", f"task {i}"), ("assistant", f"```bbj\nPRINT {i}\n```")),
        )
        for i in range(start, start + n)
    ]


def test_split_is_deterministic() -> None:
    cfg = SplitConfig()
    a = split_records(_records(500), cfg)
    b = split_records(list(reversed(_records(500))), cfg)
    assert {k: [r.id for r in v] for k, v in a.items()} == {k: [r.id for r in v] for k, v in b.items()}


def test_adding_examples_never_moves_old_ones() -> None:
    cfg = SplitConfig()
    before = {r.id: name for name, recs in split_records(_records(300), cfg).items() for r in recs}
    after = {
        r.id: name
        for name, recs in split_records(_records(300) + _records(700, 300), cfg).items()
        for r in recs
    }
    assert all(after[i] == s for i, s in before.items())


def test_shares_hold_overall_and_per_stratum() -> None:
    parts = split_records(_records(8000), SplitConfig(test_share=0.05, val_share=0.10))
    n = 8000
    assert abs(len(parts["test"]) / n - 0.05) < 0.01
    assert abs(len(parts["val"]) / n - 0.095) < 0.015
    for gen in [("all",), ("dwc",)]:
        stratum = [
            r for recs in parts.values() for r in recs if r.generation == gen and r.type == "completion"
        ]
        val = [r for r in parts["val"] if r.generation == gen and r.type == "completion"]
        assert abs(len(val) / len(stratum) - 0.095) < 0.04


def test_a_single_record_lands_where_its_id_says() -> None:
    cfg = SplitConfig()
    (record,) = _records(1)
    parts = split_records([record], cfg)
    assert [r.id for r in parts[assign_split(record.id, cfg)]] == [record.id]


def test_shares_and_salt_are_configurable() -> None:
    ids = [f"t/{i}" for i in range(1000)]
    assert all(assign_split(i, SplitConfig(test_share=0.0, val_share=0.0)) == "train" for i in ids)
    a = [assign_split(i, SplitConfig()) for i in ids]
    b = [assign_split(i, SplitConfig(salt="other")) for i in ids]
    assert a != b


def test_manifest_counts_and_hashes(tmp_path) -> None:
    records = _records(200)
    rejected = [
        {"id": "x", "source": "x.md", "reason": "near duplicate", "stage": "quality", "duplicate_of": "y"}
    ]
    manifest = write_split(records, tmp_path, SplitConfig(), rejected=rejected)
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk == manifest.to_json() and on_disk["schema"] == "dataset-manifest"
    assert DatasetManifest.load(tmp_path / "manifest.json") == manifest
    total = 0
    for name in ("train", "val", "test"):
        path = tmp_path / f"{name}.jsonl"
        lines = path.read_text().splitlines()
        assert manifest.files[name].sha256 == sha256_file(path)
        assert manifest.files[name].records == len(lines)
        assert sum(sum(t.values()) for t in manifest.counts[name].values()) == len(lines)
        total += len(lines)
    assert total == 200
    assert manifest.parameters.test_share == 0.05
    assert manifest.reasons == {"near duplicate": 1}
    assert (tmp_path / "rejected.jsonl").read_text().count("\n") == 1
    # writing again gives the same bytes
    write_split(records, tmp_path, SplitConfig(), rejected=rejected)
    assert json.loads((tmp_path / "manifest.json").read_text())["files"] == on_disk["files"]
    # a manifest written before the record existed (no schema keys) still loads
    legacy = {k: v for k, v in on_disk.items() if k not in ("schema", "schema_version")}
    (tmp_path / "legacy.json").write_text(json.dumps(legacy))
    assert DatasetManifest.load(tmp_path / "legacy.json") == manifest
