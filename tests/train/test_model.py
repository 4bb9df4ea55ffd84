"""Model loading settings checked without a GPU: the NF4 config, where weights are placed, trainable modules."""

from __future__ import annotations

from pathlib import Path

import torch

from bbjcoder.train.model import add_lora, load_model_and_tokenizer, nf4_config_kwargs, qlora_device_map


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


def test_modules_to_save_trains_one_tied_embedding_that_is_also_the_output_layer(tiny_dir: Path) -> None:
    model, _ = load_model_and_tokenizer(tiny_dir)
    peft_model = add_lora(
        model, r=4, alpha=8, dropout=0.0, target_modules="all-linear", modules_to_save=["embed_tokens"]
    )
    base = peft_model.get_base_model()
    trained = base.get_input_embeddings().modules_to_save["default"].weight
    out = base.get_output_embeddings().weight
    assert trained.requires_grad and out.requires_grad
    # the lm_head reads the trained copy, so the output distribution can learn (one matrix, not two)
    assert out.data_ptr() == trained.data_ptr()


def test_pure_lora_keeps_embeddings_and_output_layer_frozen(tiny_dir: Path) -> None:
    model, _ = load_model_and_tokenizer(tiny_dir)
    peft_model = add_lora(model, r=4, alpha=8, dropout=0.0, target_modules="all-linear")
    base = peft_model.get_base_model()
    assert not base.get_input_embeddings().weight.requires_grad
    assert not base.get_output_embeddings().weight.requires_grad
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
