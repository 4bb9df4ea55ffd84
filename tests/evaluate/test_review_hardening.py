"""The review page under misuse: one rating per (reviewer, pair), cross-site posts refused, and a
truncated report.json named in one line instead of a traceback."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bbjcoder.evaluate.review import create_app, review_summary
from bbjcoder.integrity import CorruptFile

from .test_review import review_dir, served  # noqa: F401  (fixtures)

FORM = "application/x-www-form-urlencoded"


def _page(url: str) -> tuple[str, str]:
    text = httpx.get(url).text
    token = re.search(r"name='csrf' value='([^']+)'", text)
    case = re.search(r"name='case_id' value='([^']+)'", text)
    assert token and case
    return token.group(1), case.group(1)


def _rating(case_id: str, token: str, choice: str, reviewer: str = "ann") -> dict[str, str]:
    scores = {f"{s}_{k}": "3" for s in "ab" for k in ("quality", "idiomatic", "explanation")}
    return {**scores, "case_id": case_id, "choice": choice, "reviewer": reviewer, "csrf": token}


def test_reposting_a_rating_replaces_it(served) -> None:  # noqa: F811
    url, db = served
    token, case_id = _page(url)
    for choice in ("a", "a", "b"):  # a double submit, then a change of mind
        resp = httpx.post(
            url + "rate", data=_rating(case_id, token, choice), headers={"origin": url.rstrip("/")}
        )
        assert resp.status_code == 303
    httpx.post(url + "rate", data=_rating(case_id, token, "tie", reviewer="bob"))
    rows = sqlite3.connect(db).execute("SELECT reviewer, choice FROM ratings ORDER BY reviewer").fetchall()
    assert rows == [("ann", "b"), ("bob", "tie")]
    summary = review_summary(db)
    assert summary.ratings == 2
    assert all(row.n == 2 for row in summary.table)


def test_summary_counts_one_rating_per_reviewer_and_pair_in_an_old_database(served) -> None:  # noqa: F811
    url, db = served
    token, case_id = _page(url)
    httpx.post(url + "rate", data=_rating(case_id, token, "a"))
    con = sqlite3.connect(db)
    with con:  # a database from before re-posts replaced ratings: the same rating stored twice
        con.execute(
            "INSERT INTO ratings (created, reviewer, case_id, model_a, model_b, choice, winner) "
            "SELECT created, reviewer, case_id, model_a, model_b, 'b', model_b FROM ratings"
        )
    assert review_summary(db).ratings == 1


def test_cross_site_or_tokenless_posts_are_refused(served) -> None:  # noqa: F811
    url, db = served
    token, case_id = _page(url)
    evil = httpx.post(
        url + "rate", data=_rating(case_id, token, "a"), headers={"origin": "http://evil.example"}
    )
    assert evil.status_code == 403
    missing = _rating(case_id, token, "a")
    del missing["csrf"]
    assert httpx.post(url + "rate", data=missing).status_code == 403
    stale = httpx.post(url + "rate", data=_rating(case_id, "not-the-token", "a"))
    assert stale.status_code == 403
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM ratings").fetchone()[0] == 0


def test_truncated_report_is_named_in_one_line(review_dir: Path) -> None:  # noqa: F811
    report = review_dir / "report.json"
    report.write_bytes(report.read_bytes()[:200])
    with pytest.raises(CorruptFile, match="not valid JSON") as exc:
        create_app(review_dir)
    assert exc.value.path == str(report)
    out = subprocess.run(
        [sys.executable, "-m", "bbjcoder", "review", "--eval", str(review_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert out.stderr.startswith(f"error: {report}: not valid JSON")
    assert "Traceback" not in out.stderr and len(out.stderr.splitlines()) == 2
