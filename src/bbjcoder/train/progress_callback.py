"""Training progress for a display: which stage trains and its step of max_steps, and how long the
preparation and each stage took. A transformers `TrainerCallback`, built lazily (transformers is
imported only when training)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TITLES = {"cpt": "stage 1 (CPT)", "sft": "stage 2 (SFT)"}


def StageProgress(report: Callable[[str, int, int | None], None]) -> Any:
    """A callback calling `report(stage title, step, max_steps or None)`; `.phases()` gives the
    seconds of "prepare" (before the first stage), "cpt" and "sft" so far."""
    from transformers import TrainerCallback

    class _StageProgress(TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.marks: list[tuple[str, float]] = [("prepare", time.monotonic())]

        def on_init_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            # The Trainer writes checkpoints to checkpoints/<stage>: that names the stage starting.
            stage = Path(args.output_dir).name
            stage = stage if stage in TITLES else ("cpt" if len(self.marks) == 1 else "sft")
            self.marks.append((stage, time.monotonic()))
            report(TITLES[stage], 0, None)

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            stage = self.marks[-1][0]
            report(TITLES.get(stage, stage), state.global_step, state.max_steps or None)

        def phases(self) -> dict[str, float]:
            ends = [t for _, t in self.marks[1:]] + [time.monotonic()]
            return {name: round(end - t, 2) for (name, t), end in zip(self.marks, ends, strict=True)}

    return _StageProgress()
