"""Causal-LM loss without materialising full logits: chunked linear cross-entropy (and Liger's fused one).

The plain path builds (tokens x vocab) fp32 logits: 4096 x 152064 x 4 bytes = 2.5 GB for one
Qwen2.5-Coder sequence, plus as much again for their gradient. Here the lm_head projection, the
softmax and its gradient are computed a chunk of tokens at a time inside one autograd function,
so only one chunk's logits exist at any moment.
"""

from __future__ import annotations

from typing import Any

import torch

IGNORE_INDEX = -100


class _ChunkedLinearCE(torch.autograd.Function):
    """Sum of token cross-entropies of `hidden @ weight.T` against `targets`, chunk by chunk.

    Gradients are computed in the forward pass (one chunk of logits alive at a time) and stored;
    backward only scales them by the incoming gradient. Shapes: hidden (N, H), weight (V, H),
    targets (N,) with IGNORE_INDEX for positions without loss. Returns a 0-dim fp32 tensor.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk_size: int
    ) -> torch.Tensor:
        need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_h = torch.zeros_like(hidden) if need_h else None
        grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if need_w else None
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        for start in range(0, hidden.shape[0], chunk_size):
            h = hidden[start : start + chunk_size]
            t = targets[start : start + chunk_size]
            valid = t != IGNORE_INDEX
            if not bool(valid.any()):
                continue
            logits = (h @ weight.T).float()  # (C, V): the only logits alive
            lse = torch.logsumexp(logits, dim=-1)
            safe_t = torch.where(valid, t, torch.zeros_like(t))
            picked = logits.gather(1, safe_t[:, None]).squeeze(1)
            total += ((lse - picked) * valid).sum()
            if need_h or need_w:
                # d(sum CE)/d logits = softmax - onehot, zero on ignored rows.
                g = torch.softmax(logits, dim=-1)
                g[torch.arange(g.shape[0], device=g.device), safe_t] -= 1.0
                g *= valid[:, None]
                g = g.to(hidden.dtype)
                if grad_h is not None:
                    grad_h[start : start + chunk_size] = g @ weight
                if grad_w is not None:
                    grad_w += (g.T @ h).float()
        ctx.save_for_backward(
            grad_h if grad_h is not None else torch.empty(0),
            grad_w if grad_w is not None else torch.empty(0),
        )
        ctx.has = (grad_h is not None, grad_w is not None)
        ctx.w_dtype = weight.dtype
        return total

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        grad_h, grad_w = ctx.saved_tensors
        gh = grad_h * grad_out.to(grad_h.dtype) if ctx.has[0] else None
        gw = (grad_w * grad_out).to(ctx.w_dtype) if ctx.has[1] else None
        return gh, gw, None, None


def chunked_linear_cross_entropy(
    hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, *, chunk_size: int = 1024
) -> torch.Tensor:
    """Summed cross-entropy of `hidden @ weight.T` vs `targets` without full logits.

    `hidden` (..., H) and `targets` (...) are flattened; `weight` is the lm_head matrix (V, H).
    Returns the fp32 sum over non-ignored positions; divide by the number of target tokens.
    """
    return _ChunkedLinearCE.apply(
        hidden.reshape(-1, hidden.shape[-1]), weight, targets.reshape(-1), chunk_size
    )  # type: ignore[no-any-return]


def shift_for_causal_lm(hidden: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Align hidden states (B, T, H) with next-token labels (B, T): (B, T-1, H) and (B, T-1)."""
    return hidden[:, :-1, :], labels[:, 1:]


def liger_fused_linear_cross_entropy() -> Any | None:
    """Liger's fused linear CE module (reduction "sum"), or None when Liger or CUDA is missing."""
    if not torch.cuda.is_available():
        return None
    try:
        from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss
    except Exception:  # any import failure (missing triton, version mismatch) means "not usable"
        return None
    return LigerFusedLinearCrossEntropyLoss(ignore_index=IGNORE_INDEX, reduction="sum")
