"""Uncertainty of a single run: percentile bootstrap over queries."""

from __future__ import annotations

import numpy as np


def bootstrap_ci(
    values: np.ndarray, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float]:
    """Percentile bootstrap interval ``(lo, hi)`` of the mean of per-query ``values``.

    ``values``: (n,) per-query numbers (average precision, 0/1 rank-1 hits). ``n_boot``
    resamples of n queries drawn with replacement (numpy Generator seeded by ``seed``, in
    chunks so memory stays ~ 64 MB); the interval holds the central ``1 - alpha`` share of
    the resampled means. Raises ValueError on empty input.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    n = v.shape[0]
    if n == 0:
        raise ValueError("bootstrap_ci: no values (no query was evaluated)")
    if not 0 < alpha < 1 or n_boot < 1:
        raise ValueError(f"bootstrap_ci: need 0 < alpha < 1 and n_boot >= 1; got {alpha}, {n_boot}")
    rng = np.random.default_rng(seed)
    chunk = max(1, (8 << 20) // n)
    means = np.empty(n_boot)
    for b0 in range(0, n_boot, chunk):
        b1 = min(n_boot, b0 + chunk)
        means[b0:b1] = v[rng.integers(0, n, size=(b1 - b0, n))].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)
