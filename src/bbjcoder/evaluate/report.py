"""The eval report: build the `EvalReport` record, write report.json, report.md and compile_at_k.png.

Also compares two eval reports per category with the paired test (used by `runs compare` and the
demo). The Markdown comes from the templates in bbjcoder/templates/eval/.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from bbjcoder.evaluate.copying import MOSTLY_REUSED
from bbjcoder.evaluate.metrics import Estimate, PairedComparison, bootstrap_ci, paired_compare
from bbjcoder.evaluate.scoring import CaseResult, GeneralResult, summarise
from bbjcoder.evaluate.suite import categories
from bbjcoder.fileio import atomic_write_text
from bbjcoder.records.eval_report import (
    OVERALL,
    CaseRecord,
    Comparison,
    EvalReport,
    EvalSettingsInfo,
    Failure,
    GateVerdict,
    GeneralCase,
    ModelInfo,
    SuiteInfo,
    WeakAreas,
    WeakCategory,
)
from bbjcoder.render import render

REPORT_JSON, REPORT_MD, PLOT = "report.json", "report.md", "compile_at_k.png"


def _category_comparisons(
    a_name: str, a: Sequence[CaseRecord], b_name: str, b: Sequence[CaseRecord]
) -> list[tuple[str, PairedComparison]]:
    """Paired test per category on case records (solved or not, per category the case is in)."""
    groups: dict[str, tuple[dict[str, bool], dict[str, bool]]] = {OVERALL: ({}, {})}
    for side, records in ((0, a), (1, b)):
        for rec in records:
            for key in rec.category_keys():
                groups.setdefault(key, ({}, {}))[side][rec.case_id] = rec.solved
    return [
        (key, paired_compare(a_name, ga, b_name, gb)) for key, (ga, gb) in groups.items() if set(ga) & set(gb)
    ]


def build_report(
    *,
    suite: SuiteInfo,
    models: Sequence[ModelInfo],
    results: Mapping[str, list[CaseResult]],
    general: Mapping[str, list[GeneralResult]] | None,
    ks: Sequence[int],
    config: EvalSettingsInfo,
    config_hash: str,
    seed: int = 0,
    gate: GateVerdict | None = None,
) -> EvalReport:
    """Everything the report shows. `models[0]` is the model under test; `gate` is
    `evaluate.gate.general_gate` of it against the first baseline (the 5% rule)."""
    labels = [m.label for m in models]
    summary = {label: summarise(results[label], ks, seed=seed) for label in labels}
    cases = [r.record(ks) for label in labels for r in results[label] if r.n]
    general_summary: dict[str, Estimate] = {}
    general_at_k: dict[str, dict[str, Estimate]] = {}
    general_cases: list[GeneralCase] = []
    if general is not None:
        for label in labels:
            rows = general.get(label, [])
            general_summary[label] = bootstrap_ci([g.pass_rate for g in rows], seed=seed)
            n = min((len(g.outcomes) for g in rows), default=0)
            for k in (k for k in (2, 5, 10) if k <= n):  # with n > 1 samples per problem: pass@k too
                scores = [v for g in rows if (v := g.pass_at(k)) is not None]
                general_at_k.setdefault(label, {})[f"pass@{k}"] = bootstrap_ci(scores, seed=seed)
            general_cases += [
                GeneralCase.model_validate(
                    {"model": label, "problem_id": g.problem_id, "outcomes": list(g.outcomes)}
                )
                for g in rows
            ]
    under_test = labels[0]
    comparisons = []
    for other in labels[1:]:
        a_recs = [c for c in cases if c.model == other]
        b_recs = [c for c in cases if c.model == under_test]
        for key, cmp in _category_comparisons(other, a_recs, under_test, b_recs):
            comparisons.append(Comparison.model_validate({"category": key, **cmp.to_dict()}))
    return EvalReport.model_validate(
        {
            "suite": suite,
            "models": list(models),
            "config": config,
            "config_hash": config_hash,
            "ks": list(ks),
            "summary": summary,
            "general": {label: est.to_dict() for label, est in general_summary.items()},
            "general_gate": gate,
            "general_at_k": {
                label: {key: est.to_dict() for key, est in per.items()} for label, per in general_at_k.items()
            },
            "comparisons": comparisons,
            "weak_areas": weak_areas(results[under_test], ks),
            "cases": cases,
            "general_cases": general_cases,
        }
    )


def weak_areas(
    results: Sequence[CaseResult], ks: Sequence[int], top: int = 5, failures: int = 8
) -> WeakAreas:
    """Categories with the lowest compile@k (k = smallest) and sample failures with diagnostics:
    the input to the next round of targeted training examples."""
    k = min(ks)
    per_cat: dict[str, list[CaseResult]] = {}
    for r in results:
        if r.n:
            for axis, value in categories(r.case):
                per_cat.setdefault(f"{axis}:{value}", []).append(r)
    ranked: list[WeakCategory] = []
    for key, rs in per_cat.items():
        scores = [s for r in rs if (s := r.compile_at(k)) is not None]
        if scores:
            ranked.append(
                WeakCategory(
                    category=key,
                    cases=len(rs),
                    failed_cases=sum(r.c == 0 for r in rs),
                    k=k,
                    score=sum(scores) / len(scores),
                )
            )
    ranked.sort(key=lambda e: (e.score, -e.failed_cases))
    samples: list[Failure] = []
    for r in sorted(results, key=lambda r: (r.c / r.n if r.n else 1.0, r.case.id)):
        if not r.n or r.c > 0 or len(samples) >= failures:
            continue
        first = r.samples[0]
        samples.append(
            Failure.model_validate(
                {
                    "case_id": r.case.id,
                    "category": f"{'/'.join(r.case.generation)} · {r.case.type} · {r.case.difficulty}",
                    "prompt": r.case.prompt,
                    "diagnostics": list(first.diagnostics[:3]),
                    "idiom_problems": list(first.idiom_problems),
                    "code": "\n".join(first.code.splitlines()[:15]),
                }
            )
        )
    return WeakAreas(k=k, categories=ranked[:top], failures=samples)


def compare_reports(
    a: EvalReport | str | Path,
    b: EvalReport | str | Path,
    *,
    model_a: str | None = None,
    model_b: str | None = None,
) -> list[tuple[str, PairedComparison]]:
    """Per-category paired comparison (McNemar exact) of two eval reports' models under test
    (or the named models) on the cases both were scored on. B beats A only where p < 0.05."""
    ra = a if isinstance(a, EvalReport) else EvalReport.load(a)
    rb = b if isinstance(b, EvalReport) else EvalReport.load(b)
    ma = model_a or ra.under_test
    mb = model_b or rb.under_test
    name_b = mb if mb != ma else f"{mb} (B)"
    return _category_comparisons(ma, ra.cases_of(ma), name_b, rb.cases_of(mb))


# --- rendering ------------------------------------------------------------------------------------


def _mean(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}"


def render_markdown(report: EvalReport) -> str:
    """report.md."""
    return render("eval/report.md.j2", r=report, plot=PLOT, mean=_mean, mostly=MOSTLY_REUSED)


def model_card_section(report: EvalReport) -> str:
    """A short Markdown summary for a run's MODEL_CARD.md evaluation section."""
    return render("eval/model_card.md.j2", r=report)


