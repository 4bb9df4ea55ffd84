"""The plan's 5% rule as a gate: general-code pass@1 of a model against its reference.

"If general performance drops more than 5%, adjust the training mix": a drop of more than
`max_drop` points (5 by default) of forgetting-check pass@1 fails the gate. The eval report, `runs
compare` and `bbjcoder eval --gate` all use `general_gate`, so they agree on the verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bbjcoder.evaluate.metrics import mcnemar_exact, paired_bootstrap_diff
from bbjcoder.records.eval_report import EvalReport, GateVerdict

DEFAULT_MAX_DROP = 5.0  # points of pass@1
ADVICE = (
    "General-code ability dropped more than the plan allows: train with more general code in the mix "
    "([data] general_mix, best the base model's own answers from `bbjcoder data distill-general`, "
    "with a higher general_mix_share), retrain, and evaluate again before exporting this model."
)


@dataclass(frozen=True)
class GateResult:
    """`model` against `reference` on the forgetting problems both were scored on (points: 0-100)."""

    reference: str
    model: str
    suite: str | None
    problems: int
    reference_pass: float  # pass@1 in points
    model_pass: float
    change: float  # model - reference, points
    low: float  # 95% paired bootstrap interval of the change
    high: float
    only_reference: int  # problems only the reference solves (McNemar's discordant pairs)
    only_model: int
    p_value: float
    max_drop: float

    @property
    def passed(self) -> bool:
        """Failed only when the measured drop is larger than `max_drop` points."""
        return self.change >= -self.max_drop

    @property
    def verdict(self) -> str:
        if self.passed:
            return f"passed: general-code pass@1 changed {self.change:+.1f} points (limit -{self.max_drop:g})"
        return f"FAILED: general-code pass@1 dropped {-self.change:.1f} points, more than {self.max_drop:g}"

    @property
    def advice(self) -> str:
        return "" if self.passed else ADVICE

    def record(self) -> GateVerdict:
        """The gate as the eval report stores it."""
        return GateVerdict(
            reference=self.reference,
            model=self.model,
            suite=self.suite,
            problems=self.problems,
            reference_pass=self.reference_pass,
            model_pass=self.model_pass,
            change=self.change,
            low=self.low,
            high=self.high,
            only_reference=self.only_reference,
            only_model=self.only_model,
            p_value=self.p_value,
            max_drop=self.max_drop,
            passed=self.passed,
            verdict=self.verdict,
            advice=self.advice,
        )

    def line(self) -> str:
        """One line for terminals and Markdown: the change with its interval and the paired test."""
        return (
            f"general-code pass@1 {self.reference_pass:.1f} -> {self.model_pass:.1f} "
            f"({self.change:+.1f} points, 95% CI [{self.low:+.1f}, {self.high:+.1f}], "
            f"McNemar p = {self.p_value:.3g}, {self.problems} problems): {self.verdict}"
        )


def general_gate(
    reference: str,
    reference_scores: Mapping[str, float],
    model: str,
    model_scores: Mapping[str, float],
    *,
    max_drop: float = DEFAULT_MAX_DROP,
    suite: str | None = None,
    seed: int = 0,
) -> GateResult | None:
    """Compare per-problem pass rates (`problem id -> share of passing samples`) on the problems
    both have; None when they share none. A problem counts as solved for McNemar's test when at
    least half its samples pass (as the BBj suite's paired test does)."""
    common = sorted(set(reference_scores) & set(model_scores))
    if not common:
        return None
    a = [float(reference_scores[k]) for k in common]
    b = [float(model_scores[k]) for k in common]
    diff = paired_bootstrap_diff(a, b, seed=seed)
    only_ref = sum(1 for x, y in zip(a, b, strict=True) if x >= 0.5 > y)
    only_model = sum(1 for x, y in zip(a, b, strict=True) if y >= 0.5 > x)
    return GateResult(
        reference=reference,
        model=model,
        suite=suite,
        problems=len(common),
        reference_pass=100 * sum(a) / len(a),
        model_pass=100 * sum(b) / len(b),
        change=100 * diff.value,
        low=100 * diff.low,
        high=100 * diff.high,
        only_reference=only_ref,
        only_model=only_model,
        p_value=mcnemar_exact(only_ref, only_model),
        max_drop=max_drop,
    )


def gate_from_reports(
    reference_report: EvalReport,
    model_report: EvalReport,
    *,
    reference: str | None = None,
    model: str | None = None,
    max_drop: float = DEFAULT_MAX_DROP,
    seed: int = 0,
) -> GateResult | None:
    """The gate between two eval reports' models under test (or the named models); None when the
    reports ran different forgetting suites or share no scored problem."""
    suite_a = reference_report.config.forgetting_suite
    suite_b = model_report.config.forgetting_suite
    if _suite_name(suite_a) != _suite_name(suite_b):
        return None
    ra = reference or reference_report.under_test
    mb = model or model_report.under_test
    name_b = mb if mb != ra else f"{mb} (B)"
    return general_gate(
        ra,
        reference_report.general_scores(ra),
        name_b,
        model_report.general_scores(mb),
        max_drop=max_drop,
        suite=_suite_name(suite_b),
        seed=seed,
    )


def _suite_name(path: str | None) -> str | None:
    """A forgetting suite's identity across machines: `humaneval`, or the directory's name."""
    if not path:
        return None
    s = str(path).rstrip("/")
    return s.rsplit("/", 1)[-1]
