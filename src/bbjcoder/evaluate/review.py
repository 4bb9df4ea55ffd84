"""Human review: a local web page comparing two models' outputs per case, ratings kept in SQLite.

Outputs are anonymised (shown as A and B) and their order is random per case (seeded); the
reviewer picks A / B / tie and rates each output 1-5 on code quality, idiomatic use of the
generation and explanation accuracy. `review_summary` turns ratings into a win-rate table.
"""

from __future__ import annotations

import html
import json
import random
import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request  # module level: FastAPI resolves the handler's annotation by name

from bbjcoder.data.fences import find_fences, normalise_newlines
from bbjcoder.errors import DataError, UserError
from bbjcoder.evaluate.highlight import highlight_bbj
from bbjcoder.evaluate.metrics import wilson_interval
from bbjcoder.fileio import atomic_write_jsonl, read_jsonl
from bbjcoder.integrity import CorruptFile
from bbjcoder.records.base import RecordError
from bbjcoder.records.eval_report import EvalReport, ReviewRow, ReviewSummary

SCALES = ("quality", "idiomatic", "explanation")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS ratings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,
    reviewer TEXT NOT NULL DEFAULT '',
    case_id TEXT NOT NULL,
    model_a TEXT NOT NULL,
    model_b TEXT NOT NULL,
    choice TEXT NOT NULL CHECK (choice IN ('a', 'b', 'tie')),
    winner TEXT,
    a_quality INTEGER, a_idiomatic INTEGER, a_explanation INTEGER,
    b_quality INTEGER, b_idiomatic INTEGER, b_explanation INTEGER,
    comment TEXT NOT NULL DEFAULT ''
);
"""


@dataclass(frozen=True)
class Pair:
    """One review item: a case and the two models' first samples, in display order A, B."""

    case_id: str
    prompt: str
    category: str
    model_a: str
    model_b: str
    text_a: str
    text_b: str


def connect(db: Path) -> sqlite3.Connection:
    db.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(db, check_same_thread=False)
    con.row_factory = sqlite3.Row
    con.executescript(_SCHEMA)
    return con


def load_pairs(eval_dir: Path, models: Sequence[str] | None = None, seed: int = 0) -> list[Pair]:
    """Pairs for every case both models answered, in a seeded shuffled order with A/B sides
    drawn at random per case (so position tells nothing about the model)."""
    if not (eval_dir / "report.json").exists():
        raise DataError("no report.json here: run `bbjcoder eval` first", path=eval_dir)
    report = _load_report(eval_dir)
    labels = list(models) if models else report.labels[:2]
    if len(labels) != 2:
        raise UserError(f"review needs exactly two models, got {labels}", hint="pass --models A,B")
    texts: dict[tuple[str, str], str] = {}
    for rec in read_jsonl(eval_dir / "samples.jsonl"):
        if rec["model"] in labels and int(rec["sample"]) == 0:
            texts[(rec["model"], rec["case_id"])] = rec["text"]
    cases = {c.case_id: c for c in report.cases}
    pairs = []
    rng = random.Random(seed)
    for case_id in sorted(cases):
        if (labels[0], case_id) in texts and (labels[1], case_id) in texts:
            a, b = (labels[0], labels[1]) if rng.random() < 0.5 else (labels[1], labels[0])
            c = cases[case_id]
            pairs.append(Pair(case_id, c.prompt, c.category, a, b, texts[(a, case_id)], texts[(b, case_id)]))
    rng.shuffle(pairs)
    if not pairs:
        raise DataError(f"no case has samples from both {labels[0]} and {labels[1]}", path=eval_dir)
    return pairs


def render_output(text: str) -> str:
    """Model output as HTML: fenced blocks highlighted as BBj, the prose around them escaped.
    Output without any fence is shown as code (that is how the extraction rule reads it too)."""
    fences = find_fences(text)
    if not fences:
        return f'<pre class="code">{highlight_bbj(text)}</pre>'
    text = normalise_newlines(text)
    parts: list[str] = []
    pos = 0
    for f in fences:
        parts.append(f'<div class="prose">{html.escape(text[pos : f.start].strip())}</div>')
        body = f.body[:-1] if f.body.endswith("\n") else f.body
        parts.append(f'<pre class="code">{highlight_bbj(body)}</pre>')
        pos = f.end
    if fences[-1].closed:
        parts.append(f'<div class="prose">{html.escape(text[pos:].strip())}</div>')
    return "".join(parts)


