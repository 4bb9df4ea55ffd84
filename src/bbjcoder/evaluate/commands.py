"""What `bbjcoder eval` and `bbjcoder review` do, behind the thin wrappers in cli.py.

Merges a run config's [eval] section with command-line overrides, picks the model under test
(the latest run of the config when no --model is given) and prints a short summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from bbjcoder.errors import UserError
from bbjcoder.evaluate.generate import SamplingParams
from bbjcoder.evaluate.runner import EvalResult, EvalSettings, run_eval


def eval_command(
    *,
    config: Path | None,
    model: str | None,
    suite: Path | None,
    baselines: Sequence[str],
    out: Path | None,
    n: int | None,
    ks: Sequence[int],
    temperature: float | None,
    max_new_tokens: int | None,
    max_cases: int | None,
    cases_seed: int | None = None,
    batch_size: int | None = None,
    no_forgetting: bool = False,
    console: Console | None = None,
    fresh: bool = False,
    request_timeout: float | None = None,
    forgetting_suite: str | None = None,
    forgetting_prompt: str | None = None,
    max_general_drop: float | None = None,
    gate: bool = False,
) -> EvalResult:
    """Run the eval; with `gate`, raise GateFailed when the general-code gate fails (and UserError
    before sampling when there is no baseline to gate against or no forgetting check)."""
    from bbjcoder.config import EvalSection, load_config

    console = console or Console(stderr=True)
    ev = EvalSection()
    seed = 42
    runs_dir = Path("runs")
    if config is not None:
        cfg = load_config(config)
        ev, seed, runs_dir = cfg.eval, cfg.run.seed, cfg.run.runs_dir
        if model is None:
            model = f"run:{_latest_run(runs_dir, cfg.run.name)}"
    if model is None:
        raise UserError(
            "name the model under test",
            hint="--model SPEC (hf:PATH, gguf:PATH, openai:MODEL@URL, run:ID) or --config FILE",
        )
    n_samples = n or ev.n_samples
    k_list = tuple(ks) or tuple(k for k in ev.k if k <= n_samples) or (1,)
    bad = [k for k in k_list if k < 1 or k > n_samples]
    if bad:
        raise UserError(
            f"--k {bad[0]} is larger than the number of samples per case ({n_samples})",
            hint="raise -n or lower --k",
        )
    params = SamplingParams(
        n=n_samples,
        temperature=ev.temperature if temperature is None else temperature,
        top_p=ev.top_p,
        max_new_tokens=max_new_tokens or ev.max_new_tokens,
        stop=tuple(ev.stop),
        seed=ev.seed if ev.seed is not None else seed,
        batch_size=batch_size or ev.batch_size,
    )
    settings = EvalSettings(
        params=params,
        ks=k_list,
        max_cases=max_cases if max_cases is not None else ev.max_cases,
        cases_seed=cases_seed if cases_seed is not None else ev.cases_seed,
        forgetting_suite=None
        if no_forgetting
        else (Path(forgetting_suite) if forgetting_suite else ev.forgetting_suite),
        forgetting_samples=ev.forgetting_samples,
        forgetting_max=ev.forgetting_max_problems,
        forgetting_prompt=forgetting_prompt or ev.forgetting_prompt,
        forgetting_max_new_tokens=ev.forgetting_max_new_tokens,
        max_general_drop=ev.forgetting_max_drop if max_general_drop is None else max_general_drop,
        runs_dir=runs_dir,
        timeout_s=request_timeout or ev.request_timeout_s,
    )
    if gate and (settings.forgetting_suite is None or not (list(baselines) or list(ev.baselines))):
        raise UserError(
            "--gate compares general-code pass@1 with a baseline, but "
            + (
                "the forgetting check is off" if settings.forgetting_suite is None else "there is no baseline"
            ),
            hint="add --baseline base (a run's base model) or --baseline SPEC, and drop --no-forgetting",
        )
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
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
    tasks: dict[str, Any] = {}  # label -> rich TaskID

    def on_progress(label: str, done: int, total: int) -> None:
        # One bar per model (and per general-code pass); ETA from the samples drawn so far.
        if label not in tasks:
            tasks[label] = bars.add_task(label, total=total)
        bars.update(tasks[label], completed=done, total=total)

    with bars:
        result = run_eval(
            model,
            suite or ev.suite,
            baselines=list(baselines) or list(ev.baselines),
            out_dir=out,
            settings=settings,
            log=lambda msg: console.print(f"[dim]eval:[/] {msg}", highlight=False),
            fresh=fresh,
            progress=on_progress,
        )
    _print_summary(result, console)
    verdict = result.report.get("general_gate")
    if gate and verdict and not verdict["passed"]:
        raise GateFailed(verdict["verdict"])
    return result


class GateFailed(Exception):
    """`eval --gate`: the general-code gate failed (the CLI exits 1)."""


def _latest_run(runs_dir: Path, name: str) -> str:
    from bbjcoder.runs import list_runs

    runs = [r for r in list_runs(runs_dir) if (r.config.get("run") or {}).get("name") == name]
    if not runs:
        raise UserError(f"no run named {name!r} under {runs_dir}", hint="train first, or pass --model SPEC")
    return runs[-1].id


def _print_summary(result: EvalResult, console: Console) -> None:
    from rich.table import Table

    from bbjcoder.evaluate.metrics import Estimate

    report = result.report
    table = Table(title=f"suite {report['suite']['name']} ({report['suite']['cases']} cases)")
    table.add_column("model")
    for k in report["ks"]:
        table.add_column(f"compile@{k}")
    table.add_column("idioms")
    table.add_column("general pass@1")
    for m in report["models"]:
        overall = report["summary"][m["label"]].get("overall:all")
        cells = [m["label"]]
        for k in report["ks"]:
            cells.append(Estimate.from_dict(overall[f"compile@{k}"]).fmt() if overall else "–")
        cells.append(Estimate.from_dict(overall["idioms"]).fmt() if overall else "–")
        gen = report["general"].get(m["label"])
        cells.append(Estimate.from_dict(gen).fmt() if gen else "–")
        table.add_row(*cells)
    console.print(table)
    for c in report["comparisons"]:
        if c["category"] == "overall:all":
            console.print(
                f"{c['b']} vs {c['a']}: {c['verdict']} (McNemar p = {c['p_value']:.3g})", highlight=False
            )
    gate = report.get("general_gate")
    if gate:
        style = "green" if gate["passed"] else "bold red"
        console.print(
            f"[{style}]gate[/]: general-code pass@1 {gate['reference_pass']:.1f} -> {gate['model_pass']:.1f} "
            f"({gate['change']:+.1f} points, 95% CI [{gate['low']:+.1f}, {gate['high']:+.1f}], "
            f"McNemar p = {gate['p_value']:.3g}): {gate['verdict']}",
            highlight=False,
        )
        if gate["advice"]:
            console.print(gate["advice"], highlight=False)
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
            f"{summary['ratings']} ratings -> {out}; win-rate table added to {eval_dir / 'report.md'}",
            highlight=False,
        )
        for row in summary["table"]:
            console.print(
                f"  {row['model']} vs {row['opponent']}: {100 * row['win_rate']:.1f}% "
                f"[{100 * row['low']:.1f}, {100 * row['high']:.1f}] over {row['n']}",
                highlight=False,
            )
        return
    from bbjcoder.loopback import serve_on_loopback

    app = review.create_app(eval_dir, db, models or None, seed)
    console.print(f"review page: http://127.0.0.1:{port}/  (Ctrl-C to stop)", highlight=False)
    serve_on_loopback(app, port)
