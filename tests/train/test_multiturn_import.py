"""A multi-turn conversation imported with `data import` trains on every assistant turn, and on
nothing else, all the way through the SFT example builder and the collator the Trainer uses."""

from __future__ import annotations

import json
from pathlib import Path

from bbjcoder.data.importer import import_jsonl
from bbjcoder.train.data import build_sft_examples, sft_rows
from bbjcoder.train.examples import IGNORE_INDEX, PadCollator


def test_imported_multi_turn_record_has_loss_on_every_assistant_turn_only(tokenizer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    turns = [
        ("user", "Open the customers file."),
        ("assistant", 'OPEN (1)"customers.dat"'),
        ("user", "Now close it."),
        ("assistant", "CLOSE (1)"),
    ]
    src = tmp_path / "chat.jsonl"
    src.write_text(json.dumps({"messages": [{"role": r, "content": c} for r, c in turns]}) + "\n")
    [record] = import_jsonl(src).records
    built = build_sft_examples(tokenizer, [record.to_json()], max_length=512, fim_share=0.0, seed=0)
    for packing in (False, True):
        batch = PadCollator(int(tokenizer.pad_token_id))(sft_rows(built.examples, 512, packing))
        ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
        trained = tokenizer.decode([t for t, lab in zip(ids, labels, strict=True) if lab != IGNORE_INDEX])
        # both replies with their end-of-turn token, in order; no user or system text
        assert trained.replace(" ", "") == 'OPEN(1)"customers.dat"<|im_end|>CLOSE(1)<|im_end|>'.replace(
            " ", ""
        )
        untrained = tokenizer.decode([t for t, lab in zip(ids, labels, strict=True) if lab == IGNORE_INDEX])
        assert "Now close it." in untrained.replace("  ", " ") or "Nowcloseit." in untrained.replace(" ", "")