_SCALE_TITLES = ("Code quality", "Idiomatic for the generation", "Explanation accuracy")


def render_page(pair: Pair | None, done: int, total: int, token: str = "") -> str:
    """The review page (templates/eval/review.html.j2): the next pair, or "all done"."""
    from markupsafe import Markup

    from bbjcoder.render import render

    return render(
        "eval/review.html.j2",
        pair=pair,
        done=done,
        total=total,
        token=token,
        scales=list(zip(SCALES, _SCALE_TITLES, strict=True)),
        # render_output escapes the prose and highlights (and escapes) the code itself
        output_a=Markup(render_output(pair.text_a)) if pair else "",
        output_b=Markup(render_output(pair.text_b)) if pair else "",
    )


class ReviewState:
    """The pairs to review and the ratings database."""

    def __init__(self, eval_dir: Path, db: Path, models: Sequence[str] | None = None, seed: int = 0) -> None:
        self.pairs = load_pairs(eval_dir, models, seed)
        self.by_id = {p.case_id: p for p in self.pairs}
        self.con = connect(db)
        # A per-process form token: a page on another site cannot read it, so cannot post ratings.
        self.token = secrets.token_urlsafe(16)

    def rated(self) -> set[str]:
        pair_models = {frozenset((p.model_a, p.model_b)) for p in self.pairs}
        rows = self.con.execute("SELECT case_id, model_a, model_b FROM ratings").fetchall()
        return {r["case_id"] for r in rows if frozenset((r["model_a"], r["model_b"])) in pair_models}

    def next_pair(self) -> Pair | None:
        rated = self.rated()
        return next((p for p in self.pairs if p.case_id not in rated), None)

    def add(self, form: dict[str, str]) -> None:
        pair = self.by_id.get(form.get("case_id", ""))
        if pair is None:
            raise ValueError("unknown case")
        choice = form.get("choice")
        if choice not in ("a", "b", "tie"):
            raise ValueError("choice must be a, b or tie")
        scores: dict[str, int] = {}
        for side in ("a", "b"):
            for scale in SCALES:
                v = int(form.get(f"{side}_{scale}", "0"))
                if not 1 <= v <= 5:
                    raise ValueError(f"{side}_{scale} must be 1-5")
                scores[f"{side}_{scale}"] = v
        winner = {"a": pair.model_a, "b": pair.model_b}.get(choice)
        reviewer = form.get("reviewer", "")[:200]
        with self.con:  # one rating per (reviewer, case, model pair): a re-post replaces it
            self.con.execute(
                "DELETE FROM ratings WHERE reviewer = ? AND case_id = ? AND "
                "((model_a = ? AND model_b = ?) OR (model_a = ? AND model_b = ?))",
                (reviewer, pair.case_id, pair.model_a, pair.model_b, pair.model_b, pair.model_a),
            )
            self.con.execute(
                "INSERT INTO ratings (created, reviewer, case_id, model_a, model_b, choice, winner, a_quality, "
                "a_idiomatic, a_explanation, b_quality, b_idiomatic, b_explanation, comment) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    datetime.now(UTC).isoformat(timespec="seconds"),
                    reviewer,
                    pair.case_id,
                    pair.model_a,
                    pair.model_b,
                    choice,
                    winner,
                    *(scores[f"{s}_{k}"] for s in ("a", "b") for k in SCALES),
                    form.get("comment", "")[:5000],
                ),
            )


