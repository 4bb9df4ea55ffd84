"""Masking, FIM layout, packing and collation on hand-built examples, with exact token/label lists."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bbjcoder.train.examples import (
    IGNORE_INDEX,
    TokenizedExample,
    collate_padded,
    pack_documents,
    pack_examples,
    tokenize_chat,
    tokenize_fim,
    truncate,
)

X = IGNORE_INDEX


def enc(tok, text: str) -> list[int]:  # type: ignore[no-untyped-def]
    return list(tok(text, add_special_tokens=False).input_ids)


def test_chat_loss_only_on_assistant_content_and_im_end(tokenizer) -> None:  # type: ignore[no-untyped-def]
    msgs = [
        {"role": "system", "content": "You are a BBj expert."},
        {"role": "user", "content": "Say hello"},
        {"role": "assistant", "content": 'PRINT "Hello"'},
    ]
    ex = tokenize_chat(tokenizer, msgs)
    prompt = enc(
        tokenizer,
        "<|im_start|>system\nYou are a BBj expert.<|im_end|>\n<|im_start|>user\nSay hello<|im_end|>\n<|im_start|>assistant\n",
    )
    reply = enc(tokenizer, 'PRINT "Hello"<|im_end|>')
    tail = enc(tokenizer, "\n")
    assert list(ex.input_ids) == prompt + reply + tail
    assert list(ex.labels) == [X] * len(prompt) + reply + [X] * len(tail)
    assert tokenizer.convert_ids_to_tokens(reply[-1]) == "<|im_end|>"


def test_chat_masks_every_non_assistant_turn_in_multi_turn(tokenizer) -> None:  # type: ignore[no-untyped-def]
    msgs = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "PRINT 1"},
        {"role": "user", "content": "b"},
        {"role": "assistant", "content": "PRINT 2"},
    ]
    ex = tokenize_chat(tokenizer, msgs)
    trained = tokenizer.decode([t for t in ex.labels if t != X])
    assert trained == "PRINT 1<|im_end|>PRINT 2<|im_end|>"
    assert tokenizer.decode(list(ex.input_ids)) == tokenizer.apply_chat_template(msgs, tokenize=False)


def test_fim_layout_and_loss_on_middle_only(tokenizer) -> None:  # type: ignore[no-untyped-def]
    ex = tokenize_fim(tokenizer, "LET a = 1\n", "PRINT a\n", "END\n", "<|endoftext|>")
    head = enc(tokenizer, "<|fim_prefix|>LET a = 1\n<|fim_suffix|>END\n<|fim_middle|>")
    middle = enc(tokenizer, "PRINT a\n<|endoftext|>")
    assert list(ex.input_ids) == head + middle
    assert list(ex.labels) == [X] * len(head) + middle
    toks = tokenizer.convert_ids_to_tokens(list(ex.input_ids))
    assert toks[0] == "<|fim_prefix|>" and toks[-1] == "<|endoftext|>"
    assert toks.index("<|fim_suffix|>") < toks.index("<|fim_middle|>")


def test_truncate_drops_examples_without_targets() -> None:
    ex = TokenizedExample((1, 2, 3, 4), (X, X, 3, 4))
    assert truncate(ex, 3) == TokenizedExample((1, 2, 3), (X, X, 3))
    assert truncate(ex, 2) is None


def test_pack_examples_resets_positions_and_masks_first_label() -> None:
    a = TokenizedExample((1, 2, 3), (1, 2, 3))
    b = TokenizedExample((4, 5), (X, 5))
    c = TokenizedExample((6, 7, 8, 9), (6, 7, 8, 9))
    rows = pack_examples([a, b, c], max_length=6)
    assert rows == [
        {"input_ids": [1, 2, 3, 4, 5], "labels": [X, 2, 3, X, 5], "position_ids": [0, 1, 2, 0, 1]},
        {"input_ids": [6, 7, 8, 9], "labels": [X, 7, 8, 9], "position_ids": [0, 1, 2, 3]},
    ]


def test_pack_examples_rejects_overlong_example() -> None:
    with pytest.raises(ValueError, match="exceeds max_length"):
        pack_examples([TokenizedExample((1, 2, 3), (1, 2, 3))], max_length=2)


def test_pack_documents_puts_separator_after_each_document() -> None:
    rows = pack_documents([[1, 2], [3], [4, 5, 6, 7]], max_length=3, sep_id=0)
    # stream 1 2 0 3 0 4 5 6 7 0: three full blocks, the partial tail [0] is dropped
    assert rows == [
        {"input_ids": [1, 2, 0], "labels": [1, 2, 0]},
        {"input_ids": [3, 0, 4], "labels": [3, 0, 4]},
        {"input_ids": [5, 6, 7], "labels": [5, 6, 7]},
    ]
    assert pack_documents([[1]], max_length=8, sep_id=0) == [{"input_ids": [1, 0], "labels": [1, 0]}]


def test_collate_padded_unpacked_uses_attention_mask() -> None:
    batch = collate_padded(
        [{"input_ids": [5, 6, 7], "labels": [X, 6, 7]}, {"input_ids": [8], "labels": [8]}], pad_id=0
    )
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["labels"].tolist() == [[X, 6, 7], [8, X, X]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert "position_ids" not in batch


def test_collate_padded_packed_rows_carry_position_ids_and_no_mask() -> None:
    rows = [
        {"input_ids": [1, 2, 3, 4], "labels": [X, 2, X, 4], "position_ids": [0, 1, 0, 1]},
        {"input_ids": [5, 6], "labels": [X, 6], "position_ids": [0, 1]},
    ]
    batch = collate_padded(rows, pad_id=0)
    assert batch["position_ids"].tolist() == [[0, 1, 0, 1], [0, 1, 0, 1]]
    assert batch["labels"].tolist() == [[X, 2, X, 4], [X, 6, X, X]]
    assert "attention_mask" not in batch


def test_packed_examples_do_not_attend_to_each_other(tiny_dir: Path, tokenizer) -> None:  # type: ignore[no-untyped-def]
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_dir).eval()
    model.config.use_cache = False
    a = tokenize_chat(
        tokenizer, [{"role": "user", "content": "x"}, {"role": "assistant", "content": "PRINT 1"}]
    )
    b = tokenize_chat(
        tokenizer, [{"role": "user", "content": "y"}, {"role": "assistant", "content": "READ RECORD"}]
    )
    packed = collate_padded(pack_examples([a, b], max_length=len(a) + len(b)), pad_id=0)
    with torch.no_grad():
        logits_packed = model(
            input_ids=packed["input_ids"], position_ids=packed["position_ids"], use_cache=False
        ).logits[0]
        alone_a = model(input_ids=torch.tensor([a.input_ids]), use_cache=False).logits[0]
        alone_b = model(input_ids=torch.tensor([b.input_ids]), use_cache=False).logits[0]
        # Without position-id boundaries, b's logits would change (it would see a): the check can fail.
        leaky = model(input_ids=packed["input_ids"], use_cache=False).logits[0]
    torch.testing.assert_close(logits_packed[: len(a)], alone_a, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logits_packed[len(a) :], alone_b, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(leaky[len(a) :], alone_b, atol=1e-3)
