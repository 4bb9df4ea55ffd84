"""The shipped suite is held out: no normalised overlap with training-data/, and it is complete."""

from __future__ import annotations

from pathlib import Path

import pytest

from bbjcoder.data.overlap import find_overlaps, training_texts
from bbjcoder.evaluate.suite import Case, load_suite

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "evals" / "bbj-core"
EXAMPLE = """---
title: "Hello window"
type: completion
generation: bbj-gui
description: "Open a window."
---

## Code

```bbj
sysgui! = BBjAPI().openSysGui("X0")
window! = sysgui!.addWindow(100, 100, 300, 140, "Hello")
process_events
```

## Expected Behavior

A window opens.

## Explanation

It opens a window.
"""


def _case(**kw: object) -> Case:
    base: dict = {
        "id": "x",
        "prompt": "Something new.",
        "type": "completion",
        "generation": ("dwc",),
        "difficulty": "basic",
    }
    return Case(**{**base, **kw})


def test_overlap_finder_catches_copied_code_and_prompts(tmp_path: Path) -> None:
    (tmp_path / "gui").mkdir()
    (tmp_path / "gui" / "hello.md").write_text(EXAMPLE)
    texts = training_texts(tmp_path)
    copied = 'SYSGUI! = BBjAPI().openSysGui("X0")\nwindow! =  sysgui!.addWindow(100, 100, 300, 140, "Hello")\n\nprocess_events'
    problems = find_overlaps(
        [
            _case(id="code", reference=copied),
            _case(id="title", prompt="  hello   WINDOW "),
            _case(id="clean", reference='PRINT "new"'),
        ],
        texts,
    )
    assert problems == [
        f"code: code overlaps a code block of {tmp_path / 'gui' / 'hello.md'}",
        f"title: prompt equals the title of {tmp_path / 'gui' / 'hello.md'}",
    ]


def _shipped() -> list[Case]:
    if not (SUITE / "cases.jsonl").exists():
        pytest.skip("evals/bbj-core/cases.jsonl is not written yet")
    return list(load_suite(SUITE).cases)


def test_shipped_suite_does_not_overlap_training_data() -> None:
    cases = _shipped()
    assert find_overlaps(cases, training_texts(ROOT / "training-data")) == []


def test_shipped_suite_covers_every_generation_and_type() -> None:
    cases = _shipped()
    assert len(cases) >= 120
    for gen in ("character", "vpro5", "bbj-gui", "dwc"):
        for typ in ("comprehension", "completion", "migration", "explanation"):
            assert any(c.type == typ and (gen in c.generation or "all" in c.generation) for c in cases), (
                gen,
                typ,
            )
    assert any("When the button is clicked, display a message box saying 'Hello'" in c.prompt for c in cases)


def test_shipped_references_score_as_perfect_samples() -> None:
    """Each reference, answered the way a model would (fenced; FIM as the bare middle), compiles and
    meets its idioms: the suite and the scoring path agree on what a correct answer is."""
    from bbjcoder.evaluate.scoring import default_checker, score_sample

    check = default_checker()
    bad = []
    for case in _shipped():
        assert case.reference is not None, case.id
        if case.is_fim:
            text = case.reference[len(case.prefix or "") : len(case.reference) - len(case.suffix or "")]
        else:
            text = f"Here is the program:\n```bbj\n{case.reference}\n```\nIt does what was asked."
        result = score_sample(case, 0, text, check)
        if not result.compiles or result.idioms_ok is False:
            bad.append((case.id, result.diagnostics[:1], result.idiom_problems))
    assert bad == []


def test_shipped_references_pass_the_data_lint() -> None:
    """No reference teaches a BBj pitfall or an API name BBj lacks (`bbjcoder data lint`)."""
    from bbjcoder.data.lint import lint_paths

    _shipped()
    assert [str(f) for f in lint_paths([SUITE / "cases.jsonl"])] == []


def test_shipped_suite_has_no_needs_review_cases() -> None:
    """Cases whose BBj we could not verify are moved out of the suite, not kept with a tag."""
    assert [c.id for c in _shipped() if "needs-review" in c.tags] == []
