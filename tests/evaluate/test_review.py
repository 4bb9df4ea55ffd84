"""Human review: the page in headless Chromium (Playwright), ratings in SQLite, export and win rates."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from bbjcoder.evaluate.highlight import highlight_bbj
from bbjcoder.evaluate.review import create_app, export, load_pairs, render_output, review_summary

from ..helpers import CHROMIUM, CHROMIUM_ARGS, HAVE_CHROMIUM, uvicorn_in_thread


def test_highlighter_marks_bbj_tokens_and_escapes_html() -> None:
    out = highlight_bbj('10 REM hi\nwin! = sysgui!.addWindow(1,"<b>")\nprint x$')
    assert '<span class="ln">10</span>' in out and '<span class="com">REM hi</span>' in out
    assert '<span class="var">win!</span>' in out and '<span class="call">addWindow</span>' in out
    assert '<span class="str">&quot;&lt;b&gt;&quot;</span>' in out and '<span class="kw">print</span>' in out
    assert "<b>" not in out


def test_output_rendering_separates_prose_from_fenced_code() -> None:
    html = render_output('Here it is:\n```bbj\nPRINT "x"\n```\nDone <now>.')
    assert (
        html.index('class="prose">Here it is:')
        < html.index('<pre class="code">')
        < html.index("Done &lt;now&gt;.")
    )


@pytest.fixture()
def review_dir(eval_run, tmp_path: Path) -> Path:
    d = tmp_path / "eval"
    shutil.copytree(eval_run.out_dir, d)
    return d


def test_pairs_are_anonymised_with_seeded_random_sides(review_dir: Path) -> None:
    pairs = load_pairs(review_dir, seed=1)
    assert len(pairs) == 4 and pairs == load_pairs(review_dir, seed=1)
    sides = {p.model_a.split(":")[0] for p in pairs}
    assert all({p.model_a, p.model_b} == {pairs[0].model_a, pairs[0].model_b} for p in pairs)
    orders = [tuple(p.model_a for p in load_pairs(review_dir, seed=s)) for s in range(6)]
    assert len(set(orders)) > 1 and sides  # the side a model lands on varies with the seed


@pytest.fixture()
def served(review_dir: Path) -> Iterator[tuple[str, Path]]:
    db = review_dir / "review.sqlite"
    with uvicorn_in_thread(create_app(review_dir, db, seed=3)) as url:
        yield url, db


@pytest.mark.browser
@pytest.mark.skipif(not HAVE_CHROMIUM, reason="Debian chromium not installed (make browser)")
def test_review_page_in_chromium_stores_rating_and_shows_next_case(served, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    url, db = served
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(url)
            first_case = page.inner_text("#case-id")
            assert page.inner_text("#progress") == "1 of 4"
            assert (
                page.locator("#output-a pre.code").count() >= 1
                and page.locator("#output-b pre.code").count() >= 1
            )
            page.check("#choice-b")
            page.select_option("#a_quality", "2")
            page.select_option("#b_quality", "5")
            page.select_option("#b_idiomatic", "4")
            page.select_option("#a_explanation", "1")
            page.fill("#comment", "B uses the right callback")
            page.fill("#reviewer", "tester")
            page.click("#submit")
            page.wait_for_selector("text=2 of 4")
            second_case = page.inner_text("#case-id")
            page.screenshot(path=str(tmp_path / "review.png"), full_page=True)
        finally:
            browser.close()
    assert second_case != first_case
    assert (tmp_path / "review.png").stat().st_size > 1000
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    rows = [dict(r) for r in con.execute("SELECT * FROM ratings")]
    con.close()
    assert len(rows) == 1
    r = rows[0]
    assert r["case_id"] == first_case and r["choice"] == "b" and r["winner"] == r["model_b"]
    assert (r["a_quality"], r["b_quality"], r["b_idiomatic"], r["a_explanation"], r["a_idiomatic"]) == (
        2,
        5,
        4,
        1,
        3,
    )
    assert r["comment"] == "B uses the right callback" and r["reviewer"] == "tester"


def test_bad_rating_is_rejected_and_not_stored(served) -> None:
    import httpx

    url, db = served
    token = re.search(r"name='csrf' value='([^']+)'", httpx.get(url).text).group(1)  # type: ignore[union-attr]
    resp = httpx.post(
        url + "rate",
        content=f"case_id=t%2Fhello&choice=maybe&csrf={token}",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert resp.status_code == 400
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM ratings").fetchone()[0] == 0


def test_export_writes_jsonl_and_win_rate_table_into_report(review_dir: Path) -> None:
    app = create_app(review_dir, seed=0)
    state = app.state.review
    pairs = state.pairs
    base = {f"{s}_{k}": "3" for s in "ab" for k in ("quality", "idiomatic", "explanation")}
    hf = next(m for m in (pairs[0].model_a, pairs[0].model_b) if m.startswith("hf:"))
    for p in pairs[:3]:  # hf wins three times
        state.add({**base, "case_id": p.case_id, "choice": "a" if p.model_a == hf else "b"})
    state.add({**base, "case_id": pairs[3].case_id, "choice": "tie"})
    out, summary = export(review_dir)
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 4 and summary.ratings == 4
    hf_row = next(r for r in summary.table if r.model == hf)
    assert (hf_row.wins, hf_row.ties, hf_row.losses) == (3, 1, 0)
    assert hf_row.win_rate == pytest.approx(3.5 / 4) and hf_row.low < 0.875 < hf_row.high
    assert "## Human review" in (review_dir / "report.md").read_text()
    assert json.loads((review_dir / "report.json").read_text())["review"] == review_summary(
        review_dir / "review.sqlite"
    ).model_dump(mode="json")
