"""`bbjcoder data review`: a local web page where a person accepts, edits or rejects teacher drafts.

One draft at a time with its source passages and the checker's and lint's verdicts, re-run as the
reviewer types. Edits are saved to SQLite as they are made (a reload never loses one); decisions
are stored with who and when. Accepted drafts move into `training-data/synthetic/` with
`source: synthetic`, `teacher` and `reviewed_by` in the front matter; rejected ones go to
`_inbox/_archive/rejected/` with the reason.
"""

from __future__ import annotations

import html
import json
import secrets
import shutil
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict, cast

from fastapi import Request  # module level: FastAPI resolves the handler's annotation by name

from bbjcoder.data.filters import PROVENANCE_KEYS, clean_markdown
from bbjcoder.data.synth import Provenance, queued_drafts
from bbjcoder.errors import DataError
from bbjcoder.fileio import atomic_write_json, atomic_write_text

ARCHIVE = "_archive"
DEST_TOPIC = "synthetic"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS edits (
    draft TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    reviewer TEXT NOT NULL DEFAULT '',
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    draft TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('accept', 'edit-accept', 'reject')),
    reason TEXT NOT NULL DEFAULT '',
    reviewer TEXT NOT NULL,
    created TEXT NOT NULL,
    destination TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL
);
"""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Draft:
    id: str
    path: Path
    text: str
    provenance: Provenance


class ProblemRow(TypedDict):
    line: int
    severity: str
    message: str


class LiveCheck(TypedDict):
    """What /api/check answers: may the draft be accepted, and the problems in its current text."""

    ok: bool
    errors: int
    warnings: int
    problems: list[ProblemRow]


def live_check(text: str, draft_id: str = "draft") -> LiveCheck:
    """What the reviewer sees beside the editor: format, BBj checker, lint and generation-label
    problems of the current text. `ok` is False while any error remains."""
    from bbjcoder.data.checker import get_checker
    from bbjcoder.data.validate import validate_text

    checker = get_checker()
    example, problems = validate_text(
        clean_markdown(text),
        path=f"{draft_id}.md",
        example_id=f"{DEST_TOPIC}/{draft_id}",
        checker=checker,
        detect=checker.detect_generations if checker else None,
    )
    rows = [ProblemRow(line=p.line, severity=p.severity, message=p.message) for p in problems]
    errors = sum(1 for p in problems if p.is_error)
    # A label the detector contradicts rejected the draft in the funnel: it blocks acceptance too.
    label = [p for p in problems if not p.is_error and " but the code " in p.message]
    return {
        "ok": example.front is not None and errors == 0 and not label,
        "errors": errors + len(label),
        "warnings": len(problems) - errors - len(label),
        "problems": rows,
    }


def with_provenance(text: str, *, teacher: str, reviewer: str) -> str:
    """The accepted file: the draft's front matter plus source, teacher and reviewed_by."""
    lines = clean_markdown(text).split("\n")
    end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    added = [
        "source: synthetic",
        f"teacher: {json.dumps(teacher)}",
        f"reviewed_by: {json.dumps(reviewer)}",
    ]
    return "\n".join([*lines[:end], *added, *lines[end:]])


