"""Our own Hugging Face -> GGUF converter for Qwen2, Qwen3 and Llama causal LMs (F16 or F32).

Works offline from a local HF directory (safetensors + tokenizer), streaming one tensor at a time so a
14B model converts in bounded memory. Key and tensor names come from the `gguf` package's constants.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from bbjcoder.errors import DependencyError, ModelError

if TYPE_CHECKING:
    import numpy as np

OutType = Literal["f16", "f32"]

# llama.cpp chooses its pre-tokenizer (the regex that splits text before BPE) by name. We name one
# only when the HF tokenizer's split regex is exactly one that llama.cpp implements under that name.
_PRE_TOKENIZER_REGEXES: dict[str, tuple[str, ...]] = {
    "qwen2": (
        r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
        r"""(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
    ),
    "llama-bpe": (
        r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
        r"""(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
    ),
}


@dataclass(frozen=True)
class _Arch:
    name: str  # gguf.MODEL_ARCH member name
    # Llama checkpoints store q/k rows in HF's rotate-half order; llama.cpp's "llama" arch expects
    # the interleaved (GPT-J) order, so those two weights are permuted. Qwen uses NeoX rope: no permute.
    permute_qk: bool


_ARCHS: dict[str, _Arch] = {
    "Qwen2ForCausalLM": _Arch("QWEN2", permute_qk=False),
    "Qwen3ForCausalLM": _Arch("QWEN3", permute_qk=False),
    "LlamaForCausalLM": _Arch("LLAMA", permute_qk=True),
}

# HF parameter name (after "model.layers.{i}.") -> gguf MODEL_TENSOR member name.
_BLOCK_TENSORS: dict[str, str] = {
    "input_layernorm": "ATTN_NORM",
    "self_attn.q_proj": "ATTN_Q",
    "self_attn.k_proj": "ATTN_K",
    "self_attn.v_proj": "ATTN_V",
    "self_attn.o_proj": "ATTN_OUT",
    "self_attn.q_norm": "ATTN_Q_NORM",
    "self_attn.k_norm": "ATTN_K_NORM",
    "post_attention_layernorm": "FFN_NORM",
    "mlp.gate_proj": "FFN_GATE",
    "mlp.up_proj": "FFN_UP",
    "mlp.down_proj": "FFN_DOWN",
}
_GLOBAL_TENSORS: dict[str, str] = {
    "model.embed_tokens": "TOKEN_EMBD",
    "model.norm": "OUTPUT_NORM",
    "lm_head": "OUTPUT",
}


@dataclass(frozen=True)
class GgufInfo:
    """What a conversion wrote: the file, its architecture, tensor count and size in bytes."""

    path: Path
    arch: str
    n_tensors: int
    size_bytes: int


def _import_gguf() -> Any:
    try:
        import gguf
    except ImportError as exc:  # pragma: no cover - the [export] extra is missing
        raise DependencyError("the gguf package is not installed", hint="pip install -e '.[export]'") from exc
    return gguf


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError(f"cannot read: {exc.strerror}", path=path) from exc
    except json.JSONDecodeError as exc:
        raise ModelError(f"invalid JSON: {exc.msg}", path=path, line=exc.lineno) from exc
    if not isinstance(data, dict):
        raise ModelError("expected a JSON object", path=path)
    return data


def _rope_theta(config: dict[str, Any]) -> float:
    # transformers 5 moved rope_theta into rope_parameters; older configs keep it at top level.
    params = config.get("rope_parameters") or {}
    theta = params.get("rope_theta", config.get("rope_theta", 10000.0))
    return float(theta)


def _rope_scaling(config: dict[str, Any]) -> dict[str, Any] | None:
    params = config.get("rope_scaling") or config.get("rope_parameters") or {}
    kind = params.get("rope_type", params.get("type", "default"))
    if kind in (None, "default"):
        return None
    return dict(params)


def _safetensors_files(model_dir: Path) -> list[Path]:
    index = model_dir / "model.safetensors.index.json"
    if index.exists():
        weight_map = _read_json(index).get("weight_map", {})
        return sorted({model_dir / f for f in weight_map.values()})
    single = model_dir / "model.safetensors"
    if single.exists():
        return [single]
    raise ModelError(
        "no model.safetensors (or model.safetensors.index.json) in the model directory",
        path=model_dir,
        hint="save the model with save_pretrained(..., safe_serialization=True)",
    )


def _map_name(hf_name: str, gguf: Any, arch: Any) -> str | None:
    """GGUF tensor name for an HF parameter name, or None for tensors that carry no weights."""
    if hf_name.endswith("rotary_emb.inv_freq"):
        return None
    stem, _, suffix = hf_name.rpartition(".")
    if suffix not in ("weight", "bias"):
        raise ModelError(f"unexpected tensor {hf_name!r}")
    if stem in _GLOBAL_TENSORS:
        member = _GLOBAL_TENSORS[stem]
        bid = None
    else:
        parts = stem.split(".", 3)
        if len(parts) != 4 or parts[:2] != ["model", "layers"] or parts[3] not in _BLOCK_TENSORS:
            raise ModelError(f"tensor {hf_name!r} has no GGUF mapping for this architecture")
        member = _BLOCK_TENSORS[parts[3]]
        bid = int(parts[2])
    tensor = gguf.MODEL_TENSOR[member]
    if tensor not in gguf.MODEL_TENSORS[arch]:
        raise ModelError(f"tensor {hf_name!r} is not part of the {gguf.MODEL_ARCH_NAMES[arch]} architecture")
    name = gguf.TENSOR_NAMES[tensor]
    if bid is not None:
        name = name.format(bid=bid)
    return f"{name}.{suffix}"


def _permute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    # rotate-half (HF) -> interleaved pairs (llama.cpp "llama"): rows of each head go from
    # [x0..x(d/2-1), y0..y(d/2-1)] to [x0, y0, x1, y1, ...].
    shape = w.shape
    return w.reshape(n_head, 2, shape[0] // n_head // 2, *shape[1:]).swapaxes(1, 2).reshape(shape)


def _pre_tokenizer_name(tokenizer_json: dict[str, Any], path: Path) -> str:
    pre = tokenizer_json.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    # SmolLM: each digit alone, then GPT-2's byte-level regex (llama.cpp's "smollm").
    if [s.get("type") for s in steps] == ["Digits", "ByteLevel"] and (
        steps[0].get("individual_digits") and steps[1].get("use_regex", True)
    ):
        return "smollm"
    regexes = [
        s.get("pattern", {}).get("Regex") for s in steps if s.get("type") == "Split" and isinstance(s, dict)
    ]
    for name, known in _PRE_TOKENIZER_REGEXES.items():
        if regexes and regexes[0] in known:
            return name
    raise ModelError(
        "the tokenizer's pre-tokenizer regex is not one llama.cpp implements (known: qwen2, llama-bpe, smollm)",
        path=path,
        hint="use a Qwen2/Llama-3 style byte-level BPE tokenizer (Split regex + ByteLevel(use_regex=False))",
    )


@dataclass(frozen=True)
class _Vocab:
    tokens: list[str]
    types: list[int]
    merges: list[str]
    pre: str
    special_ids: dict[str, int]  # gguf writer method suffix -> id, e.g. "bos" -> 151643
    chat_template: str | None


def _load_vocab(model_dir: Path, config: dict[str, Any], vocab_size: int, gguf: Any) -> _Vocab:
    tok_path = model_dir / "tokenizer.json"
    if not tok_path.exists():
        raise ModelError("no tokenizer.json in the model directory", path=model_dir)
    tj = _read_json(tok_path)
    model = tj.get("model") or {}
    if model.get("type") != "BPE":
        raise ModelError(f"only byte-level BPE tokenizers convert (got {model.get('type')!r})", path=tok_path)
    pre = _pre_tokenizer_name(tj, tok_path)

    id_to_token: dict[int, str] = {int(i): t for t, i in model.get("vocab", {}).items()}
    added: dict[int, dict[str, Any]] = {int(a["id"]): a for a in tj.get("added_tokens", [])}
    for i, a in added.items():
        id_to_token[i] = a["content"]
    if id_to_token and max(id_to_token) >= vocab_size:
        raise ModelError(
            f"tokenizer has id {max(id_to_token)} but the model's vocab_size is {vocab_size}", path=tok_path
        )
    tokens: list[str] = []
    types: list[int] = []
    for i in range(vocab_size):
        if i not in id_to_token:
            # Models pad the embedding matrix past the tokenizer (Qwen: 151665 -> 152064).
            tokens.append(f"[PAD{i}]")
            types.append(int(gguf.TokenType.UNUSED))
        elif i in added:
            tokens.append(id_to_token[i])
            special = bool(added[i].get("special"))
            types.append(int(gguf.TokenType.CONTROL if special else gguf.TokenType.USER_DEFINED))
        else:
            tokens.append(id_to_token[i])
            types.append(int(gguf.TokenType.NORMAL))

    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]

    tcfg_path = model_dir / "tokenizer_config.json"
    tcfg = _read_json(tcfg_path) if tcfg_path.exists() else {}
    by_text = {t: i for i, t in enumerate(tokens)}

    def token_id(value: Any) -> int | None:
        if isinstance(value, dict):  # AddedToken serialised as a dict
            value = value.get("content")
        return by_text.get(value) if isinstance(value, str) else None

    special_ids: dict[str, int] = {}
    for key in ("bos", "eos", "pad", "unk"):
        tid = token_id(tcfg.get(f"{key}_token"))
        if tid is None and isinstance(config.get(f"{key}_token_id"), int):
            tid = config[f"{key}_token_id"]
        if tid is not None:
            special_ids[key] = tid
    # ChatML's end-of-turn and the FIM tokens are found by their text, as Qwen names them.
    for key, text in (
        ("eot", "<|im_end|>"),
        ("fim_pre", "<|fim_prefix|>"),
        ("fim_mid", "<|fim_middle|>"),
        ("fim_suf", "<|fim_suffix|>"),
        ("fim_pad", "<|fim_pad|>"),
        ("fim_rep", "<|repo_name|>"),
        ("fim_sep", "<|file_sep|>"),
    ):
        if text in by_text:
            special_ids[key] = by_text[text]

    chat_template = tcfg.get("chat_template")
    jinja = model_dir / "chat_template.jinja"
    if chat_template is None and jinja.exists():
        chat_template = jinja.read_text(encoding="utf-8")
    if isinstance(chat_template, list):  # named templates: keep the default one
        chat_template = next((c["template"] for c in chat_template if c.get("name") == "default"), None)
    return _Vocab(tokens, types, merges, pre, special_ids, chat_template)


def _open_tensors(files: list[Path]) -> dict[str, Any]:
    """Tensor name -> the open safetensors handle holding it (data stays on disk until read)."""
    from safetensors import safe_open

    lookup: dict[str, Any] = {}
    for f in files:
        fh = safe_open(str(f), framework="pt")
        for name in fh.keys():  # noqa: SIM118 - safe_open is not a Mapping
            lookup[name] = fh
    return lookup


def convert_hf_to_gguf(
    model_dir: str | Path,
    out_path: str | Path,
    *,
    out_type: OutType = "f16",
    name: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> GgufInfo:
    """Write `out_path` (GGUF) from the HF causal-LM directory `model_dir`.

    `out_type="f16"` stores 2-D weights as F16 and 1-D tensors (norms, biases) as F32, as llama.cpp
    does; `"f32"` stores everything as F32. `progress(done, total)` is called after each tensor.
    """
    import numpy as np
    import torch

    gguf = _import_gguf()
    model_dir = Path(model_dir)
    out_path = Path(out_path)
    config = _read_json(model_dir / "config.json")
    archs = config.get("architectures") or []
    spec = next((_ARCHS[a] for a in archs if a in _ARCHS), None)
    if spec is None:
        raise ModelError(
            f"architecture {archs} is not supported by the GGUF exporter (supported: {', '.join(_ARCHS)})",
            path=model_dir / "config.json",
        )
    arch = gguf.MODEL_ARCH[spec.name]
    arch_name = gguf.MODEL_ARCH_NAMES[arch]

    n_embd = int(config["hidden_size"])
    n_head = int(config["num_attention_heads"])
    n_head_kv = int(config.get("num_key_value_heads") or n_head)
    head_dim = int(config.get("head_dim") or n_embd // n_head)
    vocab_size = int(config["vocab_size"])
    vocab = _load_vocab(model_dir, config, vocab_size, gguf)

    writer = gguf.GGUFWriter(str(out_path), arch_name)
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(name or model_dir.name)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if out_type == "f16" else gguf.LlamaFileType.ALL_F32)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_context_length(int(config.get("max_position_embeddings", 4096)))
    writer.add_embedding_length(n_embd)
    writer.add_block_count(int(config["num_hidden_layers"]))
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head_kv)
    writer.add_rope_freq_base(_rope_theta(config))
    writer.add_rope_dimension_count(head_dim)
    writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-6)))
    writer.add_vocab_size(vocab_size)
    if head_dim != n_embd // n_head:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    scaling = _rope_scaling(config)
    if scaling is not None:
        kind = scaling.get("rope_type", scaling.get("type"))
        if kind == "linear":
            writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
            writer.add_rope_scaling_factor(float(scaling["factor"]))
        elif kind == "yarn":
            writer.add_rope_scaling_type(gguf.RopeScalingType.YARN)
            writer.add_rope_scaling_factor(float(scaling["factor"]))
            writer.add_rope_scaling_orig_ctx_len(int(scaling["original_max_position_embeddings"]))
        else:
            raise ModelError(f"rope scaling {kind!r} is not supported by the GGUF exporter")

    writer.add_tokenizer_model("gpt2")  # llama.cpp's name for byte-level BPE
    writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.types)
    writer.add_token_merges(vocab.merges)
    for key, tid in vocab.special_ids.items():
        if key in ("bos", "eos", "pad", "unk", "eot"):
            getattr(writer, f"add_{key}_token_id")(tid)
        else:
            writer.add_uint32(getattr(gguf.Keys.Tokenizer, f"{key.upper()}_ID"), tid)
    # Qwen and Llama-3 prompts carry no implicit BOS: the chat template writes every special token.
    writer.add_add_bos_token(bool(config.get("add_bos_token", False)) if spec.name == "LLAMA" else False)
    if vocab.chat_template:
        writer.add_chat_template(vocab.chat_template)

    # Pass 1: tensor infos only (shapes from the safetensors headers), so pass 2 can stream data.
    files = _safetensors_files(model_dir)
    tied = bool(config.get("tie_word_embeddings", False))
    lookup = _open_tensors(files)
    plan: list[tuple[str, str, np.dtype[Any], tuple[int, ...]]] = []
    for hf_name, fh in lookup.items():
        gname = _map_name(hf_name, gguf, arch)
        if gname is None or (tied and gname.startswith("output.")):
            continue  # tied output: llama.cpp reuses token_embd
        shape = tuple(fh.get_slice(hf_name).get_shape())
        dtype = np.dtype(np.float16 if out_type == "f16" and len(shape) >= 2 else np.float32)
        plan.append((hf_name, gname, dtype, shape))
    names = {g for _, g, _, _ in plan}
    if "token_embd.weight" not in names:
        raise ModelError("the model has no model.embed_tokens.weight", path=model_dir)
    for _, gname, dtype, shape in plan:
        writer.add_tensor_info(gname, shape, dtype, int(np.prod(shape)) * dtype.itemsize)

    out_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for done, (hf_name, gname, dtype, _shape) in enumerate(plan, start=1):
            t = lookup[hf_name].get_tensor(hf_name).to(torch.float32)
            arr = t.numpy()
            if spec.permute_qk and gname.endswith(("attn_q.weight", "attn_q.bias")):
                arr = _permute_qk(arr, n_head)
            elif spec.permute_qk and gname.endswith(("attn_k.weight", "attn_k.bias")):
                arr = _permute_qk(arr, n_head_kv)
            writer.write_tensor_data(np.ascontiguousarray(arr.astype(dtype)))
            if progress is not None:
                progress(done, len(plan))
    finally:
        writer.close()
    return GgufInfo(out_path, arch_name, len(plan), out_path.stat().st_size)
