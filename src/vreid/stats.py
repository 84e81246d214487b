"""Uncertainty of a single run: percentile bootstrap over queries."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def bootstrap_ci(
    values: Iterable[float],
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    *,
    max_chunk_elems: int = 1 << 22,
) -> tuple[float, float]:
    """Percentile bootstrap ``(1 - alpha)`` interval of the mean of per-query ``values``.

    ``values`` are e.g. per-query average precisions or 0/1 rank-1 hits. Resamples are
    drawn as (rows, n) index matrices, ``max_chunk_elems`` indices at a time, so memory
    stays bounded for any ``n_boot``. Deterministic for a ``seed``. The bounds are clipped
    to [min, max] of ``values`` (every resampled mean lies there), so a constant input
    gives ``(v, v)`` exactly. Raises ValueError for empty or non-finite input.
    """
    arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, float)
    if arr.ndim != 1:
        raise ValueError(f"bootstrap_ci: values must be one-dimensional, got shape {arr.shape}")
    n = arr.size
    if n == 0:
        raise ValueError("bootstrap_ci: values is empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError("bootstrap_ci: values contain NaN or inf")
    if n_boot < 1:
        raise ValueError(f"bootstrap_ci: n_boot must be >= 1, got {n_boot}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"bootstrap_ci: alpha must be in (0, 1), got {alpha}")
    rng = np.random.default_rng(seed)
    rows = max(1, min(n_boot, max_chunk_elems // n))
    means = np.empty(n_boot, dtype=float)
    for start in range(0, n_boot, rows):
        stop = min(start + rows, n_boot)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = arr[idx].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2.0, 1.0 - alpha / 2.0])
    vmin, vmax = float(arr.min()), float(arr.max())
    return float(np.clip(lo, vmin, vmax)), float(np.clip(hi, vmin, vmax))