class ReviewQueue:
    """The drafts in an inbox, the edits and decisions database, and the moves on a decision."""

    def __init__(self, inbox: Path, training_data: Path, db: Path | None = None) -> None:
        if not inbox.is_dir():
            raise DataError("no inbox here", path=inbox, hint="run `bbjcoder data synth` first")
        self.inbox, self.training_data = inbox, training_data
        self.db_path = db or inbox / "review.sqlite"
        self.con = sqlite3.connect(self.db_path, check_same_thread=False)
        self.con.row_factory = sqlite3.Row
        self.con.executescript(_SCHEMA)
        self.lock = threading.Lock()
        self.token = secrets.token_urlsafe(16)

    def drafts(self) -> list[Draft]:
        out = []
        for p in queued_drafts(self.inbox):
            prov = cast(Provenance, json.loads(p.with_suffix(".json").read_text(encoding="utf-8")))
            out.append(Draft(p.stem, p, p.read_text(encoding="utf-8"), prov))
        return out

    def get(self, draft_id: str) -> Draft | None:
        return next((d for d in self.drafts() if d.id == draft_id), None)

    def decided(self) -> int:
        return int(self.con.execute("SELECT COUNT(DISTINCT draft) FROM decisions").fetchone()[0])

    def saved_edit(self, draft_id: str) -> str | None:
        row = self.con.execute("SELECT text FROM edits WHERE draft = ?", (draft_id,)).fetchone()
        return row["text"] if row else None

    def save_edit(self, draft_id: str, text: str, reviewer: str) -> None:
        with self.lock, self.con:
            self.con.execute(
                "INSERT INTO edits (draft, text, reviewer, updated) VALUES (?,?,?,?) "
                "ON CONFLICT(draft) DO UPDATE SET text=excluded.text, reviewer=excluded.reviewer, "
                "updated=excluded.updated",
                (draft_id, text, reviewer[:200], now()),
            )

    def accept(self, draft: Draft, text: str, reviewer: str) -> Path:
        """Move the (possibly edited) draft into training-data/synthetic/ with its provenance."""
        check = live_check(text, draft.id)
        if not check["ok"]:
            raise ValueError(f"the draft still has {check['errors']} problem(s); fix them first")
        from bbjcoder.data.markdown import parse_example
        from bbjcoder.data.new import slugify

        example, _ = parse_example(clean_markdown(text), path=draft.id, example_id=draft.id)
        assert example.front is not None
        dest_dir = self.training_data / DEST_TOPIC
        slug = slugify(example.front.title)
        dest = dest_dir / f"{slug}.md"
        k = 2
        while dest.exists():
            dest, k = dest_dir / f"{slug}-{k}.md", k + 1
        atomic_write_text(
            dest,
            with_provenance(text, teacher=str(draft.provenance.get("teacher", "unknown")), reviewer=reviewer),
        )
        edited = clean_markdown(text) != clean_markdown(draft.text)
        self._archive(
            draft, "accepted", {"destination": str(dest), "reviewed_by": reviewer, "edited": edited}
        )
        self._decide(draft.id, "edit-accept" if edited else "accept", "", reviewer, str(dest), text)
        return dest

    def reject(self, draft: Draft, reason: str, reviewer: str, text: str) -> Path:
        if not reason.strip():
            raise ValueError("a rejection needs a reason")
        path = self._archive(draft, "rejected", {"reason": reason, "reviewed_by": reviewer})
        self._decide(draft.id, "reject", reason, reviewer, "", text)
        return path

    def _archive(self, draft: Draft, kind: str, extra: dict[str, str | bool]) -> Path:
        target = self.inbox / ARCHIVE / kind
        target.mkdir(parents=True, exist_ok=True)
        atomic_write_json(
            target / f"{draft.id}.json", {**draft.provenance, "review": {**extra, "time": now()}}
        )
        moved = target / draft.path.name
        shutil.move(str(draft.path), moved)
        draft.path.with_suffix(".json").unlink(missing_ok=True)
        return moved

    def _decide(self, draft_id: str, decision: str, reason: str, reviewer: str, dest: str, text: str) -> None:
        with self.lock, self.con:
            self.con.execute(
                "INSERT INTO decisions (draft, decision, reason, reviewer, created, destination, text) "
                "VALUES (?,?,?,?,?,?,?)",
                (draft_id, decision, reason[:2000], reviewer[:200], now(), dest, text),
            )
            self.con.execute("DELETE FROM edits WHERE draft = ?", (draft_id,))


_CSS = """
body{font-family:system-ui,sans-serif;margin:1.2rem;background:#fafafa;color:#222}
.cols{display:flex;gap:1rem}.col{flex:1;min-width:0}
textarea{width:100%;height:60vh;font-family:ui-monospace,monospace;font-size:13px}
.passage{background:#fff;border:1px solid #ddd;padding:.5rem;white-space:pre-wrap;font-size:12px;max-height:30vh;overflow:auto}
#verdict.ok{color:#176f2c}#verdict.bad{color:#a11}.problems li.error{color:#a11}.problems li.warning{color:#8a6d00}
button{font-size:1rem;padding:.3rem 1rem;margin:.3rem .3rem 0 0}kbd{border:1px solid #aaa;padding:0 .2rem;border-radius:3px}
"""

