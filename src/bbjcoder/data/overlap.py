"""Held-out checks between the training data and an eval suite: normalised overlap and n-grams.

Compares case code (reference, prefix, suffix, code in the prompt) with every code block of
`training-data/<topic>/*.md`, and case prompts with example titles and descriptions. A case is
anything with the fields of `EvalCase` (the eval stage's `Case` is one; `read_suite_cases` reads
the few fields these checks need straight from a suite's cases.jsonl), so data needs no import
from the eval stage above it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bbjcoder.data.fences import fenced_blocks, strip_fenced
from bbjcoder.data.quality import normalise  # the data stage's dedup form: one definition
from bbjcoder.errors import DataError
from bbjcoder.fileio import numbered_jsonl

# Long enough that containment means copied code, not a shared idiom like `process_events`.
MIN_CONTAINED_CHARS = 120


class EvalCase(Protocol):
    """The fields of an eval case these checks read."""

    @property
    def id(self) -> str: ...
    @property
    def prompt(self) -> str: ...
    @property
    def reference(self) -> str | None: ...
    @property
    def prefix(self) -> str | None: ...
    @property
    def suffix(self) -> str | None: ...


@dataclass(frozen=True)
class SuiteCase:
    """An eval case as far as the contamination checks need it (see `read_suite_cases`)."""

    id: str
    prompt: str
    reference: str | None = None
    prefix: str | None = None
    suffix: str | None = None


def read_suite_cases(suite: Path) -> list[SuiteCase]:
    """The id, prompt and code fields of every case in a suite directory's cases.jsonl (or a .jsonl
    file). Only what contamination needs: `bbjcoder eval` validates the rest of the format."""
    file = suite / "cases.jsonl" if suite.is_dir() else suite
    if not file.exists():
        raise DataError("no suite here", path=suite, hint="a suite is a directory with cases.jsonl")
    out = []
    for line, obj in numbered_jsonl(file):
        fields = {k: obj.get(k) for k in ("id", "prompt", "reference", "prefix", "suffix")}
        bad = [k for k, v in fields.items() if v is not None and not isinstance(v, str)]
        bad += [k for k in ("id", "prompt") if not fields[k]]
        if bad:
            raise DataError(f"{bad[0]}: expected a non-empty string", path=file, line=line)
        out.append(
            SuiteCase(obj["id"], obj["prompt"], obj.get("reference"), obj.get("prefix"), obj.get("suffix"))
        )
    return out


@dataclass(frozen=True)
class TrainingText:
    source: str
    kind: str  # code | title | description
    text: str  # normalised


def training_texts(training_dir: Path) -> list[TrainingText]:
    """Normalised code blocks, titles and descriptions of every example, via the data stage's reader."""
    from bbjcoder.data.markdown import parse_example

    out: list[TrainingText] = []
    for path in sorted(training_dir.glob("*/*.md")):
        if path.parent.name == "schema":
            continue
        example, _problems = parse_example(
            path.read_text(encoding="utf-8"), path=str(path), example_id=path.stem
        )
        src = str(path)
        out += [TrainingText(src, "code", normalise(b.code)) for b in example.all_blocks() if b.code.strip()]
        if example.front is not None:
            out.append(TrainingText(src, "title", normalise(example.front.title)))
            if example.front.description:
                out.append(TrainingText(src, "description", normalise(example.front.description)))
    return out


def case_parts(case: EvalCase) -> tuple[list[str], str]:
    """(code pieces, prose) of a case: reference, prefix, suffix and the prompt's fenced blocks; the
    prompt without its fenced blocks."""
    code = [t for t in (case.reference, case.prefix, case.suffix) if t and t.strip()]
    code += [body for _lang, body in fenced_blocks(case.prompt) if body.strip()]
    return code, strip_fenced(case.prompt)


def case_texts(case: EvalCase) -> tuple[list[str], list[str]]:
    """(code pieces, prose pieces) of a case, normalised."""
    code, prose = case_parts(case)
    return [normalise(c) for c in code], [normalise(prose)]


def find_overlaps(cases: Sequence[EvalCase], training: Sequence[TrainingText]) -> list[str]:
    """One message per case text that equals (or, when long, is contained in / contains) training text."""
    code_blocks = [t for t in training if t.kind == "code"]
    prose = {t.text: t for t in training if t.kind != "code" and t.text}
    problems = []
    for case in cases:
        codes, prompts = case_texts(case)
        for c in codes:
            for t in code_blocks:
                long = min(len(c), len(t.text)) >= MIN_CONTAINED_CHARS
                if c == t.text or (long and (c in t.text or t.text in c)):
                    problems.append(f"{case.id}: code overlaps a code block of {t.source}")
                    break
        for p in prompts:
            if p in prose:
                problems.append(f"{case.id}: prompt equals the {prose[p].kind} of {prose[p].source}")
    return problems


# --- n-gram contamination (the `data synth` filter and the shipped-data check) --------------------

_TOKEN = re.compile(r"\w+|[^\w\s]")
NGRAM = 8  # tokens: long enough that a shared 8-gram is copied text, not a shared idiom
CONTAMINATION_THRESHOLD = 0.7  # shipped examples share at most 58% (UI boilerplate); copies score 77%+
_MIN_NGRAMS = 4  # texts shorter than this many n-grams (a one-line snippet) say nothing either way


def ngrams(text: str, n: int = NGRAM) -> frozenset[tuple[str, ...]]:
    """The set of `n`-token windows of `text`, case- and spacing-insensitive (`x=1` == `X = 1`)."""
    toks = _TOKEN.findall(text.lower())
    return frozenset(tuple(toks[i : i + n]) for i in range(len(toks) - n + 1))


def ngram_overlap(a: frozenset[tuple[str, ...]], b: frozenset[tuple[str, ...]]) -> float:
    """The share of the smaller set's n-grams found in the other: 1.0 when one text contains the
    other, whichever way round (a draft may pad a copied reference, or copy part of a long one)."""
    small = min(len(a), len(b))
    if small < _MIN_NGRAMS:
        return 0.0
    return len(a & b) / small


@dataclass(frozen=True)
class EvalText:
    """One text of an eval case (code or prose prompt) as n-grams."""

    case_id: str
    kind: str  # code | prompt
    grams: frozenset[tuple[str, ...]]


def eval_ngrams(cases: Sequence[EvalCase], n: int = NGRAM) -> list[EvalText]:
    """The n-grams of every case's code (reference, prefix, suffix, code in the prompt) and prompt."""
    out = []
    for case in cases:
        code, prose = case_parts(case)
        out += [EvalText(case.id, "code", ngrams(c, n)) for c in code]
        out.append(EvalText(case.id, "prompt", ngrams(prose, n)))
    return [t for t in out if t.grams]


@dataclass(frozen=True)
class Contamination:
    case_id: str
    kind: str
    overlap: float

    def __str__(self) -> str:
        return (
            f"{100 * self.overlap:.0f}% {NGRAM}-gram overlap with the {self.kind} of eval case {self.case_id}"
        )


def worst_overlap(texts: Sequence[str], index: Sequence[EvalText], n: int = NGRAM) -> Contamination | None:
    """The eval text that `texts` overlap most (code with code, any text with prompts), or None."""
    best: Contamination | None = None
    for text in texts:
        grams = ngrams(text, n)
        for t in index:
            score = ngram_overlap(grams, t.grams)
            if score > 0 and (best is None or score > best.overlap):
                best = Contamination(t.case_id, t.kind, score)
    return best
