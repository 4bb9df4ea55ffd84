"""Statistics against values computed by hand (see each test's comment)."""

from __future__ import annotations

import math

import pytest

from bbjcoder.evaluate.metrics import (
    bootstrap_ci,
    mcnemar_exact,
    paired_compare,
    pass_at_k,
    wilson_interval,
)


def test_pass_at_k_matches_hand_computed_binomials() -> None:
    # n=5, c=2, k=1: 1 - C(3,1)/C(5,1) = 1 - 3/5 = 0.4
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)
    # n=5, c=2, k=2: 1 - C(3,2)/C(5,2) = 1 - 3/10 = 0.7
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7)
    # n=10, c=3, k=5: 1 - C(7,5)/C(10,5) = 1 - 21/252 = 0.916666...
    assert pass_at_k(10, 3, 5) == pytest.approx(1 - 21 / 252)
    # more samples than failures: certain success; no passes: certain failure
    assert pass_at_k(5, 4, 2) == 1.0
    assert pass_at_k(5, 0, 5) == 0.0


def test_pass_at_k_is_stable_where_binomials_overflow_floats() -> None:
    # C(2000, 1000) overflows a float; the product form must still agree with exact integers.
    exact = 1 - math.comb(1500, 1000) / math.comb(2000, 1000)
    assert pass_at_k(2000, 500, 1000) == pytest.approx(float(exact), rel=1e-9)


def test_pass_at_k_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def test_mcnemar_exact_textbook_values() -> None:
    # b=1, c=9: p = 2 * (C(10,0) + C(10,1)) / 2^10 = 22/1024
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024)
    # b=2, c=8: p = 2 * (1 + 10 + 45) / 1024 = 112/1024
    assert mcnemar_exact(8, 2) == pytest.approx(112 / 1024)
    # symmetric counts can never be significant; no discordant pairs gives p = 1
    assert mcnemar_exact(5, 5) == 1.0
    assert mcnemar_exact(0, 0) == 1.0


def test_paired_compare_claims_a_winner_only_when_significant() -> None:
    ids = [f"c{i}" for i in range(20)]
    a = {k: i < 10 for i, k in enumerate(ids)}  # A solves c0..c9
    b = {k: i < 10 or i >= 11 for i, k in enumerate(ids)}  # B solves all but c10: 9 discordant, 0 for A
    cmp = paired_compare("A", a, "B", b)
    assert (cmp.both, cmp.only_a, cmp.only_b, cmp.neither) == (10, 0, 9, 1)
    assert cmp.p_value == pytest.approx(2 / 512)
    assert cmp.verdict == "B beats A"
    b_close = {k: i < 12 for i, k in enumerate(ids)}  # only two discordant pairs
    assert paired_compare("A", a, "B", b_close).verdict == "no significant difference"


def test_bootstrap_on_degenerate_sample_has_zero_width() -> None:
    est = bootstrap_ci([1.0] * 30, seed=3)
    assert (est.value, est.low, est.high, est.n) == (1.0, 1.0, 1.0, 30)


def test_bootstrap_is_seeded_and_brackets_the_mean() -> None:
    scores = [0.0, 1.0] * 25
    e1, e2 = bootstrap_ci(scores, seed=7), bootstrap_ci(scores, seed=7)
    assert e1 == e2
    assert e1.low < 0.5 < e1.high
    # the normal approximation gives roughly 0.5 +- 1.96 * sqrt(0.25/50) = +-0.139
    assert 0.08 < e1.high - 0.5 < 0.2
    assert math.isnan(bootstrap_ci([]).value)
    assert bootstrap_ci([]).to_dict() == {"value": None, "low": None, "high": None, "n": 0}


def test_wilson_interval_matches_hand_computation() -> None:
    # 8/10, z=1.96: centre = (0.8 + 0.19208)/1.38416 = 0.71675; half = 1.96*sqrt(0.016+0.009604)/1.38416
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-3)
    assert high == pytest.approx(0.9433, abs=1e-3)
