"""run.json as a RunRecord: files written before the records load, unknown keys survive a rewrite,
and a run's parts (base model, stage adapters, final adapter) are found by one rule each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bbjcoder.errors import ModelError
from bbjcoder.records.run import RunError, RunRecord
from bbjcoder.runs import resolve_run, update_run, update_run_metrics

# A run.json as bbjcoder wrote it before the records existed: no schema keys, a demo's own key.
LEGACY = {
    "id": "old",
    "created": "2026-11-01T10:00:00",
    "status": "done",
    "config": {"run": {"name": "old"}, "lora": {"r": 8}},
    "versions": {"torch": "2.5.0", "bbjcoder": "0.1.0"},
    "git": {"commit": "abc", "dirty": False},
    "hardware": {"platform": "Linux", "cpu_count": 2, "python": "3.11.9"},
    "base_model_path": "base",
    "adapter_path": "adapter",
    "stages": {"sft": {"status": "done", "global_step": 8, "best_val_loss": 1.5, "wall_time_s": 4.0}},
    "history": {"sft": [{"step": 1, "loss": 2.5}]},
    "metrics": {"train": {"best_val_loss": {"sft": 1.5}}},
    "data": {"sft_train_examples": 10},
    "dataset": {"files": {"dataset/train.jsonl": "00"}, "manifest": {"examples": 10}},
    "demo": {"profile": "quick"},
}


def _legacy_run(root: Path) -> Path:
    run = root / "old"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps(LEGACY))
    return run


def test_a_run_json_written_before_the_records_loads_typed(tmp_path: Path) -> None:
    rec = resolve_run("old", _legacy_run(tmp_path).parent)
    assert rec.status == "done" and rec.path == tmp_path / "old"
    assert rec.stages["sft"].global_step == 8 and rec.stages["sft"].tokens_per_s is None
    assert rec.history["sft"][0]["loss"] == 2.5 and rec.data.sft_train_examples == 10
    assert rec.git is not None and rec.git.commit == "abc"


def test_keys_this_version_does_not_know_survive_an_update(tmp_path: Path) -> None:
    run = _legacy_run(tmp_path)
    update_run_metrics(run, "eval", {"compile@1": 0.5})
    written = json.loads((run / "run.json").read_text())
    assert written["demo"] == {"profile": "quick"} and written["schema"] == "run"
    assert written["metrics"] == {"train": {"best_val_loss": {"sft": 1.5}}, "eval": {"compile@1": 0.5}}
    assert written["stages"]["sft"]["best_val_loss"] == 1.5


def test_update_run_rereads_the_file_so_concurrent_changes_are_kept(tmp_path: Path) -> None:
    run = resolve_run(_legacy_run(tmp_path))
    update_run_metrics(run, "export", {"quant": "q8_0"})  # written by another stage meanwhile
    after = update_run(run, lambda rec: rec.model_copy(update={"status": "archived"}))  # stale `run`
    assert after.status == "archived" and after.metrics["export"] == {"quant": "q8_0"}


def test_a_missing_run_names_where_it_was_looked_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RunError) as exc:
        resolve_run("nope", Path("runs"))
    assert "runs/nope/run.json" in exc.value.message and "nope/run.json" in exc.value.message


def test_stage_adapters_use_the_stage_names_and_read_the_legacy_stage1_stage2(tmp_path: Path) -> None:
    rec = RunRecord(id="r", path=tmp_path)
    assert rec.stage_adapter("cpt") == tmp_path / "cpt" / "adapter"  # nothing trained yet: the new name
    (tmp_path / "stage1" / "adapter").mkdir(parents=True)
    (tmp_path / "stage2" / "adapter").mkdir(parents=True)
    assert rec.stage_adapter("cpt") == tmp_path / "stage1" / "adapter"
    assert rec.stage_adapter("sft") == tmp_path / "stage2" / "adapter"
    (tmp_path / "sft" / "adapter").mkdir(parents=True)  # trained again since: the current layout wins
    assert rec.stage_adapter("sft") == tmp_path / "sft" / "adapter"


def test_base_model_is_the_recorded_path_else_the_runs_model_dir(tmp_path: Path) -> None:
    rec = RunRecord(id="r", path=tmp_path, base_model_path="base")
    with pytest.raises(ModelError, match=r"cannot find the base model of run r .*model/config.json"):
        rec.base_model()
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    assert rec.base_model() == tmp_path / "model"  # the one fallback
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "config.json").write_text("{}")
    assert rec.base_model() == tmp_path / "base"
    with pytest.raises(ModelError, match="no final adapter"):
        rec.final_adapter()
