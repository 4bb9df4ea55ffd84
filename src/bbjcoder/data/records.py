"""The dataset record (ChatML + meta) of docs/formats.md, and the rejected-record entries.

Every stage that writes `dataset/*.jsonl` builds `Record`s and writes `Record.to_json()`; readers
use `Record.from_json`, which explains what is wrong with a malformed line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from bbjcoder.data.schema import DIFFICULTIES, GENERATIONS, TYPES, label_fields

ROLES = ("system", "user", "assistant")
ORIGINS = ("curated", "synthetic")


@dataclass(frozen=True)
class Fim:
    """Fill-in-the-middle parts of a completion example (suffix is "" when there is none)."""

    prefix: str
    middle: str
    suffix: str


class MessageJson(TypedDict):
    role: str
    content: str


class FimJson(TypedDict):
    prefix: str
    middle: str
    suffix: str


class _MetaCore(TypedDict):
    id: str
    source: str
    type: str
    generation: list[str]
    difficulty: str | None
    tags: list[str]


class RecordMeta(_MetaCore, total=False):
    origin: str  # absent means curated
    fim: FimJson


class RecordJson(TypedDict):
    """A line of `dataset/*.jsonl` (docs/formats.md)."""

    messages: list[MessageJson]
    meta: RecordMeta


@dataclass(frozen=True)
class Record:
    """One training conversation: system, user, assistant messages and provenance."""

    id: str
    source: str
    type: str
    generation: tuple[str, ...]
    messages: tuple[tuple[str, str], ...]  # (role, content)
    difficulty: str | None = None
    tags: tuple[str, ...] = ()
    fim: Fim | None = None
    # `curated` (written by a person) or `synthetic` (a teacher's draft a person accepted): training
    # can leave synthetic records out or weight them ([data] synthetic, synthetic_weight).
    origin: str = "curated"

    @property
    def is_synthetic(self) -> bool:
        return self.origin == "synthetic"

    def content(self, role: str) -> str:
        return "\n\n".join(c for r, c in self.messages if r == role)

    def to_json(self) -> RecordJson:
        meta: RecordMeta = {
            "id": self.id,
            "source": self.source,
            **label_fields(self.type, self.generation, self.difficulty),
            "tags": list(self.tags),
        }
        if self.origin != "curated":  # absent means curated: records written before stay valid
            meta["origin"] = self.origin
        if self.fim is not None:
            meta["fim"] = {"prefix": self.fim.prefix, "middle": self.fim.middle, "suffix": self.fim.suffix}
        return {"messages": [{"role": r, "content": c} for r, c in self.messages], "meta": meta}

    @classmethod
    def from_json(cls, obj: Any) -> Record:
        """Read a record written by `to_json`; a ValueError says what is wrong."""
        if not isinstance(obj, dict):
            raise ValueError("expected a JSON object")
        messages = parse_messages(obj.get("messages"))
        meta = obj.get("meta")
        if not isinstance(meta, dict):
            raise ValueError("missing `meta` object")
        for key in ("id", "source", "type"):
            if not isinstance(meta.get(key), str) or not meta[key]:
                raise ValueError(f"meta.{key} must be a non-empty string")
        if meta["type"] not in TYPES:
            raise ValueError(f"meta.type {meta['type']!r} is not one of {', '.join(TYPES)}")
        generation = normalise_generation(meta.get("generation"))
        difficulty, tags = check_difficulty_and_tags(meta)
        fim = None
        raw_fim = meta.get("fim")
        if raw_fim is not None:
            if not isinstance(raw_fim, dict) or not all(
                isinstance(raw_fim.get(k), str) for k in ("prefix", "middle", "suffix")
            ):
                raise ValueError("meta.fim must be {prefix, middle, suffix} strings")
            fim = Fim(raw_fim["prefix"], raw_fim["middle"], raw_fim["suffix"])
        origin = meta.get("origin", "curated")
        if origin not in ORIGINS:
            raise ValueError(f"meta.origin {origin!r} is not one of {', '.join(ORIGINS)}")
        return cls(
            meta["id"], meta["source"], meta["type"], generation, messages, difficulty, tags, fim, origin
        )


def check_difficulty_and_tags(meta: Mapping[str, object]) -> tuple[str | None, tuple[str, ...]]:
    """`meta.difficulty` (optional, one of DIFFICULTIES) and `meta.tags` (strings); ValueError if bad."""
    difficulty = meta.get("difficulty")
    if difficulty is not None and (not isinstance(difficulty, str) or difficulty not in DIFFICULTIES):
        raise ValueError(f"meta.difficulty {difficulty!r} is not one of {', '.join(DIFFICULTIES)}")
    tags = meta.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ValueError("meta.tags must be a list of strings")
    return difficulty, tuple(tags)


def parse_messages(raw: Any) -> tuple[tuple[str, str], ...]:
    """Check a ChatML message list: roles, string contents, a user turn and a final assistant turn."""
    if not isinstance(raw, list) or not raw:
        raise ValueError("`messages` must be a non-empty list")
    out: list[tuple[str, str]] = []
    for k, m in enumerate(raw):
        if not isinstance(m, dict):
            raise ValueError(f"messages[{k}] is not an object")
        role, content = m.get("role"), m.get("content")
        if role not in ROLES:
            raise ValueError(f"messages[{k}].role {role!r} is not one of system, user, assistant")
        if not isinstance(content, str):
            raise ValueError(f"messages[{k}].content must be a string")
        out.append((role, content))
    return tuple(out)


def normalise_generation(raw: Any) -> tuple[str, ...]:
    """A generation value (label, `all`, or list of labels) as a tuple; ValueError if malformed."""
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw or not all(isinstance(g, str) for g in raw):
        raise ValueError("generation must be a label or a non-empty list of labels")
    if raw == ["all"]:
        return ("all",)
    bad = [g for g in raw if g not in GENERATIONS]
    if bad:
        hint = " (`all` must stand alone)" if "all" in bad else ""
        raise ValueError(f"unknown generation label(s) {', '.join(map(repr, bad))}{hint}")
    return tuple(g for g in GENERATIONS if g in raw)


class _RejectedCore(TypedDict):
    id: str
    source: str
    reason: str
    stage: str


class Rejected(_RejectedCore, total=False):
    """An entry of a `*.rejected.jsonl`: what was left out, where it came from, and why."""

    line: int  # the input line (import)
    duplicate_of: str  # the record (or file) it repeats
    first_source: str  # where that record came from (duplicate ids)
    similarity: float  # 1.0 exact, else the estimated Jaccard similarity


def rejected(
    record_id: str,
    source: str,
    reason: str,
    stage: str,
    *,
    line: int | None = None,
    duplicate_of: str | None = None,
    first_source: str | None = None,
    similarity: float | None = None,
) -> Rejected:
    """An entry of `rejected.jsonl`: what was left out, where it came from, and why."""
    out: Rejected = {"id": record_id, "source": source, "reason": reason, "stage": stage}
    if line is not None:
        out["line"] = line
    if duplicate_of is not None:
        out["duplicate_of"] = duplicate_of
    if first_source is not None:
        out["first_source"] = first_source
    if similarity is not None:
        out["similarity"] = similarity
    return out
