"""The tiny demo model: a few-million-parameter Qwen2 with a byte-level BPE tokenizer we train here.

No weights can be downloaded, so the demo and the tests build this model from a config; it is saved
as an ordinary Hugging Face directory, so every later stage (train, eval, export) treats it like a
real Qwen2.5-Coder checkpoint: same architecture, same special tokens, same ChatML template.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

# Qwen2.5-Coder's special tokens, in Qwen's order (ids follow the learned vocabulary).
SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
)
EOS_TOKEN = "<|im_end|>"  # ends an assistant turn (Qwen instruct convention)
PAD_TOKEN = "<|endoftext|>"  # never equal to EOS, or padding would teach the model to stop
DOC_SEP_TOKEN = "<|endoftext|>"  # separates documents in stage-1 packing and ends FIM middles

# ChatML as Qwen2.5 writes it, without Qwen's default system prompt (our data carries its own).
CHATML_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

# Qwen2's pre-tokenizer split: letters, single digits, punctuation runs, newlines, spaces.
_QWEN_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def train_tokenizer(texts: Iterable[str], vocab_size: int = 2048) -> object:
    """Train a byte-level BPE `tokenizers.Tokenizer` with Qwen's split regex and special tokens."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_QWEN_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    # Sorted input: the BPE trainer counts pairs, so a fixed order keeps the result identical.
    tok.train_from_iterator(sorted(t for t in texts if t), trainer=trainer)
    tok.add_special_tokens(list(SPECIAL_TOKENS))
    return tok


def build_tiny_model(
    out_dir: Path,
    texts: Iterable[str],
    *,
    hidden_size: int = 256,
    num_layers: int = 4,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    intermediate_size: int = 768,
    vocab_size: int = 4096,
    max_position_embeddings: int = 4096,
    tie_word_embeddings: bool = True,
    embedding_std: float = 0.05,
    seed: int = 42,
) -> Path:
    """Build and save a randomly initialised Qwen2ForCausalLM with a tokenizer trained on `texts`.

    `vocab_size` is the BPE target (learned merges); the model's vocabulary equals the final
    tokenizer length (BPE vocabulary + the 9 Qwen special tokens), so config and tokenizer agree
    exactly. Embeddings are tied, as in Qwen2.5's small models, and drawn with `embedding_std`. Deterministic for a given seed and
    text set. Returns `out_dir`, a directory `from_pretrained` loads like any HF checkpoint.
    """
    import torch
    from transformers import GenerationConfig, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = train_tokenizer(texts, vocab_size=vocab_size)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        bos_token=None,
        unk_token=None,
        additional_special_tokens=[t for t in SPECIAL_TOKENS if t not in (EOS_TOKEN, PAD_TOKEN)],
        model_max_length=max_position_embeddings,
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    tokenizer.padding_side = "right"
    ids: dict[str, int] = {t: int(tokenizer.convert_tokens_to_ids(t)) for t in SPECIAL_TOKENS}  # type: ignore[arg-type]

    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        max_position_embeddings=max_position_embeddings,
        rms_norm_eps=1e-6,
        tie_word_embeddings=tie_word_embeddings,
        bos_token_id=ids[PAD_TOKEN],
        eos_token_id=ids[EOS_TOKEN],
        pad_token_id=ids[PAD_TOKEN],
        use_cache=True,
        initializer_range=0.02,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)  # fp32 weights: the demo trains on CPU
    # With the usual 0.02 init and a 128-wide model, |logit| stays below ~3 whatever LoRA does
    # (embedding rows are tiny and frozen), so the loss could barely fall; wider rows fix that.
    with torch.no_grad():
        model.model.embed_tokens.weight.normal_(0.0, embedding_std)
    # Both ends of turn stop generation, as in Qwen2.5 instruct's generation_config.
    model.generation_config = GenerationConfig(
        bos_token_id=ids[PAD_TOKEN],
        eos_token_id=[ids[EOS_TOKEN], ids[DOC_SEP_TOKEN]],
        pad_token_id=ids[PAD_TOKEN],
    )
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    (out_dir / "bbjcoder_tiny.json").write_text(
        json.dumps({"seed": seed, "bpe_vocab_target": vocab_size, "params": model.num_parameters()}, indent=2)
        + "\n"
    )
    return out_dir
