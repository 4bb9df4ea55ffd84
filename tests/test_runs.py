"""The run registry: ids, atomic metric updates, list/show/compare on the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from bbjcoder.cli import app
from bbjcoder.runs import (
    compare_runs,
    create_run,
    list_runs,
    resolve_run,
    update_run_metrics,
)


def _two_runs(tmp_path: Path):  # type: ignore[no-untyped-def]
    a = create_run(tmp_path, "demo", {"lora": {"r": 8}, "sft": {"learning_rate": 2e-4}})
    b = create_run(tmp_path, "demo", {"lora": {"r": 16}, "sft": {"learning_rate": 2e-4}})
    update_run_metrics(a, "train", {"best_val_loss": 1.5})
    update_run_metrics(b, "train", {"best_val_loss": 1.25})
    return a, b


def test_run_ids_are_name_and_timestamp_and_unique(tmp_path: Path) -> None:
    a, b = _two_runs(tmp_path)
    assert re.fullmatch(r"demo-\d{8}-\d{6}(-\d+)?", a.id) and a.id != b.id
    assert [r.id for r in list_runs(tmp_path)] == [a.id, b.id]


def test_update_run_metrics_merges_sections(tmp_path: Path) -> None:
    a, _ = _two_runs(tmp_path)
    update_run_metrics(a, "train", {"tokens": 10})
    update_run_metrics(a, "eval", {"compile@1": 0.5})
    run = resolve_run(f"run:{a.id}", tmp_path)
    assert run.metrics == {"train": {"best_val_loss": 1.5, "tokens": 10}, "eval": {"compile@1": 0.5}}


def test_compare_shows_config_differences_and_metrics(tmp_path: Path) -> None:
    a, b = _two_runs(tmp_path)
    rows = {row.key: row for row in compare_runs(resolve_run(a.path), resolve_run(b.path))}
    assert rows["config.lora.r"].a == 8 and rows["config.lora.r"].b == 16
    assert "config.sft.learning_rate" not in rows  # equal config values are hidden
    assert rows["metrics.train.best_val_loss"].b == 1.25


def test_runs_cli_list_show_compare(tmp_path: Path) -> None:
    a, b = _two_runs(tmp_path)
    runner = CliRunner()
    out = runner.invoke(app, ["runs", "list", "--runs-dir", str(tmp_path)])
    assert out.exit_code == 0 and "demo-" in out.output
    out = runner.invoke(app, ["runs", "show", a.id, "--runs-dir", str(tmp_path)])
    assert out.exit_code == 0 and json.loads(out.output)["config"]["lora"]["r"] == 8
    out = runner.invoke(app, ["runs", "compare", a.id, b.id, "--runs-dir", str(tmp_path)])
    assert out.exit_code == 0 and "config.lora.r" in out.output and "16" in out.output


def test_model_card_figures_come_from_the_run_record(tmp_path: Path) -> None:
    from bbjcoder.records.train_result import StageResult
    from bbjcoder.runs import RunRecord, render_model_card, update_run

    cfg = {"model": {"quantization": "none", "dtype": "auto"}, "sft": {"epochs": 3, "learning_rate": 2e-4}}
    run = create_run(tmp_path, "card", cfg)

    def trained(rec: RunRecord) -> RunRecord:
        sft = StageResult(status="done", epochs=0.5, precision="fp32", global_step=4)
        return rec.model_copy(update={"stages": {"sft": sft}})

    card = render_model_card(update_run(run, trained))
    assert '"lora-fp32"' in card and "lora-bf16" not in card
    sft_row = next(ln for ln in card.splitlines() if ln.startswith("| sft | 0.0002"))
    assert sft_row.split("|")[3].strip() == "0.5"  # epochs trained, not the configured 3