def create_app(
    eval_dir: str | Path, db: str | Path | None = None, models: Sequence[str] | None = None, seed: int = 0
) -> Any:
    """The FastAPI app: GET / shows the next unrated pair, POST /rate stores a rating."""
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

    eval_dir = Path(eval_dir)
    state = ReviewState(eval_dir, Path(db) if db else eval_dir / "review.sqlite", models, seed)
    app = FastAPI(title="bbjcoder review", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return render_page(state.next_pair(), len(state.rated()), len(state.pairs), state.token)

    @app.post("/rate")
    async def rate(request: Request) -> Response:
        # Cross-site posts are refused: a browser names the posting page's origin; ours is this host.
        own = f"http://{request.headers.get('host', '')}"
        origin = request.headers.get("origin") or request.headers.get("referer")
        if origin is not None and origin.rstrip("/") != own and not origin.startswith(own + "/"):
            return PlainTextResponse(f"refused: a form from {origin} cannot rate here", status_code=403)
        # urlencoded form parsed here: no python-multipart dependency for one small form
        body = (await request.body()).decode("utf-8", errors="replace")
        form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
        if not secrets.compare_digest(form.get("csrf", ""), state.token):
            return PlainTextResponse("refused: missing or stale form token; reload the page", status_code=403)
        try:
            state.add(form)
        except ValueError as exc:
            return PlainTextResponse(f"bad rating: {exc}", status_code=400)
        return RedirectResponse("/", status_code=303)

    @app.get("/ratings.jsonl", response_class=PlainTextResponse)
    def ratings() -> str:
        return "".join(json.dumps(r) + "\n" for r in export_ratings(state.con))

    app.state.review = state
    return app


def export_ratings(con: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every rating, oldest first, the latest one only per (reviewer, case, model pair) (databases
    written before re-posts replaced ratings may hold several)."""
    latest: dict[tuple[str, str, frozenset[str]], dict[str, Any]] = {}
    for r in con.execute("SELECT * FROM ratings ORDER BY id").fetchall():
        row = dict(r)
        latest[(row["reviewer"], row["case_id"], frozenset((row["model_a"], row["model_b"])))] = row
    return sorted(latest.values(), key=lambda row: row["id"])


def _mean(values: list[int]) -> float | None:
    return sum(values) / len(values) if values else None


def review_summary(db: Path) -> ReviewSummary:
    """Win-rate table: per (model, opponent) wins/ties/losses, win rate (tie = half) with a 95%
    Wilson interval, and the model's mean 1-5 scores."""
    con = connect(db)
    rows = export_ratings(con)
    con.close()
    tally: dict[tuple[str, str], _Tally] = {}
    for r in rows:
        for side, other in (("a", "b"), ("b", "a")):
            e = tally.setdefault((r[f"model_{side}"], r[f"model_{other}"]), _Tally())
            if r["choice"] == "tie":
                e.ties += 1
            elif r["choice"] == side:
                e.wins += 1
            else:
                e.losses += 1
            for s in SCALES:
                if r[f"{side}_{s}"] is not None:
                    e.scores[s].append(r[f"{side}_{s}"])
    out = []
    for (model, opponent), e in sorted(tally.items()):
        n = e.wins + e.ties + e.losses
        low, high = wilson_interval(e.wins + 0.5 * e.ties, n)
        out.append(
            ReviewRow(
                model=model,
                opponent=opponent,
                n=n,
                wins=e.wins,
                ties=e.ties,
                losses=e.losses,
                win_rate=(e.wins + 0.5 * e.ties) / n,
                low=low,
                high=high,
                quality=_mean(e.scores["quality"]),
                idiomatic=_mean(e.scores["idiomatic"]),
                explanation=_mean(e.scores["explanation"]),
            )
        )
    return ReviewSummary(ratings=len(rows), table=out)


@dataclass
class _Tally:
    wins: int = 0
    ties: int = 0
    losses: int = 0
    scores: dict[str, list[int]] = field(default_factory=lambda: {s: [] for s in SCALES})


def export(eval_dir: Path, db: Path | None = None, out: Path | None = None) -> tuple[Path, ReviewSummary]:
    """Write ratings.jsonl and put the win-rate table into report.json/report.md."""
    from bbjcoder.evaluate.report import REPORT_JSON, write_markdown

    db = db or eval_dir / "review.sqlite"
    if not db.exists():
        raise DataError("no ratings database", path=db, hint="run `bbjcoder review --eval DIR` first")
    con = connect(db)
    rows = export_ratings(con)
    con.close()
    out = out or eval_dir / "ratings.jsonl"
    atomic_write_jsonl(out, rows)
    summary = review_summary(db)
    report_path = eval_dir / REPORT_JSON
    if report_path.exists():
        report = _load_report(eval_dir).model_copy(update={"review": summary})
        report.save(report_path)
        write_markdown(eval_dir, report)
    return out, summary


def _load_report(eval_dir: Path) -> EvalReport:
    """eval_dir/report.json; a damaged one names the fix (the samples are kept, only the report is rewritten)."""
    try:
        return EvalReport.load(eval_dir / "report.json")
    except RecordError as exc:
        raise CorruptFile(
            exc.message,
            path=eval_dir / "report.json",
            hint=f"run the eval again into {eval_dir} (its samples are kept; only the report is rewritten)",
        ) from exc