_JS = """
const D = JSON.parse(document.getElementById('data').textContent);
const ed = document.getElementById('editor'), who = document.getElementById('reviewer');
const key = 'bbjcoder-review:' + D.draft;
who.value = localStorage.getItem('bbjcoder-reviewer') || '';
who.addEventListener('input', () => localStorage.setItem('bbjcoder-reviewer', who.value));
let timer = null, seq = 0;
async function post(url, body) {
  const r = await fetch(url, {method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify(Object.assign({draft: D.draft, csrf: D.csrf}, body))});
  return [r.status, await r.json()];
}
function show(v) {
  const el = document.getElementById('verdict');
  el.className = v.ok ? 'ok' : 'bad';
  el.textContent = v.ok ? 'checks pass (' + v.warnings + ' warnings)' : v.errors + ' problem(s)';
  const ul = document.getElementById('problems'); ul.innerHTML = '';
  for (const p of v.problems) {
    const li = document.createElement('li'); li.className = p.severity;
    li.textContent = 'line ' + p.line + ': ' + p.severity + ': ' + p.message; ul.appendChild(li);
  }
  document.getElementById('accept').disabled = !v.ok;
}
async function check() {
  const mine = ++seq;
  const [, v] = await post('/api/check', {text: ed.value, reviewer: who.value});
  if (mine === seq) { show(v); localStorage.removeItem(key); }
}
ed.addEventListener('input', () => {
  localStorage.setItem(key, ed.value);  // kept even if the server is gone before the check
  document.getElementById('verdict').textContent = 'checking...';
  clearTimeout(timer); timer = setTimeout(check, 300);
});
async function decide(decision) {
  if (!who.value.trim()) { alert('enter your name as reviewer first'); who.focus(); return; }
  const reason = document.getElementById('reason').value;
  if (decision === 'reject' && !reason.trim()) { document.getElementById('reason').focus(); return; }
  const [status, r] = await post('/api/decide', {decision, text: ed.value, reason, reviewer: who.value});
  if (status === 200) { localStorage.removeItem(key); location.href = '/'; }
  else { document.getElementById('message').textContent = r.error || 'refused'; if (r.check) show(r.check); }
}
document.getElementById('accept').addEventListener('click', () => decide('accept'));
document.getElementById('reject').addEventListener('click', () => decide('reject'));
document.getElementById('skip').addEventListener('click', () => { location.href = D.next; });
document.addEventListener('keydown', (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') { e.preventDefault(); decide('accept'); return; }
  if ((e.ctrlKey || e.metaKey) && e.key === 's') { e.preventDefault(); check(); return; }
  const typing = ['TEXTAREA', 'INPUT'].includes(document.activeElement.tagName);
  if (typing && e.key === 'Escape') { document.activeElement.blur(); return; }
  if (typing) return;
  if (e.key === 'a') decide('accept');
  else if (e.key === 'r') { e.preventDefault(); document.getElementById('reason').focus(); }
  else if (e.key === 'n') location.href = D.next;
  else if (e.key === 'e') { e.preventDefault(); ed.focus(); }
});
const local = localStorage.getItem(key);
if (local !== null && local !== ed.value) { ed.value = local; check(); } else { show(D.check); }
"""


def render_page(queue: ReviewQueue, draft: Draft | None, next_id: str | None) -> str:
    head = (
        "<!doctype html><html><head><meta charset='utf-8'><title>bbjcoder data review</title>"
        f"<style>{_CSS}</style></head><body>"
    )
    remaining = len(queue.drafts())
    decided = queue.decided()
    progress = f"{decided} of {decided + remaining} reviewed"
    if draft is None:
        return head + f"<h1>Inbox empty</h1><p id='progress'>{progress}</p></body></html>"
    text = queue.saved_edit(draft.id)
    text = draft.text if text is None else text
    prov = draft.provenance
    passages = (
        "".join(
            f"<h4>{html.escape(p['origin'])}</h4><div class='passage'>{html.escape(p['text'])}</div>"
            for p in prov.get("sources", [])
        )
        or "<p>(no source passages: drafted from the plan and style references only)</p>"
    )
    task = prov.get("task", {})
    data = {
        "draft": draft.id,
        "csrf": queue.token,
        "next": f"/?draft={next_id}" if next_id else "/",
        "check": live_check(text, draft.id),
    }
    payload = json.dumps(data).replace("</", "<\\/")  # no `</script>` inside the data block
    return (
        head
        + f"<h1>Draft review <span id='progress'>{progress}</span></h1>"
        + f"<p>Draft <code id='draft-id'>{html.escape(draft.id)}</code> from "
        + f"<code>{html.escape(str(prov.get('teacher', '?')))}</code>, asked for "
        + html.escape(
            f"{task.get('generation')} × {task.get('type')} × {task.get('difficulty')}: {task.get('topic')}"
        )
        + "</p><div class='cols'><div class='col'>"
        + f"<textarea id='editor' spellcheck='false'>{html.escape(text)}</textarea>"
        + "<p><label>Reviewer <input id='reviewer' autocomplete='name'></label> "
        + "<label>Reason (for a rejection) <input id='reason' size='50'></label></p>"
        + "<button id='accept'>Accept <kbd>a</kbd> / <kbd>Ctrl+Enter</kbd></button>"
        + "<button id='reject'>Reject <kbd>r</kbd> (with a reason)</button>"
        + "<button id='skip'>Next <kbd>n</kbd></button> <kbd>e</kbd> edit, <kbd>Esc</kbd> leave the editor"
        + "<p id='message'></p></div><div class='col'><h3>Checks <span id='verdict'></span></h3>"
        + "<ul class='problems' id='problems'></ul><h3>Source passages</h3>"
        + passages
        + f"<p>Style references: {html.escape(', '.join(prov.get('style_references', [])) or 'none')}</p>"
        + f"<p id='provenance'>Prompt template {html.escape(str(prov.get('template', '?')))} "
        + f"({html.escape(str(prov.get('template_sha256', '?')))}), prompt sha256 "
        + f"{html.escape(str(prov.get('prompt_sha256', '?'))[:16])}…, "
        + f"{prov.get('prompt_tokens', '?')} + {prov.get('completion_tokens', '?')} tokens</p>"
        + "</div></div>"
        + f"<script type='application/json' id='data'>{payload}</script>"
        + f"<script>{_JS}</script></body></html>"
    )


