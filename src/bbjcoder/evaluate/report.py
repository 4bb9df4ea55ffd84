"""The eval report: report.json (per-case records + summary + hashes), report.md, compile_at_k.png.

Also compares two eval reports per category with the paired test (used by `runs compare` and the
demo) and renders the human-review win-rate section.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bbjcoder.evaluate.metrics import Estimate, PairedComparison, bootstrap_ci, paired_compare
from bbjcoder.evaluate.scoring import CaseResult, GeneralResult, summarise
from bbjcoder.evaluate.suite import categories
from bbjcoder.fileio import atomic_write_json, atomic_write_text

REPORT_JSON, REPORT_MD, PLOT = "report.json", "report.md", "compile_at_k.png"


def _est(d: dict[str, Any]) -> Estimate:
    return Estimate.from_dict(d)


def _category_comparisons(
    a_name: str, a: Sequence[dict[str, Any]], b_name: str, b: Sequence[dict[str, Any]]
) -> list[tuple[str, PairedComparison]]:
    """Paired test per category on case records ({case_id, solved, generation, type, difficulty})."""
    groups: dict[str, tuple[dict[str, bool], dict[str, bool]]] = {"overall:all": ({}, {})}
    for side, records in ((0, a), (1, b)):
        for rec in records:
            keys = ["overall:all", *(f"generation:{g}" for g in rec["generation"])]
            keys += [f"type:{rec['type']}", f"difficulty:{rec['difficulty']}"]
            for key in keys:
                groups.setdefault(key, ({}, {}))[side][rec["case_id"]] = bool(rec["solved"])
    return [
        (key, paired_compare(a_name, ga, b_name, gb)) for key, (ga, gb) in groups.items() if set(ga) & set(gb)
    ]


def build_report(
    *,
    suite: dict[str, Any],
    models: Sequence[dict[str, Any]],
    results: dict[str, list[CaseResult]],
    general: dict[str, list[GeneralResult]] | None,
    ks: Sequence[int],
    config: dict[str, Any],
    config_hash: str,
    seed: int = 0,
    gate: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the report shows, as JSON-able data. `models[0]` is the model under test;
    `gate` is `evaluate.gate.general_gate` of it against the first baseline (the 5% rule)."""
    labels = [m["label"] for m in models]
    summary = {label: summarise(results[label], ks, seed=seed) for label in labels}
    cases = [r.to_dict(ks) for label in labels for r in results[label] if r.n]
    general_summary: dict[str, Any] = {}
    general_at_k: dict[str, dict[str, Any]] = {}
    general_cases: list[dict[str, Any]] = []
    if general is not None:
        for label in labels:
            rows = general.get(label, [])
            general_summary[label] = bootstrap_ci([g.pass_rate for g in rows], seed=seed).to_dict()
            n = min((len(g.outcomes) for g in rows), default=0)
            for k in (k for k in (2, 5, 10) if k <= n):  # with n > 1 samples per problem: pass@k too
                scores = [v for g in rows if (v := g.pass_at(k)) is not None]
                general_at_k.setdefault(label, {})[f"pass@{k}"] = bootstrap_ci(scores, seed=seed).to_dict()
            general_cases += [
                {"model": label, "problem_id": g.problem_id, "outcomes": list(g.outcomes)} for g in rows
            ]
    under_test = labels[0]
    comparisons = []
    for other in labels[1:]:
        a_recs = [c for c in cases if c["model"] == other]
        b_recs = [c for c in cases if c["model"] == under_test]
        for key, cmp in _category_comparisons(other, a_recs, under_test, b_recs):
            comparisons.append({"category": key, **cmp.to_dict()})
    return {
        "suite": suite,
        "models": list(models),
        "config": config,
        "config_hash": config_hash,
        "ks": list(ks),
        "summary": summary,
        "general": general_summary,
        "general_gate": gate,
        "general_at_k": general_at_k,
        "comparisons": comparisons,
        "weak_areas": weak_areas(results[under_test], ks),
        "cases": cases,
        "general_cases": general_cases,
    }


