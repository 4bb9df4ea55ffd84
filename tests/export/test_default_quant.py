"""The default export quantization keeps a fine-tune: Q8_0 for small or GGUF-imported bases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bbjcoder.export.fidelity import base_was_quantized, default_quant, mean_kl, top1_agreement


def test_default_quant_per_model_size_and_origin() -> None:
    assert default_quant(494_000_000, quantized_base=False) == "q8_0"
    assert default_quant(7_600_000_000, quantized_base=False) == "q4_k_m"
    assert default_quant(14_700_000_000, quantized_base=False) == "q4_k_m"
    assert default_quant(7_600_000_000, quantized_base=True) == "q8_0"


def test_a_base_imported_from_a_quantized_gguf_is_recognised(tmp_path: Path) -> None:
    assert base_was_quantized(tmp_path) is False  # an ordinary HF checkpoint
    (tmp_path / "IMPORTED_FROM.json").write_text(json.dumps({"tensor_types": {"F32": 10, "F16": 3}}))
    assert base_was_quantized(tmp_path) is False
    (tmp_path / "IMPORTED_FROM.json").write_text(json.dumps({"tensor_types": {"F32": 10, "Q5_0": 133}}))
    assert base_was_quantized(tmp_path) is True
    (tmp_path / "IMPORTED_FROM.json").write_text("{not json")
    assert base_was_quantized(tmp_path) is False


def test_kl_is_zero_for_equal_logits_and_grows_with_disagreement() -> None:
    rng = np.random.default_rng(0)
    a = [rng.normal(size=(5, 11)).astype(np.float32)]
    assert abs(mean_kl(a, a)) < 1e-12 and top1_agreement(a, a) == 1.0
    near = [a[0] + 0.01 * rng.normal(size=a[0].shape).astype(np.float32)]
    far = [rng.normal(size=(5, 11)).astype(np.float32)]
    assert 0 < mean_kl(a, near) < mean_kl(a, far)
    padded = [np.concatenate([a[0], np.full((5, 3), -1e9, np.float32)], axis=1)]  # padded vocab slots
    assert abs(mean_kl(a, padded)) < 1e-9
