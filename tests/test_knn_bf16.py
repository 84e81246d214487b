"""cluster.knn_precision = bf16: bfloat16 candidates + float64 re-scoring + the per-row
certificate give exactly the float64 brute-force neighbours, also on near-ties."""

from __future__ import annotations

import numpy as np
import pytest

from vreid.cluster import knn_bf16
from vreid.cluster.knn import knn_search
from vreid.cluster.knn_bf16 import knn_search_bf16


def _clustered(n, d, groups, noise, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((groups, d)).astype(np.float32)
    x = c[rng.integers(0, groups, n)] + noise * rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _reference(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Float64 brute force: the k largest inner products (ties: smaller index), then
    knn_search's format (float32 squared distances, (distance, index) order, self first)."""
    ip = x.astype(np.float64) @ x.astype(np.float64).T
    n = len(x)
    idx = np.stack([np.lexsort((np.arange(n), -row))[:k] for row in ip])
    dist = np.maximum(2.0 - 2.0 * np.take_along_axis(ip, idx, 1), 0.0).astype(np.float32)
    rows = np.arange(n)[:, None]
    is_self = idx == rows
    missing = ~is_self.any(axis=1)
    idx[missing, -1] = rows[missing, 0]
    is_self[missing, -1] = True
    dist[is_self] = 0.0
    order = np.lexsort((idx, ~is_self, dist), axis=-1)
    return np.take_along_axis(dist, order, 1), np.take_along_axis(idx, order, 1)


@pytest.mark.parametrize(("n", "d", "k", "noise"), [(600, 32, 21, 0.8), (900, 128, 7, 0.3)])
def test_matches_the_float64_brute_force(n, d, k, noise):
    x = _clustered(n, d, n // 10, noise)
    dist, idx, stats = knn_search_bf16(x, k, block=256)
    ref_dist, ref_idx = _reference(x, k)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist, atol=1e-6)
    assert stats["candidates"] == k + max(k, 16)


def test_near_ties_are_refined_and_still_exact():
    """Exact duplicates and copies moved by 1e-4 (far below bfloat16's resolution): the
    certificate fails for those rows, they are searched again, and the result is exact."""
    base = _clustered(200, 48, 20, 0.5, seed=3)
    rng = np.random.default_rng(1)
    moved = base + 1e-4 * rng.standard_normal(base.shape).astype(np.float32)
    moved /= np.linalg.norm(moved, axis=1, keepdims=True)
    x = np.concatenate([base, base[:50], moved])
    dist, idx, stats = knn_search_bf16(x, 5, margin=2, block=128)
    ref_dist, ref_idx = _reference(x, 5)
    assert stats["rows_refined"] > 0
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist, atol=1e-6)


def test_same_lists_as_faiss_float32_without_ties():
    x = _clustered(1500, 64, 150, 0.8, seed=5)
    _, faiss_idx = knn_search(x, 21)
    _, idx, _ = knn_search_bf16(x, 21)
    np.testing.assert_array_equal(idx, faiss_idx)


def test_k_equal_to_n_and_bad_k():
    x = _clustered(30, 8, 3, 0.5)
    dist, idx, _ = knn_search_bf16(x, 30)
    np.testing.assert_array_equal(idx, _reference(x, 30)[1])
    with pytest.raises(ValueError, match="k = 31 must be an integer between 1 and"):
        knn_search_bf16(x, 31)


def test_a_gemm_less_precise_than_the_bound_is_refused(monkeypatch):
    """The certificate assumes float32 accumulation; a GEMM off by more stops the search."""
    monkeypatch.setattr(knn_bf16, "delta", lambda d: 1e-9)
    with pytest.raises(RuntimeError, match="knn_precision fp32"):
        knn_search_bf16(_clustered(100, 64, 10, 0.8), 5)
