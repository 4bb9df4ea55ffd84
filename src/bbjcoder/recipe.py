"""Running a recipe of stages: a resume rule per stage, one log file per stage, a Rich display.

A stage is skipped when its entry in the record is done, the hash of its inputs (files and
parameters) still matches and its outputs exist; on changed inputs its stale partial results are
removed first. Each stage's prints (and those of the libraries it calls) go to its log file; the
display keeps the terminal: on a terminal one Rich Live view, elsewhere one line per stage event.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from bbjcoder.errors import UserError
from bbjcoder.records.demo import DemoStages, StageEntry, input_hash

STYLE = {"pending": "dim", "running": "bold yellow", "done": "green", "resumed": "cyan"}
STYLE |= {"failed": "bold red", "warning": "yellow"}


class Display:
    """The stage list (status, time, detail) and the running stage's own progress bar."""

    def __init__(self, console: Console, titles: Mapping[str, str]) -> None:
        self.console, self.live = console, console.is_terminal
        self.rows = {
            name: {"title": title, "status": "pending", "detail": ""} for name, title in titles.items()
        }
        self.times: dict[str, tuple[float | None, float | None]] = {}  # name -> (seconds, started)
        cols = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        self.progress = Progress(*cols, TimeElapsedColumn(), console=console)
        self.task = self.progress.add_task("", total=None)
        self.active = False  # a stage is running: show its progress bar

    def __rich__(self) -> Group:
        table = Table("stage", "status", "time", "detail", box=None, pad_edge=False, header_style="bold")
        for name, row in self.rows.items():
            secs, started = self.times.get(name, (None, None))
            secs = time.monotonic() - started if row["status"] == "running" and started else secs
            style = STYLE.get(row["status"], "")
            when = f"{secs:.1f} s" if secs is not None else ""
            table.add_row(row["title"], f"[{style}]{row['status']}[/]", when, row["detail"])
        return Group(table, self.progress) if self.active else Group(table)

    def start(self, name: str) -> None:
        self.rows[name]["status"] = "running"
        self.times[name] = (None, time.monotonic())
        # A fresh task: Progress.update cannot set a known total back to "unknown".
        self.progress.remove_task(self.task)
        self.task = self.progress.add_task(self.rows[name]["title"], total=None)
        self.active = True
        if not self.live:
            self.console.print(f"[bold]{self.rows[name]['title']}[/] ...", highlight=False)

    def update(
        self, *, completed: float | None = None, total: float | None = None, description: str = ""
    ) -> None:
        """The running stage's progress: `completed` of `total` (None: unknown), what it does now."""
        self.progress.update(self.task, completed=completed, total=total, description=description or None)

    def finish(self, name: str, status: str, seconds: float | None, detail: str = "") -> None:
        row = self.rows[name]
        row["status"], row["detail"] = status, detail or row["detail"]
        self.times[name] = (seconds, None)
        self.active = False
        if not self.live:
            secs = f" ({seconds:.1f} s)" if seconds is not None else ""
            self.console.print(
                f"  [{STYLE.get(status, '')}]{status}[/]{secs} {row['detail']}", highlight=False
            )


@dataclass(frozen=True)
class Outcome:
    """What a finished stage reports: a line for the display, data for the record, a warning."""

    detail: str = ""
    result: Mapping[str, object] = field(default_factory=dict)  # JSON-able
    warning: str = ""  # non-empty: done, but something was left out (shown as "warning")


@dataclass(frozen=True)
class Stage:
    """One step: how to run it, what it reads (for the hash) and what it must leave."""

    name: str
    title: str
    run: Callable[[Display], Outcome]
    inputs: Sequence[Path] = ()
    params: object = None
    outputs: Sequence[Path] = ()
    stale: Sequence[Path] = ()  # removed before the stage runs again on changed inputs
    always: bool = False  # run on every call (the report)
    reset: Callable[[], None] | None = None  # forget earlier progress before a fresh start


def _now() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")


class Runner:
    """Runs `stages` in order into `root`, keeping `root/<record_name>` (a DemoStages) up to date."""

    def __init__(
        self, root: Path, record_name: str, record: DemoStages, console: Console, stages: Sequence[Stage]
    ) -> None:
        self.root, self.path, self.record, self.stages = root, root / record_name, record, stages
        console.file = console.file  # pin it to the terminal: during a stage sys.stderr is the stage log
        self.display = Display(console, {s.name: s.title for s in stages})

    def run_all(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.save()
        live = Live(self.display, console=self.display.console, refresh_per_second=4, redirect_stdout=False)
        # Log files stay open until the end: a logging handler made during a stage keeps writing to it.
        with live if self.display.live else contextlib.nullcontext(), contextlib.ExitStack() as self.logs:
            for stage in self.stages:
                self.run(stage)

    def save(self, **update: object) -> None:
        self.record = self.record.model_copy(update=update)
        self.record.save(self.path)

    def set(self, name: str, entry: StageEntry) -> None:
        self.save(stages={**self.record.stages, name: entry})

    def run(self, stage: Stage) -> None:
        prev = self.record.stages.get(stage.name)
        ihash = input_hash(list(stage.inputs), stage.params)
        done = all(p.exists() for p in stage.outputs)
        if not stage.always and prev and prev.status == "done" and prev.input_hash == ihash and done:
            self.display.finish(stage.name, "resumed", prev.seconds, f"(finished earlier) {prev.detail}")
            return self.set(stage.name, prev.model_copy(update={"resumed_at": _now()}))
        if prev is None or prev.input_hash != ihash:  # partial results of other inputs must not resume
            for p in stage.stale if prev else ():
                shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
            if stage.reset:
                stage.reset()
        log = f"stage-logs/{stage.name}.log"
        entry = StageEntry(status="running", title=stage.title, input_hash=ihash, started=_now(), log=log)
        self.set(stage.name, entry)
        self.display.start(stage.name)
        t0 = time.monotonic()
        (self.root / log).parent.mkdir(parents=True, exist_ok=True)
        fh = self.logs.enter_context((self.root / log).open("a", encoding="utf-8"))
        try:
            with contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
                out = stage.run(self.display)
        except BaseException as exc:
            secs = round(time.monotonic() - t0, 2)
            self.set(
                stage.name,
                entry.model_copy(
                    update={"status": "failed", "seconds": secs, "error": f"{type(exc).__name__}: {exc}"}
                ),
            )
            self.display.finish(stage.name, "failed", secs, str(exc)[:200])
            if isinstance(exc, UserError):
                hint = f"see {self.root / log}; re-run `bbjcoder demo` to resume"
                msg = f"demo stage {stage.name!r} failed: {exc.message}"
                raise UserError(msg, path=exc.path, line=exc.line, hint=hint) from exc
            raise
        finally:
            fh.flush()
        secs = round(time.monotonic() - t0, 2)
        update = {
            "status": "done",
            "seconds": secs,
            "finished": _now(),
            "detail": out.detail,
            "result": dict(out.result),
        }
        self.set(stage.name, StageEntry.model_validate(entry.model_dump() | update))
        note = f" ({out.warning}, see log)" if out.warning else ""
        self.display.finish(stage.name, "warning" if out.warning else "done", secs, out.detail + note)
