"""Merge a run's LoRA adapter into its base weights and save a standard Hugging Face directory.

The base is loaded unquantized (bf16, or fp32 for fp32 checkpoints such as the tiny demo model):
for an NF4 (QLoRA) run that is the full-precision base the 4-bit weights were quantized from.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from bbjcoder.errors import DependencyError, ModelError

# Files that make up a tokenizer; copied verbatim so the merged model tokenizes exactly as trained.
TOKENIZER_FILES: tuple[str, ...] = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
)


def _torch_dtype(model_dir: Path) -> Any:
    import torch

    try:
        cfg = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError("cannot read config.json of the base model", path=model_dir) from exc
    declared = cfg.get("dtype") or cfg.get("torch_dtype") or "bfloat16"
    # fp32 checkpoints stay fp32 (merging in lower precision would lose the adapter's small deltas);
    # everything else (bf16, fp16, NF4-trained) merges and saves as bf16.
    return torch.float32 if declared == "float32" else torch.bfloat16


def tokenizer_source(base_dir: Path, adapter_dir: Path | None) -> Path:
    """The directory whose tokenizer the run used: the adapter's when training saved one there."""
    if adapter_dir is not None and (adapter_dir / "tokenizer.json").exists():
        return adapter_dir
    return base_dir


def merge_adapter(base_dir: str | Path, adapter_dir: str | Path | None, out_dir: str | Path) -> Path:
    """Write `out_dir`: base weights with the PEFT LoRA adapter merged in, plus the tokenizer.

    With `adapter_dir=None` the base is re-saved as is (a run without an adapter exports its base).
    """
    try:
        import torch
        from transformers import AutoModelForCausalLM
    except ImportError as exc:
        raise DependencyError(
            "merging needs torch and transformers", hint="pip install -e '.[train]'"
        ) from exc

    base_dir, out_dir = Path(base_dir), Path(out_dir)
    adapter = Path(adapter_dir) if adapter_dir is not None else None
    if not (base_dir / "config.json").exists():
        raise ModelError("base model directory has no config.json", path=base_dir)
    if adapter is not None and not (adapter / "adapter_config.json").exists():
        raise ModelError("adapter directory has no adapter_config.json", path=adapter)

    dtype = _torch_dtype(base_dir)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=dtype, low_cpu_mem_usage=True)
    tok_dir = tokenizer_source(base_dir, adapter)
    if adapter is not None:
        from peft import PeftModel

        # Training may have added tokens; the adapter's embeddings then expect the larger vocabulary.
        n_vocab = _tokenizer_length(tok_dir)
        n_embed = int(model.get_input_embeddings().weight.shape[0])  # type: ignore[index]
        if n_vocab is not None and n_vocab > n_embed:
            model.resize_token_embeddings(n_vocab)
        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    _set_end_tokens(model, tok_dir)
    with torch.no_grad():
        model.save_pretrained(out_dir, safe_serialization=True)  # with generation_config.json
    for name in TOKENIZER_FILES:
        src = tok_dir / name
        if src.exists():
            shutil.copy2(src, out_dir / name)
    return out_dir


def _set_end_tokens(model: Any, tok_dir: Path) -> None:
    """Generation ends on ChatML's end of turn and the end of text in every merged export: a Base
    checkpoint's generation config names only <|endoftext|>, so vLLM or transformers serving the
    merged model would run every chat reply to the token limit."""
    from transformers import AutoTokenizer, GenerationConfig

    from bbjcoder.data.tokens import end_token_ids

    ids = end_token_ids(AutoTokenizer.from_pretrained(tok_dir))
    if not ids:
        return
    config = model.generation_config or GenerationConfig()
    config.eos_token_id = ids if len(ids) > 1 else ids[0]
    if config.pad_token_id is None:
        config.pad_token_id = ids[-1]
    model.generation_config = config


def _tokenizer_length(tok_dir: Path) -> int | None:
    path = tok_dir / "tokenizer.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    ids = [int(i) for i in data.get("model", {}).get("vocab", {}).values()]
    ids += [int(a["id"]) for a in data.get("added_tokens", [])]
    return max(ids) + 1 if ids else None
