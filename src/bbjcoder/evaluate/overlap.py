"""Held-out check: no suite case may share normalised text with the training data.

Compares case code (reference, prefix, suffix, code in the prompt) with every code block of
`training-data/<topic>/*.md`, and case prompts with example titles and descriptions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bbjcoder.data.quality import normalise  # the data stage's dedup form: one definition
from bbjcoder.evaluate.extract import fenced_blocks
from bbjcoder.evaluate.suite import Case

# Long enough that containment means copied code, not a shared idiom like `process_events`.
MIN_CONTAINED_CHARS = 120


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


def case_texts(case: Case) -> tuple[list[str], list[str]]:
    """(code pieces, prose pieces) of a case, normalised."""
    code = [t for t in (case.reference, case.prefix, case.suffix) if t and t.strip()]
    code += [body for _info, body in fenced_blocks(case.prompt) if body.strip()]
    prose = re.sub(r"```.*?(```|$)", " ", case.prompt, flags=re.DOTALL)
    return [normalise(c) for c in code], [normalise(prose)]


def find_overlaps(cases: Sequence[Case], training: Sequence[TrainingText]) -> list[str]:
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
