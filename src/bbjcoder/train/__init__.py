"""Training: model and tokenizer loading (incl. the tiny demo model), LoRA/QLoRA, the two stages.

`run(cfg, progress=...)` is the stage's one entry point (the CLI's `train` and the demo call it).
Heavy imports (torch, transformers, peft) happen inside functions; importing this package is cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bbjcoder.config import RunConfig
    from bbjcoder.records.train_result import TrainResult

__all__ = ["run"]

# progress(description, step, total steps): called as each stage starts and after every step.
Progress = Callable[[str, int, int], None]


def run(
    cfg: RunConfig,
    *,
    progress: Progress | None = None,
    stage: str = "all",
    resume: bool = False,
    run_id: str | None = None,
    allow_config_change: bool = False,
    fresh_optimizer: bool = False,
) -> TrainResult:
    """Train (or resume) the configured stages into a run directory; see `bbjcoder.train.stages.train`.

    `stage` is cpt, sft or all; `resume` continues the newest unfinished run of the config's name
    (or `run_id`). Returns what was trained: the run, its stages' figures and its final adapter.
    """
    from bbjcoder.records.train_result import TrainResult
    from bbjcoder.train.callbacks import ProgressReporter
    from bbjcoder.train.stages import train

    rec = train(
        cfg,
        stage=stage,
        resume=resume,
        run_id=run_id,
        callbacks=[ProgressReporter(progress)] if progress is not None else (),
        allow_config_change=allow_config_change,
        fresh_optimizer=fresh_optimizer,
    )
    return TrainResult(
        run_id=rec.id,
        run_dir=str(rec.path),
        status=rec.status,
        adapter=str(rec.adapter_dir) if rec.adapter_path else None,
        stages=rec.stages,
        wall_time_s=rec.wall_time_s,
    )
