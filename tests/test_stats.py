"""Binomial confidence intervals against closed forms, a loop, and exact coverage."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from landscape.stats import clopper_pearson_interval, wilson_interval


def wilson_reference(k: int, n: int, z: float) -> tuple[float, float]:
    """Textbook Wilson score interval for one proportion, written out in scalars."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def test_wilson_matches_scalar_formula_and_known_values():
    z = scipy_stats.norm.ppf(0.975)
    k = np.array([0, 1, 5, 37, 100])
    n = np.array([10, 10, 10, 200, 100])
    low, high = wilson_interval(k, n)
    for i in range(k.size):
        ref = wilson_reference(int(k[i]), int(n[i]), z)
        assert low[i] == pytest.approx(ref[0], abs=1e-12)
        assert high[i] == pytest.approx(ref[1], abs=1e-12)
    # 5 of 10 at 95%: the classic (0.2366, 0.7634); 0 of n: upper bound z^2 / (n + z^2)
    assert (low[2], high[2]) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert low[0] == 0.0 and high[0] == pytest.approx(z * z / (10 + z * z))
    assert high[4] == 1.0


def test_wilson_broadcasts_and_handles_empty():
    low, high = wilson_interval(np.array([[0, 3], [2, 4]]), 4)
    assert low.shape == (2, 2) and np.all(low <= high)
    low0, high0 = wilson_interval(0, 0)
    assert (float(low0), float(high0)) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(5, 3)


@pytest.mark.parametrize("p", [0.05, 0.3, 0.5])
def test_coverage_is_near_nominal(p):
    """Exact coverage over the binomial distribution (no simulation): Wilson ~95%, exact >= 95%."""
    n = 200
    k = np.arange(n + 1)
    weights = scipy_stats.binom.pmf(k, n, p)
    low, high = wilson_interval(k, n)
    assert 0.92 < np.sum(weights * ((low <= p) & (p <= high))) < 0.975
    low, high = clopper_pearson_interval(k, n)
    assert np.sum(weights * ((low <= p) & (p <= high))) >= 0.95


def test_clopper_pearson_closed_form_at_zero():
    low, high = clopper_pearson_interval(np.array([0, 10]), 10)
    assert high[0] == pytest.approx(1 - 0.025 ** (1 / 10))
    assert low[1] == pytest.approx(0.025 ** (1 / 10))
