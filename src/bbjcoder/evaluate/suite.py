"""The held-out evaluation suite: load and validate `evals/<suite>/cases.jsonl` into Case records.

Format (one JSON object per line) is documented in `evals/README.md`; every problem is reported as
a DataError naming `file:line` and the field, so a suite author can fix it without guessing.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bbjcoder.data.schema import DIFFICULTIES, TYPES, label_fields
from bbjcoder.data.schema import GENERATIONS as _LABELS
from bbjcoder.errors import DataError
from bbjcoder.fileio import numbered_jsonl

# A case may also be labelled "all" (portable code), as a training example may.
GENERATIONS: tuple[str, ...] = ("all", *_LABELS)
CASES_FILE = "cases.jsonl"

_ALLOWED = {
    "id",
    "prompt",
    "type",
    "generation",
    "difficulty",
    "reference",
    "idioms",
    "prefix",
    "suffix",
    "tags",
}
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")


@dataclass(frozen=True)
class Idioms:
    """Regexes the extracted code must (all) match and must not (any) match; see evals/README.md."""

    must: tuple[str, ...] = ()
    must_not: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.must or self.must_not)


@dataclass(frozen=True)
class Case:
    """One evaluation case. `prefix`/`suffix` make it a fill-in-the-middle (FIM) completion case."""

    id: str
    prompt: str
    type: str
    generation: tuple[str, ...]
    difficulty: str
    reference: str | None = None
    idioms: Idioms = field(default_factory=Idioms)
    prefix: str | None = None
    suffix: str | None = None
    tags: tuple[str, ...] = ()
    source: str = ""  # "path:line", for messages

    @property
    def is_fim(self) -> bool:
        return self.prefix is not None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "prompt": self.prompt,
            **label_fields(self.type, self.generation, self.difficulty),
        }
        if self.reference is not None:
            out["reference"] = self.reference
        if self.idioms:
            out["idioms"] = {"must": list(self.idioms.must), "must_not": list(self.idioms.must_not)}
        if self.prefix is not None:
            out["prefix"] = self.prefix
        if self.suffix is not None:
            out["suffix"] = self.suffix
        if self.tags:
            out["tags"] = list(self.tags)
        return out


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    cases: tuple[Case, ...]

    def subset(self, max_cases: int | None, seed: int = 0) -> Suite:
        """`max_cases` cases stratified by generation x type (a quick profile), or the whole suite.

        Each stratum (a case's generation labels and its type) is shuffled with `seed`; cases are
        then taken one per stratum in turn, so any N spreads over generations and types as evenly
        as N allows. The kept cases stay in file order; the same seed gives the same subset.
        """
        if max_cases is None or max_cases >= len(self.cases):
            return self
        rng = random.Random(seed)
        strata: dict[tuple[str, str], list[int]] = {}
        for i, case in enumerate(self.cases):
            strata.setdefault(("+".join(case.generation), case.type), []).append(i)
        queues = []
        for key in sorted(strata):
            members = strata[key]
            rng.shuffle(members)
            queues.append(members)
        rng.shuffle(queues)  # which strata get the extra case when N does not divide evenly
        picked: list[int] = []
        while len(picked) < max_cases:
            for q in queues:
                if q and len(picked) < max_cases:
                    picked.append(q.pop(0))
        return Suite(self.name, self.path, tuple(self.cases[i] for i in sorted(picked)))


def _str_list(value: Any, what: str, path: Path, line: int) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DataError(
            f"{what}: expected a string or a list of strings, got {value!r}", path=path, line=line
        )
    return tuple(value)


def _parse_idioms(value: Any, path: Path, line: int) -> Idioms:
    if not isinstance(value, dict):
        raise DataError('idioms: expected an object {"must": [...], "must_not": [...]}', path=path, line=line)
    unknown = set(value) - {"must", "must_not"}
    if unknown:
        raise DataError(
            f"idioms: unknown key(s) {sorted(unknown)}; use must / must_not", path=path, line=line
        )
    must = _str_list(value.get("must", []), "idioms.must", path, line)
    must_not = _str_list(value.get("must_not", []), "idioms.must_not", path, line)
    for pattern in (*must, *must_not):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise DataError(f"idioms: bad regex {pattern!r}: {exc}", path=path, line=line) from exc
    return Idioms(must, must_not)


def parse_case(obj: dict[str, Any], *, path: Path, line: int) -> Case:
    """Validate one JSON object as a Case; raise DataError(path:line) naming the bad field."""
    unknown = set(obj) - _ALLOWED
    if unknown:
        raise DataError(
            f"unknown field(s) {sorted(unknown)}",
            path=path,
            line=line,
            hint=f"allowed fields: {', '.join(sorted(_ALLOWED))}",
        )
    for key in ("id", "prompt", "type", "generation", "difficulty"):
        if key not in obj:
            raise DataError(f"missing required field {key!r}", path=path, line=line)
    for key in ("id", "prompt", "type", "difficulty"):
        if not isinstance(obj[key], str) or not obj[key].strip():
            raise DataError(f"{key}: expected a non-empty string", path=path, line=line)
    case_id = obj["id"]
    if not _ID_RE.match(case_id):
        raise DataError(f"id {case_id!r}: use letters, digits and . _ / - only", path=path, line=line)
    if obj["type"] not in TYPES:
        raise DataError(f"type {obj['type']!r} is not one of {', '.join(TYPES)}", path=path, line=line)
    if obj["difficulty"] not in DIFFICULTIES:
        raise DataError(
            f"difficulty {obj['difficulty']!r} is not one of {', '.join(DIFFICULTIES)}", path=path, line=line
        )
    generation = _str_list(obj["generation"], "generation", path, line)
    if not generation:
        raise DataError("generation: must name at least one generation", path=path, line=line)
    bad = [g for g in generation if g not in GENERATIONS]
    if bad:
        raise DataError(f"generation {bad} not among {', '.join(GENERATIONS)}", path=path, line=line)
    for key in ("reference", "prefix", "suffix"):
        if key in obj and not isinstance(obj[key], str):
            raise DataError(f"{key}: expected a string", path=path, line=line)
    if "suffix" in obj and "prefix" not in obj:
        raise DataError("suffix without prefix: a FIM case needs a prefix", path=path, line=line)
    if "prefix" in obj and obj["type"] != "completion":
        raise DataError(
            f"prefix/suffix are only for type completion, not {obj['type']!r}", path=path, line=line
        )
    idioms = _parse_idioms(obj["idioms"], path, line) if "idioms" in obj else Idioms()
    tags = _str_list(obj.get("tags", []), "tags", path, line)
    return Case(
        id=case_id,
        prompt=obj["prompt"],
        type=obj["type"],
        generation=generation,
        difficulty=obj["difficulty"],
        reference=obj.get("reference"),
        idioms=idioms,
        prefix=obj.get("prefix"),
        suffix=obj.get("suffix", "" if "prefix" in obj else None),
        tags=tags,
        source=f"{path}:{line}",
    )


def load_cases(path: str | Path) -> list[Case]:
    """Read and validate a cases.jsonl file; ids must be unique across the file."""
    path = Path(path)
    cases: list[Case] = []
    seen: dict[str, int] = {}
    for lineno, obj in numbered_jsonl(path):
        case = parse_case(obj, path=path, line=lineno)
        if case.id in seen:
            raise DataError(
                f"duplicate id {case.id!r} (first on line {seen[case.id]})", path=path, line=lineno
            )
        seen[case.id] = lineno
        cases.append(case)
    if not cases:
        raise DataError("the suite has no cases", path=path)
    return cases


def load_suite(path: str | Path) -> Suite:
    """Load a suite directory (holding cases.jsonl) or a .jsonl file directly."""
    path = Path(path)
    file = path / CASES_FILE if path.is_dir() else path
    if not file.exists():
        raise DataError(
            "no suite here", path=path, hint=f"a suite is a directory with {CASES_FILE} (see evals/README.md)"
        )
    name = path.name if path.is_dir() else path.parent.name
    return Suite(name=name, path=path, cases=tuple(load_cases(file)))


def categories(case: Case) -> list[tuple[str, str]]:
    """(axis, value) pairs a case is counted under: each generation, its type and difficulty."""
    out = [("generation", g) for g in case.generation]
    out.append(("type", case.type))
    out.append(("difficulty", case.difficulty))
    return out


def check_idioms(idioms: Idioms, text: str) -> tuple[bool, list[str]]:
    """Whether `text` satisfies the idioms, and a message per violated pattern.

    Patterns are Python regexes compiled with IGNORECASE | MULTILINE (BBj keywords are
    case-insensitive); every `must` pattern has to match somewhere, no `must_not` pattern may.
    """
    flags = re.IGNORECASE | re.MULTILINE
    problems = [f"missing required idiom /{p}/" for p in idioms.must if not re.search(p, text, flags)]
    problems += [f"uses forbidden idiom /{p}/" for p in idioms.must_not if re.search(p, text, flags)]
    return (not problems, problems)
