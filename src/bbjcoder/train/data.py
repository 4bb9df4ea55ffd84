"""Read the dataset files for the two stages and turn them into training rows.

Stage 1 reads `corpus.jsonl` (whole BBj files), stage 2 `train.jsonl`/`val.jsonl` (ChatML records),
plus FIM variants of completion examples and an optional general-code mix. All choices are seeded.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict, cast

from bbjcoder.data.fim import FIM_END, fim_splits
from bbjcoder.errors import DataError
from bbjcoder.fileio import read_jsonl
from bbjcoder.train.examples import (
    ChatMessage,
    Row,
    TokenizedExample,
    pack_documents,
    pack_examples,
    tokenize_chat,
    tokenize_fim,
    truncate,
)
from bbjcoder.train.tiny import DOC_SEP_TOKEN

GENERAL_MIX = Path(__file__).with_name("general_mix.jsonl")


class CorpusDoc(TypedDict, total=False):
    """One stage-1 record of corpus.jsonl: a whole BBj file (`text` is required)."""

    id: str
    text: str
    source: str


class FimParts(TypedDict, total=False):
    prefix: str
    middle: str
    suffix: str


class RecordMeta(TypedDict, total=False):
    type: str
    origin: str  # curated | synthetic
    fim: FimParts


class ChatRecord(TypedDict, total=False):
    """One stage-2 record of train.jsonl / val.jsonl / the general mix (`messages` is required)."""

    id: str
    messages: list[ChatMessage]
    meta: RecordMeta


def _meta(rec: ChatRecord) -> RecordMeta:
    return rec.get("meta") or {}


def _stable_key(text: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{text}".encode()).hexdigest()


def read_corpus(path: Path) -> list[CorpusDoc]:
    """The stage-1 records `{"id", "text", "source", ...}`; DataError names path:line on bad ones."""
    if not path.is_file():
        raise DataError("stage-1 corpus not found", path=path, hint="run `bbjcoder data corpus` first")
    docs = []
    for rec in read_jsonl(path):
        if not isinstance(rec.get("text"), str):
            raise DataError("corpus record without a 'text' string", path=path)
        docs.append(cast(CorpusDoc, rec))
    return docs


def split_documents(docs: Sequence[CorpusDoc], val_share: float, seed: int) -> tuple[list[str], list[str]]:
    """Hold out about `val_share` of the documents (at least one when > 0), chosen by a seeded hash."""
    ordered = sorted(docs, key=lambda d: _stable_key(str(d.get("id") or d["text"]), seed))
    n_val = (
        min(len(ordered) - 1, max(1, round(val_share * len(ordered))))
        if val_share > 0 and len(ordered) > 1
        else 0
    )
    val = [d["text"] for d in ordered[:n_val]]
    train = [d["text"] for d in ordered[n_val:]]
    return train, val


def cpt_rows(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[Row]:
    """Tokenize documents and pack them into `max_length` blocks separated by `<|endoftext|>`."""
    sep = tokenizer.convert_tokens_to_ids(DOC_SEP_TOKEN)
    if sep is None or sep == tokenizer.unk_token_id:
        sep = tokenizer.eos_token_id
    docs = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    return pack_documents(docs, max_length, sep)


def read_chat_records(path: Path) -> list[ChatRecord]:
    """The stage-2 records of a JSONL file; DataError names path:line on one without an assistant turn."""
    if not path.is_file():
        raise DataError("dataset file not found", path=path, hint="run `bbjcoder data split` first")
    out = []
    for lineno, rec in enumerate(read_jsonl(path), start=1):
        msgs = rec.get("messages")
        if not isinstance(msgs, list) or not any(
            isinstance(m, dict) and m.get("role") == "assistant" for m in msgs
        ):
            raise DataError("record needs a 'messages' list with an assistant turn", path=path, line=lineno)
        out.append(cast(ChatRecord, rec))
    return out


def read_general_mix(path: Path) -> list[ChatRecord]:
    """The general-code records mixed into stage 2 against forgetting (same format as train.jsonl)."""
    return [cast(ChatRecord, rec) for rec in read_jsonl(path)]


def apply_synthetic(
    records: Sequence[ChatRecord], *, mode: str, weight: float, seed: int
) -> tuple[list[ChatRecord], dict[str, int]]:
    """Training records after the synthetic switch, and (curated, synthetic) counts of the input.

    `exclude` drops records whose `meta.origin` is `synthetic`; otherwise each synthetic record
    appears `int(weight)` times plus once more with probability `weight - int(weight)` (seeded).
    """
    synthetic = [r for r in records if _meta(r).get("origin") == "synthetic"]
    counts = {"curated": len(records) - len(synthetic), "synthetic": len(synthetic)}
    if not synthetic or (mode == "include" and weight == 1.0):
        return list(records), counts
    rng = random.Random(f"synthetic-weight-{seed}")
    out: list[ChatRecord] = []
    for r in records:
        if _meta(r).get("origin") != "synthetic":
            out.append(r)
        elif mode != "exclude":
            copies = int(weight) + (1 if rng.random() < weight - int(weight) else 0)
            out += [r] * copies
    return out, counts


@dataclass
class SftSet:
    """Tokenized stage-2 examples and counts for run.json."""

    examples: list[TokenizedExample]
    counts: dict[str, int] = field(default_factory=dict)


def build_sft_examples(
    tokenizer: Any,
    records: Sequence[ChatRecord],
    *,
    max_length: int,
    fim_share: float,
    seed: int,
    general: Sequence[ChatRecord] = (),
    general_share: float = 0.0,
) -> SftSet:
    """ChatML examples, plus FIM copies of a seeded `fim_share` of completion records that carry
    `meta.fim`, plus general-code records so that they make up `general_share` of the result.

    FIM copies are added (the chat form of the same record stays), so IDE completion is learned
    without losing chat completion. Over-long examples are truncated; examples left without any
    target token are dropped (counted in `dropped`).
    """
    examples: list[TokenizedExample] = []
    counts = {"chat": 0, "fim": 0, "general": 0, "truncated": 0, "dropped": 0}

    def add(ex: TokenizedExample, kind: str) -> None:
        if len(ex) > max_length:
            counts["truncated"] += 1
        kept = truncate(ex, max_length)
        if kept is None:
            counts["dropped"] += 1
            return
        examples.append(kept)
        counts[kind] += 1

    for rec in records:
        add(tokenize_chat(tokenizer, rec["messages"]), "chat")
    fim_candidates = [
        r for r in records if _meta(r).get("type") == "completion" and isinstance(_meta(r).get("fim"), dict)
    ]
    n_fim = round(fim_share * len(fim_candidates))
    rng = random.Random(seed)
    for rec in rng.sample(fim_candidates, n_fim) if n_fim else []:
        f = _meta(rec).get("fim") or {}
        # Two editor-shaped requests per record: cut at line boundaries and inside a line, each
        # with a suffix (the record's own split may have none and no line break, see data/fim.py).
        for split in fim_splits(f.get("prefix", ""), f.get("middle", ""), f.get("suffix", ""), rng):
            add(tokenize_fim(tokenizer, split.prefix, split.middle, split.suffix, FIM_END), "fim")
    if general and general_share > 0:
        n_general = round(general_share / (1 - general_share) * len(examples))
        picks = [
            general[i % len(general)] for i in rng.sample(range(max(n_general, len(general))), n_general)
        ]
        for rec in picks:
            add(tokenize_chat(tokenizer, rec["messages"]), "general")
    return SftSet(examples, counts)


def sft_rows(examples: Sequence[TokenizedExample], max_length: int, packing: bool) -> list[Row]:
    """Rows for the trainer: packed (with position ids) or one example per row."""
    if packing:
        return pack_examples(examples, max_length)
    return [{"input_ids": list(e.input_ids), "labels": list(e.labels)} for e in examples]


def tokenizer_texts(corpus: Sequence[CorpusDoc], records: Sequence[ChatRecord]) -> list[str]:
    """Texts the tiny model's tokenizer is trained on: corpus files and every message content."""
    texts = [d["text"] for d in corpus]
    for rec in records:
        texts += [m.get("content", "") for m in rec.get("messages", [])]
        fim = _meta(rec).get("fim")
        if isinstance(fim, dict):
            texts += [str(v) for v in fim.values()]
    return texts
