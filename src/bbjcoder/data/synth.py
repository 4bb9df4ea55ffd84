"""`bbjcoder data synth`: ask a teacher model for draft examples, filter them, queue them for review.

plan (gaps of the training set, an eval's weak cells, or topics) -> prompt (format rules, curated
style references, the user's source passages) -> teacher (`openai:MODEL@URL`, concurrent, retried,
within a token/cost budget) -> filters (filters.py) -> `training-data/_inbox/` (queued drafts with
a provenance sidecar) or `_inbox/_rejected/` (with the reason). A journal makes a run resumable:
finished items are never asked again.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, TypedDict, cast

from bbjcoder.data.filters import FILTERS, Filters, Verdict
from bbjcoder.data.schema import DIFFICULTIES, GENERATIONS, TYPES
from bbjcoder.errors import DataError, ServerError, UserError
from bbjcoder.fileio import atomic_write_bytes, atomic_write_json, atomic_write_text, read_jsonl

INBOX = Path("training-data/_inbox")
STATE_DIR = ".synth"  # inside the inbox: journal.jsonl, funnel.json
REJECTED_DIR = "_rejected"
DRAFT_PREFIX = "synth-"
TEMPLATE_NAME = "synth-v2"
GENERATION_LABELS = ("all", *GENERATIONS)
SOURCE_EXTENSIONS = (".md", ".markdown", ".txt", ".html", ".htm", ".bbj", ".src", ".bbl", ".bbx", ".txt")
_PASSAGE_CHARS = 1500
_STYLE_CHARS = 3500

SYSTEM_PROMPT = """\
You write training examples that teach a code model BBj (BASIS Business BASIC). Answer with exactly
one example file in the Markdown format below and nothing else: no greeting, no notes after it.

Format:
- The file starts with YAML front matter between two `---` lines with the fields title (a task,
  e.g. "Read a customer record by key"), type, generation, difficulty, tags (a list) and
  description (one sentence phrased as the user's request). A migration also has
  from_generation and to_generation; its generation is the target.
- Then `## Code`, then `## Expected Output` (console output) or `## Expected Behavior` (GUI or
  interactive programs; migrations may omit it), then `## Explanation`.
- Code blocks are fenced with ```bbj. A completion has one or more code blocks (or `### Prefix`,
  `### Completion` and optional `### Suffix`, one block each, that together form one program). A
  migration has `### Before (label)` and `### After (label)` subsections. Comprehension and
  explanation examples show code and explain it.
- Generations: character (PRINT @(x,y), mnemonics such as 'CS'), vpro5 (Visual PRO/5: SYSGUI
  channel, PRINT (sysgui)'WINDOW'(...), CTRL()), bbj-gui (BBjAPI().openSysGui("X0"), addWindow,
  setCallback, process_events), dwc (BBj DWC in the browser: getWebManager(), setStyle, CSS), all
  (portable code: strings, numbers, files, classes, SQL).

The code must be real, correct BBj that compiles with bbjcpl. Never invent functions or methods;
write a new example of your own, do not copy the references."""

USER_TEMPLATE = """\
{style}{sources}Write one new training example:
- type: {type}
- generation: {generation}
- difficulty: {difficulty}
- topic: {topic}
{notes}
Answer with this file, every TODO replaced by real content (start your answer with the line ---):

