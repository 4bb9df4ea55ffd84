"""`bbjcoder data suggest --from-eval`: weakest generation × type cells from a hand-built eval report,
scaffolds in training-data/_inbox/ (valid front matter, failing prompts as comments), skipped by validate."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from bbjcoder.data.suggest import find_report, suggest_from_eval, weakest_cells
from bbjcoder.data.validate import find_example_files, validate_paths
from bbjcoder.records.eval_report import EvalReport

UNDER_TEST, BASE = "run:r1", "base:r1"


def _case(
    model: str, cid: str, gens: list[str], type_: str, compiles: list[bool], prompt: str = ""
) -> dict[str, Any]:
    samples = [
        {
            "sample": i,
            "compiles": ok,
            "diagnostics": [] if ok else [{"line": 2, "column": 5, "message": f"expected THEN ({cid})"}],
            "idioms_ok": None,
            "idiom_problems": [],
            "code": f'REM {cid}\nIF x PRINT "y"\n',
        }
        for i, ok in enumerate(compiles)
    ]
    return {
        "model": model,
        "case_id": cid,
        "type": type_,
        "generation": gens,
        "difficulty": "basic",
        "prompt": prompt or f"Write the {cid} program.",
        "n": len(compiles),
        "c": sum(compiles),
        "samples": samples,
    }


def _report() -> dict[str, Any]:
    cases = [
        _case(UNDER_TEST, "gui-button", ["bbj-gui"], "completion", [False, False]),
        _case(UNDER_TEST, "gui-grid", ["bbj-gui"], "completion", [True, False]),
        _case(UNDER_TEST, "char-menu", ["character"], "comprehension", [True, True]),
        _case(
            UNDER_TEST,
            "explain-callback",
            ["bbj-gui", "dwc"],
            "explanation",
            [False, False],
            prompt="Explain why setCallback --> fires twice <!-- here",
        ),
        # The baseline's failures are not the fine-tuned model's weak areas.
        _case(BASE, "vpro5-migrate", ["vpro5"], "migration", [False, False]),
        _case(BASE, "char-menu", ["character"], "comprehension", [False, False]),
    ]
    return {
        "models": [{"label": UNDER_TEST, "role": "model"}, {"label": BASE, "role": "baseline"}],
        "ks": [1, 2],
        "cases": cases,
    }


def _run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "runs" / "r1"
    (run / "eval" / "bbj-core").mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"id": "r1"}), encoding="utf-8")
    (run / "eval" / "bbj-core" / "report.json").write_text(json.dumps(_report()), encoding="utf-8")
    return run


def _front_matter(text: str) -> dict[str, Any]:
    m = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert m, text[:200]
    return dict(yaml.safe_load(m.group(1)))


def test_weakest_cells_rank_by_compile_rate_and_ignore_the_baseline() -> None:
    cells = weakest_cells(EvalReport.model_validate(_report()))
    assert [(c.generation, c.type) for c in cells] == [
        ("bbj-gui", "explanation"),  # 0 of 2 compiled
        ("dwc", "explanation"),  # 0 of 2 (same case, counted in both generations)
        ("bbj-gui", "completion"),  # 1 of 4
    ]
    assert cells[2].compile_rate == 0.25
    assert [f.case_id for f in cells[2].failures] == ["gui-button", "gui-grid"]


def test_suggest_writes_scaffolds_with_front_matter_and_failing_prompts_as_comments(
    tmp_path: Path, run_cli
) -> None:
    run = _run_dir(tmp_path)
    inbox = tmp_path / "training-data" / "_inbox"
    code, out, _ = run_cli(
        "data", "suggest", "--from-eval", "r1", "--runs-dir", str(tmp_path / "runs"), "--inbox", str(inbox)
    )
    assert code == 0, out
    files = sorted(p.name for p in inbox.iterdir())
    assert files == [
        "bbj-gui-completion-gui-button.md",
        "bbj-gui-completion-gui-grid.md",
        "bbj-gui-explanation-explain-callback.md",
        "dwc-explanation-explain-callback.md",
    ]
    text = (inbox / "bbj-gui-explanation-explain-callback.md").read_text(encoding="utf-8")
    front = _front_matter(text)
    assert front["type"] == "explanation"
    assert front["generation"] == "bbj-gui"
    assert front["difficulty"] == "basic"
    assert front["tags"] == ["needs-review", "from-eval"]
    assert front["title"].startswith("TODO")
    # One comment holds the prompt (its own comment markers defused) and the checker diagnostic.
    comment = text[text.index("<!--") : text.index("-->") + 3]
    assert "Explain why setCallback -- > fires twice <! -- here" in comment
    assert "line 2, column 5: expected THEN (explain-callback)" in comment
    assert str(run / "eval" / "bbj-core" / "report.json") in comment
    for section in ("## Code", "## Expected Behavior", "## Explanation"):
        assert section in text[text.index("-->") :]
    # The draft is structurally valid: its only errors are the unfilled TODO placeholders, which
    # keep it out of a dataset until a person fills them in.
    result = validate_paths([inbox / "bbj-gui-completion-gui-button.md"], check_code=True)
    errors = [p.message for p in result.problems if p.is_error]
    assert errors and all("unfilled template placeholder" in m for m in errors), errors


def test_validate_skips_the_inbox(tmp_path: Path) -> None:
    root = tmp_path / "training-data"
    (root / "gui").mkdir(parents=True)
    (root / "FORMAT.md").write_text("# format\n", encoding="utf-8")
    (root / "gui" / "hello.md").write_text("---\ntitle: x\n---\n", encoding="utf-8")
    suggest_from_eval(_run_dir(tmp_path), inbox=root / "_inbox")
    assert any((root / "_inbox").iterdir())
    assert [eid for _, eid in find_example_files([root])] == ["gui/hello"]


def test_suggest_keeps_drafts_a_person_edited_unless_forced(tmp_path: Path) -> None:
    run, inbox = _run_dir(tmp_path), tmp_path / "inbox"
    first = suggest_from_eval(run, inbox=inbox, cells=1, per_cell=1)
    assert len(first) == 1
    first[0].path.write_text("edited by a person\n", encoding="utf-8")
    assert suggest_from_eval(run, inbox=inbox, cells=1, per_cell=1) == []
    assert first[0].path.read_text(encoding="utf-8") == "edited by a person\n"
    again = suggest_from_eval(run, inbox=inbox, cells=1, per_cell=1, force=True)
    assert again[0].path == first[0].path
    assert "<!--" in first[0].path.read_text(encoding="utf-8")


def test_suggest_without_an_eval_report_says_how_to_make_one(tmp_path: Path, run_cli) -> None:
    (tmp_path / "runs" / "r2").mkdir(parents=True)
    code, _, err = run_cli("data", "suggest", "--from-eval", "r2", "--runs-dir", str(tmp_path / "runs"))
    assert code == 2
    assert "no eval report" in err and "bbjcoder eval --model run:r2" in err


def test_find_report_accepts_a_run_dir_an_eval_dir_or_the_file(tmp_path: Path) -> None:
    run = _run_dir(tmp_path)
    expected = run / "eval" / "bbj-core" / "report.json"
    assert find_report(run) == expected
    assert find_report(f"run:{run}") == expected
    assert find_report(run / "eval" / "bbj-core") == expected
    assert find_report(expected) == expected
