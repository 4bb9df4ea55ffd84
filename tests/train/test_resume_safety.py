"""Resuming is refused, with the file and the way out named, when it would silently go wrong:
another process on the run, a config that changes training, missing or corrupt checkpoint state."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bbjcoder.errors import ConfigError, UserError
from bbjcoder.fileio import DirectoryInUse
from bbjcoder.runs import list_runs
from bbjcoder.train.callbacks import InterruptAfterStep, Interrupted
from bbjcoder.train.stages import train

from .conftest import write_dataset
from .test_stages import _config

OVER = {
    "cpt": {"enabled": False},
    "sft": {"max_steps": 6, "eval_steps": 2, "save_steps": 2, "early_stopping_patience": 0},
}


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run killed after step 5: checkpoint-2 and checkpoint-4 on disk, status `failed in sft`."""
    root = tmp_path_factory.mktemp("resume")
    ds = write_dataset(root / "dataset", n_train=8, n_val=2)
    with pytest.raises(Interrupted):
        train(_config(root, ds, **OVER), callbacks=[InterruptAfterStep(5)])
    return root


@pytest.fixture
def copy(interrupted: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the interrupted run: (root with runs/ and dataset/, the checkpoint dir)."""
    root = tmp_path / "r"
    shutil.copytree(interrupted, root)
    [run] = list_runs(root / "runs")
    return root, run.path / "checkpoints" / "sft"


def _resume(root: Path, **kw: Any) -> Any:
    over = {**OVER, **kw.pop("over", {})}
    return train(_config(root, root / "dataset", **over), resume=True, **kw)


def test_resume_with_a_config_that_changes_training_is_refused(copy: tuple[Path, Path]) -> None:
    root, _ = copy
    with pytest.raises(ConfigError, match=r"sft\.max_steps: 6 -> 240") as exc:
        _resume(root, over={"sft": {**OVER["sft"], "max_steps": 240}})
    assert "--allow-config-change" in (exc.value.hint or "")


def test_resume_with_a_new_config_and_nothing_trained_yet_takes_the_new_config(
    copy: tuple[Path, Path],
) -> None:
    root, ckpts = copy
    shutil.rmtree(ckpts.parent)  # what `demo` does to a run whose training inputs changed
    run = _resume(root, over={"sft": {**OVER["sft"], "max_steps": 4}})
    assert run.status == "done" and run.stages["sft"].global_step == 4
    assert run.config["sft"]["max_steps"] == 4
    assert run.previous_configs[0]["sft"]["max_steps"] == 6


def test_resume_without_optimizer_state_is_refused_unless_asked(copy: tuple[Path, Path]) -> None:
    root, ckpts = copy
    (ckpts / "checkpoint-4" / "optimizer.pt").unlink()
    with pytest.raises(UserError, match=r"no optimizer\.pt") as exc:
        _resume(root)
    assert exc.value.path == str(ckpts / "checkpoint-4")
    assert "--fresh-optimizer" in (exc.value.hint or "")
    with pytest.warns(UserWarning, match="new optimizer"):
        run = _resume(root, fresh_optimizer=True)
    assert run.status == "done" and run.stages["sft"].resumed_from == "checkpoint-4"


@pytest.mark.parametrize(
    ("name", "damage", "message"),
    [
        ("optimizer.pt", "truncate", "truncated or corrupt"),
        ("trainer_state.json", "truncate", "not valid JSON"),
        ("adapter_model.safetensors", "truncate", "truncated"),
        ("scheduler.pt", "garbage", "truncated or corrupt"),
    ],
)
def test_corrupt_checkpoint_file_is_named_and_the_previous_checkpoint_offered(
    copy: tuple[Path, Path], name: str, damage: str, message: str
) -> None:
    root, ckpts = copy
    target = ckpts / "checkpoint-4" / name
    data = target.read_bytes()
    target.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x00garbage" * 10)
    with pytest.raises(UserError, match=message) as exc:
        _resume(root)
    assert exc.value.path == str(target)
    assert "checkpoint-2, the previous intact checkpoint" in (exc.value.hint or "")
    assert "Traceback" not in str(exc.value)


def test_second_trainer_on_a_locked_run_exits_naming_the_holder(copy: tuple[Path, Path]) -> None:
    root, ckpts = copy
    run_dir = ckpts.parent.parent
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from bbjcoder.fileio import DirLock; "
            f"lock = DirLock({str(run_dir)!r}).acquire(); print('ready', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        [listed] = list_runs(root / "runs")
        assert listed.status != "interrupted"
        with pytest.raises(DirectoryInUse, match=f"pid {holder.pid}"):
            _resume(root)
    finally:
        holder.kill()
        holder.wait()


def test_killed_run_is_listed_as_interrupted_not_running(copy: tuple[Path, Path]) -> None:
    root, ckpts = copy
    import json

    run_json = ckpts.parent.parent / "run.json"
    info = json.loads(run_json.read_text())
    info["status"] = "running"  # what a kill -9 leaves behind
    run_json.write_text(json.dumps(info))
    [run] = list_runs(root / "runs")
    assert run.status == "interrupted" and "train --resume" in (run.problem or "")