{skeleton}"""
# The source generation a migration to each target is asked from (gap and eval plans name only
# the target); `all` is a generation-neutral refactoring.
_MIGRATE_FROM = {"vpro5": "character", "bbj-gui": "vpro5", "dwc": "bbj-gui", "all": "all"}


def skeleton(task: Task) -> str:
    """The example file to fill in (the `data new` template for the task's type and labels)."""
    from bbjcoder.data.new import render_example

    migration = task.type == "migration"
    return render_example(
        title="TODO: a title phrased as a task",
        type=task.type,
        generation=[task.generation],
        difficulty=task.difficulty,
        tags=["TODO"],
        description="TODO: one sentence, the request a user would make",
        from_generation=_MIGRATE_FROM.get(task.generation, "character") if migration else None,
        to_generation=[task.generation] if migration else (),
    )


def template_hash() -> str:
    """The prompt template's identity in provenance: changes whenever the wording does."""
    return hashlib.sha256((SYSTEM_PROMPT + "\0" + USER_TEMPLATE).encode()).hexdigest()[:12]


# --- teacher --------------------------------------------------------------------------------------


def default_key_env(base_url: str) -> str:
    """The environment variable holding the key for `base_url`: each vendor's own for its API, and
    BBJCODER_API_KEY for every other server, so one vendor's key is never sent to another."""
    from urllib.parse import urlparse

    host = (urlparse(base_url).hostname or "").lower()
    if host == "api.openai.com" or host.endswith(".openai.com"):
        return "OPENAI_API_KEY"
    if host == "api.anthropic.com" or host.endswith(".anthropic.com"):
        return "ANTHROPIC_API_KEY"
    return "BBJCODER_API_KEY"


@dataclass(frozen=True)
class Answer:
    """A teacher's reply: the content as text (or raw bytes when it was not UTF-8) and its usage."""

    content: str | bytes
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = ""


class TeacherFailed(Exception):
    """A request that failed after every retry (the item is left for a later run)."""


class Teacher:
    """An OpenAI-compatible chat endpoint (`openai:MODEL@BASE_URL`) over httpx. Connection errors,
    timeouts, 429 and 5xx are retried with exponential backoff; other 4xx stop the run (a wrong key
    or model name would fail every request the same way)."""

    def __init__(
        self,
        spec: str,
        *,
        key_env: str | None = None,
        timeout_s: float = 120.0,
        retries: int = 4,
        backoff_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        kind, _, rest = spec.partition(":")
        model, at, base_url = rest.rpartition("@")
        if kind != "openai" or not at or not model or not base_url.startswith(("http://", "https://")):
            raise UserError(
                f"bad teacher {spec!r}",
                hint="use openai:MODEL@BASE_URL, e.g. openai:gpt-4o@https://api.openai.com/v1 or "
                "openai:bbj@http://127.0.0.1:8000/v1 (a `bbjcoder serve`)",
            )
        self.model, self.base_url = model, base_url.rstrip("/")
        self.key_env = key_env or default_key_env(self.base_url)
        key = os.environ.get(self.key_env)
        if key_env and not key:
            raise UserError(f"environment variable {key_env} is empty or unset", hint=f"export {key_env}=...")
        self._key = key or "none"
        self.timeout_s, self.retries, self.backoff_s, self._sleep = timeout_s, retries, backoff_s, sleep
        try:
            import httpx
        except ImportError as exc:  # pragma: no cover - the [serve] extra
            from bbjcoder.errors import DependencyError

            raise DependencyError("data synth needs httpx (pip install 'bbjcoder[serve]')") from exc
        self._httpx = httpx
        self.client = httpx.Client(timeout=timeout_s)

    @property
    def name(self) -> str:
        return f"{self.model}@{self.base_url}"

    def ask(
        self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float, seed: int
    ) -> Answer:
        httpx = self._httpx
        body = {
            "model": self.model,
            "messages": list(messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
            "seed": seed,
        }
        headers = {"Authorization": f"Bearer {self._key}"}
        last = ""
        for attempt in range(self.retries + 1):
            try:
                resp = self.client.post(f"{self.base_url}/chat/completions", json=body, headers=headers)
            except httpx.HTTPError as exc:  # connection refused, reset, timeout
                last = f"{type(exc).__name__}: {exc}"
            else:
                if resp.status_code == 200:
                    return _answer(resp.content, messages)
                if resp.status_code != 429 and resp.status_code < 500:
                    raise ServerError(
                        f"teacher {self.base_url} refused the request (HTTP {resp.status_code}): "
                        f"{resp.text[:300]}",
                        hint=f"check the model name and the key in ${self.key_env}",
                    )
                last = f"HTTP {resp.status_code}: {resp.text[:200]}"
            if attempt < self.retries:
                self._sleep(self.backoff_s * 2**attempt)
        raise TeacherFailed(f"teacher failed {self.retries + 1} times; last: {last}")

    def close(self) -> None:
        self.client.close()


def _answer(body: bytes, messages: Sequence[dict[str, str]]) -> Answer:
    """Parse a chat-completion body. Invalid UTF-8 inside the content is kept as bytes (a filter
    rejects it with its offset); a body that is not a completion at all fails the request."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("utf-8", errors="surrogateescape")  # keeps the bad bytes recoverable
    try:
        obj = json.loads(text)
        choice = obj["choices"][0]
        content = choice["message"]["content"] or ""
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise TeacherFailed(f"not a chat completion: {body[:200]!r}") from exc
    if not isinstance(content, str):
        raise TeacherFailed("not a chat completion: message.content is not a string")
    try:
        content.encode("utf-8")
    except UnicodeEncodeError:
        content_out: str | bytes = content.encode("utf-8", errors="surrogateescape")
    else:
        content_out = content
    usage = obj.get("usage") or {}
    prompt_tokens = usage.get("prompt_tokens")
    completion_tokens = usage.get("completion_tokens")
    if not isinstance(prompt_tokens, int):  # servers without usage: about four characters a token
        prompt_tokens = sum(len(m["content"]) for m in messages) // 4
    if not isinstance(completion_tokens, int):
        completion_tokens = len(content) // 4
    return Answer(content_out, prompt_tokens, completion_tokens, str(choice.get("finish_reason") or ""))


# --- sources --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Passage:
    """A piece of a user's document or program the teacher works from; `origin` is `path:line`."""

    origin: str
    text: str


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("p", "br", "pre", "li", "tr", "h1", "h2", "h3", "h4", "div"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1
        elif tag in ("p", "pre", "li", "tr", "h1", "h2", "h3", "h4", "div"):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_text(text: str) -> str:
    """The readable text of a saved help page (scripts and styles dropped, blocks on their lines)."""
    parser = _Text()
    parser.feed(text)
    out = html.unescape("".join(parser.parts))
    return re.sub(r"\n[ \t]*\n(\s*\n)+", "\n\n", out).strip()


def read_sources(paths: Sequence[Path]) -> list[Passage]:
    """Passages of at most ~1500 characters, split at blank lines, from files and directories."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SOURCE_EXTENSIONS)
        elif p.is_file():
            files.append(p)
        else:
            raise DataError("no such source file or directory", path=p)
    passages: list[Passage] = []
    for f in files:
        data = f.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("cp1252", errors="replace")  # legacy BBj sources; see data corpus
        if f.suffix.lower() in (".html", ".htm"):
            text = html_text(text)
        line, start = 1, 1
        chunk: list[str] = []
        for para in re.split(r"(\n[ \t]*\n)", text):
            if chunk and sum(len(c) for c in chunk) + len(para) > _PASSAGE_CHARS:
                passages.append(Passage(f"{f}:{start}", "".join(chunk).strip()))
                chunk, start = [], line
            chunk.append(para[:_PASSAGE_CHARS])
            line += para.count("\n")
        if "".join(chunk).strip():
            passages.append(Passage(f"{f}:{start}", "".join(chunk).strip()))
    return [p for p in passages if p.text]


_WORD = re.compile(r"[a-z][a-z0-9_]{2,}")


def pick_passages(passages: Sequence[Passage], query: str, key: str, k: int = 2) -> list[Passage]:
    """The `k` passages sharing most words with `query`; ties broken by a hash of `key` (stable)."""
    if not passages:
        return []
    words = set(_WORD.findall(query.lower()))

    def score(i: int) -> tuple[int, str]:
        shared = len(words & set(_WORD.findall(passages[i].text.lower())))
        return (-shared, hashlib.sha256(f"{key}\0{i}".encode()).hexdigest())

    return [passages[i] for i in sorted(range(len(passages)), key=score)[:k]]


# --- plan -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """One draft to ask for. `id` is stable across runs for the same request (the journal key)."""

    id: str
    type: str
    generation: str
    difficulty: str
    topic: str
    why: str  # the plan that asked for it: gap, eval or topic
    notes: tuple[str, ...] = ()


def make_task(
    type: str, generation: str, difficulty: str, topic: str, why: str, k: int, notes: Sequence[str] = ()
) -> Task:
    key = f"{TEMPLATE_NAME}\0{type}\0{generation}\0{difficulty}\0{topic}\0{k}"
    tid = f"{generation}-{type}-{difficulty}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"
    return Task(tid, type, generation, difficulty, topic, why, tuple(notes))


@dataclass(frozen=True)
class Curated:
    """A curated example as a style reference (and as a count for the gap plan)."""

    id: str
    type: str
    generations: tuple[str, ...]
    difficulty: str
    text: str


def read_curated(training_data: Path) -> list[Curated]:
    from bbjcoder.data.validate import validate_paths

    if not training_data.exists():
        return []
    out = []
    for f in validate_paths([training_data], check_code=False).files:
        front = f.example.front
        if front is None or not f.ok:
            continue
        text = Path(f.example.path).read_text(encoding="utf-8")
        out.append(
            Curated(f.example.id, front.type, front.generations(), front.difficulty or "intermediate", text)
        )
    return out


def cell_counts(curated: Sequence[Curated]) -> Counter[tuple[str, str, str]]:
    """(generation, type, difficulty) -> examples, an example counted under each of its labels."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for c in curated:
        for g in c.generations:
            counts[(g, c.type, c.difficulty)] += 1
    return counts


def plan_gaps(curated: Sequence[Curated], *, target: int) -> list[Task]:
    """Drafts for every generation × type × difficulty cell below `target`, the emptiest cells
    first and interleaved (so a limit spreads over cells instead of filling one)."""
    counts = cell_counts(curated)
    queues: list[list[Task]] = []
    cells = [(g, t, d) for g in GENERATION_LABELS for t in TYPES for d in DIFFICULTIES]
    cells.sort(key=lambda c: (counts[c], GENERATION_LABELS.index(c[0]), TYPES.index(c[1])))
    for g, t, d in cells:
        need = target - counts[(g, t, d)]
        if need <= 0 or (t == "migration" and g == "character"):
            continue  # nothing migrates *to* character UI
        topic = f"a {d} {t} example for {g} (the training set has {counts[(g, t, d)]} of {target})"
        queues.append([make_task(t, g, d, topic, "gap", k) for k in range(counts[(g, t, d)], target)])
    return _interleave(queues)


def plan_from_eval(
    source: str, *, runs_dir: Path, suite: str | None, cells: int, per_cell: int
) -> list[Task]:
    """Drafts for the weakest generation × type cells of an eval report (`data suggest`'s analysis).
    The prompt names the cell and the checker's complaints, never the eval prompts (held out)."""
    from bbjcoder.data.suggest import find_report, read_report, weakest_cells

    report = read_report(find_report(source, runs_dir=runs_dir, suite=suite))
    queues = []
    for cell in weakest_cells(report)[:cells]:
        diags = sorted({d.message for f in cell.failures for d in f.diagnostics if d.message})
        notes = [f"the model under test gets this wrong; teach against: {m}" for m in diags[:5]]
        diff = Counter(f.difficulty for f in cell.failures).most_common(1)[0][0]
        diff = diff if diff in DIFFICULTIES else "intermediate"
        topic = (
            f"a {cell.type} example for {cell.generation}: the fine-tuned model compiled only "
            f"{100 * cell.compile_rate:.0f}% of its samples in this area"
        )
        queues.append(
            [make_task(cell.type, cell.generation, diff, topic, "eval", k, notes) for k in range(per_cell)]
        )
    return _interleave(queues)


def plan_topics(
    topics: Sequence[str], *, type: str, generation: str, difficulty: str, per_topic: int
) -> list[Task]:
    return _interleave(
        [[make_task(type, generation, difficulty, t, "topic", k) for k in range(per_topic)] for t in topics]
    )


def _interleave(queues: Sequence[Sequence[Task]]) -> list[Task]:
    out: list[Task] = []
    for k in range(max((len(q) for q in queues), default=0)):
        out += [q[k] for q in queues if k < len(q)]
    return out


# --- prompts --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prompt:
    task: Task
    messages: tuple[dict[str, str], ...]
    passages: tuple[Passage, ...]
    styles: tuple[str, ...]  # ids of the curated examples shown

    @property
    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.messages, sort_keys=True).encode()).hexdigest()


def build_prompt(task: Task, *, curated: Sequence[Curated], passages: Sequence[Passage]) -> Prompt:
    """The chat messages for `task`: format rules, up to two style references of its type (and
    generation when there is one), up to two source passages."""
    same = [c for c in curated if c.type == task.type and task.generation in c.generations]
    pool = same or [c for c in curated if c.type == task.type] or list(curated)
    pool = sorted(pool, key=lambda c: hashlib.sha256(f"{task.id}\0{c.id}".encode()).hexdigest())
    styles = pool[:2] if task.type != "migration" else pool[:1]  # migrations are long
    chosen = pick_passages(passages, f"{task.topic} {task.generation} {task.type}", task.id)
    style = "".join(
        f"A curated example, for the format and style only:\n\n{c.text[:_STYLE_CHARS]}\n\n" for c in styles
    )
    sources = "".join(f"Source material ({p.origin}):\n\n{p.text}\n\n" for p in chosen)
    notes = "".join(f"- note: {n}\n" for n in task.notes)
    user = USER_TEMPLATE.format(
        style=style,
        sources=sources,
        type=task.type,
        generation=task.generation,
        difficulty=task.difficulty,
        topic=task.topic,
        notes=notes,
        skeleton=skeleton(task),
    )
    messages = ({"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user})
    return Prompt(task, messages, tuple(chosen), tuple(c.id for c in styles))


# --- budget and journal ---------------------------------------------------------------------------


@dataclass
class Budget:
    """A token and/or cost ceiling over the whole job (every run on this inbox, as journalled).
    Prices are USD per million tokens."""

    max_tokens: int | None = None
    max_usd: float | None = None
    price_in: float = 0.0
    price_out: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, prompt_tokens: int, completion_tokens: int) -> None:
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def usd(self) -> float:
        return (self.prompt_tokens * self.price_in + self.completion_tokens * self.price_out) / 1e6

    def exhausted(self) -> str | None:
        if self.max_tokens is not None and self.tokens >= self.max_tokens:
            return f"token budget reached ({self.tokens} of {self.max_tokens} tokens)"
        if self.max_usd is not None and self.usd >= self.max_usd:
            return f"cost budget reached (${self.usd:.4f} of ${self.max_usd:.4f})"
        return None


class _EntryCore(TypedDict):
    task: str
    status: str  # done | failed
    reason: str
    time: str


class JournalEntry(_EntryCore, total=False):
    """A line of the journal: a finished request (`done`: the filters' verdict) or a failed one."""

    stage: str  # the filter it failed, or "queued"
    draft: str
    prompt_tokens: int
    completion_tokens: int


class TokenCounts(TypedDict):
    prompt: int
    completion: int


class BudgetSpent(TypedDict):
    tokens: int
    usd: float


class _FunnelCore(TypedDict):
    funnel: dict[str, int]  # asked, returned, one row per filter, queued
    rejected: dict[str, int]  # "stage: reason kind" -> drafts
    tokens: TokenCounts


class FunnelSummary(_FunnelCore, total=False):
    """funnel.json: what `data synth` asked, what came back and where each draft left the funnel."""

    budget: BudgetSpent


class PassageJson(TypedDict):
    origin: str
    text: str


class TaskJson(TypedDict):
    id: str
    type: str
    generation: str
    difficulty: str
    topic: str
    why: str
    notes: list[str]


class _ProvenanceCore(TypedDict):
    task: TaskJson
    teacher: str
    template: str
    template_sha256: str
    prompt_sha256: str
    style_references: list[str]
    sources: list[PassageJson]
    created: str


class Provenance(_ProvenanceCore, total=False):
    """The sidecar `synth-*.json` of a draft: how it was asked for and what the filters said."""

    prompt_tokens: int | None
    completion_tokens: int | None
    finish_reason: str
    stage: str
    reason: str


class Journal:
    """Append-only JSONL of finished requests, flushed and fsynced per line: a killed run loses
    at most the requests in flight, and a new run skips every task with a `done` entry."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[JournalEntry] = []
        if path.exists():
            try:
                self.entries = [_entry(obj) for obj in read_jsonl(path) if "task" in obj]
            except DataError:  # a line cut by a kill mid-write: keep the complete ones
                self.entries = _complete_lines(path)
        self._lock = threading.Lock()
        # A line cut by a kill has no newline: the next entry must not be glued onto it.
        self._newline_first = (
            path.exists() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
        )

    def done(self) -> set[str]:
        return {e["task"] for e in self.entries if e.get("status") == "done"}

    def append(self, entry: JournalEntry) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                if self._newline_first:
                    fh.write("\n")
                    self._newline_first = False
                fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            self.entries.append(entry)

    def latest(self) -> dict[str, JournalEntry]:
        """The last entry per task (a failure followed by a success counts as the success)."""
        out: dict[str, JournalEntry] = {}
        for e in self.entries:
            out[e["task"]] = e
        return out


def _entry(obj: dict[str, Any]) -> JournalEntry:
    """A journal line as written by `Journal.append` (the journal is ours: only its shape is named)."""
    return cast(JournalEntry, obj)


def _complete_lines(path: Path) -> list[JournalEntry]:
    out = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and "task" in obj:
            out.append(_entry(obj))
    return out


# --- funnel ---------------------------------------------------------------------------------------


def funnel(journal: Journal) -> FunnelSummary:
    """Counts over every task the journal knows: asked, returned, passed each filter, queued, and
    the rejections grouped by stage and reason."""
    latest = list(journal.latest().values())
    rows: dict[str, int] = {"asked": len(latest)}
    returned = [e for e in latest if e["status"] == "done"]
    rows["returned"] = len(returned)
    alive = returned
    for stage in FILTERS:
        alive = [e for e in alive if e["stage"] != stage]
        rows[stage] = len(alive)
    rows["queued"] = sum(1 for e in returned if e["stage"] == "queued")
    reasons: Counter[str] = Counter()
    for e in latest:
        if e["status"] != "done":
            reasons["no answer: " + _reason_kind(e.get("reason", ""))] += 1
        elif e["stage"] != "queued":
            reasons[f"{e['stage']}: {_reason_kind(e['reason'])}"] += 1
    return {"funnel": rows, "rejected": dict(sorted(reasons.items())), "tokens": _tokens(journal)}


def _reason_kind(reason: str) -> str:
    m = re.search(r"lint ([\w-]+):", reason)
    if m:
        return m.group(1)
    if "BBj checker:" in reason:
        return "BBj checker"
    head = re.sub(r"^line \d+: ", "", reason)
    return re.split(r"[:(]", head, maxsplit=1)[0].strip() or "unknown"


def _tokens(journal: Journal) -> TokenCounts:
    return {
        "prompt": sum(int(e.get("prompt_tokens", 0)) for e in journal.entries),
        "completion": sum(int(e.get("completion_tokens", 0)) for e in journal.entries),
    }


# --- the run --------------------------------------------------------------------------------------


@dataclass
class SynthConfig:
    teacher: str
    inbox: Path = INBOX
    training_data: Path = Path("training-data")
    suites: tuple[Path, ...] = (Path("evals/bbj-core"),)
    sources: tuple[Path, ...] = ()
    key_env: str | None = None
    concurrency: int = 4
    retries: int = 4
    backoff_s: float = 1.0
    timeout_s: float = 120.0
    max_tokens: int = 1500
    temperature: float = 0.7
    seed: int = 1234
    limit: int | None = None
    budget: Budget = field(default_factory=Budget)
    contamination: float = 0.7


@dataclass
class SynthResult:
    asked_now: int
    skipped_done: int
    stopped: str | None
    summary: FunnelSummary
    queued_now: list[Path]


def run_synth(
    cfg: SynthConfig,
    tasks: Sequence[Task],
    *,
    teacher: Teacher | None = None,
    log: Callable[[str], None] = lambda _m: None,
) -> SynthResult:
    """Ask for every task not finished before, filter each answer, write drafts and the journal."""
    state = cfg.inbox / STATE_DIR
    journal = Journal(state / "journal.jsonl")
    done = journal.done()
    for e in journal.entries:
        cfg.budget.add(int(e.get("prompt_tokens", 0)), int(e.get("completion_tokens", 0)))
    pending = [t for t in tasks if t.id not in done]
    skipped = len(tasks) - len(pending)
    if cfg.limit is not None:
        pending = pending[: max(cfg.limit, 0)]
    curated = read_curated(cfg.training_data)
    passages = read_sources(list(cfg.sources))
    filters = Filters.load(
        training_data=[cfg.training_data], suites=list(cfg.suites), contamination=cfg.contamination
    )
    for draft in sorted(cfg.inbox.glob(f"{DRAFT_PREFIX}*.md")):  # queued by earlier runs
        verdict = filters.run(draft.read_bytes(), draft_id=draft.stem)
        if verdict.record is not None:
            filters.accept(verdict.record)
    own_teacher = teacher is None
    teacher = teacher or Teacher(
        cfg.teacher,
        key_env=cfg.key_env,
        timeout_s=cfg.timeout_s,
        retries=cfg.retries,
        backoff_s=cfg.backoff_s,
    )
    try:
        return _ask_all(cfg, teacher, journal, filters, pending, skipped, curated, passages, log)
    finally:
        if own_teacher:
            teacher.close()


def _ask_all(
    cfg: SynthConfig,
    teacher: Teacher,
    journal: Journal,
    filters: Filters,
    pending: Sequence[Task],
    skipped: int,
    curated: Sequence[Curated],
    passages: Sequence[Passage],
    log: Callable[[str], None],
) -> SynthResult:
    """The request loop: at most `concurrency` in flight, the budget checked before each send;
    answers are filtered and journalled one at a time, in the order they arrive."""
    stopped: str | None = None
    asked = 0
    queued_now: list[Path] = []
    queue = iter(pending)
    futures: dict[Future[Answer], Prompt] = {}
    with ThreadPoolExecutor(max_workers=max(cfg.concurrency, 1)) as pool:
        try:
            while True:
                while len(futures) < max(cfg.concurrency, 1) and stopped is None:
                    stopped = cfg.budget.exhausted()
                    if stopped:
                        break
                    task = next(queue, None)
                    if task is None:
                        break
                    prompt = build_prompt(task, curated=curated, passages=passages)
                    fut = pool.submit(
                        teacher.ask,
                        prompt.messages,
                        max_tokens=cfg.max_tokens,
                        temperature=cfg.temperature,
                        seed=cfg.seed,
                    )
                    futures[fut] = prompt
                    asked += 1
                if not futures:
                    break
                finished, _ = wait(list(futures), return_when=FIRST_COMPLETED)
                for fut in finished:
                    prompt = futures.pop(fut)
                    path = _finish(cfg, teacher, journal, filters, prompt, fut, log)
                    if path is not None:
                        queued_now.append(path)
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
    summary = funnel(journal)
    summary["budget"] = {"tokens": cfg.budget.tokens, "usd": round(cfg.budget.usd, 6)}
    atomic_write_json(journal.path.with_name("funnel.json"), summary)
    return SynthResult(asked, skipped, stopped, summary, queued_now)


def _finish(
    cfg: SynthConfig,
    teacher: Teacher,
    journal: Journal,
    filters: Filters,
    prompt: Prompt,
    fut: Future[Answer],
    log: Callable[[str], None],
) -> Path | None:
    task = prompt.task
    provenance: Provenance = {
        "task": TaskJson(
            id=task.id,
            type=task.type,
            generation=task.generation,
            difficulty=task.difficulty,
            topic=task.topic,
            why=task.why,
            notes=list(task.notes),
        ),
        "teacher": teacher.name,
        "template": TEMPLATE_NAME,
        "template_sha256": template_hash(),
        "prompt_sha256": prompt.sha256,
        "style_references": list(prompt.styles),
        "sources": [{"origin": p.origin, "text": p.text} for p in prompt.passages],
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    try:
        answer = fut.result()
    except TeacherFailed as exc:
        log(f"{task.id}: {exc}")
        journal.append(
            {"task": task.id, "status": "failed", "reason": str(exc), "time": provenance["created"]}
        )
        return None
    cfg.budget.add(answer.prompt_tokens, answer.completion_tokens)
    draft_id = DRAFT_PREFIX + task.id
    verdict: Verdict = filters.run(answer.content, draft_id=draft_id)
    provenance["prompt_tokens"] = answer.prompt_tokens
    provenance["completion_tokens"] = answer.completion_tokens
    provenance["finish_reason"] = answer.finish_reason
    provenance["stage"] = verdict.stage
    provenance["reason"] = verdict.reason
    if verdict.queued:
        assert verdict.record is not None
        filters.accept(verdict.record)
        path = cfg.inbox / f"{draft_id}.md"
        atomic_write_json(path.with_suffix(".json"), provenance)
        atomic_write_text(path, verdict.text)
    else:
        path = cfg.inbox / REJECTED_DIR / f"{draft_id}.md"
        raw = answer.content if isinstance(answer.content, bytes) else answer.content.encode("utf-8")
        # What came back, as it came back (bytes, so invalid UTF-8 survives for inspection).
        atomic_write_bytes(path.with_suffix(".answer"), raw)
        atomic_write_json(path.with_suffix(".json"), provenance)
        log(f"{task.id}: rejected at {verdict.stage}: {verdict.reason}")
    journal.append(
        {
            "task": task.id,
            "status": "done",
            "stage": verdict.stage,
            "reason": verdict.reason,
            "draft": str(path if verdict.queued else path.with_suffix(".answer")),
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens,
            "time": provenance["created"],
        }
    )
    return path if verdict.queued else None


def synth_command(
    cfg: SynthConfig,
    *,
    topics: Sequence[str] = (),
    from_eval: str | None = None,
    runs_dir: Path = Path("runs"),
    suite: str | None = None,
    cells: int = 3,
    per_cell: int = 2,
    target: int = 5,
    type: str = "completion",
    generation: str = "all",
    difficulty: str = "intermediate",
    per_topic: int = 1,
    dry_run: bool = False,
) -> int:
    """`bbjcoder data synth`: plan, ask, filter, print the funnel. Exit 0 (also when the budget
    stopped the run: run it again with a larger budget to continue)."""
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if topics:
        tasks = plan_topics(
            topics, type=type, generation=generation, difficulty=difficulty, per_topic=per_topic
        )
    elif from_eval:
        tasks = plan_from_eval(from_eval, runs_dir=runs_dir, suite=suite, cells=cells, per_cell=per_cell)
    else:
        tasks = plan_gaps(read_curated(cfg.training_data), target=target)
    if dry_run:
        shown = tasks[: cfg.limit] if cfg.limit is not None else tasks
        for t in shown:
            console.print(f"{t.id}  {t.generation} × {t.type} × {t.difficulty}: {t.topic}")
        console.print(f"synth: {len(shown)} drafts planned (dry run: nothing asked)")
        return 0
    result = run_synth(cfg, tasks, log=lambda m: err.print(m, markup=False))
    rows = result.summary["funnel"]
    table = Table(title=f"synth funnel ({cfg.inbox})")
    table.add_column("stage")
    table.add_column("drafts", justify="right")
    names = {"asked": "asked", "returned": "returned", "queued": "queued for review"}
    for key, n in rows.items():
        table.add_row(names.get(key, f"passed {key}"), str(n))
    console.print(table)
    if result.summary["rejected"]:
        rej = Table(title="rejected, by reason (kept in _rejected/ with the reason)")
        rej.add_column("stage: reason")
        rej.add_column("drafts", justify="right")
        for reason, n in result.summary["rejected"].items():
            rej.add_row(reason, str(n))
        console.print(rej)
    console.print(
        f"synth: asked {result.asked_now} now ({result.skipped_done} finished before, skipped), "
        f"{len(result.queued_now)} new drafts queued in {cfg.inbox}/; "
        f"tokens {cfg.budget.tokens} (${cfg.budget.usd:.4f}); review them with `bbjcoder data review`"
    )
    if result.stopped:
        err.print(f"[yellow]stopped:[/] {result.stopped}; raise the budget and run again to continue")
    return 0


def queued_drafts(inbox: Path) -> list[Path]:
    """The drafts waiting for review: `synth-*.md` with their provenance sidecar."""
    return [p for p in sorted(inbox.glob(f"{DRAFT_PREFIX}*.md")) if p.with_suffix(".json").is_file()]
