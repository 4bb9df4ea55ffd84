"""report.html for a demo run: one self-contained page (inline CSS, base64 images, no requests).

Built only from the files the stages wrote (run.json, loss.png, the eval report and its plot,
dataset stats, export files, serve_check.json, stages.json) through the template
templates/demo/report.html.j2; every number on it comes from those files.
"""

from __future__ import annotations

import base64
import datetime as _dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bbjcoder.data.stats import read_stats
from bbjcoder.fileio import atomic_write_text
from bbjcoder.records.base import Record, RecordError
from bbjcoder.records.dataset import DatasetManifest, DatasetStats
from bbjcoder.records.demo import DemoStages
from bbjcoder.records.eval_report import CaseRecord, EvalReport
from bbjcoder.records.run import RunRecord
from bbjcoder.render import render
from bbjcoder.serve.check import read_check

DATA_TYPES = ("comprehension", "completion", "migration", "explanation")


def _record_json(read: Callable[[], Record]) -> dict[str, Any]:
    """A stage's record as JSON data for the template, or {} where the stage has not written it yet."""
    try:
        return read().to_json()
    except RecordError:
        return {}


def _read_report(path: Path) -> EvalReport | None:
    try:
        return EvalReport.load(path)
    except RecordError:
        return None


def _image(path: Path) -> dict[str, str | None]:
    """A PNG for an <img> data URI (`data` None when the file is missing)."""
    data = base64.b64encode(path.read_bytes()).decode("ascii") if path.is_file() else None
    return {"name": path.name, "data": data}


def _number(v: object) -> str:
    return f"{v:.4f}" if isinstance(v, float) else ("–" if v is None else str(v))


def _mib(n: int) -> str:
    return f"{n / 1024**2:.2f} MiB" if n >= 1024**2 else f"{n / 1024:.1f} KiB"


def _highlight(code: str) -> Any:
    from markupsafe import Markup

    from bbjcoder.evaluate.highlight import highlight_bbj

    return Markup(highlight_bbj(code))  # highlight_bbj escapes the code itself


def _samples(report: EvalReport | None, shown: int = 3) -> list[list[tuple[str, CaseRecord]]]:
    """The first `shown` cases of the model under test, each beside the first baseline's answer."""
    if not report:
        return []
    labels = report.labels[:2]
    by_model = {label: {c.case_id: c for c in report.cases_of(label) if c.samples} for label in labels}
    return [
        [(label, by_model[label][case_id]) for label in labels if case_id in by_model[label]]
        for case_id in list(by_model[labels[0]])[:shown]
    ]


def _data_counts(stats: DatasetStats | None) -> dict[str, dict[str, int]]:
    """Examples per generation and type (summed over difficulties) from dataset/stats.json."""
    by_generation = stats.by_generation if stats else {}
    return {
        gen: {t: sum((per_type.get(t) or {}).values()) for t in DATA_TYPES}
        for gen, per_type in by_generation.items()
    }


def render_report_html(demo_dir: Path, *, commands: Sequence[tuple[str, str]] = ()) -> str:
    """The page's HTML for `demo_dir` (a demo run directory)."""
    demo_dir = Path(demo_dir)
    record = _record_json(lambda: DemoStages.load(demo_dir / "stages.json"))
    stages = record.get("stages") or {}
    run = _record_json(lambda: RunRecord.read(demo_dir))
    suite = Path((run.get("config") or {}).get("eval", {}).get("suite", "evals/bbj-core")).name
    eval_dir = demo_dir / "eval" / suite
    report = _read_report(eval_dir / "report.json")
    stats = read_stats(demo_dir / "dataset" / "stats.json")
    export = demo_dir / "export"
    modelfile = export / "Modelfile"
    modelfile_text = None
    if modelfile.is_file():
        lines = modelfile.read_text(encoding="utf-8").splitlines()
        modelfile_text = "\n".join(lines[:14]) + ("\n…" if len(lines) > 14 else "")
    return render(
        "demo/report.html.j2",
        title=f"bbjcoder demo · {demo_dir.name}",
        profile=record.get("profile", "?"),
        demo_dir=demo_dir,
        when=_dt.datetime.now().isoformat(timespec="seconds"),
        wall=record.get("last_wall_s"),
        stages=stages,
        stage_seconds=sum(float(s.get("seconds") or 0) for s in stages.values()),
        status_class={"done": "ok", "failed": "bad", "running": "warn"},
        phase_names={"prepare": "tiny base model + tokenize", "cpt": "stage 1 (CPT)", "sft": "stage 2 (SFT)"},
        train_stage_names={"cpt": "stage 1 (CPT)", "sft": "stage 2 (SFT)"},
        run=run,
        r=report,
        eval_dir_name=eval_dir.name,
        samples=_samples(report),
        serve=read_check(demo_dir / "serve_check.json"),
        stats=stats,
        manifest=_record_json(lambda: DatasetManifest.load(demo_dir / "dataset" / "manifest.json")),
        data_types=DATA_TYPES,
        data_counts=_data_counts(stats),
        images={
            "loss": _image(demo_dir / "loss.png"),
            "plot": _image(eval_dir / "compile_at_k.png"),
            "tokens": _image(demo_dir / "dataset" / "token_lengths.png"),
        },
        plot=_image(eval_dir / "compile_at_k.png"),
        export_name=export.name,
        gguf_files=[(f.name, f.stat().st_size) for f in sorted(export.glob("*.gguf"))]
        if export.is_dir()
        else [],
        modelfile=modelfile_text,
        commands=list(commands),
        number=_number,
        mib=_mib,
        highlight=_highlight,
    )


def write_report_html(demo_dir: Path, *, commands: Sequence[tuple[str, str]] = ()) -> Path:
    """Write `demo_dir/report.html` atomically; returns its path."""
    out = Path(demo_dir) / "report.html"
    atomic_write_text(out, render_report_html(demo_dir, commands=commands))
    return out
