"""Run configs: shipped configs load, unknown keys and bad values are explained."""

from __future__ import annotations

from pathlib import Path

import pytest

from bbjcoder.config import load_config, parse_assignment, parse_config
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


def test_overrides_set_dotted_settings_and_are_validated_like_a_file() -> None:
    cfg = load_config(ROOT / "configs" / "demo.toml")
    over = cfg.with_overrides({"eval.temperature": 0.7, "data.dataset_dir": Path("/tmp/ds"), "eval.k": (1,)})
    assert over.eval.temperature == 0.7 and over.data.dataset_dir == Path("/tmp/ds") and over.eval.k == [1]
    assert cfg.eval.temperature != 0.7  # a copy: the original is unchanged
    assert over.source == cfg.source and over.sft == cfg.sft
    with pytest.raises(ConfigError, match=r"eval\.temprature: unknown field"):
        cfg.with_overrides({"eval.temprature": 0.2})
    with pytest.raises(ConfigError, match=r"eval\.temperature"):
        cfg.with_overrides({"eval.temperature": -1})
    with pytest.raises(ConfigError, match=r"not SECTION\.FIELD"):
        cfg.with_overrides({"temperature": 0.2})


def test_set_values_are_read_as_toml_values_else_as_text() -> None:
    assert parse_assignment("eval.temperature=0.2") == ("eval.temperature", 0.2)
    assert parse_assignment("eval.k = [1, 2]") == ("eval.k", [1, 2])
    assert parse_assignment("sft.packing=false") == ("sft.packing", False)
    assert parse_assignment("run.name=my-run") == ("run.name", "my-run")
    with pytest.raises(ConfigError, match=r"SECTION\.FIELD=VALUE"):
        parse_assignment("eval.temperature")


def test_training_data_takes_one_path_or_a_list_and_round_trips_through_toml(tmp_path: Path) -> None:
    one = parse_config({"data": {"training_data": "examples"}})
    assert one.data.training_data == [Path("examples")]
    cfg = parse_config({"data": {"training_data": ["a", "b"], "imports": ["x.jsonl"]}})
    (tmp_path / "c.toml").write_text(cfg.to_toml("written back"), encoding="utf-8")
    assert load_config(tmp_path / "c.toml").to_dict() == cfg.to_dict()
