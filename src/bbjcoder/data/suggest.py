"""`bbjcoder data suggest --from-eval RUN`: draft examples for the weakest generation × type cells.

Reads a run's eval report (per-case samples and checker diagnostics), ranks generation × type cells
by how often the model under test compiled, and writes scaffolds into `training-data/_inbox/` (which
validate and convert skip) with the failing prompts as HTML comments for a person to complete.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bbjcoder.data.new import render_example, slugify
from bbjcoder.errors import DataError
from bbjcoder.fileio import atomic_write_text
from bbjcoder.records.eval_report import Diagnostic, EvalReport

INBOX = Path("training-data/_inbox")
_REPORT = "report.json"


@dataclass(frozen=True)
class Failure:
    """A case the model under test got wrong: its prompt, the first failing sample's code and problems."""

    case_id: str
    prompt: str
    difficulty: str
    compiled: int  # samples that compiled
    samples: int
    code: str
    diagnostics: tuple[Diagnostic, ...]


@dataclass
class Cell:
    """One generation × type cell of the eval suite, for the model under test."""

    generation: str
    type: str
    cases: int = 0
    compiled: int = 0  # samples that compiled, over all cases of the cell
    samples: int = 0
    failures: list[Failure] = field(default_factory=list)

    @property
    def compile_rate(self) -> float:
        return self.compiled / self.samples if self.samples else 1.0


def find_report(source: str | Path, *, runs_dir: Path = Path("runs"), suite: str | None = None) -> Path:
    """The eval report.json for a run id / `run:ID` / run directory, an eval directory or the file."""
    p = Path(str(source).removeprefix("run:"))
    if p.is_file():
        return p
    if (p / _REPORT).is_file():
        return p / _REPORT
    run_dir = p if p.is_dir() else Path(runs_dir) / p
    if not run_dir.is_dir():
        raise DataError(
            f"no run, eval directory or report.json named {str(source)!r}",
            path=runs_dir,
            hint="pass a run id (see `bbjcoder runs list`), a run directory or an eval report.json",
        )
    reports = sorted((run_dir / "eval").glob(f"{suite or '*'}/{_REPORT}"))
    if not reports:
        raise DataError(
            "the run has no eval report" + (f" for suite {suite!r}" if suite else ""),
            path=run_dir / "eval",
            hint=f"run `bbjcoder eval --model run:{run_dir.name}` first",
        )
    if len(reports) > 1 and suite is None:
        names = ", ".join(r.parent.name for r in reports)
        raise DataError(f"the run has several eval reports ({names})", path=run_dir, hint="pass --suite NAME")
    return reports[0]


def read_report(path: Path) -> EvalReport:
    """The eval report.json behind `find_report`, as the record."""
    return EvalReport.load(path)


def weakest_cells(report: EvalReport, *, model: str | None = None) -> list[Cell]:
    """Generation × type cells of `model` (default: the model under test), weakest first.

    A case with several generations counts in each. Ranked by the share of samples that compiled,
    then by more failing cases; cells without a failing case are left out.
    """
    label = model or report.under_test
    cells: dict[tuple[str, str], Cell] = {}
    for case in report.cases_of(label):
        if not case.n:
            continue
        failing = case.c < case.n
        first_bad = next((s for s in case.samples if not s.compiles), None)
        for gen in case.generation or ["all"]:
            cell = cells.setdefault((gen, case.type), Cell(gen, case.type))
            cell.cases += 1
            cell.compiled += case.c
            cell.samples += case.n
            if failing:
                cell.failures.append(
                    Failure(
                        case_id=case.case_id,
                        prompt=case.prompt,
                        difficulty=case.difficulty or "intermediate",
                        compiled=case.c,
                        samples=case.n,
                        code=first_bad.code if first_bad else "",
                        diagnostics=tuple(first_bad.diagnostics) if first_bad else (),
                    )
                )
    ranked = [c for c in cells.values() if c.failures]
    ranked.sort(key=lambda c: (c.compile_rate, -len(c.failures), c.generation, c.type))
    return ranked


def _comment_safe(text: str) -> str:
    # Nothing inside may close (or open) the HTML comment early.
    return text.replace("-->", "-- >").replace("<!--", "<! --")


