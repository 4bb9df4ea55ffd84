"""Import existing ChatML JSONL (`{"messages": [...]}` with optional `meta`) as dataset records.

Malformed lines are rejected with their line number; the rest is normalised: our system prompt
naming the generation, a content-derived id, and a type and generation inferred when absent.
Conversations may have several user/assistant exchanges (training puts loss on every assistant
turn), and their ```bbj blocks go through the BBj checker, as a curated example's code does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bbjcoder.data.checker import get_checker, get_detector
from bbjcoder.data.convert import system_prompt
from bbjcoder.data.fences import code_blocks, find_fences
from bbjcoder.data.records import (
    Record,
    Rejected,
    check_difficulty_and_tags,
    normalise_generation,
    parse_messages,
    rejected,
)
from bbjcoder.data.schema import TYPES
from bbjcoder.errors import DataError


@dataclass
class ImportResult:
    records: list[Record] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    inferred_generation: int = 0
    inferred_type: int = 0
    lines: int = 0


def infer_type(user: str, answer: str) -> str:
    """Type from the shape of a conversation: who shows code.

    Code only in the answer: completion. Code on both sides: migration when the request talks of
    converting, else completion. Code only in the request: comprehension. No code: explanation.
    """
    user_code = bool(code_blocks(user))
    answer_code = bool(code_blocks(answer))
    if user_code and answer_code:
        words = user.lower()
        convert = ("migrat", "convert", "port ", "rewrite", "translate")
        return "migration" if any(w in words for w in convert) else "completion"
    if answer_code:
        return "completion"
    if user_code:
        return "comprehension"
    return "explanation"


def bbj_code_problems(
    messages: tuple[tuple[str, str], ...], check_source: Callable[[str], list[Any]]
) -> list[str]:
    """Checker diagnostics for every ```bbj block of the conversation, as readable strings."""
    out: list[str] = []
    seen: dict[str, int] = {}
    for role, content in messages:
        seen[role] = seen.get(role, 0) + 1
        # blocks labelled BBj only: other languages (and unlabelled output blocks) are not checked
        for fence in (f for f in find_fences(content) if f.lang == "bbj"):
            for diag in check_source(fence.body):
                out.append(
                    f"{role} turn {seen[role]}, ```bbj block line {getattr(diag, 'line', 1)}"
                    f" (column {getattr(diag, 'column', 0)}): {diag.message}"
                )
    return out


def import_jsonl(
    path: str | Path,
    *,
    keep_system: bool = False,
    detect: Callable[[str], set[str]] | None = None,
    check: bool = True,
) -> ImportResult:
    """Read ChatML JSONL at `path` into records; bad lines become rejected entries with line numbers.

    With `check`, a conversation whose ```bbj code the BBj checker rejects is rejected too.
    """
    p = Path(path)
    if detect is None:
        detect = get_detector()
    checker = get_checker() if check else None
    try:
        raw_lines = p.read_bytes().split(b"\n")
    except OSError as exc:
        raise DataError(f"cannot read: {exc.strerror}", path=p) from exc
    result = ImportResult()
    stem = p.stem
    for lineno, raw in enumerate(raw_lines, start=1):
        if not raw.strip():
            continue
        result.lines += 1
        source = f"{p.as_posix()}:{lineno}"
        try:
            record = _import_line(raw, stem, source, keep_system, detect, result)
        except ValueError as exc:
            result.rejected.append(
                rejected(f"import/{stem}/line-{lineno}", source, f"malformed: {exc}", "import", line=lineno)
            )
            continue
        problems = bbj_code_problems(record.messages, checker.check_source) if checker else []
        if problems:
            reason = "BBj checker: " + "; ".join(problems[:3])
            if len(problems) > 3:
                reason += f"; and {len(problems) - 3} more"
            result.rejected.append(rejected(record.id, source, reason, "import", line=lineno))
            continue
        result.records.append(record)
    return result


def _import_line(
    raw: bytes,
    stem: str,
    source: str,
    keep_system: bool,
    detect: Callable[[str], set[str]] | None,
    result: ImportResult,
) -> Record:
    try:
        obj = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 at byte {exc.start}") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc.msg} (column {exc.colno})") from exc
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object with `messages`")
    messages = parse_messages(obj.get("messages"))
    systems = [c for r, c in messages if r == "system"]
    turns = [(r, c) for r, c in messages if r != "system"]
    if any(r == "system" for r, _ in messages[1:]):
        raise ValueError("a system message may only come first")
    roles = [r for r, _ in turns]
    if not roles or len(roles) % 2 or roles != ["user", "assistant"] * (len(roles) // 2):
        got = ", ".join(roles) or "none"
        raise ValueError(
            f"expected user and assistant messages taking turns, ending with assistant (got: {got})"
        )
    if any(not c.strip() for _, c in turns):
        raise ValueError("empty user or assistant message")
    # Type and generation come from the whole conversation; the id from all of its turns.
    user = "\n\n".join(c for r, c in turns if r == "user")
    answer = "\n\n".join(c for r, c in turns if r == "assistant")
    meta = obj.get("meta") or {}
    if not isinstance(meta, dict):
        raise ValueError("`meta` must be an object")

    ex_type = meta.get("type")
    if ex_type is None:
        ex_type = infer_type(user, answer)
        result.inferred_type += 1
    elif ex_type not in TYPES:
        raise ValueError(f"meta.type {ex_type!r} is not one of {', '.join(TYPES)}")
    if meta.get("generation") is not None:
        generation = normalise_generation(meta["generation"])
    else:
        generation = _detect(user, answer, detect)
        result.inferred_generation += 1
    difficulty, tags = check_difficulty_and_tags(meta)
    record_id = meta.get("id")
    if not isinstance(record_id, str) or not record_id:
        # Content-derived, so the id (and with it the split) survives reordering the file.
        text = f"{user}\x00{answer}" if len(turns) == 2 else "\x00".join(c for _, c in turns)
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        record_id = f"import/{stem}/{digest}"
    system = systems[0] if keep_system and systems else system_prompt(generation)
    return Record(
        id=record_id,
        source=str(meta.get("source") or source),
        type=ex_type,
        generation=generation,
        messages=(("system", system), *turns),
        difficulty=difficulty,
        tags=tags,
    )


def _detect(user: str, answer: str, detect: Callable[[str], set[str]] | None) -> tuple[str, ...]:
    if detect is None:
        return ("all",)
    code = "\n".join(code_blocks(answer) or code_blocks(user))
    if not code.strip():
        return ("all",)
    found = set(detect(code))
    if not found or "all" in found:
        return ("all",)
    return normalise_generation(sorted(found))
