"""GGUF -> Hugging Face directory, so a model that exists only as a GGUF can be a training base.

Writes safetensors (dequantized weights), config.json, a fast tokenizer built from the GGUF's own
vocabulary, merges, token types, special tokens and chat template, and generation_config.json.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict

from bbjcoder.errors import DependencyError, ModelError
from bbjcoder.records.imported import IMPORTED_FROM, ImportedFrom

ImportDtype = Literal["f32", "bf16", "f16"]

# GGUF architecture -> (HF model_type, HF class, q/k rows stored permuted for llama.cpp's rope)
_ARCHS: dict[str, tuple[str, str, bool]] = {
    "qwen2": ("qwen2", "Qwen2ForCausalLM", False),
    "llama": ("llama", "LlamaForCausalLM", True),
}

# The split regexes of the byte-level BPE pre-tokenizers llama.cpp names (tokenizer.ggml.pre).
_QWEN2_SPLIT = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
_LLAMA3_SPLIT = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""

# gguf.TokenType values (kept literal so this module reads without the gguf package).
_NORMAL, _UNKNOWN, _CONTROL, _USER_DEFINED, _UNUSED, _BYTE = 1, 2, 3, 4, 5, 6


@dataclass(frozen=True)
class ImportResult:
    out_dir: Path
    architecture: str
    vocab_size: int
    n_tensors: int
    tensor_types: dict[str, int]  # GGUF tensor type name -> how many tensors had it


def _gguf() -> Any:
    try:
        import gguf
    except ImportError as exc:  # pragma: no cover - the [export] extra is missing
        raise DependencyError("the gguf package is not installed", hint="pip install -e '.[export]'") from exc
    return gguf


def _field(reader: Any, key: str, default: Any = None) -> Any:
    field = reader.fields.get(key)
    if field is None:
        return default
    return field.contents()


# --- tokenizer.json (the Hugging Face `tokenizers` format) ------------------------------------------


class ByteLevelJson(TypedDict):
    type: Literal["ByteLevel"]
    add_prefix_space: bool
    trim_offsets: bool
    use_regex: bool


class SequenceJson(TypedDict):
    """A `Sequence` pre-tokenizer: its steps (Split, Digits, ByteLevel) in order."""

    type: Literal["Sequence"]
    pretokenizers: list[dict[str, object]]


class AddedTokenJson(TypedDict):
    id: int
    content: str
    single_word: bool
    lstrip: bool
    rstrip: bool
    normalized: bool
    special: bool


class BpeJson(TypedDict):
    type: Literal["BPE"]
    dropout: None
    unk_token: None
    continuing_subword_prefix: None
    end_of_word_suffix: None
    fuse_unk: bool
    byte_fallback: bool
    ignore_merges: bool
    vocab: dict[str, int]
    merges: list[list[str]]


class TokenizerJson(TypedDict):
    version: str
    truncation: None
    padding: None
    added_tokens: list[AddedTokenJson]
    normalizer: dict[str, str] | None
    pre_tokenizer: SequenceJson
    post_processor: None
    decoder: ByteLevelJson
    model: BpeJson


def _pre_tokenizer_json(pre: str, path: Path) -> SequenceJson:
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    if pre in ("qwen2", "deepseek-r1-qwen"):
        regex = _QWEN2_SPLIT
    elif pre in ("llama-bpe", "llama3"):
        regex = _LLAMA3_SPLIT
    elif pre == "smollm":
        # SmolLM: every digit alone, then GPT-2's byte-level regex.
        return {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Digits", "individual_digits": True},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
            ],
        }
    else:
        raise ModelError(
            f"tokenizer.ggml.pre {pre!r} is not supported by the importer (supported: qwen2, llama-bpe, smollm)",
            path=path,
        )
    return {
        "type": "Sequence",
        "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False},
            byte_level,
        ],
    }


def _tokenizer_json(reader: Any, path: Path) -> tuple[TokenizerJson, list[str], list[int]]:
    model = _field(reader, "tokenizer.ggml.model")
    if model != "gpt2":
        raise ModelError(
            f"tokenizer.ggml.model is {model!r}; only byte-level BPE ('gpt2') tokenizers import", path=path
        )
    tokens: list[str] = list(_field(reader, "tokenizer.ggml.tokens") or [])
    types: list[int] = [int(t) for t in (_field(reader, "tokenizer.ggml.token_type") or [])]
    merges: list[str] = list(_field(reader, "tokenizer.ggml.merges") or [])
    if not tokens or len(types) != len(tokens) or not merges:
        raise ModelError("the GGUF has no complete vocabulary (tokens, token types, merges)", path=path)
    pre = str(_field(reader, "tokenizer.ggml.pre", "default"))

    vocab: dict[str, int] = {}
    added: list[AddedTokenJson] = []
    for i, (text, kind) in enumerate(zip(tokens, types, strict=True)):
        if kind == _NORMAL:
            vocab[text] = i
        elif kind in (_CONTROL, _USER_DEFINED):
            # CONTROL tokens are special (never produced from plain text unless asked); USER_DEFINED
            # ones are matched whole in text, as llama.cpp does. Both also sit in the BPE vocabulary
            # under their own id (no merge produces them), so ids stay fixed wherever they are.
            vocab[text] = i
            added.append(
                {
                    "id": i,
                    "content": text,
                    "single_word": False,
                    "lstrip": False,
                    "rstrip": False,
                    "normalized": False,
                    "special": kind == _CONTROL,
                }
            )
        elif kind == _UNUSED:
            continue  # padding slots of the embedding matrix: no text maps to them
        else:
            raise ModelError(
                f"token {i} ({text!r}) has token type {kind}, unexpected for byte-level BPE", path=path
            )
    tj: TokenizerJson = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        # Qwen2's own tokenizer normalises to NFC; llama.cpp does not (texts that are NFC agree).
        "normalizer": {"type": "NFC"} if pre.startswith("qwen2") else None,
        "pre_tokenizer": _pre_tokenizer_json(pre, path),
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": [m.split(" ", 1) for m in merges],
        },
    }
    return tj, tokens, types


def _hf_name(gguf_name: str, gguf: Any, arch: Any) -> str:
    from bbjcoder.export.gguf import _BLOCK_TENSORS, _GLOBAL_TENSORS

    stem, _, suffix = gguf_name.rpartition(".")
    for hf_stem, member in _GLOBAL_TENSORS.items():
        if gguf.TENSOR_NAMES[gguf.MODEL_TENSOR[member]] == stem:
            return f"{hf_stem}.{suffix}"
    head, _, rest = stem.partition(".")
    bid = rest.partition(".")[0]
    if head == "blk" and bid.isdigit():
        for hf_part, member in _BLOCK_TENSORS.items():
            if gguf.TENSOR_NAMES[gguf.MODEL_TENSOR[member]].format(bid=bid) == stem:
                return f"model.layers.{bid}.{hf_part}.{suffix}"
    raise ModelError(f"GGUF tensor {gguf_name!r} has no Hugging Face counterpart in the importer")


def _unpermute_qk(w: Any, n_head: int) -> Any:
    # inverse of export.gguf._permute_qk: interleaved pairs (llama.cpp) -> rotate-half (HF)
    shape = w.shape
    return w.reshape(n_head, shape[0] // n_head // 2, 2, *shape[1:]).swapaxes(1, 2).reshape(shape)


def import_gguf(
    gguf_path: str | Path,
    out_dir: str | Path,
    *,
    dtype: ImportDtype = "f32",
    force: bool = False,
    tokenizer_only: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Write the Hugging Face directory `out_dir` from the GGUF `gguf_path` (qwen2 or llama arch).

    Quantized weights are dequantized (the result carries the quantization error of the GGUF: a
    fine-tune starts from the quantized model, not the original). The directory appears complete or
    not at all; an existing non-empty `out_dir` is an error unless `force`. `tokenizer_only`
    writes just the tokenizer files and generation_config.json (seconds instead of minutes).
    """
    import numpy as np
    import torch
    from safetensors.torch import save_file

    gguf = _gguf()
    gguf_path, out_dir = Path(gguf_path), Path(out_dir)
    if not gguf_path.is_file():
        raise ModelError("no such GGUF file", path=gguf_path)
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise ModelError(
            "output directory exists and is not empty", path=out_dir, hint="pass --force to replace it"
        )
    try:
        reader = gguf.GGUFReader(str(gguf_path), "r")
    except Exception as exc:  # gguf raises ValueError/struct errors on truncated or foreign files
        raise ModelError(f"not a readable GGUF file: {exc}", path=gguf_path) from exc

    arch_name = str(_field(reader, "general.architecture", ""))
    if arch_name not in _ARCHS:
        raise ModelError(
            f"GGUF architecture {arch_name!r} is not supported (supported: {', '.join(_ARCHS)})",
            path=gguf_path,
        )
    model_type, hf_class, permuted = _ARCHS[arch_name]
    arch = next(a for a, n in gguf.MODEL_ARCH_NAMES.items() if n == arch_name)

    def meta(key: str, default: Any = None) -> Any:
        return _field(reader, f"{arch_name}.{key}", default)

    n_embd = int(meta("embedding_length"))
    n_head = int(meta("attention.head_count"))
    n_head_kv = int(meta("attention.head_count_kv", n_head))
    head_dim = int(meta("attention.key_length", n_embd // n_head))
    tensors = {t.name: t for t in reader.tensors}
    if "token_embd.weight" not in tensors:
        raise ModelError("the GGUF has no token_embd.weight", path=gguf_path)
    vocab_size = int(tensors["token_embd.weight"].shape[1])
    tied = "output.weight" not in tensors

    tokenizer, gen, n_tokens = _tokenizer_from_gguf(reader, gguf_path)
    if n_tokens != vocab_size:
        raise ModelError(
            f"the GGUF lists {n_tokens} tokens but its embedding has {vocab_size} rows", path=gguf_path
        )
    if tokenizer_only:
        _write_dir(out_dir, lambda tmp: (tokenizer.save_pretrained(tmp), gen.save_pretrained(tmp)))
        return ImportResult(out_dir, arch_name, vocab_size, 0, {})

    torch_dtype = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[dtype]
    state: dict[str, torch.Tensor] = {}
    type_counts: dict[str, int] = {}
    for done, (name, t) in enumerate(tensors.items(), start=1):
        qtype = gguf.GGMLQuantizationType(int(t.tensor_type))
        type_counts[qtype.name] = type_counts.get(qtype.name, 0) + 1
        try:
            arr = gguf.quants.dequantize(t.data, qtype)
        except NotImplementedError as exc:
            raise ModelError(
                f"tensor {name}: type {qtype.name} cannot be dequantized here", path=gguf_path
            ) from exc
        shape = tuple(int(d) for d in reversed([int(x) for x in t.shape]))
        arr = np.asarray(arr, dtype=np.float32).reshape(shape)
        if permuted and name.startswith("blk.") and name.endswith("attn_q.weight"):
            arr = _unpermute_qk(arr, n_head)
        elif permuted and name.startswith("blk.") and name.endswith("attn_k.weight"):
            arr = _unpermute_qk(arr, n_head_kv)
        hf = _hf_name(name, gguf, arch)
        # 1-D tensors (norms, biases) stay F32 as in the GGUF; matrices take `dtype`
        state[hf] = torch.from_numpy(np.array(arr, dtype=np.float32, order="C", copy=True)).to(
            torch.float32 if arr.ndim == 1 else torch_dtype
        )
        if progress is not None:
            progress(done, len(tensors))

    from transformers import AutoConfig

    rope_theta = float(meta("rope.freq_base", 10000.0))
    cfg_kwargs: dict[str, object] = {
        "architectures": [hf_class],
        "hidden_size": n_embd,
        "intermediate_size": int(meta("feed_forward_length")),
        "num_hidden_layers": int(meta("block_count")),
        "num_attention_heads": n_head,
        "num_key_value_heads": n_head_kv,
        "head_dim": head_dim,
        "max_position_embeddings": int(meta("context_length", 4096)),
        "rms_norm_eps": float(meta("attention.layer_norm_rms_epsilon", 1e-6)),
        "rope_parameters": {"rope_type": "default", "rope_theta": rope_theta},
        "vocab_size": vocab_size,
        "tie_word_embeddings": tied,
        "hidden_act": "silu",
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "dtype": {"f32": "float32", "bf16": "bfloat16", "f16": "float16"}[dtype],
    }
    if model_type == "llama":
        cfg_kwargs["attention_bias"] = "blk.0.attn_q.bias" in tensors
        cfg_kwargs["mlp_bias"] = False
    config = AutoConfig.for_model(model_type, **cfg_kwargs)

    if tied:
        state.pop("lm_head.weight", None)

    def write(tmp: Path) -> None:
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        config.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        gen.save_pretrained(tmp)
        ImportedFrom(
            gguf=str(gguf_path.resolve()),
            architecture=arch_name,
            tensor_types=type_counts,
            note="weights dequantized from the GGUF; its quantization error is part of this model",
        ).save(tmp / IMPORTED_FROM)

    _write_dir(out_dir, write)
    return ImportResult(out_dir, arch_name, vocab_size, len(state), type_counts)


def _write_dir(out_dir: Path, write: Callable[[Path], Any]) -> None:
    """Fill a fresh sibling temp dir with `write(tmp)`, then swap it in as `out_dir`."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        write(tmp)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _tokenizer_from_gguf(reader: Any, path: Path) -> tuple[Any, Any, int]:
    """A `PreTrainedTokenizerFast` (vocabulary, merges, token types, specials, chat template) and the
    `GenerationConfig` (bos, pad, every end-of-turn id as eos) that the GGUF's metadata describe,
    and the number of token slots it lists."""
    from tokenizers import Tokenizer
    from transformers import GenerationConfig, PreTrainedTokenizerFast

    tj, tokens, types = _tokenizer_json(reader, path)

    def tok_id(key: str) -> int | None:
        value = _field(reader, f"tokenizer.ggml.{key}")
        return int(value) if value is not None else None

    bos, eos, pad, eot = (
        tok_id(k) for k in ("bos_token_id", "eos_token_id", "padding_token_id", "eot_token_id")
    )
    stop_ids: list[int] = []
    named_stops = [
        i for i, s in enumerate(tokens) if s in ("<|im_end|>", "<|endoftext|>") and types[i] == _CONTROL
    ]
    for t in (eos, eot, *named_stops):
        if t is not None and t not in stop_ids:
            stop_ids.append(t)

    backend = Tokenizer.from_str(json.dumps(tj, ensure_ascii=False))
    if bool(_field(reader, "tokenizer.ggml.add_bos_token", False)) and bos is not None:
        from tokenizers.processors import TemplateProcessing

        b = tokens[bos]
        backend.post_processor = TemplateProcessing(
            single=f"{b} $A", pair=f"{b} $A {b} $B", special_tokens=[(b, bos)]
        )

    def text(tid: int | None) -> str | None:
        return tokens[tid] if tid is not None else None

    arch_name = str(_field(reader, "general.architecture", ""))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=text(bos),
        eos_token=text(eos),
        pad_token=text(pad),
        clean_up_tokenization_spaces=False,
        model_max_length=int(_field(reader, f"{arch_name}.context_length", 4096)),
    )
    template = _field(reader, "tokenizer.chat_template")
    if template:
        tokenizer.chat_template = str(template)
    gen = GenerationConfig(
        bos_token_id=bos, eos_token_id=stop_ids if len(stop_ids) > 1 else eos, pad_token_id=pad
    )
    return tokenizer, gen, len(tokens)
