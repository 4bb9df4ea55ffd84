"""Scoring samples: compile with the BBj checker, check idioms, run forgetting-check solutions.

Turns samples.jsonl records into per-case results that metrics and report aggregate. BBj is only
parsed, never executed; Python from the forgetting suite runs in the sandbox of forgetting.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

from bbjcoder.bbj import check_source
from bbjcoder.evaluate.copying import MOSTLY_REUSED, is_copy, reused_share
from bbjcoder.evaluate.extract import extract_code, has_statements
from bbjcoder.evaluate.forgetting import OutcomeJSON, Problem, SandboxLimits, check_many
from bbjcoder.evaluate.metrics import bootstrap_ci, pass_at_k
from bbjcoder.evaluate.samples import SampleRow
from bbjcoder.evaluate.suite import Case, categories, check_idioms
from bbjcoder.records.eval_report import CaseRecord, CategorySummary, Estimate


class DiagnosticJSON(TypedDict):
    """A checker diagnostic as reports and serve_check.json store it."""

    line: int
    column: int
    message: str


CheckFn = Callable[[str], list[Any]]


def default_checker() -> CheckFn:
    """`bbjcoder.bbj.check_source`, the ground truth of compile@k."""
    return check_source


def sample_code(case: Case, text: str) -> str:
    """The code a sample is judged by. FIM samples are the middle: extracted only when the model
    fenced it, else taken verbatim (its leading/trailing newlines matter when joined)."""
    if case.is_fim and "```" not in text and "~~~" not in text:
        return text
    return extract_code(text, "bbj")


def program_for(case: Case, code: str) -> str:
    """What the checker sees: FIM middles are joined with their prefix and suffix."""
    if case.is_fim:
        return f"{case.prefix or ''}{code}{case.suffix or ''}"
    return code


@dataclass(frozen=True)
class SampleResult:
    sample: int
    compiles: bool
    diagnostics: tuple[DiagnosticJSON, ...]
    idioms_ok: bool | None  # None when the case has no idioms
    idiom_problems: tuple[str, ...]
    code: str
    copied: bool = False  # the code only repeats code of the prompt (counted as no code)
    reused: float | None = None  # share of its lines found in the prompt's code (None: nothing to reuse)


@dataclass(frozen=True)
class CaseResult:
    """One model on one case: n samples, c of them compile, idiom passes among them."""

    model: str
    case: Case
    samples: tuple[SampleResult, ...]

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def c(self) -> int:
        return sum(s.compiles for s in self.samples)

    @property
    def idiom_rate(self) -> float | None:
        marks = [s.idioms_ok for s in self.samples if s.idioms_ok is not None]
        return sum(marks) / len(marks) if marks else None

    @property
    def copies(self) -> int:
        return sum(s.copied for s in self.samples)

    @property
    def solved(self) -> bool:
        """The binary outcome paired tests use: at least half the samples compile."""
        return self.n > 0 and 2 * self.c >= self.n

    def compile_at(self, k: int) -> float | None:
        return pass_at_k(self.n, self.c, k) if self.n >= k else None

    def record(self, ks: Sequence[int]) -> CaseRecord:
        """The case as the eval report keeps it."""
        return CaseRecord.model_validate(
            {
                "model": self.model,
                "case_id": self.case.id,
                "type": self.case.type,
                "generation": list(self.case.generation),
                "difficulty": self.case.difficulty,
                "prompt": self.case.prompt,
                "n": self.n,
                "c": self.c,
                "compile_at_k": {str(k): self.compile_at(k) for k in ks},
                "idiom_rate": self.idiom_rate,
                "copies": self.copies,
                "solved": self.solved,
                "samples": [
                    {
                        "sample": s.sample,
                        "compiles": s.compiles,
                        "diagnostics": list(s.diagnostics),
                        "idioms_ok": s.idioms_ok,
                        "idiom_problems": list(s.idiom_problems),
                        "code": s.code,
                        "copied": s.copied,
                        "reused": s.reused,
                    }
                    for s in self.samples
                ],
            }
        )


def compile_diagnostics(code: str, check: CheckFn, program: str | None = None) -> tuple[DiagnosticJSON, ...]:
    """compile@k's verdict on extracted `code`: empty when it compiles.

    Code with no statement (empty, or REM comments only) fails without asking the checker; else
    the checker judges `program` (the code itself, or a FIM middle joined with its context).
    """
    if has_statements(code):
        return tuple(_diag(d) for d in check(code if program is None else program))
    if code.strip():
        return ({"line": 0, "column": 0, "message": "only comments in the output, no statement"},)
    return ({"line": 0, "column": 0, "message": "no code in the output"},)


COPY_MESSAGE = "the code only repeats code from the prompt: not an answer (counted as no code)"
MIGRATION_MESSAGE = "a migration answer must use the target generation's idioms"


def score_sample(case: Case, index: int, text: str, check: CheckFn) -> SampleResult:
    """One sample's verdict. Beyond compiling: code that only repeats the prompt's code counts as
    no code, and a migration answer that misses the case's idioms does not pass (evals/README.md)."""
    code = sample_code(case, text)
    copied = has_statements(code) and is_copy(case, code)
    if copied:
        diags: tuple[DiagnosticJSON, ...] = ({"line": 0, "column": 0, "message": COPY_MESSAGE},)
    else:
        diags = compile_diagnostics(code, check, program_for(case, code))
    ok, problems = check_idioms(case.idioms, code) if case.idioms else (None, [])
    if case.type == "migration" and ok is False and not diags:
        detail = "; ".join(problems)
        diags = ({"line": 0, "column": 0, "message": f"{MIGRATION_MESSAGE}: {detail}"},)
    return SampleResult(index, not diags, diags, ok, tuple(problems), code, copied, reused_share(case, code))


