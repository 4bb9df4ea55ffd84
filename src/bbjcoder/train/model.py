"""Load a local HF causal LM and its tokenizer for training (bf16/fp32 or NF4 QLoRA), add LoRA.

Also fixes up base-model tokenizers for chat training: a ChatML template when none is set,
`<|im_end|>` as EOS (it ends an assistant turn) and a pad token that is never the EOS token.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bbjcoder.errors import DependencyError, ModelError
from bbjcoder.train.tiny import CHATML_TEMPLATE, EOS_TOKEN, PAD_TOKEN


def resolve_dtype(dtype: str, *, cuda: bool) -> Any:
    """Map a config dtype name to a torch dtype; "auto" = bf16 on CUDA with bf16 support, else fp32."""
    import torch

    if dtype == "auto":
        return torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float32
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype]


def prepare_tokenizer(tokenizer: Any) -> Any:
    """Make a (base-model) tokenizer right for ChatML SFT, in place; returns it.

    Qwen base checkpoints ship eos = pad = `<|endoftext|>`. For chat training the assistant turn
    must end in `<|im_end|>` and padding must not be the EOS token (a model trained on padded EOS
    learns to stop everywhere, or its EOS is masked out of the loss).
    """
    vocab = tokenizer.get_vocab()
    if EOS_TOKEN in vocab:
        tokenizer.eos_token = EOS_TOKEN
    if PAD_TOKEN in vocab and tokenizer.pad_token in (None, tokenizer.eos_token):
        tokenizer.pad_token = PAD_TOKEN
    if tokenizer.pad_token is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        raise ModelError(
            f"tokenizer has no pad token distinct from EOS {tokenizer.eos_token!r}",
            hint="use a tokenizer with <|endoftext|> or add a pad token to tokenizer_config.json",
        )
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = CHATML_TEMPLATE
    tokenizer.padding_side = "right"
    return tokenizer


def nf4_config_kwargs() -> dict[str, Any]:
    """`BitsAndBytesConfig` arguments for QLoRA: NF4, double quantization, bf16 compute.

    The 4-bit weights are also *stored* as bf16 (`bnb_4bit_quant_storage`): FSDP can only shard
    float tensors, so this is what lets `accelerate launch` with FSDP shard a QLoRA model; on a
    single GPU it changes nothing.
    """
    import torch

    return {
        "load_in_4bit": True,
        "bnb_4bit_quant_type": "nf4",
        "bnb_4bit_use_double_quant": True,
        "bnb_4bit_compute_dtype": torch.bfloat16,
        "bnb_4bit_quant_storage": torch.bfloat16,
    }


def qlora_device_map(env: Mapping[str, str], current_device: int) -> dict[str, int] | None:
    """Where a 4-bit model is loaded: None under FSDP (accelerate places and shards the weights),
    the process's own GPU under DDP (`LOCAL_RANK`), else the current GPU."""
    if env.get("ACCELERATE_USE_FSDP", "").lower() in ("1", "true"):
        return None
    if int(env.get("WORLD_SIZE", "1")) > 1:
        return {"": int(env.get("LOCAL_RANK", "0"))}
    return {"": current_device}


