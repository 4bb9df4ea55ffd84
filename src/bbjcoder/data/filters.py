"""Machine filters a teacher's draft passes before any person sees it, in funnel order.

parse (Markdown + front matter, FORMAT.md) -> checker -> lint (pitfalls, API table) -> generation
(labels agree with the detector) -> near-duplicate (MinHash, as `data dedup`) -> contamination
(n-gram overlap with the eval suite). The first filter a draft fails is its reason; none is silent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bbjcoder.data.markdown import Example, parse_example
from bbjcoder.data.overlap import (
    CONTAMINATION_THRESHOLD,
    EvalText,
    eval_ngrams,
    read_suite_cases,
    worst_overlap,
)
from bbjcoder.data.quality import DedupConfig, exact_key, near_duplicates
from bbjcoder.data.records import Record

# Funnel stages after "asked" and "returned": a draft that passes all of them is queued for review.
FILTERS = ("parsed", "checker", "lint", "generation", "near-duplicate", "contamination")
MAX_ANSWER_BYTES = 64 * 1024  # a real example is a few KB; a 1 MB answer is a runaway generation
# Front matter keys only `data review` sets: a teacher's own claim to them is dropped.
PROVENANCE_KEYS = ("source", "teacher", "reviewed_by")
_REFUSAL = re.compile(
    r"^\W*(i'?m sorry|i am sorry|sorry\b|i can(not|'t)|i am unable|i'm unable|i apologi[sz]e|as an ai\b"
    r"|unfortunately\b|i won'?t)",
    re.IGNORECASE,
)
_OUTER_FENCE = re.compile(r"^\s*(`{3,}|~{3,})[ \t]*(markdown|md)?[ \t]*\n(.*)\n\1[ \t]*\s*$", re.DOTALL)


@dataclass(frozen=True)
class Verdict:
    """Where a draft left the funnel: `stage` is the filter it failed, or `queued`."""

    stage: str
    reason: str
    text: str  # the cleaned Markdown (what would go to the inbox), "" when there is none
    record: Record | None = None

    @property
    def queued(self) -> bool:
        return self.stage == "queued"


def decode_answer(raw: bytes | str) -> tuple[str | None, str]:
    """(text, "") or (None, reason) for an answer as bytes or as text from a JSON body."""
    if isinstance(raw, bytes):
        try:
            return raw.decode("utf-8"), ""
        except UnicodeDecodeError as exc:
            return None, f"invalid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
    try:
        raw.encode("utf-8")  # a JSON body may carry lone surrogates (\udcff): not text either
    except UnicodeEncodeError as exc:
        return None, f"invalid UTF-8 (lone surrogate at character {exc.start})"
    return raw, ""


def clean_markdown(text: str) -> str:
    """The draft as an example file: an outer ```markdown fence unwrapped, provenance keys the
    teacher made up dropped from the front matter, one final newline."""
    m = _OUTER_FENCE.match(text)
    if m:
        text = m.group(3)
    text = text.strip("\ufeff \t\r\n").replace("\r\n", "\n") + "\n"
    lines = text.split("\n")
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
        if end is not None:
            keep = [ln for ln in lines[1:end] if not re.match(rf"^({'|'.join(PROVENANCE_KEYS)})\s*:", ln)]
            lines = ["---", *keep, *lines[end:]]
    return "\n".join(lines)


def parse_draft(raw: bytes | str, *, draft_id: str, max_bytes: int = MAX_ANSWER_BYTES) -> Verdict | Example:
    """The parse filter: the answer as an Example, or a Verdict saying why it is not one."""
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", errors="surrogatepass"))
    if size > max_bytes:
        return Verdict("parsed", f"answer too large ({size} bytes; the limit is {max_bytes})", "")
    text, why = decode_answer(raw)
    if text is None:
        return Verdict("parsed", why, "")
    if not text.strip():
        return Verdict("parsed", "empty answer", "")
    cleaned = clean_markdown(text)
    if not cleaned.startswith("---\n"):
        first = text.strip().splitlines()[0][:80]
        if _REFUSAL.match(text.strip()):
            return Verdict("parsed", f"refusal: {first!r}", text)
        return Verdict(
            "parsed", f"not an example file: no YAML front matter (the answer starts {first!r})", text
        )
    example, problems = parse_example(cleaned, path=f"{draft_id}.md", example_id=f"_inbox/{draft_id}")
    errors = [p for p in problems if p.is_error]
    front = example.front
    if front is not None and not errors:
        left = [k for k in ("title", "description") if str(getattr(front, k) or "").startswith("TODO")]
        left += ["tags"] if "TODO" in front.tags else []
        if left:
            where = example.front_lines.get(left[0], 1)
            return Verdict(
                "parsed", f"invalid example: line {where}: unfilled placeholder in {left[0]}", cleaned
            )
    if errors or example.front is None:
        shown = "; ".join(f"line {p.line}: {p.message}" for p in errors[:3]) or "invalid front matter"
        return Verdict("parsed", f"invalid example: {shown}", cleaned)
    return example


@dataclass
class Filters:
    """The filters with their reference data: the training set (for duplicates) and the eval
    suite (for contamination). `accept` adds a queued draft to the duplicate pool."""

    pool: list[Record] = field(default_factory=list)
    eval_index: list[EvalText] = field(default_factory=list)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    contamination: float = CONTAMINATION_THRESHOLD
    max_bytes: int = MAX_ANSWER_BYTES
    _keys: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        *,
        training_data: Sequence[Path] = (),
        suites: Sequence[Path] = (),
        contamination: float = CONTAMINATION_THRESHOLD,
        dedup: DedupConfig | None = None,
        max_bytes: int = MAX_ANSWER_BYTES,
    ) -> Filters:
        from bbjcoder.data.convert import example_to_record
        from bbjcoder.data.validate import validate_paths

        existing = [p for p in training_data if p.exists()]
        result = validate_paths(existing, check_code=False) if existing else None
        pool = [example_to_record(e) for e in result.valid_examples()] if result else []
        cases = [c for s in suites for c in read_suite_cases(s)]
        out = cls(pool, eval_ngrams(cases), dedup or DedupConfig(), contamination, max_bytes)
        for rec in pool:
            out._keys.setdefault(exact_key(rec), rec.id)
        return out

    def accept(self, record: Record) -> None:
        self.pool.append(record)
        self._keys.setdefault(exact_key(record), record.id)

    def run(self, raw: bytes | str, *, draft_id: str) -> Verdict:
        """Every filter in order; the first failure is the verdict."""
        from bbjcoder.data.checker import get_checker
        from bbjcoder.data.convert import example_to_record
        from bbjcoder.data.validate import check_code, check_generation_labels, lint_problems

        parsed = parse_draft(raw, draft_id=draft_id, max_bytes=self.max_bytes)
        if isinstance(parsed, Verdict):
            return parsed
        example = parsed
        text = clean_markdown(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
        checker = get_checker()
        assert checker is not None
        problems = check_code(example, checker)
        if problems:
            return Verdict("checker", _first(problems), text)
        problems = lint_problems(example)
        errors = [p for p in problems if p.is_error]
        if errors:
            return Verdict("lint", _first(errors), text)
        problems = check_generation_labels(example, checker.detect_generations)
        if problems:
            return Verdict("generation", _first(problems), text)
        record = example_to_record(example)
        key = exact_key(record)
        if key in self._keys:
            return Verdict("near-duplicate", f"exact duplicate of {self._keys[key]}", text, record)
        dup = near_duplicates([*self.pool, record], self.dedup).get(len(self.pool))
        if dup is not None:
            other, sim = dup
            return Verdict(
                "near-duplicate", f"near-duplicate of {self.pool[other].id} (Jaccard {sim:.2f})", text, record
            )
        texts = [b.code for b in example.all_blocks() if b.code.strip()]
        texts.append("\n".join(texts))  # a FIM example's parts together form the program
        texts += [example.front.title, example.front.description or ""] if example.front else []
        worst = worst_overlap(texts, self.eval_index)
        if worst is not None and worst.overlap >= self.contamination:
            return Verdict("contamination", f"contaminated: {worst}", text, record)
        return Verdict("queued", "", text, record)


def _first(problems: Sequence[object]) -> str:
    p = problems[0]
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"line {getattr(p, 'line', 0)}: {getattr(p, 'message', p)}{more}"