def render_suggestion(cell: Cell, failure: Failure, *, run: str, report_path: str) -> str:
    """A scaffold in the FORMAT.md layout for `cell`, the failing case as an HTML comment block."""
    gen = [cell.generation]
    from_gen = to_gen = None
    if cell.type == "migration":
        # The suite names the target generation; the source is for the author to decide.
        from_gen, to_gen = ("character" if cell.generation != "character" else "vpro5"), gen
    text = render_example(
        title=f"TODO: a title phrased as a task (drafted from eval case {failure.case_id})",
        type=cell.type,
        generation=gen if cell.generation != "all" else ["all"],
        difficulty=failure.difficulty
        if failure.difficulty in ("basic", "intermediate", "advanced")
        else None,
        tags=["needs-review", "from-eval"],
        from_generation=from_gen,
        to_generation=to_gen or (),
    )
    diags = "\n".join(f"  line {d.line}, column {d.column}: {d.message}" for d in failure.diagnostics[:8])
    code = "\n".join(failure.code.splitlines()[:30])
    note = "\n".join(
        [
            "<!--",
            f"Drafted by `bbjcoder data suggest --from-eval {run}` from {report_path}.",
            f"Weak cell: generation {cell.generation} x type {cell.type}: {cell.compiled} of {cell.samples} "
            f"samples compiled over {cell.cases} cases.",
            "Write a NEW example that teaches what this case needed (do not copy the eval prompt: the",
            "suite must stay held out), fill in every TODO, delete this comment, drop the needs-review",
            "tag once the BBj is checked, then move the file out of _inbox/ into a topic directory.",
            "",
            f"Failing eval case {failure.case_id} ({failure.compiled} of {failure.samples} samples compiled). Prompt:",
            _comment_safe(failure.prompt),
            "",
            "Checker diagnostics of the first failing sample:",
            _comment_safe(diags or "  (none: the sample failed the idiom checks or had no code)"),
            "",
            "Its code:",
            _comment_safe(code or "(no code)"),
            "-->",
            "",
        ]
    )
    head_end = text.index("---\n", 4) + 4  # after the closing front-matter fence
    return text[:head_end] + "\n" + note + text[head_end:]


@dataclass(frozen=True)
class Suggestion:
    path: Path
    cell: Cell
    failure: Failure


def suggest_from_eval(
    source: str | Path,
    *,
    runs_dir: Path = Path("runs"),
    suite: str | None = None,
    inbox: Path = INBOX,
    cells: int = 3,
    per_cell: int = 2,
    model: str | None = None,
    force: bool = False,
) -> list[Suggestion]:
    """Write scaffolds for the `cells` weakest cells (up to `per_cell` failing cases each) to `inbox`.

    Existing drafts are kept (a re-run adds only new ones) unless `force`.
    """
    report_path = find_report(source, runs_dir=runs_dir, suite=suite)
    report = read_report(report_path)
    run = str(source)
    out: list[Suggestion] = []
    for cell in weakest_cells(report, model=model)[:cells]:
        for failure in cell.failures[:per_cell]:
            name = f"{cell.generation}-{cell.type}-{slugify(failure.case_id)}.md"
            path = Path(inbox) / name
            if path.exists() and not force:
                continue
            atomic_write_text(path, render_suggestion(cell, failure, run=run, report_path=str(report_path)))
            out.append(Suggestion(path, cell, failure))
    return out


def suggest_command(
    source: str, *, runs_dir: Path, suite: str | None, inbox: Path, cells: int, per_cell: int, force: bool
) -> int:
    """`bbjcoder data suggest`: write the drafts and print what was written; exit 1 when none."""
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    written = suggest_from_eval(
        source, runs_dir=runs_dir, suite=suite, inbox=inbox, cells=cells, per_cell=per_cell, force=force
    )
    for s in written:
        console.print(
            f"{s.path}  [dim]({s.cell.generation} × {s.cell.type}: {100 * s.cell.compile_rate:.0f}% of samples "
            f"compiled; case {s.failure.case_id})[/]"
        )
    if not written:
        console.print("suggest: nothing new to draft (no failing cases, or the drafts exist: --force)")
        return 1
    console.print(
        f"suggest: {len(written)} drafts in {inbox}/ — complete them, then `bbjcoder data validate` "
        "and move them into a topic directory"
    )
    return 0
