"""What training produced: per stage (cpt, sft) its steps, losses, tokens and time; for the whole
call, the run, its final adapter and the stages done. `train.run` returns a `TrainResult`."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from bbjcoder.records.base import Record

# One name per stage across config ([cpt], [sft]), CLI (--stage cpt|sft) and disk (<run>/cpt/adapter).
STAGES = ("cpt", "sft")
# Runs written before the stage directories took the stage names kept them here (still read).
LEGACY_STAGE_DIRS = {"cpt": "stage1", "sft": "stage2"}

# One entry of the Trainer's log history: {"step": 5, "loss": 1.2, "learning_rate": ...}.
LogEntry = dict[str, float | int | str | bool | None]


class StageResult(BaseModel):
    """One stage's outcome as recorded in run.json `stages.<stage>` (all optional: older runs
    recorded fewer figures, and keys this version does not know are kept)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    status: str = "done"
    global_step: int | None = None
    max_steps: int | None = None
    epochs: float | None = None  # trained, not configured (max_steps or early stopping may cut)
    precision: str | None = None  # nf4, bf16, fp16, fp32 (the frozen base weights)
    bf16_autocast: bool | None = None
    tokens_seen: int | None = None
    train_rows: int | None = None
    val_rows: int | None = None
    first_train_loss: float | None = None
    final_train_loss: float | None = None
    first_val_loss: float | None = None
    best_val_loss: float | None = None
    final_val_loss: float | None = None
    best_checkpoint: str | None = None
    wall_time_s: float | None = None
    resumed_from: str | None = None
    loss_impl: str | None = None
    fused_kernels: bool | None = None

    @property
    def tokens_per_s(self) -> float | None:
        if not self.tokens_seen or not self.wall_time_s:
            return None
        return self.tokens_seen / self.wall_time_s


class TrainResult(Record):
    """The outcome of one `train.run` call: which run, which stages are done, and the final adapter
    directory (None until a stage finished)."""

    KIND: ClassVar[str] = "train-result"
    VERSION: ClassVar[int] = 1

    run_id: str
    run_dir: str
    status: str
    adapter: str | None = None
    stages: dict[str, StageResult] = Field(default_factory=dict)
    wall_time_s: float | None = None

    @property
    def stages_done(self) -> list[str]:
        return [s for s in STAGES if s in self.stages and self.stages[s].status == "done"]
