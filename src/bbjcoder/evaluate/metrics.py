"""Statistics for the eval report: compile@k, bootstrap confidence intervals, McNemar's exact test,
Wilson intervals, and per-category aggregation of per-case scores.

Pure Python + numpy; every function is unit-tested against hand-computed values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimator 1 - C(n-c, k) / C(n, k) of P(at least one of k samples passes).

    n samples were drawn, c passed. Computed in the numerically stable product form
    1 - prod_{i=n-c+1..n} (1 - k / i) (Chen et al. 2021), which never forms huge binomials.
    """
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got c={c}, n={n}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


@dataclass(frozen=True)
class Estimate:
    """A mean over cases with a 95% interval; `n` is the number of cases behind it."""

    value: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, float | int | None]:
        """JSON-able; an estimate over no cases has null value and bounds (NaN is not JSON)."""
        if self.n == 0:
            return {"value": None, "low": None, "high": None, "n": 0}
        return {"value": self.value, "low": self.low, "high": self.high, "n": self.n}

    def fmt(self, pct: bool = True) -> str:
        if self.n == 0:
            return "–"
        if pct:
            return f"{100 * self.value:.1f}% [{100 * self.low:.1f}, {100 * self.high:.1f}]"
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


def bootstrap_ci(
    scores: Sequence[float], *, resamples: int = 2000, seed: int = 0, confidence: float = 0.95
) -> Estimate:
    """Mean of per-case `scores` with a percentile bootstrap interval (cases resampled with
    replacement, `resamples` times, seeded so a report is reproducible)."""
    data = np.asarray(scores, dtype=float)
    if data.size == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    mean = float(data.mean())
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, data.size, size=(resamples, data.size))
    means = data[idx].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    # Clamp: float rounding in the quantile can put a bound a hair outside [min, max] of the data.
    return Estimate(mean, float(min(low, mean)), float(max(high, mean)), int(data.size))


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs.

    b = cases only A solved, c = cases only B solved. Under H0 each discordant pair is a fair coin,
    so p = min(1, 2 * P[Binomial(b + c, 1/2) <= min(b, c)]). With no discordant pairs p = 1.
    """
    if b < 0 or c < 0:
        raise ValueError("counts must be non-negative")
    m = b + c
    if m == 0:
        return 1.0
    tail = sum(math.comb(m, i) for i in range(min(b, c) + 1)) / 2.0**m
    return min(1.0, 2.0 * tail)


@dataclass(frozen=True)
class PairedComparison:
    """Model B against model A on the same cases (binary outcome per case)."""

    a: str
    b: str
    cases: int
    both: int
    only_a: int
    only_b: int
    neither: int
    p_value: float
    alpha: float = 0.05

    @property
    def verdict(self) -> str:
        """'B beats A' / 'A beats B' only when significant at alpha; otherwise no claim."""
        if self.p_value < self.alpha and self.only_b > self.only_a:
            return f"{self.b} beats {self.a}"
        if self.p_value < self.alpha and self.only_a > self.only_b:
            return f"{self.a} beats {self.b}"
        return "no significant difference"

    def to_dict(self) -> dict[str, object]:
        return {
            "a": self.a,
            "b": self.b,
            "cases": self.cases,
            "both": self.both,
            "only_a": self.only_a,
            "only_b": self.only_b,
            "neither": self.neither,
            "p_value": self.p_value,
            "verdict": self.verdict,
        }


def paired_compare(a_name: str, a: dict[str, bool], b_name: str, b: dict[str, bool]) -> PairedComparison:
    """McNemar exact test on the cases both models were scored on (`case id -> solved`)."""
    common = sorted(set(a) & set(b))
    both = sum(1 for k in common if a[k] and b[k])
    only_a = sum(1 for k in common if a[k] and not b[k])
    only_b = sum(1 for k in common if b[k] and not a[k])
    neither = len(common) - both - only_a - only_b
    return PairedComparison(
        a_name, b_name, len(common), both, only_a, only_b, neither, mcnemar_exact(only_a, only_b)
    )


def wilson_interval(successes: float, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval for a proportion (ties may count as half a success)."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def paired_bootstrap_diff(
    a: Sequence[float], b: Sequence[float], *, resamples: int = 2000, seed: int = 0, confidence: float = 0.95
) -> Estimate:
    """Mean of b - a over paired cases with a percentile bootstrap interval (the pairs are
    resampled together, so the interval reflects the per-case correlation of the two models)."""
    if len(a) != len(b):
        raise ValueError(f"paired scores differ in length: {len(a)} vs {len(b)}")
    return bootstrap_ci(
        [y - x for x, y in zip(a, b, strict=True)], resamples=resamples, seed=seed, confidence=confidence
    )
