"""How faithful an exported GGUF is: next-token logits and KL divergence against HF models.

Used by the export benchmark, the real-model smoke test and the default-quantization rule: a
quantization "keeps the fine-tune" when its distribution is closer to the merged model than to the base.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bbjcoder.export.quantize import Quant


def hf_logits(model_dir: Path, token_ids: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """F32 logits (T, V) of the HF model at every position of each token-id sequence."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    out = []
    with torch.inference_mode():
        for ids in token_ids:
            out.append(model(torch.tensor([list(ids)])).logits[0].float().numpy())
    del model
    return out


def gguf_logits(
    gguf_path: Path, token_ids: Sequence[Sequence[int]], *, threads: int | None = None, f32_cache: bool = True
) -> list[np.ndarray]:
    """llama.cpp's logits (T, V) at every position of each sequence (the GGUF's own vocab width).

    `f32_cache` keeps llama.cpp's KV cache in F32 (its default is F16, which alone moves logits by
    ~1e-2), so an F32 export can be compared with the HF model number for number.
    """
    from llama_cpp import Llama

    from bbjcoder.config import llama_threads

    n_ctx = max(len(ids) for ids in token_ids) + 8
    llm = Llama(
        model_path=str(gguf_path),
        n_ctx=n_ctx,
        n_batch=n_ctx,
        logits_all=True,
        n_threads=threads or llama_threads(),
        verbose=False,
        type_k=0 if f32_cache else None,  # 0 = GGML_TYPE_F32
        type_v=0 if f32_cache else None,
    )
    out = []
    try:
        for ids in token_ids:
            llm.reset()
            llm.eval(list(ids))
            out.append(np.array(llm.scores[: len(ids)], dtype=np.float32))
    finally:
        llm.close()
    return out


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def mean_kl(reference: Sequence[np.ndarray], other: Sequence[np.ndarray]) -> float:
    """Mean over all positions of KL(reference || other) of the next-token distributions (nats)."""
    total, n = 0.0, 0
    for p, q in zip(reference, other, strict=True):
        v = min(p.shape[-1], q.shape[-1])  # models pad the vocabulary; extra slots never win
        lp, lq = _log_softmax(p[:, :v]), _log_softmax(q[:, :v])
        total += float((np.exp(lp) * (lp - lq)).sum(axis=-1).sum())
        n += p.shape[0]
    return total / max(n, 1)


def top1_agreement(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> float:
    """Share of positions where both put the same token first."""
    same = n = 0
    for x, y in zip(a, b, strict=True):
        v = min(x.shape[-1], y.shape[-1])
        same += int((x[:, :v].argmax(-1) == y[:, :v].argmax(-1)).sum())
        n += x.shape[0]
    return same / max(n, 1)


def max_abs_diff(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> float:
    worst = 0.0
    for x, y in zip(a, b, strict=True):
        v = min(x.shape[-1], y.shape[-1])
        worst = max(worst, float(np.abs(x[:, :v] - y[:, :v]).max()))
    return worst


@dataclass(frozen=True)
class ExportFidelity:
    """One export's distance to the merged (fine-tuned) model and to the untouched base."""

    quant: str
    kl_to_merged: float
    kl_to_base: float
    top1_merged: float
    top1_base: float

    @property
    def keeps_finetune(self) -> bool:
        return self.kl_to_merged < self.kl_to_base

    def to_dict(self) -> dict[str, str | float | bool]:
        return {
            "quant": self.quant,
            "kl_to_merged": self.kl_to_merged,
            "kl_to_base": self.kl_to_base,
            "top1_merged": self.top1_merged,
            "top1_base": self.top1_base,
            "keeps_finetune": self.keeps_finetune,
        }


def fidelity(
    quant: str, export_logits: Sequence[np.ndarray], merged: Sequence[np.ndarray], base: Sequence[np.ndarray]
) -> ExportFidelity:
    return ExportFidelity(
        quant=quant,
        kl_to_merged=mean_kl(merged, export_logits),
        kl_to_base=mean_kl(base, export_logits),
        top1_merged=top1_agreement(merged, export_logits),
        top1_base=top1_agreement(base, export_logits),
    )


# --- the default quantization -------------------------------------------------------------------


def base_was_quantized(base_dir: Path) -> bool:
    """True when the base HF directory was imported from a quantized GGUF (`bbjcoder models import`)."""
    from bbjcoder.records.imported import ImportedFrom

    note = ImportedFrom.of(base_dir)
    return note is not None and note.quantized


def default_quant(n_params: int, *, quantized_base: bool) -> Quant:
    """The export quantization that keeps a fine-tune, per model size.

    - A base that only existed as a 4-bit GGUF: Q8_0. Requantizing its dequantized weights to
      Q4_K_M rounds the small LoRA deltas back onto the same 4-bit grid the base came from, so
      the export behaves like the base (measured: docs/results.md).
    - Under 3B parameters: Q8_0. Small models lose the most per bit, and Q8_0 of a 0.5-1.5B model
      is still only 0.5-1.6 GB.
    - Otherwise Q4_K_M: for 7B/14B bases from full-precision weights its error is well below the
      fine-tune's effect, and it is what fits a 16-32 GB machine.
    """
    if quantized_base or n_params < 3_000_000_000:
        return "q8_0"
    return "q4_k_m"