def weak_areas(
    results: Sequence[CaseResult], ks: Sequence[int], top: int = 5, failures: int = 8
) -> dict[str, Any]:
    """Categories with the lowest compile@k (k = smallest) and sample failures with diagnostics:
    the input to the next round of targeted training examples."""
    k = min(ks)
    per_cat: dict[str, list[CaseResult]] = {}
    for r in results:
        if r.n:
            for axis, value in categories(r.case):
                per_cat.setdefault(f"{axis}:{value}", []).append(r)
    ranked: list[dict[str, Any]] = []
    for key, rs in per_cat.items():
        scores = [s for r in rs if (s := r.compile_at(k)) is not None]
        if scores:
            ranked.append(
                {
                    "category": key,
                    "cases": len(rs),
                    "failed_cases": sum(r.c == 0 for r in rs),
                    f"compile@{k}": sum(scores) / len(scores),
                }
            )
    ranked.sort(key=lambda e: (e[f"compile@{k}"], -e["failed_cases"]))
    samples: list[dict[str, Any]] = []
    for r in sorted(results, key=lambda r: (r.c / r.n if r.n else 1.0, r.case.id)):
        if not r.n or r.c > 0 or len(samples) >= failures:
            continue
        first = r.samples[0]
        samples.append(
            {
                "case_id": r.case.id,
                "category": f"{'/'.join(r.case.generation)} · {r.case.type} · {r.case.difficulty}",
                "prompt": r.case.prompt,
                "diagnostics": list(first.diagnostics[:3]),
                "idiom_problems": list(first.idiom_problems),
                "code": "\n".join(first.code.splitlines()[:15]),
            }
        )
    return {"k": k, "categories": ranked[:top], "failures": samples}


def compare_reports(
    a: dict[str, Any] | str | Path,
    b: dict[str, Any] | str | Path,
    *,
    model_a: str | None = None,
    model_b: str | None = None,
) -> list[tuple[str, PairedComparison]]:
    """Per-category paired comparison (McNemar exact) of two eval reports' models under test
    (or the named models) on the cases both were scored on. B beats A only where p < 0.05."""
    ra = a if isinstance(a, dict) else json.loads(Path(a).read_text(encoding="utf-8"))
    rb = b if isinstance(b, dict) else json.loads(Path(b).read_text(encoding="utf-8"))
    ma = model_a or ra["models"][0]["label"]
    mb = model_b or rb["models"][0]["label"]
    recs_a = [c for c in ra["cases"] if c["model"] == ma]
    recs_b = [c for c in rb["cases"] if c["model"] == mb]
    name_b = mb if mb != ma else f"{mb} (B)"
    return _category_comparisons(ma, recs_a, name_b, recs_b)


# --- rendering ------------------------------------------------------------------------------------


def category_keys(report: dict[str, Any]) -> list[str]:
    """The report's category keys in reading order: overall, generation:*, type:*, difficulty:*."""
    order = {"overall": 0, "generation": 1, "type": 2, "difficulty": 3}
    keys: set[str] = set()
    for per in report["summary"].values():
        keys |= set(per)
    return sorted(keys, key=lambda k: (order.get(k.split(":")[0], 9), k))


