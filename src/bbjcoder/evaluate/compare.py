"""`runs compare`'s eval part: two runs' eval reports side by side, per suite both have.

compile@k per category with the paired test on the shared cases, and the forgetting check with the
plan's gate. Terminal tables (Rich); the run registry itself (bbjcoder.runs) knows nothing of evals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bbjcoder.evaluate.gate import DEFAULT_MAX_DROP, GateResult, gate_from_reports
from bbjcoder.evaluate.report import REPORT_JSON, compare_reports
from bbjcoder.records.eval_report import OVERALL, EvalReport
from bbjcoder.records.run import RunRecord

if TYPE_CHECKING:
    from rich.table import Table


def shared_suites(a: RunRecord, b: RunRecord) -> list[str]:
    """Eval suites both runs have a report of."""
    return sorted(
        p.parent.name
        for p in (a.path / "eval").glob(f"*/{REPORT_JSON}")
        if (b.path / "eval" / p.parent.name / REPORT_JSON).is_file()
    )


def eval_compare_tables(
    a: RunRecord, b: RunRecord, *, max_drop: float | None = None, gates: list[GateResult] | None = None
) -> list[Table]:
    """For each eval suite both runs have a report.json: Rich tables of compile@k per category
    (A, B, the paired McNemar test of `evaluate.report.compare_reports`) and the forgetting check
    with the plan's gate (B's general pass@1 may not drop more than `max_drop` points below A's;
    default: B's config [eval] forgetting_max_drop, else 5). Gate results are appended to `gates`."""
    gates = gates if gates is not None else []
    tables: list[Table] = []
    for suite in shared_suites(a, b):
        ra = EvalReport.load(a.path / "eval" / suite / REPORT_JSON)
        rb = EvalReport.load(b.path / "eval" / suite / REPORT_JSON)
        tables.append(_category_table(a, b, suite, ra, rb))
        forgetting = _forgetting_table(a, b, suite, ra, rb, max_drop, gates)
        if forgetting is not None:
            tables.append(forgetting)
    return tables


def _category_table(a: RunRecord, b: RunRecord, suite: str, ra: EvalReport, rb: EvalReport) -> Table:
    from rich.table import Table

    la, lb = ra.under_test, rb.under_test
    k = min(set(ra.ks) & set(rb.ks) or {1})
    tests = dict(compare_reports(ra, rb))
    table = Table(title=f"eval {suite}: compile@{k} per category, paired test on shared cases (B vs A)")
    for col in ("category", f"A {a.id}", f"B {b.id}", "only A", "only B", "McNemar p", "verdict"):
        table.add_column(col, justify="right" if col.startswith(("only", "McNemar")) else "left")
    cats = sorted(set(ra.summary[la]) | set(rb.summary[lb]), key=lambda c: (c != OVERALL, c))
    for cat in cats:
        ea, eb = ra.result(la, cat), rb.result(lb, cat)
        t = tests.get(cat)
        table.add_row(
            cat,
            ea.compile_at[k].fmt() if ea and k in ea.compile_at else "—",
            eb.compile_at[k].fmt() if eb and k in eb.compile_at else "—",
            str(t.only_a) if t else "—",
            str(t.only_b) if t else "—",
            f"{t.p_value:.3g}" if t else "—",
            (t.verdict.replace(t.a, "A").replace(t.b, "B") if t else "no shared cases"),
            style="bold" if cat == OVERALL else None,
        )
    return table


def _forgetting_table(
    a: RunRecord,
    b: RunRecord,
    suite: str,
    ra: EvalReport,
    rb: EvalReport,
    max_drop: float | None,
    gates: list[GateResult],
) -> Table | None:
    from rich.table import Table

    ga, gb = ra.general.get(ra.under_test), rb.general.get(rb.under_test)
    if not (ga or gb):
        return None
    drop = max_drop if max_drop is not None else _max_drop(b)
    gate = gate_from_reports(ra, rb, max_drop=drop) if ga and gb else None
    table = Table(
        title=f"eval {suite}: forgetting check (general-code pass@1, 95% CI) and the "
        f"{drop:g}-point gate (B vs A)"
    )
    for col in (f"A {a.id}", f"B {b.id}", "change (points)", "95% CI", "McNemar p", "gate"):
        table.add_column(col)
    cells = (ga.fmt() if ga else "—", gb.fmt() if gb else "—")
    if gate is None:
        why = "not comparable (different suites or no shared problems)" if ga and gb else "—"
        table.add_row(*cells, "—", "—", "—", why)
        return table
    gates.append(gate)
    table.add_row(
        *cells,
        f"{gate.change:+.1f}",
        f"[{gate.low:+.1f}, {gate.high:+.1f}]",
        f"{gate.p_value:.3g}",
        "passed" if gate.passed else "FAILED",
        style=None if gate.passed else "bold red",
    )
    if gate.advice:
        table.caption = gate.advice
    return table


def _max_drop(run: RunRecord) -> float:
    """B's configured gate ([eval] forgetting_max_drop), else the plan's 5 points."""
    value = ((run.config or {}).get("eval") or {}).get("forgetting_max_drop")
    return float(value) if isinstance(value, int | float) else DEFAULT_MAX_DROP