def load_model_and_tokenizer(
    path: str | Path,
    *,
    quantization: str = "none",
    dtype: str = "auto",
    attn_implementation: str | None = None,
    for_training: bool = True,
    gradient_checkpointing: bool = False,
    upcast_non_quantized: bool = False,
) -> tuple[Any, Any]:
    """Load any local HF causal-LM directory and its tokenizer.

    `quantization="nf4"` loads 4-bit NF4 weights with double quantization and bf16 compute
    through bitsandbytes (CUDA only; DependencyError otherwise) and prepares the model for k-bit
    training: by default the lean way (base weights frozen, norms/embeddings/lm_head stay bf16:
    3 GB less for a 14B model than PEFT's fp32 upcast); `upcast_non_quantized=True` uses PEFT's
    `prepare_model_for_kbit_training` instead. The tokenizer is passed through `prepare_tokenizer`.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    if not (path / "config.json").is_file():
        raise ModelError("not a Hugging Face model directory (no config.json)", path=path)
    cuda = torch.cuda.is_available()
    kwargs: dict[str, Any] = {"dtype": resolve_dtype(dtype, cuda=cuda)}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    if quantization == "nf4":
        if not cuda:
            raise DependencyError(
                "quantization = 'nf4' needs an NVIDIA GPU with CUDA (bitsandbytes 4-bit)",
                hint="set [model] quantization = 'none' to train in bf16/fp32 LoRA on this machine",
            )
        try:
            import bitsandbytes  # noqa: F401
        except ImportError as exc:
            raise DependencyError(
                "quantization = 'nf4' needs bitsandbytes", hint="pip install 'bbjcoder[gpu]'"
            ) from exc
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(**nf4_config_kwargs())
        kwargs["dtype"] = torch.bfloat16
        device_map = qlora_device_map(os.environ, torch.cuda.current_device())
        if device_map is not None:
            kwargs["device_map"] = device_map
    elif quantization != "none":
        raise ModelError(f"unknown quantization {quantization!r}; expected 'none' or 'nf4'")
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load model: {exc}", path=path) from exc
    prepare_tokenizer(tokenizer)
    if for_training:
        model.config.use_cache = False
        if quantization == "nf4" and upcast_non_quantized:
            from peft import prepare_model_for_kbit_training

            # Norms/embeddings/lm_head in fp32 as PEFT does; the trainer must then run under bf16
            # autocast so attention still gets the bf16 flash kernel (fp32 would not).
            model = prepare_model_for_kbit_training(
                model,
                use_gradient_checkpointing=gradient_checkpointing,
                gradient_checkpointing_kwargs={"use_reentrant": False},
            )
        elif quantization == "nf4":
            for p in model.parameters():
                p.requires_grad_(False)
        elif cuda and model.dtype == torch.float32 and dtype == "auto":
            model = model.to(dtype=torch.bfloat16)  # type: ignore[call-arg]
    return model, tokenizer


def add_lora(
    model: Any,
    *,
    r: int,
    alpha: int,
    dropout: float,
    target_modules: str | list[str],
    modules_to_save: list[str] | None = None,
) -> Any:
    """Wrap `model` in a fresh trainable LoRA adapter (PEFT) on the given modules.

    `modules_to_save` are trained in full and stored in the adapter; tied input/output
    embeddings stay tied (`ensure_weight_tying`), so the merged model keeps one embedding matrix.
    """
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=target_modules,
        modules_to_save=list(modules_to_save) if modules_to_save else None,
        ensure_weight_tying=bool(modules_to_save),
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def load_adapter(model: Any, adapter_dir: str | Path, *, trainable: bool) -> Any:
    """Attach a saved PEFT adapter to `model` (stage 2 continues stage 1's adapter)."""
    from peft import PeftModel

    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise ModelError("not a PEFT adapter directory (no adapter_config.json)", path=adapter_dir)
    return PeftModel.from_pretrained(model, adapter_dir, is_trainable=trainable)


def enable_gradient_checkpointing(model: Any, every: int = 1) -> None:
    """Recompute activations of every `every`-th decoder layer in backward (1 = all layers).

    Selective checkpointing trades memory for speed: layers left out keep their activations.
    """
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if hasattr(model, "enable_input_require_grads"):
        model.enable_input_require_grads()
    if every > 1:
        from transformers.modeling_layers import GradientCheckpointingLayer

        layers = [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)]
        for i, layer in enumerate(layers):
            layer.gradient_checkpointing = i % every == 0


def apply_fused_kernels(model: Any) -> bool:
    """Patch Liger's fused RMSNorm/SwiGLU/RoPE into a loaded model; False when Liger or CUDA is missing."""
    import torch

    if not torch.cuda.is_available():
        return False
    try:
        from liger_kernel.transformers import _apply_liger_kernel_to_instance
    except Exception:  # missing or incompatible liger/triton: run without the kernels
        return False
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    _apply_liger_kernel_to_instance(
        model=base,
        rope=True,
        rms_norm=True,
        swiglu=True,
        cross_entropy=False,
        fused_linear_cross_entropy=False,
    )
    return True
