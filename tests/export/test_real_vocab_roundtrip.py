"""Our GGUF writer on the real Qwen2.5-Coder and SmolLM2 vocabularies: tokens, token types (unused
padding slots included), merges, special ids and chat template come back exactly as the source GGUF
has them, and llama.cpp tokenizes every training text to the same ids as the HF tokenizer.

The weights are a tiny random model of the same architecture and vocabulary size (the vocabulary is
what is under test; real weights are covered by tests/test_real_smoke.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bbjcoder.export.gguf import convert_hf_to_gguf
from bbjcoder.models import import_gguf
from tests.models.conftest import real_gguf, training_texts

NON_ASCII = [
    'REM Größe und Maße: "Straße" – ÄÖÜ äöü ß\nPRINT "Grüße"\n',
    'rem 日本語のコメント\nname$ = "東京"\nPRINT name$\n',
    'PRINT "naïve café — 5 €, 10 ¥, emoji 🙂"\n',
    'x$ = "Ελληνικά και кириллица"\n',
]


def _tiny_model_with(tok_dir: Path, out: Path, model_type: str, vocab_size: int) -> Path:
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.for_model(
        model_type,
        hidden_size=64,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=vocab_size,
        tie_word_embeddings=True,
        architectures=["Qwen2ForCausalLM" if model_type == "qwen2" else "LlamaForCausalLM"],
    )
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(out, safe_serialization=True)
    for f in tok_dir.iterdir():
        if f.name.startswith(("tokenizer", "special_tokens", "chat_template")):
            shutil.copy(f, out / f.name)
    return out


def _fields(path: Path) -> dict:  # type: ignore[type-arg]
    import gguf

    r = gguf.GGUFReader(str(path))
    keys = [
        "tokenizer.ggml.tokens",
        "tokenizer.ggml.token_type",
        "tokenizer.ggml.merges",
        "tokenizer.ggml.pre",
        "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.padding_token_id",
        "tokenizer.chat_template",
    ]
    return {k: r.fields[k].contents() if k in r.fields else None for k in keys}


@pytest.mark.parametrize(
    ("name", "model_type", "vocab_size"),
    [("smollm2-135m-instruct", "llama", 49152), ("qwen2.5-coder-0.5b-instruct", "qwen2", 151936)],
)
def test_real_vocabulary_round_trips_through_our_gguf_writer(
    name: str, model_type: str, vocab_size: int, tmp_path: Path
) -> None:
    from llama_cpp import Llama
    from transformers import AutoTokenizer

    source = real_gguf(name)
    tok_dir = import_gguf(source, tmp_path / "tok", tokenizer_only=True).out_dir
    model_dir = _tiny_model_with(tok_dir, tmp_path / "hf", model_type, vocab_size)
    out = convert_hf_to_gguf(model_dir, tmp_path / "out.gguf", out_type="f16").path

    theirs, ours = _fields(source), _fields(out)
    assert ours["tokenizer.ggml.tokens"] == theirs["tokenizer.ggml.tokens"]
    assert ours["tokenizer.ggml.token_type"] == theirs["tokenizer.ggml.token_type"]  # incl. UNUSED pads
    assert ours["tokenizer.ggml.merges"] == theirs["tokenizer.ggml.merges"]
    assert ours["tokenizer.ggml.pre"] == theirs["tokenizer.ggml.pre"]
    assert ours["tokenizer.ggml.eos_token_id"] == theirs["tokenizer.ggml.eos_token_id"]
    assert ours["tokenizer.ggml.padding_token_id"] == theirs["tokenizer.ggml.padding_token_id"]
    assert ours["tokenizer.chat_template"] == theirs["tokenizer.chat_template"]

    tok = AutoTokenizer.from_pretrained(model_dir)
    llm = Llama(model_path=str(out), vocab_only=True, verbose=False)
    texts = [*training_texts(), *NON_ASCII]
    for text in texts:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert llm.tokenize(text.encode("utf-8"), add_bos=False, special=True) == ids, text[:60]
        assert tok.decode(ids) == text
    llm.close()
