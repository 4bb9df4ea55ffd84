"""Both stages on the tiny model: losses fall, generation moves toward BBj, resume, NaN stop, run files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from transformers import TrainerCallback

from bbjcoder.config import parse_config
from bbjcoder.errors import DependencyError
from bbjcoder.runs import list_runs, resolve_run
from bbjcoder.train.callbacks import InterruptAfterStep, Interrupted, TrainingDiverged
from bbjcoder.train.stages import train

from .conftest import write_dataset


def _config(root: Path, ds: Path, **over: Any) -> Any:
    stage = {
        "micro_batch_size": 4,
        "gradient_accumulation": 1,
        "logging_steps": 1,
        "learning_rate": 5e-3,
        "warmup_ratio": 0.0,
    }
    data = {
        "run": {"name": "t", "runs_dir": str(root / "runs"), "seed": 3},
        "data": {"dataset_dir": str(ds)},
        "model": {
            "path": "tiny",
            "tiny_hidden_size": 64,
            "tiny_layers": 2,
            "tiny_intermediate_size": 128,
            "tiny_vocab_size": 600,
        },
        # as configs/demo.toml: the random-init embeddings are trained too (pure LoRA barely learns)
        "lora": {"r": 16, "dropout": 0.0, "modules_to_save": ["embed_tokens"]},
        "cpt": {
            **stage,
            "max_steps": 24,
            "max_length": 128,
            "eval_steps": 8,
            "save_steps": 8,
            "val_share": 0.1,
        },
        "sft": {
            **stage,
            "max_steps": 30,
            "max_length": 256,
            "eval_steps": 10,
            "save_steps": 10,
            "fim_share": 0.5,
        },
    }
    for key, value in over.items():
        data[key] = {**data.get(key, {}), **value}
    return parse_config(data)


def _generate(run_dir: Path, adapter: Path | None, prompt: str) -> str:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(run_dir / "base")
    model = AutoModelForCausalLM.from_pretrained(run_dir / "base")
    if adapter is not None:
        model = PeftModel.from_pretrained(model, adapter)
    text = tok.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )
    ids = tok(text, return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=24, do_sample=False)
    return tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True)


@pytest.fixture(scope="module")
def trained_by_entry_point(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """`bbjcoder.train.run` (what the CLI and the demo call): its result and the progress it reported."""
    from bbjcoder import train as train_stage

    root = tmp_path_factory.mktemp("e2e")
    ds = write_dataset(root / "dataset")
    calls: list[tuple[str, int, int]] = []
    cfg = _config(root, ds, data={"general_mix_share": 0.1})
    result = train_stage.run(cfg, progress=lambda desc, step, total: calls.append((desc, step, total)))
    return cfg, result, calls


@pytest.fixture(scope="module")
def trained(trained_by_entry_point: Any) -> Any:
    return resolve_run(Path(trained_by_entry_point[1].run_dir))


@pytest.mark.slow
def test_train_run_returns_what_was_trained_and_reports_progress(trained_by_entry_point: Any) -> None:
    _, result, calls = trained_by_entry_point
    assert result.status == "done" and result.stages_done == ["cpt", "sft"]
    assert Path(result.adapter) == Path(result.run_dir) / "adapter"
    assert result.stages["sft"].tokens_per_s and result.stages["sft"].global_step == 30
    assert ("train: cpt", 0, 24) in calls and ("train: sft", 30, 30) in calls
    steps = [step for desc, step, _ in calls if desc == "train: sft"]
    assert steps == sorted(steps) and len(steps) >= 30  # every optimizer step is reported


@pytest.mark.slow
def test_a_run_with_the_legacy_stage1_stage2_layout_resumes_without_retraining(
    trained_by_entry_point: Any, tmp_path: Path
) -> None:
    """Runs written before stage directories took the stage names (stage1/, stage2/) are read:
    a resume finds both stages done and rebuilds the final adapter from stage2/."""
    import shutil

    cfg, result, _ = trained_by_entry_point
    old = tmp_path / "old-run"
    top = Path(result.run_dir)
    shutil.copytree(top, old, ignore=lambda d, names: [n for n in names if Path(d) == top and n == "adapter"])
    (old / "cpt").rename(old / "stage1")
    (old / "sft").rename(old / "stage2")
    resumed = train(cfg, resume=True, run_id=str(old))
    assert resumed.path == old and resumed.status == "done"
    assert resumed.stages["sft"].global_step == 30 and not (old / "sft").exists()  # nothing retrained
    weights = "adapter_model.safetensors"
    assert (old / "adapter" / weights).read_bytes() == (old / "stage2" / "adapter" / weights).read_bytes()


@pytest.mark.slow
def test_both_stages_reduce_validation_loss_clearly(trained: Any) -> None:
    for stage in ("cpt", "sft"):
        s = trained.stages[stage]
        assert s.status == "done" and s.global_step > 0
        # measured: a 58% drop in both stages; pure LoRA on the random model gives only 13-21%
        assert s.best_val_loss < s.first_val_loss * 0.7, (stage, s)


@pytest.mark.slow
def test_generation_moves_toward_bbj_tokens(trained: Any) -> None:
    keywords = ("PRINT", "LET", "END")
    before = _generate(trained.path, None, "Print orders 7 in BBj.")
    after = _generate(trained.path, trained.path / "adapter", "Print orders 7 in BBj.")
    assert sum(after.count(k) for k in keywords) > sum(before.count(k) for k in keywords), (before, after)


@pytest.mark.slow
def test_run_directory_and_run_json_are_complete(trained: Any) -> None:
    p = trained.path
    for rel in (
        "run.json",
        "MODEL_CARD.md",
        "loss.png",
        "adapter/adapter_config.json",
        "cpt/adapter",
        "sft/adapter",
        "base/config.json",
    ):
        assert (p / rel).exists(), rel
    assert list((p / "logs" / "cpt").glob("events.out.tfevents.*")) and list(
        (p / "logs" / "sft").glob("events.out.tfevents.*")
    )
    info = json.loads((p / "run.json").read_text())
    assert (
        info["status"] == "done" and info["base_model_path"] == "base" and info["adapter_path"] == "adapter"
    )
    assert info["config"]["lora"]["r"] == 16 and info["versions"]["transformers"]
    assert set(info["dataset"]["files"]) >= {str(Path(info["config"]["data"]["dataset_dir"]) / "train.jsonl")}
    assert info["data"]["sft_fim_examples"] > 0 and info["data"]["sft_general_examples"] > 0
    assert info["stages"]["sft"]["tokens_seen"] > 0 and info["wall_time_s"] > 0
    # stage 2 continued stage 1's adapter: its adapter differs from stage 1's but has the same shape
    card = (p / "MODEL_CARD.md").read_text()
    assert (
        card.startswith("---\nbase_model:")
        and 'library_name: "peft"' in card
        and "## Evaluation results" in card
    )


def test_write_eval_results_fills_the_marked_section_and_survives_rewrite(tmp_path: Path) -> None:
    from bbjcoder.runs import create_run, write_eval_results, write_model_card

    run = create_run(tmp_path, "x", {"model": {"path": "m"}, "lora": {"r": 8}})
    write_model_card(run)
    write_eval_results(run, "| k | compile@k |\n|---|---|\n| 1 | 0.5 |")
    write_model_card(run)  # e.g. after a resumed training: eval results stay
    card = (run.path / "MODEL_CARD.md").read_text()
    assert "| 1 | 0.5 |" in card and "Not evaluated yet" not in card


@pytest.mark.slow
def test_resume_after_kill_reaches_same_step_with_same_losses(tmp_path: Path) -> None:
    ds = write_dataset(tmp_path / "dataset")
    over = {
        "cpt": {"enabled": False},
        "sft": {"max_steps": 8, "eval_steps": 2, "save_steps": 2, "early_stopping_patience": 0},
    }
    full = train(_config(tmp_path / "a", ds, **over))
    with pytest.raises(Interrupted):
        train(_config(tmp_path / "b", ds, **over), callbacks=[InterruptAfterStep(5)])
    (crashed,) = list_runs(tmp_path / "b" / "runs")
    assert crashed.status.startswith("failed in sft")
    resumed = train(_config(tmp_path / "b", ds, **over), resume=True)
    assert resumed.id == crashed.id and resumed.stages["sft"].resumed_from == "checkpoint-4"

    def losses(run: Any) -> dict[int, float]:
        return {h["step"]: h["loss"] for h in run.history["sft"] if "loss" in h}

    a, b = losses(full), losses(resumed)
    assert resumed.stages["sft"].global_step == full.stages["sft"].global_step == 8
    assert sorted(b) == sorted(a)
    for step in range(5, 9):  # steps after the checkpoint replay the same batches: same losses
        assert b[step] == pytest.approx(a[step], rel=1e-4), step


class _NaNAfter(TrainerCallback):
    """Fault injection: from step 2 on, the embedding output becomes NaN."""

    def on_step_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
        if state.global_step == 2:
            model.get_input_embeddings().register_forward_hook(lambda m, i, o: o * float("nan"))


@pytest.mark.slow
def test_nan_loss_stops_the_run_with_a_clear_message(tmp_path: Path) -> None:
    ds = write_dataset(tmp_path / "dataset", n_train=8, n_val=2)
    cfg = _config(tmp_path, ds, cpt={"enabled": False}, sft={"max_steps": 6})
    with pytest.raises(TrainingDiverged, match=r"loss became nan at step 3"):
        train(cfg, callbacks=[_NaNAfter()])
    (run,) = list_runs(tmp_path / "runs")
    assert "TrainingDiverged" in resolve_run(run.path).status


def test_nf4_without_cuda_raises_dependency_error(tiny_dir: Path) -> None:
    import torch

    from bbjcoder.train.model import load_model_and_tokenizer

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(DependencyError, match=r"nf4.*CUDA"):
        load_model_and_tokenizer(tiny_dir, quantization="nf4")


def test_prepare_tokenizer_fixes_qwen_base_eos_and_pad(tiny_dir: Path) -> None:
    from transformers import AutoTokenizer

    from bbjcoder.train.model import prepare_tokenizer

    tok = AutoTokenizer.from_pretrained(tiny_dir)
    tok.eos_token = "<|endoftext|>"  # as Qwen2.5-Coder base ships it
    tok.pad_token = "<|endoftext|>"
    tok.chat_template = None
    prepare_tokenizer(tok)
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    assert "<|im_start|>" in tok.chat_template


def test_loss_is_plain_under_multi_process_launch_and_chunked_on_one_cpu_process() -> None:
    from bbjcoder.train.stages import _loss_impl

    assert _loss_impl("auto", False) == ("chunked", None)
    assert _loss_impl("chunked", False) == ("chunked", None)
    # DDP/FSDP: the chunked path would bypass the wrapped forward (no grad sync, no all-gather).
    assert _loss_impl("chunked", False, world_size=2) == ("plain", None)
    assert _loss_impl("auto", True, world_size=4) == ("plain", None)


@pytest.mark.slow
def test_two_processes_train_into_one_run_with_the_plain_loss(tmp_path: Path) -> None:
    """torchrun with 2 CPU processes (gloo DDP): one run directory, both stages done, plain loss."""
    import subprocess
    import sys

    ds = write_dataset(tmp_path / "dataset")
    cfg = tmp_path / "ddp.toml"
    cfg.write_text(
        f'[run]\nname = "ddp"\nruns_dir = "{tmp_path / "runs"}"\nseed = 3\n'
        f'[data]\ndataset_dir = "{ds}"\ngeneral_mix_share = 0.0\n'
        '[model]\npath = "tiny"\ntiny_hidden_size = 64\ntiny_layers = 2\n'
        "tiny_intermediate_size = 128\ntiny_vocab_size = 600\n"
        '[lora]\nr = 8\ndropout = 0.0\nmodules_to_save = ["embed_tokens"]\n'
        + "".join(
            f"[{st}]\nmax_steps = 4\nmicro_batch_size = 4\nmax_length = {n}\neval_steps = 2\n"
            "save_steps = 2\nlogging_steps = 1\nlearning_rate = 5e-3\n"
            for st, n in (("cpt", 128), ("sft", 256))
        )
    )
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    proc = subprocess.run(
        [*cmd, "-m", "bbjcoder", "train", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = list_runs(tmp_path / "runs")
    assert len(runs) == 1, [r.id for r in runs]
    run = runs[0]
    assert run.status == "done" and (run.path / "adapter" / "adapter_config.json").is_file()
    for st in ("cpt", "sft"):
        assert run.stages[st].loss_impl == "plain" and run.stages[st].global_step == 4
