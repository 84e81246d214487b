"""tau from ti (VAPC Eq. 7) against brute force over all cross-view pairs."""

from __future__ import annotations

import numpy as np
import pytest

import vreid.cluster.tau as tau_mod
from vreid.cluster.tau import count_cross_view_pairs, tau_from_ti


def normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def brute_force_sorted(x: np.ndarray, views: np.ndarray) -> np.ndarray:
    """Every cross-view pair (i < j) distance, float64, sorted ascending."""
    out = []
    x64 = x.astype(np.float64)
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            if views[i] != views[j]:
                out.append(np.sqrt(np.sum((x64[i] - x64[j]) ** 2)))
    return np.sort(np.array(out))


def random_case(n, n_views, d=8, seed=0):
    rng = np.random.default_rng(seed)
    return normalise(rng.standard_normal((n, d))), rng.integers(0, n_views, n)


@pytest.mark.parametrize(("n", "n_views", "seed"), [(40, 2, 0), (90, 5, 1), (150, 3, 2)])
def test_matches_brute_force_all_ranks_sampled(n, n_views, seed):
    x, views = random_case(n, n_views, seed=seed)
    ref = brute_force_sorted(x, views)
    assert count_cross_view_pairs(views) == ref.size
    ranks = sorted({1, 2, 7, ref.size // 3, ref.size // 2, ref.size - 1, ref.size})
    for ti in ranks:
        assert tau_from_ti(x, views, ti) == pytest.approx(ref[ti - 1], abs=1e-9), ti


def test_ties_and_duplicates():
    rng = np.random.default_rng(3)
    # few distinct directions, many exact copies: massive ties in the pair distances
    base = normalise(rng.standard_normal((4, 6)))
    x = base[rng.integers(0, 4, 70)]
    views = rng.integers(0, 3, 70)
    ref = brute_force_sorted(x, views)
    for ti in [1, 5, 100, 500, ref.size // 2, ref.size]:
        assert tau_from_ti(x, views, ti) == pytest.approx(ref[ti - 1], abs=1e-6), ti


def test_dense_spot_forces_longer_lists(monkeypatch):
    """Many cross-view pairs crowd one spot: the first m-lists cannot be trusted."""
    rng = np.random.default_rng(4)
    spot = normalise(rng.standard_normal((1, 16)))
    near = normalise(spot + 0.01 * rng.standard_normal((60, 16)))
    far = normalise(rng.standard_normal((40, 16)))
    x = np.concatenate([near, far])
    views = np.concatenate([np.arange(60) % 2, rng.integers(0, 2, 40)])
    calls = []
    real = tau_mod.knn_search

    def spy(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(tau_mod, "knn_search", spy)
    ref = brute_force_sorted(x, views)
    ti = 700  # deep inside the 900 near-near cross-view pairs
    assert tau_from_ti(x, views, ti) == pytest.approx(ref[ti - 1], abs=1e-9)
    assert len(calls) > 2 and max(calls) > min(calls)  # lists were grown and searched again


def test_tiny_sets():
    x = normalise(np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert tau_from_ti(x, np.array([0, 1]), 1) == pytest.approx(np.sqrt(2.0))
    x3 = normalise(np.array([[1.0, 0.0], [0.6, 0.8], [-1.0, 0.0]]))
    views = np.array([0, 1, 1])
    ref = brute_force_sorted(x3, views)
    assert [tau_from_ti(x3, views, t) for t in (1, 2)] == pytest.approx(ref.tolist())


def test_ti_zero_means_no_merging():
    x, views = random_case(10, 2)
    assert tau_from_ti(x, views, 0) == 0.0


def test_errors_name_ti():
    x, views = random_case(12, 2, seed=5)
    total = count_cross_view_pairs(views)
    assert tau_from_ti(x, views, total) > 0
    with pytest.raises(ValueError, match="ti"):
        tau_from_ti(x, views, total + 1)
    with pytest.raises(ValueError, match="ti"):
        tau_from_ti(x, views, -1)
    with pytest.raises(ValueError, match="ti"):
        tau_from_ti(x, np.zeros(12, dtype=np.int64), 1)  # one viewpoint: no cross-view pair
    with pytest.raises(ValueError, match="views"):
        tau_from_ti(x, views[:-1], 1)
