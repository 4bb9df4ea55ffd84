"""What `bbjcoder eval` and `bbjcoder review` do, behind the thin wrappers in cli.py.

Applies the command-line overrides to a run config's [eval] section (the one home of the eval
settings), picks the model under test (the latest run of the config when no --model is given),
makes one call into the eval stage and prints a short summary.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from pydantic import ValidationError
from rich.console import Console

from bbjcoder.config import RunConfig
from bbjcoder.errors import UserError
from bbjcoder.evaluate.runner import EvalResult, EvalSettings, run_eval


def eval_config(
    config: Path | None,
    *,
    suite: Path | None = None,
    baselines: Sequence[str] = (),
    n: int | None = None,
    ks: Sequence[int] = (),
    temperature: float | None = None,
    max_new_tokens: int | None = None,
    max_cases: int | None = None,
    cases_seed: int | None = None,
    batch_size: int | None = None,
    no_forgetting: bool = False,
    request_timeout: float | None = None,
    forgetting_suite: str | None = None,
    forgetting_prompt: str | None = None,
    max_general_drop: float | None = None,
) -> RunConfig:
    """The run config (or the defaults) with the command line's eval options applied to [eval]."""
    from bbjcoder.config import EvalSection, load_config

    cfg = load_config(config) if config is not None else RunConfig()
    ev = cfg.eval
    n_samples = n or ev.n_samples
    k_list = list(ks) or [k for k in ev.k if k <= n_samples] or [1]
    bad = [k for k in k_list if k < 1 or k > n_samples]
    if bad:
        raise UserError(
            f"--k {bad[0]} is larger than the number of samples per case ({n_samples})",
            hint="raise -n or lower --k",
        )
    given: dict[str, object] = {
        "suite": suite,
        "baselines": list(baselines) or None,
        "temperature": temperature,
        "max_new_tokens": max_new_tokens,
        "max_cases": max_cases,
        "cases_seed": cases_seed,
        "batch_size": batch_size,
        "request_timeout_s": request_timeout,
        "forgetting_suite": forgetting_suite,
        "forgetting_prompt": forgetting_prompt,
        "forgetting_max_drop": max_general_drop,
    }
    changes = {key: value for key, value in given.items() if value is not None}
    if no_forgetting:
        changes["forgetting_suite"] = None
    try:
        section = EvalSection.model_validate(
            {**ev.model_dump(), **changes, "n_samples": n_samples, "k": k_list}
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise UserError(f"bad eval option: {problems}", hint="see `bbjcoder eval --help`") from exc
    return cfg.model_copy(update={"eval": section})


def eval_command(
    cfg: RunConfig,
    *,
    model: str | None,
    out: Path | None = None,
    console: Console | None = None,
    fresh: bool = False,
    gate: bool = False,
) -> EvalResult:
    """Run the eval `cfg` describes (`eval_config` applies the command line to it); with `gate`, raise
    GateFailed when the general-code gate fails (and UserError before sampling when there is no
    baseline to gate against or no forgetting check)."""
    console = console or Console(stderr=True)
    if model is None and cfg.source is not None:
        model = f"run:{latest_run(cfg.run.runs_dir, cfg.run.name)}"
    if model is None:
        raise UserError(
            "name the model under test",
            hint="--model SPEC (hf:PATH, gguf:PATH, openai:MODEL@URL, run:ID) or --config FILE",
        )
    if gate and (cfg.eval.forgetting_suite is None or not cfg.eval.baselines):
        raise UserError(
            "--gate compares general-code pass@1 with a baseline, but "
            + (
                "the forgetting check is off" if cfg.eval.forgetting_suite is None else "there is no baseline"
            ),
            hint="add --baseline base (a run's base model) or --baseline SPEC, and drop --no-forgetting",
        )
    with _progress_bars(console) as on_progress:
        result = run_eval(
            model,
            cfg.eval.suite,
            baselines=cfg.eval.baselines,
            out_dir=out,
            settings=EvalSettings.from_config(cfg),
            log=lambda msg: console.print(f"[dim]eval:[/] {msg}", highlight=False),
            fresh=fresh,
            progress=on_progress,
        )
    _print_summary(result, console)
    verdict = result.report.general_gate
    if gate and verdict and not verdict.passed:
        raise GateFailed(verdict.verdict)
    return result


class GateFailed(Exception):
    """`eval --gate`: the general-code gate failed (the CLI exits 1)."""


@contextlib.contextmanager
def _progress_bars(console: Console) -> Iterator[Callable[[str, int, int], None]]:
    """Rich bars, one per model (and per general-code pass), with an ETA from the samples so far;
    yields the `progress(label, done, total)` callback the eval stage calls."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    tasks: dict[str, TaskID] = {}

    def on_progress(label: str, done: int, total: int) -> None:
        if label not in tasks:
            tasks[label] = bars.add_task(label, total=total)
        bars.update(tasks[label], completed=done, total=total)

    with bars:
        yield on_progress


def latest_run(runs_dir: Path, name: str) -> str:
    """The id of the newest run named `name` under `runs_dir`."""
    from bbjcoder.runs import list_runs

    runs = [r for r in list_runs(runs_dir) if (r.config.get("run") or {}).get("name") == name]
    if not runs:
        raise UserError(f"no run named {name!r} under {runs_dir}", hint="train first, or pass --model SPEC")
    return runs[-1].id


def _print_summary(result: EvalResult, console: Console) -> None:
    from rich.table import Table

    report = result.report
    table = Table(title=f"suite {report.suite.name} ({report.suite.cases} cases)")
    table.add_column("model")
    for k in report.ks:
        table.add_column(f"compile@{k}")
    table.add_column("idioms")
    table.add_column("general pass@1")
    for row in report.summary_rows():
        table.add_row(
            row.label,
            *(est.fmt() for _, est in row.compile_at),
            row.idioms.fmt(),
            row.general.fmt() if row.general else "–",
        )
    console.print(table)
    for c in report.overall_comparisons():
        console.print(f"{c.b} vs {c.a}: {c.verdict} (McNemar p = {c.p_value:.3g})", highlight=False)
    gate = report.general_gate
    if gate:
        style = "green" if gate.passed else "bold red"
        console.print(
            f"[{style}]gate[/]: general-code pass@1 {gate.reference_pass:.1f} -> {gate.model_pass:.1f} "
            f"({gate.change:+.1f} points, 95% CI [{gate.low:+.1f}, {gate.high:+.1f}], "
            f"McNemar p = {gate.p_value:.3g}): {gate.verdict}",
            highlight=False,
        )
        if gate.advice:
            console.print(gate.advice, highlight=False)
    console.print(f"report: {result.paths['md']}", highlight=False)


def review_command(
    *,
    eval_dir: Path,
    db: Path | None,
    port: int,
    models: Sequence[str],
    seed: int,
    export: Path | None,
    do_export: bool,
) -> None:
    from bbjcoder.evaluate import review

    console = Console(stderr=True)
    if do_export:
        out, summary = review.export(eval_dir, db, export)
        console.print(
            f"{summary.ratings} ratings -> {out}; win-rate table added to {eval_dir / 'report.md'}",
            highlight=False,
        )
        for row in summary.table:
            console.print(
                f"  {row.model} vs {row.opponent}: {100 * row.win_rate:.1f}% "
                f"[{100 * row.low:.1f}, {100 * row.high:.1f}] over {row.n}",
                highlight=False,
            )
        return
    from bbjcoder.loopback import serve_on_loopback

    app = review.create_app(eval_dir, db, models or None, seed)
    console.print(f"review page: http://127.0.0.1:{port}/  (Ctrl-C to stop)", highlight=False)
    serve_on_loopback(app, port)
