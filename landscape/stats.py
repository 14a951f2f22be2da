"""Confidence intervals for fractions (how often a study lands in a type, a basin, ...).

Both functions are vectorised: ``successes`` and ``n`` broadcast as NumPy arrays, and the
result is a pair ``(low, high)`` of arrays of the broadcast shape (floats, Python scalars in
give 0-d arrays out). ``n == 0`` gives the uninformative interval (0, 1).
"""

from __future__ import annotations

import numpy as np
from scipy import stats as scipy_stats


def _check(successes: np.ndarray, n: np.ndarray, confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if np.any(n < 0) or np.any(successes < 0) or np.any(successes > n):
        raise ValueError("need 0 <= successes <= n")


def wilson_interval(successes, n, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion ``successes / n``.

    Args:
      successes: counts, any shape (broadcast against ``n``).
      n: trials, any shape.
      confidence: two-sided coverage, e.g. 0.95.

    Returns:
      ``(low, high)`` arrays in [0, 1]; (0, 1) where ``n == 0``.

    References:
      Wilson (1927), "Probable inference, the law of succession, and statistical inference",
      JASA 22:209-212; recommended over the Wald interval by Brown, Cai & DasGupta (2001).
    """
    successes = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    _check(successes, n, confidence)
    z = scipy_stats.norm.ppf(0.5 + confidence / 2.0)
    safe_n = np.where(n > 0, n, 1.0)
    p = successes / safe_n
    denominator = 1.0 + z**2 / safe_n
    centre = (p + z**2 / (2.0 * safe_n)) / denominator
    half = z * np.sqrt(p * (1.0 - p) / safe_n + z**2 / (4.0 * safe_n**2)) / denominator
    low = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), 0.0)
    high = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), 1.0)
    # exact endpoints at the boundary (rounding can leave 1e-17 there)
    low = np.where(successes == 0, 0.0, low)
    high = np.where((successes == n) & (n > 0), 1.0, high)
    return low, high


def clopper_pearson_interval(successes, n, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Clopper-Pearson) binomial interval from beta quantiles; conservative.

    References:
      Clopper & Pearson (1934), "The use of confidence or fiducial limits illustrated in the
      case of the binomial", Biometrika 26:404-413.
    """
    successes = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    _check(successes, n, confidence)
    alpha = 1.0 - confidence
    with np.errstate(invalid="ignore", divide="ignore"):
        low = scipy_stats.beta.ppf(alpha / 2.0, successes, n - successes + 1.0)
        high = scipy_stats.beta.ppf(1.0 - alpha / 2.0, successes + 1.0, n - successes)
    low = np.where(successes == 0, 0.0, low)
    high = np.where(successes == n, 1.0, high)
    return np.asarray(low, dtype=float), np.asarray(high, dtype=float)
