"""Trainer callbacks: stop on NaN/inf loss, report progress, and a test hook that interrupts after a step.

Kept separate and small so the stage code reads as a story and each callback is tested alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from bbjcoder.errors import UserError


class TrainingDiverged(UserError):
    """The loss became NaN or infinite; training stops rather than writing a broken adapter."""


class NonFiniteLossGuard(TrainerCallback):
    """Raise TrainingDiverged when a logged loss, eval loss or grad norm is NaN or infinite.

    Needs `logging_nan_inf_filter=False`, or the Trainer would hide NaN steps from the log.
    """

    def __init__(self, stage: str) -> None:
        self.stage = stage

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kw: Any
    ) -> None:
        for key in ("loss", "eval_loss", "grad_norm"):
            value = (logs or {}).get(key)
            if isinstance(value, int | float) and not math.isfinite(value):
                raise TrainingDiverged(
                    f"{self.stage}: {key} became {value} at step {state.global_step}; training stopped",
                    hint="lower the learning rate, check the data for empty or huge examples, "
                    "then restart (or --resume from the last good checkpoint)",
                )


class Interrupted(Exception):
    """Raised by InterruptAfterStep to simulate a crash or kill (tests)."""


class InterruptAfterStep(TrainerCallback):
    """Raise Interrupted at the end of optimizer step `step`: a kill between two checkpoints."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if state.global_step >= self.step:
            raise Interrupted(f"interrupted after step {state.global_step}")


class ProgressReporter(TrainerCallback):
    """Tell `progress(description, step, total)` which stage trains and how far it is."""

    def __init__(self, progress: Callable[[str, int, int], None]) -> None:
        self.progress = progress

    def _report(self, args: Any, state: Any) -> None:
        # The Trainer writes checkpoints to checkpoints/<stage>: that names the stage.
        stage = Path(args.output_dir).name
        self.progress(f"train: {stage}", int(state.global_step), int(state.max_steps or 0))

    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self._report(args, state)

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self._report(args, state)