def render_markdown(report: dict[str, Any]) -> str:
    ks = report["ks"]
    labels = [m["label"] for m in report["models"]]
    lines = [f"# Evaluation: suite `{report['suite']['name']}`", ""]
    lines.append(
        f"Model under test: `{labels[0]}`"
        + (f"; baselines: {', '.join(f'`{x}`' for x in labels[1:])}" if labels[1:] else "")
    )
    cfg = report["config"]
    lines += [
        "",
        f"{report['suite']['cases']} cases, {cfg['n']} samples per case, temperature {cfg['temperature']}, "
        f"top_p {cfg['top_p']}, max {cfg['max_new_tokens']} new tokens, seed {cfg['seed']}. "
        "Intervals are 95% bootstrap intervals over cases.",
        "",
        "## Summary",
        "",
    ]
    head = ["model", *(f"compile@{k}" for k in ks), "idioms", "copy rate", "general pass@1"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label in labels:
        overall = report["summary"][label].get("overall:all")
        cells = [f"`{label}`"]
        for k in ks:
            cells.append(_est(overall[f"compile@{k}"]).fmt() if overall else "–")
        cells.append(_est(overall["idioms"]).fmt() if overall else "–")
        copy_rate = overall.get("copy_rate") if overall else None
        cells.append(f"{copy_rate:.1%}" if copy_rate is not None else "–")
        gen = report["general"].get(label)
        cells.append(_est(gen).fmt() if gen else "–")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "compile@k: unbiased estimator over n samples; idioms: share of samples meeting the case's required/forbidden patterns (cases with idioms only); copy rate: share of samples whose code only repeats code from the prompt (counted as no code, see evals/README.md); a migration sample passes only with the target generation's idioms; general pass@1: forgetting check on Python problems, executed in a sandbox.",
        "",
    ]
    lines += gate_markdown(report)

    if report["comparisons"]:
        lines += ["## Paired comparisons (McNemar exact test)", ""]
        lines += [
            "A case counts as solved when at least half its samples compile. A model is said to beat another only when p < 0.05.",
            "",
        ]
        lines += [
            "| category | A | B | both | only A | only B | neither | p | verdict |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for c in report["comparisons"]:
            lines.append(
                f"| {c['category']} | `{c['a']}` | `{c['b']}` | {c['both']} | {c['only_a']} | {c['only_b']} | "
                f"{c['neither']} | {c['p_value']:.3g} | {c['verdict']} |"
            )
        lines.append("")

    k = min(ks)
    lines += [
        f"## compile@{k} per category",
        "",
        "| category | cases | " + " | ".join(f"`{x}`" for x in labels) + " |",
    ]
    lines.append("|---|---|" + "---|" * len(labels))
    for key in category_keys(report):
        per = [report["summary"][label].get(key) for label in labels]
        n = next((p["cases"] for p in per if p), 0)
        lines.append(
            f"| {key} | {n} | " + " | ".join(_est(p[f"compile@{k}"]).fmt() if p else "–" for p in per) + " |"
        )
    lines += ["", f"![compile@{k} per category]({PLOT})", ""]

    weak = report["weak_areas"]
    lines += [f"## Weak areas of `{labels[0]}`", "", f"Categories with the lowest compile@{weak['k']}:", ""]
    metric = f"compile@{weak['k']}"
    for e in weak["categories"]:
        lines.append(
            f"- {e['category']}: {100 * e[metric]:.1f}% ({e['failed_cases']} of {e['cases']} cases never compile)"
        )
    if weak["failures"]:
        lines += ["", "Sample failures (first sample, checker diagnostics):", ""]
        for f in weak["failures"]:
            lines += [
                f"### `{f['case_id']}` ({f['category']})",
                "",
                "> " + f["prompt"].replace("\n", "\n> "),
                "",
            ]
            for d in f["diagnostics"]:
                lines.append(f"- line {d['line']}, column {d['column']}: {d['message']}")
            for p in f["idiom_problems"]:
                lines.append(f"- {p}")
            if f["code"]:
                lines += ["", "```bbj", f["code"], "```"]
            lines.append("")
    review = report.get("review")
    if review:
        lines += [
            "## Human review",
            "",
            f"{review['ratings']} ratings. Win rate counts a tie as half a win; 95% Wilson intervals.",
            "",
        ]
        lines += [
            "| model | vs | comparisons | wins | ties | losses | win rate | quality | idiomatic | explanation |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in review["table"]:
            lines.append(
                f"| `{row['model']}` | `{row['opponent']}` | {row['n']} | {row['wins']} | {row['ties']} | {row['losses']} | "
                f"{100 * row['win_rate']:.1f}% [{100 * row['low']:.1f}, {100 * row['high']:.1f}] | "
                f"{_mean(row['quality'])} | {_mean(row['idiomatic'])} | {_mean(row['explanation'])} |"
            )
        lines.append("")
    lines += [
        "## Provenance",
        "",
        f"- config hash: `{report['config_hash']}`",
        f"- suite sha256: `{report['suite']['sha256']}`",
    ]
    for m in report["models"]:
        lines.append(
            f"- `{m['label']}` ({m['role']}): model `{m['model_hash'][:16]}`, backend `{m['backend_hash'][:16]}`"
        )
    return "\n".join(lines) + "\n"


def gate_markdown(report: dict[str, Any]) -> list[str]:
    """The "General code (forgetting check)" section: the gate's verdict, change, interval and test."""
    gate = report.get("general_gate")
    if not report.get("general"):
        return []
    suite = (report.get("config") or {}).get("forgetting_suite") or "?"
    prompts = (report.get("config") or {}).get("forgetting_prompts") or {}
    lines = ["## General code (forgetting check)", ""]
    for label, per in (report.get("general_at_k") or {}).items():
        cells = ", ".join(f"{key} {_est(est).fmt()}" for key, est in per.items())
        lines += [f"- `{label}`: {cells}"]
    if report.get("general_at_k"):
        lines.append("")
    lines.append(
        f"Suite `{suite}`; prompts: "
        + (", ".join(f"`{m}` {style}" for m, style in prompts.items()) or "–")
        + ". pass@1 is the share of passing samples per problem (unbiased), averaged over problems."
    )
    lines.append("")
    if gate is None:
        lines += ["No gate: the plan's 5% rule needs a baseline to compare with (`--baseline base`).", ""]
        return lines
    mark = "✅" if gate["passed"] else "❌"
    lines += [
        f"{mark} **Gate {'passed' if gate['passed'] else 'FAILED'}** (limit: a drop of more than "
        f"{gate['max_drop']:g} points): `{gate['model']}` against `{gate['reference']}`.",
        "",
        "| reference | model | change (points) | 95% CI (paired bootstrap) | only reference | only model | McNemar p | problems |",
        "|---|---|---|---|---|---|---|---|",
        f"| {gate['reference_pass']:.1f} | {gate['model_pass']:.1f} | {gate['change']:+.1f} | "
        f"[{gate['low']:+.1f}, {gate['high']:+.1f}] | {gate['only_reference']} | {gate['only_model']} | "
        f"{gate['p_value']:.3g} | {gate['problems']} |",
        "",
    ]
    if gate["advice"]:
        lines += [f"> {gate['advice']}", ""]
    return lines


def _mean(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}"


def plot_compile_at_k(report: dict[str, Any], path: Path) -> None:
    """Grouped bars: compile@k (smallest k) per category, one bar per model, CI error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    k = min(report["ks"])
    labels = [m["label"] for m in report["models"]]
    keys = category_keys(report)
    x = np.arange(len(keys))
    width = 0.8 / max(1, len(labels))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(keys) + 2), 4.5))
    for i, label in enumerate(labels):
        vals, lo, hi = [], [], []
        for key in keys:
            e = report["summary"][label].get(key)
            est = _est(e[f"compile@{k}"]) if e else Estimate(0.0, 0.0, 0.0, 0)
            if est.n == 0:  # no cases in this category for this model: an empty bar
                est = Estimate(0.0, 0.0, 0.0, 0)
            vals.append(est.value)
            lo.append(max(0.0, est.value - est.low))
            hi.append(max(0.0, est.high - est.value))
        ax.bar(x + (i - (len(labels) - 1) / 2) * width, vals, width, yerr=[lo, hi], capsize=3, label=label)
    ax.set_xticks(x)
    ax.set_xticklabels(keys, rotation=35, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(f"compile@{k}")
    ax.set_title(f"compile@{k} per category, suite {report['suite']['name']} (95% bootstrap CI)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


def write_report(out_dir: Path, report: dict[str, Any]) -> dict[str, Path]:
    """Write report.json, report.md and compile_at_k.png (each atomically)."""
    paths = {"json": out_dir / REPORT_JSON, "md": out_dir / REPORT_MD, "png": out_dir / PLOT}
    atomic_write_json(paths["json"], report)
    plot_compile_at_k(report, paths["png"])
    atomic_write_text(paths["md"], render_markdown(report))
    return paths


def model_card_section(report: dict[str, Any]) -> str:
    """A short Markdown summary for a run's MODEL_CARD.md evaluation section."""
    md = render_markdown(report)
    end = md.find("## Paired comparisons")
    if end == -1:
        end = md.find("## compile@")
    summary = md[md.find("## Summary") : end].replace("## Summary", f"Suite `{report['suite']['name']}`:")
    comps = [c for c in report["comparisons"] if c["category"] == "overall:all"]
    verdicts = "".join(f"- vs `{c['a']}`: {c['verdict']} (p = {c['p_value']:.3g})\n" for c in comps)
    gate = report.get("general_gate")
    if gate:
        verdicts += f"- general code vs `{gate['reference']}`: {gate['verdict']}\n"
    return summary.strip() + "\n\n" + verdicts
