"""`data review`: the draft review page in headless Chromium (Playwright), decisions in SQLite,
accepted drafts in training-data/ with provenance, and what that provenance does downstream."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bbjcoder.data.convert import example_to_record
from bbjcoder.data.records import Record
from bbjcoder.data.review_queue import create_app, live_check, with_provenance
from bbjcoder.data.stats import compute_stats
from bbjcoder.data.synth import run_synth
from bbjcoder.data.validate import validate_paths
from bbjcoder.train.data import apply_synthetic

from ..helpers import CHROMIUM, CHROMIUM_ARGS, HAVE_CHROMIUM, uvicorn_in_thread
from .fake_teacher import Script, fake_teacher
from .test_synth import GOOD_1, GOOD_2, config, project, topics_tasks  # noqa: F401 (fixture)


@pytest.fixture()
def inbox(project: Path) -> Path:  # noqa: F811
    with fake_teacher(Script({"good-1": GOOD_1, "good-2": GOOD_2})) as url:
        res = run_synth(config(project, url, concurrency=1), topics_tasks(["good-1", "good-2"]))
    assert res.summary["funnel"]["queued"] == 2
    return project / "training-data/_inbox"


@pytest.fixture()
def served(inbox: Path) -> Iterator[str]:
    with uvicorn_in_thread(create_app(inbox, inbox.parent)) as url:
        yield url


@pytest.mark.browser
@pytest.mark.skipif(not HAVE_CHROMIUM, reason="Debian chromium not installed (make browser)")
def test_review_page_edits_until_the_checker_passes_then_accepts_and_rejects(
    served: str, inbox: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    training = inbox.parent
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(served)
        expect(page.locator("#progress")).to_have_text("0 of 2 reviewed")
        expect(page.locator("#verdict")).to_have_text("checks pass (0 warnings)")
        expect(page.locator("#provenance")).to_contain_text("Prompt template synth-")
        draft_id = page.locator("#draft-id").inner_text()
        original = page.locator("#editor").input_value()
        assert "encyclopedia" in original or "sum of squares" in original
        # break the code: the live check reports the checker's problem and accepting is blocked
        broken = original.replace("next ", "nxt ", 1)
        page.locator("#editor").fill(broken)
        expect(page.locator("#verdict")).to_have_text("1 problem(s)", timeout=15000)
        expect(page.locator("#problems")).to_contain_text("BBj checker")
        expect(page.locator("#accept")).to_be_disabled()
        # a reload keeps the edit (saved to SQLite as it was checked)
        page.reload()
        assert page.locator("#editor").input_value() == broken
        expect(page.locator("#verdict")).to_contain_text("problem(s)")
        # fix it, with a change of our own: now it passes and can be accepted from the keyboard
        fixed = original.replace("print ", "print  ", 1).replace(
            "difficulty: basic", "difficulty: intermediate"
        )
        page.locator("#editor").fill(fixed)
        expect(page.locator("#verdict")).to_have_text("checks pass (0 warnings)", timeout=15000)
        page.locator("#reviewer").fill("Ada Reviewer")
        page.locator("#editor").focus()
        page.keyboard.press("Control+Enter")
        expect(page.locator("#progress")).to_have_text("1 of 2 reviewed", timeout=15000)
        second = page.locator("#draft-id").inner_text()
        assert second != draft_id
        # reject the second with a reason, from the keyboard: r focuses the reason
        page.locator("body").click()
        page.keyboard.press("r")
        page.keyboard.type("too close to a textbook loop")
        page.locator("#reject").click()
        expect(page.locator("h1")).to_have_text("Inbox empty", timeout=15000)
        expect(page.locator("#progress")).to_have_text("2 of 2 reviewed")
        browser.close()

    accepted = list((training / "synthetic").glob("*.md"))
    assert len(accepted) == 1
    text = accepted[0].read_text(encoding="utf-8")
    assert "source: synthetic\n" in text and 'reviewed_by: "Ada Reviewer"' in text
    assert 'teacher: "teacher@http://127.0.0.1:' in text and "difficulty: intermediate" in text
    result = validate_paths([accepted[0]])
    assert result.errors == 0, [str(p.message) for p in result.problems]
    assert result.files[0].example.front is not None and result.files[0].example.front.is_synthetic
    con = sqlite3.connect(inbox / "review.sqlite")
    rows = con.execute(
        "SELECT draft, decision, reason, reviewer, created FROM decisions ORDER BY id"
    ).fetchall()
    assert [(r[0], r[1], r[3]) for r in rows] == [
        (draft_id, "edit-accept", "Ada Reviewer"),
        (second, "reject", "Ada Reviewer"),
    ]
    assert rows[1][2] == "too close to a textbook loop" and rows[0][4].endswith("+00:00")
    archived = json.loads((inbox / "_archive/rejected" / f"{second}.json").read_text())
    assert archived["review"]["reason"] == "too close to a textbook loop"
    assert (inbox / "_archive/rejected" / f"{second}.md").is_file()
    assert not list(inbox.glob("synth-*.md"))


def test_accepting_a_failing_draft_or_posting_without_the_page_token_is_refused(
    served: str, inbox: Path
) -> None:
    page = httpx.get(served).text
    token = json.loads(page.split("id='data'>")[1].split("</script>")[0])["csrf"]
    draft = json.loads(page.split("id='data'>")[1].split("</script>")[0])["draft"]
    body = {"draft": draft, "decision": "accept", "text": "---\ntitle: x\n---\n", "reviewer": "a"}
    assert httpx.post(served + "api/decide", json=body).status_code == 403  # no token
    r = httpx.post(served + "api/decide", json={**body, "csrf": token})
    assert r.status_code == 409 and r.json()["check"]["ok"] is False
    r = httpx.post(served + "api/decide", json={**body, "decision": "reject", "reason": "", "csrf": token})
    assert r.status_code == 409 and "needs a reason" in r.json()["error"]
    r = httpx.post(
        served + "api/decide",
        json={**body, "csrf": token},
        headers={"Origin": "http://evil.example"},
    )
    assert r.status_code == 403
    assert len(list(inbox.glob("synth-*.md"))) == 2  # nothing moved


def test_live_check_blocks_a_label_the_detector_contradicts() -> None:
    from .test_synth import GENERATION_FAIL

    v = live_check(GENERATION_FAIL)
    assert v["ok"] is False and any("looks like bbj-gui" in p["message"] for p in v["problems"])
    assert live_check(GOOD_1)["ok"] is True


def test_synthetic_front_matter_needs_teacher_and_reviewer_and_reaches_the_record(tmp_path: Path) -> None:
    from bbjcoder.data.markdown import parse_example

    bare = GOOD_1.replace("---\n\n## Code", "source: synthetic\n---\n\n## Code", 1)
    _ex, problems = parse_example(bare, path="x.md", example_id="t/x")
    assert any("needs teacher and reviewed_by" in p.message for p in problems)
    full = with_provenance(GOOD_1, teacher="m@http://h/v1", reviewer="Bo")
    example, problems = parse_example(full, path="x.md", example_id="t/x")
    assert not [p for p in problems if p.is_error]
    record = example_to_record(example)
    assert record.origin == "synthetic" and record.to_json()["meta"]["origin"] == "synthetic"
    assert Record.from_json(record.to_json()) == record
    curated = example_to_record(parse_example(GOOD_2, path="y.md", example_id="t/y")[0])
    assert "origin" not in curated.to_json()["meta"]  # curated records are written as before
    stats = compute_stats({"train": [record, curated]})
    assert stats.stats.by_origin == {"curated": 1, "synthetic": 1}


def test_config_switch_excludes_or_weights_synthetic_records() -> None:
    recs = [{"meta": {"origin": "synthetic", "id": f"s{k}"}} for k in range(10)] + [{"meta": {"id": "c"}}]
    kept, counts = apply_synthetic(recs, mode="exclude", weight=1.0, seed=1)
    assert counts == {"curated": 1, "synthetic": 10} and kept == [recs[-1]]
    doubled, _ = apply_synthetic(recs, mode="include", weight=2.0, seed=1)
    assert len(doubled) == 21
    half, _ = apply_synthetic(recs, mode="include", weight=0.5, seed=1)
    assert 1 < len(half) < 11 and half == apply_synthetic(recs, mode="include", weight=0.5, seed=1)[0]
    same, _ = apply_synthetic(recs, mode="include", weight=1.0, seed=1)
    assert same == recs


def test_model_card_reports_curated_and_synthetic_records(tmp_path: Path) -> None:
    from bbjcoder.records.run import RunRecord, TrainData
    from bbjcoder.runs import render_model_card

    def card(data: dict[str, object]) -> str:
        run = RunRecord(id="r1", path=tmp_path, status="done", created="2026-01-01", data=TrainData(**data))
        return render_model_card(run)

    both = card(
        {
            "sft_curated_records": 150,
            "sft_synthetic_records": 40,
            "synthetic": "include",
            "synthetic_weight": 2.0,
        }
    )
    assert "Provenance of the stage-2 training records: 150 curated, 40 synthetic" in both
    assert "weighted x2" in both
    excluded = card({"sft_curated_records": 150, "sft_synthetic_records": 40, "synthetic": "exclude"})
    assert 'excluded by `[data] synthetic = "exclude"`' in excluded
    assert "not recorded" in card({})


def test_runs_compare_shows_curated_and_synthetic_records_and_the_switch(tmp_path: Path) -> None:
    from bbjcoder.records.run import TrainData
    from bbjcoder.runs import compare_runs, create_run, resolve_run, update_run

    runs = []
    for mode, synthetic in (("include", 40), ("exclude", 40)):
        run = create_run(tmp_path, "syn", {"data": {"synthetic": mode, "synthetic_weight": 1.0}})
        data = {"sft_curated_records": 150, "sft_synthetic_records": synthetic}
        runs.append(
            resolve_run(
                update_run(run, lambda rec, d=data: rec.model_copy(update={"data": TrainData(**d)})).path
            )
        )
    rows = {row.key: row for row in compare_runs(*runs)}
    assert rows["config.data.synthetic"].a == "include" and rows["config.data.synthetic"].b == "exclude"
    assert rows["data.sft_synthetic_records"].a == 40 and rows["data.sft_curated_records"].b == 150
