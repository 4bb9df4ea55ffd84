"""loss.png: training and validation loss per stage, one panel each (matplotlib, Agg backend)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

from bbjcoder.fileio import atomic_write_bytes


def plot_losses(histories: Mapping[str, Sequence[Mapping[str, object]]], out: Path) -> Path:
    """Draw `{stage: trainer log_history}` to `out` (atomically); stages without logs are skipped."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = [s for s, h in histories.items() if h]
    fig, axes = plt.subplots(1, max(1, len(stages)), figsize=(5.5 * max(1, len(stages)), 3.8), squeeze=False)
    for ax, stage in zip(axes[0], stages, strict=False):
        hist = histories[stage]
        train = [(h["step"], h["loss"]) for h in hist if "loss" in h and "step" in h]
        val = [(h["step"], h["eval_loss"]) for h in hist if "eval_loss" in h and "step" in h]
        if train:
            ax.plot(*zip(*train, strict=True), label="train", color="tab:blue")
        if val:
            ax.plot(*zip(*val, strict=True), label="validation", color="tab:orange", marker="o", markersize=3)
        ax.set_title({"cpt": "stage 1: continued pre-training", "sft": "stage 2: SFT"}.get(stage, stage))
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("loss")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(out, buf.getvalue())
    return out