def create_app(
    inbox: str | Path, training_data: str | Path = "training-data", db: str | Path | None = None
) -> Any:
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

    queue = ReviewQueue(Path(inbox), Path(training_data), Path(db) if db else None)
    app = FastAPI(title="bbjcoder data review", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/", response_class=HTMLResponse)
    def index(draft: str | None = None) -> str:
        drafts = queue.drafts()
        ids = [d.id for d in drafts]
        current = next((d for d in drafts if d.id == draft), drafts[0] if drafts else None)
        nxt = None
        if current is not None and len(ids) > 1:
            nxt = ids[(ids.index(current.id) + 1) % len(ids)]
        return render_page(queue, current, nxt)

    async def _body(request: Request) -> dict[str, object] | Response:
        own = f"http://{request.headers.get('host', '')}"
        origin = request.headers.get("origin")
        if origin is not None and origin.rstrip("/") != own:
            return PlainTextResponse(f"refused: a page from {origin} cannot post here", status_code=403)
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "expected a JSON body"}, status_code=400)
        if not isinstance(body, dict) or not secrets.compare_digest(str(body.get("csrf", "")), queue.token):
            return JSONResponse({"error": "missing or stale page token; reload the page"}, status_code=403)
        return body

    @app.post("/api/check")
    async def check(request: Request) -> Response:
        body = await _body(request)
        if isinstance(body, Response):
            return body
        draft_id, text = str(body.get("draft", "")), body.get("text")
        if queue.get(draft_id) is None or not isinstance(text, str):
            return JSONResponse({"error": "unknown draft or no text"}, status_code=404)
        queue.save_edit(draft_id, text, str(body.get("reviewer", "")))
        return JSONResponse(live_check(text, draft_id))

    @app.post("/api/decide")
    async def decide(request: Request) -> Response:
        body = await _body(request)
        if isinstance(body, Response):
            return body
        draft = queue.get(str(body.get("draft", "")))
        text, reviewer = body.get("text"), str(body.get("reviewer", "")).strip()
        if draft is None or not isinstance(text, str):
            return JSONResponse({"error": "unknown draft (decided already?) or no text"}, status_code=404)
        if not reviewer:
            return JSONResponse({"error": "name the reviewer"}, status_code=400)
        try:
            if body.get("decision") == "accept":
                dest = queue.accept(draft, text, reviewer)
            elif body.get("decision") == "reject":
                dest = queue.reject(draft, str(body.get("reason", "")), reviewer, text)
            else:
                return JSONResponse({"error": "decision must be accept or reject"}, status_code=400)
        except ValueError as exc:
            return JSONResponse({"error": str(exc), "check": live_check(text, draft.id)}, status_code=409)
        return JSONResponse({"ok": True, "path": str(dest)})

    app.state.queue = queue
    return app


def review_command(inbox: Path, training_data: Path, *, port: int, db: Path | None) -> None:
    from rich.console import Console

    from bbjcoder.loopback import serve_on_loopback

    app = create_app(inbox, training_data, db)
    queue: ReviewQueue = app.state.queue
    Console(highlight=False).print(
        f"data review: {len(queue.drafts())} drafts waiting in {inbox}/ — http://127.0.0.1:{port}/ (Ctrl-C to stop)"
    )
    serve_on_loopback(app, port)


__all__ = ["PROVENANCE_KEYS", "ReviewQueue", "create_app", "live_check", "review_command"]
