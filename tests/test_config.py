"""Run configs: shipped configs load, unknown keys and bad values are explained."""

from __future__ import annotations

from pathlib import Path

import pytest

from bbjcoder.config import load_config, parse_config
from bbjcoder.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["demo.toml", "qwen2.5-coder-14b.toml", "qwen2.5-coder-7b.toml"])
def test_shipped_configs_load(name: str) -> None:
    cfg = load_config(ROOT / "configs" / name)
    assert cfg.sft.save_steps % cfg.sft.eval_steps == 0 and cfg.cpt.save_steps % cfg.cpt.eval_steps == 0


def test_real_model_configs_use_the_qlora_defaults() -> None:
    cfg = load_config(ROOT / "configs" / "qwen2.5-coder-14b.toml")
    assert cfg.model.quantization == "nf4" and cfg.lora.r == 64 and cfg.lora.lora_alpha == 128
    assert cfg.sft.learning_rate == 2e-4 and cfg.cpt.learning_rate == 5e-5 and cfg.sft.max_length == 4096
    assert 32 <= cfg.sft.micro_batch_size * cfg.sft.gradient_accumulation <= 64


def test_unknown_key_is_an_error_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"sft\.learning_rat: unknown field"):
        parse_config({"sft": {"learning_rat": 1e-4}})


def test_run_name_must_be_one_path_segment() -> None:
    with pytest.raises(ConfigError, match=r"run\.name"):
        parse_config({"run": {"name": "a/b"}})


def test_lora_alpha_defaults_to_twice_r() -> None:
    assert parse_config({"lora": {"r": 32}}).lora.lora_alpha == 64
