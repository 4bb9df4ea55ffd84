"""`EvalReport`: eval/<suite>/report.json, what the eval stage hands to reports, model cards and compare.

Every renderer (report.md, report.html, the model card, the terminal, `runs compare`) reads the
report through these types and methods; the JSON keys stay those of the files written before.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_serializer, model_validator

from bbjcoder.records.base import Record

OVERALL = "overall:all"
_AXIS_ORDER = {"overall": 0, "generation": 1, "type": 2, "difficulty": 3}
_COMPILE_AT = re.compile(r"^compile@(\d+)$")


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Estimate(_Part):
    """A mean over `n` cases with a 95% interval; no cases: n = 0 and null numbers."""

    value: float | None = None
    low: float | None = None
    high: float | None = None
    n: int = 0

    @property
    def known(self) -> bool:
        return bool(self.n) and self.value is not None

    def fmt(self) -> str:
        """`12.5% [3.1, 25.0]`, or `–` for no cases."""
        if not self.known or self.low is None or self.high is None or self.value is None:
            return "–"
        return f"{100 * self.value:.1f}% [{100 * self.low:.1f}, {100 * self.high:.1f}]"

    def pct(self, digits: int = 1) -> str:
        """The value alone, `12.5%`, or `–`."""
        return f"{100 * self.value:.{digits}f}%" if self.known and self.value is not None else "–"


class CategorySummary(_Part):
    """One model on one category (`overall:all`, `generation:dwc`, ...); JSON keys `compile@k`."""

    axis: str = ""
    value: str = ""
    cases: int = 0
    failed_cases: int = 0
    compile_at: dict[int, Estimate] = {}
    idioms: Estimate = Estimate()
    copy_rate: float | None = None
    # Mean share of an answer's lines found in the prompt's code, and the share of answers with at
    # least MOSTLY_REUSED of them, over samples whose prompt shows code (absent: none, or an old report).
    reuse: float | None = None
    mostly_reused: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _read_compile_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and "compile_at" not in data:
            data = dict(data)
            at = {}
            for key in [k for k in data if isinstance(k, str) and _COMPILE_AT.match(k)]:
                at[int(key.split("@")[1])] = data.pop(key)
            data["compile_at"] = at
        return data

    @model_serializer(mode="wrap")
    def _write_compile_keys(self, handler: Any) -> Any:
        body = handler(self)
        at = body.pop("compile_at")
        head = {key: body.pop(key) for key in ("axis", "value", "cases", "failed_cases")}
        for key in ("reuse", "mostly_reused"):  # written only when known, as reports before them
            if body.get(key) is None:
                body.pop(key, None)
        return {**head, **{f"compile@{k}": est for k, est in at.items()}, **body}

    def at(self, k: int) -> Estimate:
        return self.compile_at.get(k) or Estimate()


class ModelInfo(_Part):
    label: str
    role: str = "model"  # "model" (under test) or "baseline"
    spec: str = ""
    description: dict[str, Any] = {}  # the backend's own description (its keys differ per backend)
    model_hash: str = ""
    backend_hash: str = ""


class SuiteInfo(_Part):
    name: str = ""
    path: str = ""
    cases: int = 0
    sha256: str = ""


class EvalSettingsInfo(_Part):
    """The settings the report was made with (sampling, k values, the forgetting check)."""

    n: int = 0
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 0
    stop: list[str] = []
    seed: int = 0
    batch_size: int = 0
    ks: list[int] = []
    max_cases: int | None = None
    cases_seed: int = 0
    forgetting_suite: str | None = None
    forgetting_samples: int = 1
    forgetting_max: int | None = None
    forgetting_prompt: str = "auto"
    forgetting_max_new_tokens: int | None = None
    forgetting_temperature: float | None = None
    max_general_drop: float | None = None
    forgetting_prompts: dict[str, str] = {}  # model label -> chat | completion


class Comparison(_Part):
    """McNemar's exact test of B against A on one category's shared cases."""

    category: str
    a: str
    b: str
    cases: int = 0
    both: int = 0
    only_a: int = 0
    only_b: int = 0
    neither: int = 0
    p_value: float = 1.0
    verdict: str = ""


class GateVerdict(_Part):
    """The forgetting gate (general-code pass@1 of the model against its reference, in points)."""

    reference: str
    model: str
    suite: str | None = None
    problems: int = 0
    reference_pass: float = 0.0
    model_pass: float = 0.0
    change: float = 0.0
    low: float = 0.0
    high: float = 0.0
    only_reference: int = 0
    only_model: int = 0
    p_value: float = 1.0
    max_drop: float = 5.0
    passed: bool = True
    verdict: str = ""
    advice: str = ""


class WeakCategory(_Part):
    """A category with a low compile@k (JSON key `compile@k` for `score`)."""

    category: str
    cases: int = 0
    failed_cases: int = 0
    k: int = 1
    score: float = 0.0

    @model_validator(mode="before")
    @classmethod
    def _read_score(cls, data: Any) -> Any:
        if isinstance(data, dict) and "score" not in data:
            data = dict(data)
            for key in [k for k in data if isinstance(k, str) and _COMPILE_AT.match(k)]:
                data["k"], data["score"] = int(key.split("@")[1]), data.pop(key)
        return data

    @model_serializer(mode="wrap")
    def _write_score(self, handler: Any) -> Any:
        body = handler(self)
        k, score = body.pop("k"), body.pop("score")
        return {**body, f"compile@{k}": score}


class Diagnostic(_Part):
    line: int = 0
    column: int = 0
    message: str = ""


class Failure(_Part):
    case_id: str
    category: str = ""
    prompt: str = ""
    diagnostics: list[Diagnostic] = []
    idiom_problems: list[str] = []
    code: str = ""


class WeakAreas(_Part):
    k: int = 1
    categories: list[WeakCategory] = []
    failures: list[Failure] = []


class SampleRecord(_Part):
    sample: int
    compiles: bool
    diagnostics: list[Diagnostic] = []
    idioms_ok: bool | None = None
    idiom_problems: list[str] = []
    code: str = ""
    copied: bool = False
    reused: float | None = None  # share of its lines found in the prompt's code

    @model_serializer(mode="wrap")
    def _omit_unknown_reuse(self, handler: Any) -> Any:
        body = handler(self)
        if body.get("reused") is None:  # as reports written before the share
            body.pop("reused", None)
        return body


class CaseRecord(_Part):
    """One model on one case: n samples, c compile; `solved` (half or more compile) for McNemar."""

    model: str
    case_id: str
    type: str = ""
    generation: list[str] = []
    difficulty: str = ""
    prompt: str = ""
    n: int = 0
    c: int = 0
    compile_at_k: dict[str, float | None] = {}
    idiom_rate: float | None = None
    copies: int = 0
    solved: bool = False
    samples: list[SampleRecord] = []

    @property
    def category(self) -> str:
        return f"{'/'.join(self.generation)} · {self.type} · {self.difficulty}"

    def category_keys(self) -> list[str]:
        """The categories the paired test groups this case under."""
        return [
            OVERALL,
            *(f"generation:{g}" for g in self.generation),
            f"type:{self.type}",
            f"difficulty:{self.difficulty}",
        ]


class Outcome(_Part):
    """One forgetting-check sample run in the sandbox."""

    sample: int = 0
    status: str = ""
    reason: str | None = None
    returncode: int | None = None
    seconds: float = 0.0
    stderr: str = ""
    network_isolated: bool | None = None


class GeneralCase(_Part):
    model: str
    problem_id: str
    outcomes: list[Outcome] = []

    @property
    def pass_rate(self) -> float | None:
        if not self.outcomes:
            return None
        return sum(o.status == "passed" for o in self.outcomes) / len(self.outcomes)


class ReviewRow(_Part):
    """Human review: `model` against `opponent`; win rate counts a tie as half a win."""

    model: str
    opponent: str
    n: int
    wins: int
    ties: int
    losses: int
    win_rate: float
    low: float
    high: float
    quality: float | None = None
    idiomatic: float | None = None
    explanation: float | None = None


class ReviewSummary(_Part):
    ratings: int = 0
    table: list[ReviewRow] = []


class SummaryRow(_Part):
    """One line of the summary table every renderer shows."""

    label: str
    role: str
    compile_at: list[tuple[int, Estimate]]
    idioms: Estimate
    copy_rate: float | None
    general: Estimate | None

    @property
    def copy_rate_text(self) -> str:
        return "–" if self.copy_rate is None else f"{self.copy_rate:.1%}"


class EvalReport(Record):
    """Everything an eval produced: settings, per-model summaries per category, paired tests, the
    forgetting check and its gate, weak areas, every scored case and the provenance hashes."""

    KIND: ClassVar[str] = "eval-report"
    VERSION: ClassVar[int] = 1

    suite: SuiteInfo = Field(default_factory=SuiteInfo)
    models: list[ModelInfo] = Field(default_factory=list)
    config: EvalSettingsInfo = Field(default_factory=EvalSettingsInfo)
    config_hash: str = ""
    ks: list[int] = Field(default_factory=lambda: [1])
    summary: dict[str, dict[str, CategorySummary]] = Field(
        default_factory=dict
    )  # model label -> category key -> summary
    general: dict[str, Estimate] = Field(default_factory=dict)  # model label -> general-code pass@1
    general_gate: GateVerdict | None = None
    general_at_k: dict[str, dict[str, Estimate]] = Field(
        default_factory=dict
    )  # model label -> "pass@k" -> estimate
    comparisons: list[Comparison] = Field(default_factory=list)
    weak_areas: WeakAreas = Field(default_factory=WeakAreas)
    cases: list[CaseRecord] = Field(default_factory=list)
    general_cases: list[GeneralCase] = Field(default_factory=list)
    review: ReviewSummary | None = None

    # --- who ---------------------------------------------------------------------------------

    @property
    def labels(self) -> list[str]:
        return [m.label for m in self.models]

    @property
    def under_test(self) -> str:
        """The label of the model under test (the first model)."""
        return self.models[0].label

    @property
    def baseline(self) -> str | None:
        """The first baseline's label, if any."""
        return next((m.label for m in self.models if m.role == "baseline"), None)

    @property
    def k(self) -> int:
        """The smallest k: what per-category tables and plots show."""
        return min(self.ks)

    # --- results -----------------------------------------------------------------------------

    def result(self, label: str, category: str = OVERALL) -> CategorySummary | None:
        """One model's summary in one category (None when it has no case there)."""
        return self.summary.get(label, {}).get(category)

    def category_keys(self) -> list[str]:
        """Category keys in reading order: overall, generation:*, type:*, difficulty:*."""
        keys: set[str] = set()
        for per in self.summary.values():
            keys |= set(per)
        return sorted(keys, key=lambda key: (_AXIS_ORDER.get(key.split(":")[0], 9), key))

    def category_rows(self) -> list[tuple[str, int, list[Estimate]]]:
        """Per category: (key, cases, compile@k (smallest k) of each model in order)."""
        rows = []
        for key in self.category_keys():
            per = [self.result(label, key) for label in self.labels]
            cases = next((p.cases for p in per if p), 0)
            rows.append((key, cases, [p.at(self.k) if p else Estimate() for p in per]))
        return rows

    def reuse_rows(self) -> list[tuple[str, list[CategorySummary | None]]]:
        """Per type whose prompts show code: each model's summary there, for how much of its answers
        is the prompt's code (`reuse`, `mostly_reused`). Empty for reports written before the share."""
        rows = []
        for key in self.category_keys():
            if key.startswith("type:"):
                per = [self.result(label, key) for label in self.labels]
                if any(p is not None and p.reuse is not None for p in per):
                    rows.append((key, per))
        return rows

    def summary_rows(self) -> list[SummaryRow]:
        """The summary table: per model, overall compile@k for each k, idioms, copy rate and
        general-code pass@1. Markdown, HTML, the model card and the terminal all show these rows."""
        rows = []
        for m in self.models:
            overall = self.result(m.label)
            rows.append(
                SummaryRow(
                    label=m.label,
                    role=m.role,
                    compile_at=[(k, overall.at(k) if overall else Estimate()) for k in self.ks],
                    idioms=overall.idioms if overall else Estimate(),
                    copy_rate=overall.copy_rate if overall else None,
                    general=self.general.get(m.label),
                )
            )
        return rows

    def overall_comparisons(self) -> list[Comparison]:
        """The paired tests over all cases (one per baseline)."""
        return [c for c in self.comparisons if c.category == OVERALL]

    def headline(self) -> str:
        """One line: compile@k of the model under test against the first baseline, the paired
        test's verdict and the gate, e.g. `compile@1 40% vs base 10%: no significant difference`."""
        under = self.result(self.under_test)
        base = self.result(self.baseline) if self.baseline else None
        verdict = next((c.verdict for c in self.overall_comparisons()), "no comparison")
        text = (
            f"compile@{self.k} {under.at(self.k).pct(0) if under else '–'} vs base "
            f"{base.at(self.k).pct(0) if base else '–'}: {verdict}"
        )
        gate = self.general_gate
        if gate:
            text += f"; general-code gate {'passed' if gate.passed else 'FAILED'} ({gate.change:+.1f} points)"
        return text

    def run_metrics(self) -> dict[str, JsonValue]:
        """What run.json keeps under metrics.eval.<suite> for the model under test (so `runs
        compare` lines runs up without reading reports): compile@k, idioms, general pass@1, the
        gate, and compile@k (smallest k) per category."""
        label = self.under_test
        overall = self.result(label)
        out: dict[str, JsonValue] = {}
        if overall:
            out.update({f"compile@{k}": est.value for k, est in overall.compile_at.items()})
            out["idioms"] = overall.idioms.value
        general = self.general.get(label)
        if general:
            out["general_pass@1"] = general.value
        if self.general_gate:
            out["general_change_points"] = self.general_gate.change
            out["general_gate_passed"] = self.general_gate.passed
        out[f"compile@{self.k}_by_category"] = {
            key: entry.at(self.k).value
            for key, entry in self.summary.get(label, {}).items()
            if key != OVERALL
        }
        return out

    def cases_of(self, label: str) -> list[CaseRecord]:
        return [c for c in self.cases if c.model == label]

    def general_scores(self, label: str) -> dict[str, float]:
        """Per-problem pass rates of `label` on the forgetting check (problems with samples only)."""
        return {
            g.problem_id: rate
            for g in self.general_cases
            if g.model == label and (rate := g.pass_rate) is not None
        }
