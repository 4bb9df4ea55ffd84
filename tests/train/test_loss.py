"""Chunked linear cross-entropy equals plain cross-entropy on full logits: loss and gradients."""

from __future__ import annotations

import pytest
import torch

from bbjcoder.train.loss import IGNORE_INDEX, chunked_linear_cross_entropy


def _plain(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    logits = (hidden @ weight.T).float()
    return torch.nn.functional.cross_entropy(logits, targets, ignore_index=IGNORE_INDEX, reduction="sum")


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 1000])
def test_chunked_ce_matches_plain_loss_and_gradients(chunk_size: int) -> None:
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(37, 16, generator=g, dtype=torch.float64)
    weight = torch.randn(50, 16, generator=g, dtype=torch.float64)
    targets = torch.randint(0, 50, (37,), generator=g)
    targets[::5] = IGNORE_INDEX
    h1, w1 = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
    h2, w2 = hidden.clone().requires_grad_(), weight.clone().requires_grad_()

    plain = _plain(h1, w1, targets)
    plain.mul(0.5).backward()  # a non-unit upstream gradient must be applied too
    chunked = chunked_linear_cross_entropy(h2, w2, targets, chunk_size=chunk_size)
    chunked.mul(0.5).backward()

    torch.testing.assert_close(chunked.double(), plain.double(), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(h2.grad, h1.grad, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(w2.grad, w1.grad, rtol=1e-6, atol=1e-6)


def test_chunked_ce_frozen_weight_gets_no_gradient_and_all_ignored_is_zero() -> None:
    hidden = torch.randn(2, 3, 4, requires_grad=True)
    weight = torch.randn(10, 4)  # frozen lm_head, as under LoRA
    targets = torch.full((2, 3), IGNORE_INDEX)
    loss = chunked_linear_cross_entropy(hidden, weight, targets, chunk_size=2)
    loss.backward()
    assert loss.item() == 0.0
    assert hidden.grad is not None and torch.count_nonzero(hidden.grad) == 0
    assert weight.grad is None