def _diag(d: Any) -> DiagnosticJSON:
    """A checker's diagnostic (a `bbj.Diagnostic`, or anything with line/column/message) as JSON."""
    return {
        "line": int(getattr(d, "line", 0)),
        "column": int(getattr(d, "column", 0)),
        "message": str(getattr(d, "message", d)),
    }


def score_model(
    model: str, cases: Sequence[Case], records: Iterable[SampleRow], check: CheckFn, n: int
) -> list[CaseResult]:
    """Per-case results for one model from its sample records (the first n samples per case)."""
    by_case: dict[str, dict[int, str]] = {}
    for rec in records:
        if rec["model"] == model and int(rec["sample"]) < n:
            by_case.setdefault(rec["case_id"], {})[int(rec["sample"])] = rec["text"]
    results = []
    for case in cases:
        texts = by_case.get(case.id, {})
        samples = tuple(score_sample(case, i, texts[i], check) for i in sorted(texts))
        results.append(CaseResult(model, case, samples))
    return results


def summarise(results: Sequence[CaseResult], ks: Sequence[int], seed: int = 0) -> dict[str, CategorySummary]:
    """compile@k and idiom pass rate with bootstrap CIs: overall and per (axis, value) category."""
    groups: dict[tuple[str, str], list[CaseResult]] = {("overall", "all"): [r for r in results if r.n]}
    for r in results:
        if r.n:
            for cat in categories(r.case):
                groups.setdefault(cat, []).append(r)
    out: dict[str, CategorySummary] = {}
    for (axis, value), rs in groups.items():
        compile_at = {
            k: bootstrap_ci([s for r in rs if (s := r.compile_at(k)) is not None], seed=seed) for k in ks
        }
        idiom = [s for r in rs if (s := r.idiom_rate) is not None]
        n_samples = sum(r.n for r in rs)
        reused = [x for r in rs for s in r.samples if (x := s.reused) is not None]
        out[f"{axis}:{value}"] = CategorySummary(
            axis=axis,
            value=value,
            cases=len(rs),
            failed_cases=sum(r.c == 0 for r in rs),
            compile_at={k: Estimate.model_validate(est.to_dict()) for k, est in compile_at.items()},
            idioms=Estimate.model_validate(bootstrap_ci(idiom, seed=seed).to_dict()),
            copy_rate=sum(r.copies for r in rs) / n_samples if n_samples else 0.0,
            reuse=sum(reused) / len(reused) if reused else None,
            mostly_reused=sum(x >= MOSTLY_REUSED for x in reused) / len(reused) if reused else None,
        )
    return out


@dataclass(frozen=True)
class GeneralResult:
    """Forgetting check: one model on one Python problem."""

    model: str
    problem_id: str
    outcomes: tuple[OutcomeJSON, ...] = field(default_factory=tuple)

    @property
    def pass_rate(self) -> float:
        return (
            sum(o["status"] == "passed" for o in self.outcomes) / len(self.outcomes) if self.outcomes else 0.0
        )

    def pass_at(self, k: int) -> float | None:
        """Unbiased pass@k over this problem's n samples (None when n < k); pass@1 = pass_rate."""
        n = len(self.outcomes)
        c = sum(o["status"] == "passed" for o in self.outcomes)
        return pass_at_k(n, c, k) if n >= k else None


def score_general(
    model: str,
    problems: Sequence[Problem],
    records: Iterable[SampleRow],
    limits: SandboxLimits = SandboxLimits(),
    *,
    workers: int | None = None,
) -> list[GeneralResult]:
    """Execute every sample of `model` against its problem's tests, `workers` sandboxes at once
    (default: one per core)."""
    by_id = {p.id: p for p in problems}
    todo = [
        (by_id[rec["case_id"]], rec)
        for rec in sorted(records, key=lambda r: (r["case_id"], int(r["sample"])))
        if rec["model"] == model and rec["case_id"] in by_id
    ]
    results = check_many([(problem, rec["code"]) for problem, rec in todo], limits, workers=workers)
    outcomes: dict[str, list[OutcomeJSON]] = {}
    for (problem, rec), res in zip(todo, results, strict=True):
        outcomes.setdefault(problem.id, []).append(res.outcome(rec["sample"]))
    return [GeneralResult(model, p.id, tuple(outcomes.get(p.id, []))) for p in problems if p.id in outcomes]
