"""The tiny demo model: a normal HF directory with Qwen's special tokens, ChatML and EOS/pad."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bbjcoder.train.tiny import EOS_TOKEN, PAD_TOKEN, SPECIAL_TOKENS, build_tiny_model

TEXTS = [
    'PRINT "Hello, world"\nLET total = 0\nFOR i = 1 TO 10\n  total = total + i\nNEXT i\nEND\n',
    'OPEN (1)"customers.dat"\nREAD RECORD (1,KEY="0001",ERR=NOT_FOUND)cust$\nCLOSE (1)\n',
    'window! = sysgui!.addWindow(100,100,400,300,"Orders")\nbutton! = window!.addButton(1,10,10,90,25,"OK")\n',
    "def add(a, b):\n    return a + b\n",
    "SELECT name FROM customers WHERE id = 1;\n",
] * 20


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "m", TEXTS, hidden_size=64, num_layers=2)


def test_tiny_model_loads_with_auto_classes(tiny_dir: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
    ):
        assert (tiny_dir / name).is_file(), name
    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    tok = AutoTokenizer.from_pretrained(tiny_dir)
    assert model.config.model_type == "qwen2"
    assert model.config.vocab_size == len(tok)
    assert 0 < model.num_parameters() < 10_000_000


def test_tiny_tokenizer_has_qwen_special_tokens_as_single_ids(tiny_dir: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_dir)
    for special in SPECIAL_TOKENS:
        ids = tok(special, add_special_tokens=False).input_ids
        assert len(ids) == 1 and tok.convert_ids_to_tokens(ids[0]) == special


def test_tiny_eos_is_im_end_and_pad_is_endoftext(tiny_dir: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    assert tok.eos_token == EOS_TOKEN and tok.pad_token == PAD_TOKEN
    assert tok.eos_token_id != tok.pad_token_id
    assert model.config.eos_token_id == tok.eos_token_id
    assert tok.eos_token_id in model.generation_config.eos_token_id


def test_tiny_chat_template_is_chatml(tiny_dir: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_dir)
    text = tok.apply_chat_template(
        [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert text == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"


def test_tiny_tokenizer_round_trips_bytes(tiny_dir: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_dir)
    text = 'PRINT "Grüße ✓"\r\n\tx$ = STR(42)\n'
    assert tok.decode(tok(text, add_special_tokens=False).input_ids) == text


def test_tiny_build_is_deterministic(tmp_path: Path) -> None:
    a = build_tiny_model(tmp_path / "a", TEXTS, hidden_size=32, num_layers=1, seed=7)
    b = build_tiny_model(tmp_path / "b", TEXTS, hidden_size=32, num_layers=1, seed=7)
    assert _sha(a / "tokenizer.json") == _sha(b / "tokenizer.json")
    assert _sha(a / "model.safetensors") == _sha(b / "model.safetensors")
