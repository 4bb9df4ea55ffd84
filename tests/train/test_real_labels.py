"""Assistant-only labels with the real Qwen2.5-Coder tokenizer (imported from its GGUF), on one real batch.

The same rules are checked for a Base-style tokenizer config whose eos is `<|endoftext|>`, as the
Base checkpoints the 7B/14B configs train from ship it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bbjcoder.data.convert import example_to_record
from bbjcoder.data.markdown import parse_example
from bbjcoder.models import import_gguf
from bbjcoder.train.examples import IGNORE_INDEX, collate_padded, tokenize_chat
from bbjcoder.train.model import prepare_tokenizer
from tests.models.conftest import real_gguf

IM_END, ENDOFTEXT = 151645, 151643
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def qwen_tok_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gguf = real_gguf("qwen2.5-coder-0.5b-instruct")
    return import_gguf(gguf, tmp_path_factory.mktemp("qwen") / "tok", tokenizer_only=True).out_dir


@pytest.fixture(scope="module")
def base_style_tok_dir(qwen_tok_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("qwen-base") / "tok"
    shutil.copytree(qwen_tok_dir, out)
    cfg_path = out / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["eos_token"] = cfg["pad_token"] = "<|endoftext|>"
    cfg_path.write_text(json.dumps(cfg))
    return out


def _real_messages(n: int) -> list[list[dict[str, str]]]:
    """ChatML conversations of the first `n` valid training-data examples, through the data stage."""
    out = []
    for path in sorted((ROOT / "training-data").rglob("*.md")):
        if path.name.isupper() or path.name in ("README.md", "FORMAT.md"):
            continue
        example, problems = parse_example(
            path.read_text(encoding="utf-8"), path=str(path), example_id=path.stem
        )
        if example.front is None or any(getattr(p, "severity", "error") == "error" for p in problems):
            continue
        record = example_to_record(example)
        out.append([{"role": r, "content": c} for r, c in record.messages])
        if len(out) == n:
            break
    assert len(out) == n
    return out


def _check_batch(tok_dir: Path) -> None:
    from transformers import AutoTokenizer

    tok = prepare_tokenizer(AutoTokenizer.from_pretrained(tok_dir))
    assert tok.eos_token_id == IM_END and tok.pad_token_id == ENDOFTEXT
    convs = _real_messages(4)
    examples = [tokenize_chat(tok, m) for m in convs]
    batch = collate_padded(
        [{"input_ids": e.input_ids, "labels": e.labels} for e in examples], tok.pad_token_id
    )
    ids, labels, mask = batch["input_ids"], batch["labels"], batch["attention_mask"]
    assert ids.shape == labels.shape == mask.shape and ids.shape[0] == 4
    assert (ids == ENDOFTEXT).any(), "rows of different length: the batch must contain padding"
    for row, msgs in enumerate(convs):
        n = int(mask[row].sum())
        trained = [i for i in range(ids.shape[1]) if labels[row, i] != IGNORE_INDEX]
        # loss only on the assistant reply and its closing <|im_end|>, nothing else
        assert tok.decode(ids[row, trained]) == msgs[-1]["content"] + "<|im_end|>"
        assert trained == list(range(trained[0], trained[-1] + 1))
        assert int(ids[row, trained[-1]]) == IM_END and int(labels[row, trained[-1]]) == IM_END
        assert int(mask[row, trained[-1]]) == 1, "padding must never mask the turn end"
        assert tok.decode(ids[row, : trained[0]]).endswith("<|im_start|>assistant\n")
        # padding: every position past the row's end is pad with no loss
        assert (ids[row, n:] == ENDOFTEXT).all() and (labels[row, n:] == IGNORE_INDEX).all()


@pytest.mark.slow
def test_real_qwen_batch_trains_only_on_assistant_tokens_and_im_end(qwen_tok_dir: Path) -> None:
    _check_batch(qwen_tok_dir)


@pytest.mark.slow
def test_base_style_tokenizer_with_endoftext_eos_gets_the_same_labels(base_style_tok_dir: Path) -> None:
    from transformers import AutoTokenizer

    raw = AutoTokenizer.from_pretrained(base_style_tok_dir)
    assert raw.eos_token == "<|endoftext|>" and raw.pad_token == raw.eos_token
    _check_batch(base_style_tok_dir)
