"""`run:ID` (base + final adapter from a run directory) and `base`, with results in the model card."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from bbjcoder.evaluate.generate import SamplingParams
from bbjcoder.evaluate.runner import EvalSettings, run_eval
from bbjcoder.runs import create_run, resolve_run, update_run


def _make_run(runs_dir: Path, tiny_model: Path) -> str:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    run = create_run(runs_dir, "evaltest", {"run": {"name": "evaltest"}})
    shutil.copytree(tiny_model, run.path / "base")
    model = AutoModelForCausalLM.from_pretrained(run.path / "base")
    lora = get_peft_model(
        model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    lora.save_pretrained(run.path / "adapter")

    trained = {"base_model_path": "base", "adapter_path": "adapter", "status": "done"}
    update_run(run, lambda rec: rec.model_copy(update=trained))
    return run.id


def test_run_and_base_are_evaluated_and_written_into_the_model_card(
    tiny_model: Path, tiny_suite: Path, tmp_path: Path
) -> None:
    runs_dir = tmp_path / "runs"
    run_id = _make_run(runs_dir, tiny_model)
    info = resolve_run(run_id, runs_dir)
    assert (
        info.base_model() == runs_dir / run_id / "base" and info.adapter_dir == runs_dir / run_id / "adapter"
    )

    settings = EvalSettings(
        params=SamplingParams(n=1, max_new_tokens=6), ks=(1,), forgetting_max=2, runs_dir=runs_dir
    )
    result = run_eval(f"run:{run_id}", tiny_suite, baselines=["base"], settings=settings)
    assert result.out_dir == runs_dir / run_id / "eval" / tiny_suite.name
    labels = result.report.labels
    assert labels == [f"run:{run_id}", f"base:{run_id}"]
    assert result.report.models[0].description["adapter"] == str(info.adapter_dir)
    assert result.report.models[1].description["adapter"] is None
    card = (runs_dir / run_id / "MODEL_CARD.md").read_text()
    assert f"Suite `{tiny_suite.name}`" in card and "compile@1" in card
    metrics = json.loads((runs_dir / run_id / "run.json").read_text())["metrics"]["eval"][tiny_suite.name]
    assert set(metrics) >= {"compile@1", "idioms", "general_pass@1", "compile@1_by_category"}
    assert "generation:dwc" in metrics["compile@1_by_category"]


def test_eval_with_config_picks_the_latest_run_of_that_name(
    tiny_model: Path, tiny_suite: Path, tmp_path: Path
) -> None:
    from bbjcoder.evaluate.commands import eval_command, eval_config

    runs_dir = tmp_path / "runs"
    run_id = _make_run(runs_dir, tiny_model)
    config = tmp_path / "c.toml"
    config.write_text(
        f'[run]\nname = "evaltest"\nruns_dir = "{runs_dir}"\n\n'
        f'[eval]\nsuite = "{tiny_suite}"\nn_samples = 1\nk = [1]\nmax_new_tokens = 4\nmax_cases = 2\n'
        "forgetting_max_problems = 1\n"
    )
    result = eval_command(eval_config(config), model=None)
    assert result.report.under_test == f"run:{run_id}"
    assert result.report.suite.cases == 2 and result.report.ks == [1]
    assert result.report.config.max_new_tokens == 4 and result.report.config.seed == 42