def plot_compile_at_k(report: EvalReport, path: Path) -> None:
    """Grouped bars: compile@k (smallest k) per category, one bar per model, CI error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    k = report.k
    labels = report.labels
    rows = report.category_rows()
    keys = [key for key, _, _ in rows]
    x = np.arange(len(keys))
    width = 0.8 / max(1, len(labels))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(keys) + 2), 4.5))
    for i, label in enumerate(labels):
        vals, lo, hi = [], [], []
        for _, _, ests in rows:
            e = ests[i]
            # no cases in this category for this model: an empty bar
            value, low, high = (e.value, e.low, e.high) if e.known else (0.0, 0.0, 0.0)
            assert value is not None and low is not None and high is not None
            vals.append(value)
            lo.append(max(0.0, value - low))
            hi.append(max(0.0, high - value))
        ax.bar(x + (i - (len(labels) - 1) / 2) * width, vals, width, yerr=[lo, hi], capsize=3, label=label)
    ax.set_xticks(x)
    ax.set_xticklabels(keys, rotation=35, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(f"compile@{k}")
    ax.set_title(f"compile@{k} per category, suite {report.suite.name} (95% bootstrap CI)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


def write_markdown(out_dir: Path, report: EvalReport) -> Path:
    """(Re)write report.md atomically."""
    path = out_dir / REPORT_MD
    atomic_write_text(path, render_markdown(report))
    return path


def write_report(out_dir: Path, report: EvalReport) -> dict[str, Path]:
    """Write report.json, report.md and compile_at_k.png (each atomically)."""
    paths = {"json": out_dir / REPORT_JSON, "md": out_dir / REPORT_MD, "png": out_dir / PLOT}
    report.save(paths["json"])
    plot_compile_at_k(report, paths["png"])
    write_markdown(out_dir, report)
    return paths
