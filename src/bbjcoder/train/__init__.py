"""Training: model and tokenizer loading (incl. the tiny demo model), LoRA/QLoRA, the two stages.

Heavy imports (torch, transformers, peft) happen inside functions; importing this package is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["build_tiny_model", "load_model_and_tokenizer"]


def build_tiny_model(out_dir: Path, texts: Any, **kwargs: Any) -> Path:
    """See `bbjcoder.train.tiny.build_tiny_model`."""
    from bbjcoder.train.tiny import build_tiny_model as _build

    return _build(out_dir, texts, **kwargs)


def load_model_and_tokenizer(path: str | Path, **kwargs: Any) -> tuple[Any, Any]:
    """See `bbjcoder.train.model.load_model_and_tokenizer`."""
    from bbjcoder.train.model import load_model_and_tokenizer as _load

    return _load(path, **kwargs)
