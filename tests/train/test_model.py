"""QLoRA loading settings that need no GPU to check: the NF4 config and where weights are placed."""

from __future__ import annotations

import torch

from bbjcoder.train.model import nf4_config_kwargs, qlora_device_map


def test_nf4_config_uses_double_quant_bf16_compute_and_bf16_storage_for_fsdp() -> None:
    kw = nf4_config_kwargs()
    assert kw["load_in_4bit"] is True
    assert kw["bnb_4bit_quant_type"] == "nf4"
    assert kw["bnb_4bit_use_double_quant"] is True
    assert kw["bnb_4bit_compute_dtype"] is torch.bfloat16
    assert kw["bnb_4bit_quant_storage"] is torch.bfloat16


def test_nf4_config_is_accepted_by_transformers_bitsandbytes_config() -> None:
    from transformers import BitsAndBytesConfig

    cfg = BitsAndBytesConfig(**nf4_config_kwargs())
    assert cfg.load_in_4bit and cfg.bnb_4bit_quant_storage == torch.bfloat16


def test_single_process_loads_on_the_current_gpu() -> None:
    assert qlora_device_map({}, 3) == {"": 3}


def test_ddp_loads_each_process_on_its_local_rank() -> None:
    assert qlora_device_map({"WORLD_SIZE": "4", "LOCAL_RANK": "2"}, 0) == {"": 2}


def test_fsdp_leaves_placement_to_accelerate() -> None:
    env = {"ACCELERATE_USE_FSDP": "true", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}
    assert qlora_device_map(env, 0) is None
