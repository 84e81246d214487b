"""Sparse k-reciprocal Jaccard distance vs a plain dense reference; DBSCAN on sparse vs dense."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.cluster import DBSCAN

from vreid.cluster.jaccard import dbscan_sparse, jaccard_distance


def sphere_blobs(n: int, d: int = 32, per_blob: int = 12, spread: float = 0.25, seed: int = 0):
    """Gaussian blobs on the unit sphere, float32 rows L2-normalised."""
    rng = np.random.default_rng(seed)
    n_centers = max(1, n // per_blob)
    centers = rng.standard_normal((n_centers, d))
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    x = centers[rng.integers(0, n_centers, n)] + spread * rng.standard_normal((n, d)) / np.sqrt(d)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


def reference_jaccard(x: np.ndarray, k1: int, k2: int) -> np.ndarray:
    """Plain re-ranking Jaccard: full N x N distances, per-row loops, dense V."""
    n = len(x)
    x64 = x.astype(np.float64)
    dist = np.maximum(2.0 - 2.0 * x64 @ x64.T, 0.0)
    np.fill_diagonal(dist, 0.0)
    ar = np.arange(n)
    # neighbour ranking of each row: distance, then the row itself first, then index
    rank = np.stack([np.lexsort((ar, ar != i, dist[i])) for i in range(n)])
    k1e = min(k1, n - 1)
    khe = min(int(round(k1 / 2)), n - 1)
    k2e = min(k2, n)
    top = {k: [set(rank[i, : k + 1].tolist()) for i in range(n)] for k in {k1e, khe}}

    def reciprocal(i: int, k: int) -> set[int]:
        return {j for j in rank[i, : k + 1].tolist() if i in top[k][j]}

    v = np.zeros((n, n))
    for i in range(n):
        r = reciprocal(i, k1e)
        expanded = set(r)
        for c in r:
            rc = reciprocal(c, khe)
            if len(rc & r) > 2 / 3 * len(rc):
                expanded |= rc
        cols = sorted(expanded)
        w = np.exp(-dist[i, cols])
        v[i, cols] = w / w.sum()
    if k2e > 1:
        v = np.stack([v[rank[i, :k2e]].mean(axis=0) for i in range(n)])
    out = np.ones((n, n))
    rest = v.sum(axis=1)
    for i in range(n):
        nz = np.flatnonzero(v[i])  # outside row i's support: min = 0 and max = v[j, l]
        mins = np.minimum(v[i, nz], v[:, nz]).sum(axis=1)
        maxs = np.maximum(v[i, nz], v[:, nz]).sum(axis=1) + rest - v[:, nz].sum(axis=1)
        out[i] = np.maximum(1.0 - mins / maxs, 0.0)  # rounding can dip below 0
    return out


def densify(j: sp.csr_matrix) -> np.ndarray:
    """Non-stored entries are distance 1."""
    out = np.ones(j.shape)
    c = j.tocoo()
    out[c.row, c.col] = c.data
    return out


def stored_mask(j: sp.csr_matrix) -> np.ndarray:
    mask = np.zeros(j.shape, dtype=bool)
    c = j.tocoo()
    mask[c.row, c.col] = True
    return mask


def check_against_reference(x, k1, k2):
    got = jaccard_distance(x, k1=k1, k2=k2)
    ref = reference_jaccard(x, k1, k2)
    assert isinstance(got, sp.csr_matrix)
    assert got.shape == ref.shape
    np.testing.assert_allclose(densify(got), ref, rtol=0, atol=1e-5)
    # stored entries are exactly the pairs below 1 (diagonal included, as explicit zeros)
    np.testing.assert_array_equal(stored_mask(got), ref < 1.0 - 1e-12)
    assert (got != got.T).nnz == 0
    assert np.all(got.diagonal() == 0) and stored_mask(got).diagonal().all()
    return got, ref


@pytest.mark.parametrize(
    ("n", "k1", "k2", "seed"),
    [(30, 20, 6, 1), (200, 20, 6, 2), (400, 30, 6, 3), (300, 7, 1, 4), (300, 21, 3, 5)],
)
def test_matches_dense_reference(n, k1, k2, seed):
    check_against_reference(sphere_blobs(n, seed=seed), k1, k2)


def test_matches_dense_reference_and_dbscan_n2000():
    x = sphere_blobs(2000, per_blob=15, seed=7)
    got, ref = check_against_reference(x, 20, 6)
    for eps, min_samples in [(0.4, 4), (0.6, 4), (0.75, 2)]:
        # no reference value sits on the eps boundary (else float noise could flip a pair)
        assert np.abs(ref - eps).min() > 1e-5
        dense_labels = DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit_predict(
            ref
        )
        sparse_labels = dbscan_sparse(got, eps, min_samples)
        np.testing.assert_array_equal(sparse_labels, dense_labels)
        assert len(set(sparse_labels.tolist()) - {-1}) > 5  # a non-trivial partition


def test_duplicates_and_exact_zero_distances_are_stored():
    rng = np.random.default_rng(11)
    base = sphere_blobs(60, seed=11)
    # 3 copies of a few rows, and one row repeated 30 times (more than k1 + 1 ties)
    x = np.concatenate([base, base[:5], base[:5], np.repeat(base[7:8], 30, axis=0)])
    x = x[rng.permutation(len(x))]
    got, ref = check_against_reference(x, 20, 6)
    same = np.all(x[:, None, :] == x[None, :, :], axis=2)
    zero_pairs = same & (ref == 0)
    assert zero_pairs.sum() > len(x)  # duplicates at distance exactly 0, beyond the diagonal
    mask = stored_mask(got)
    assert mask[zero_pairs].all()
    assert np.all(densify(got)[zero_pairs] == 0.0)
    labels = dbscan_sparse(got, 0.3, 4)
    dense = DBSCAN(eps=0.3, min_samples=4, metric="precomputed").fit_predict(densify(got))
    np.testing.assert_array_equal(labels, dense)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 15])
def test_fewer_samples_than_k1(n):
    x = sphere_blobs(n, seed=n)
    got, _ = check_against_reference(x, 20, 6)
    assert got.shape == (n, n)


def test_empty_input():
    got = jaccard_distance(np.zeros((0, 8), np.float32))
    assert got.shape == (0, 0) and got.nnz == 0


def test_max_dist_keeps_exactly_the_close_pairs():
    x = sphere_blobs(300, seed=21)
    full = jaccard_distance(x, 20, 6)
    cut = jaccard_distance(x, 20, 6, max_dist=0.5)
    expected = densify(full)
    expected_mask = stored_mask(full) & (expected <= 0.5)
    np.testing.assert_array_equal(stored_mask(cut), expected_mask)
    np.testing.assert_array_equal(cut.toarray()[expected_mask], expected[expected_mask])


def test_deterministic():
    x = sphere_blobs(500, seed=3)
    a, b = jaccard_distance(x, 20, 6), jaccard_distance(x, 20, 6)
    assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
    assert np.array_equal(a.data, b.data)


def test_bad_input_raises():
    x = sphere_blobs(20)
    with pytest.raises(ValueError, match="L2-normalised"):
        jaccard_distance(x * 2.0)
    with pytest.raises(ValueError, match="k1"):
        jaccard_distance(x, k1=0)
    with pytest.raises(ValueError, match="k2"):
        jaccard_distance(x, k2=0)
    with pytest.raises(ValueError, match="2-D"):
        jaccard_distance(x[0])
    with pytest.raises(ValueError, match="max_dist"):
        jaccard_distance(x, max_dist=-1.0)


def test_dbscan_sparse_honours_explicit_zeros():
    # points 0, 1, 2 at distance exactly 0 from each other (explicit zeros), 3 far away
    rows = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 3])
    cols = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 3])
    dist = sp.csr_matrix((np.zeros(10), (rows, cols)), shape=(4, 4))
    assert dist.nnz == 10
    np.testing.assert_array_equal(dbscan_sparse(dist, 0.5, 3), [0, 0, 0, -1])


def test_dbscan_sparse_drops_entries_above_eps_and_matches_dense():
    rng = np.random.default_rng(5)
    n = 120
    pts = rng.standard_normal((n, 2))
    full = np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1))
    eps = 0.35
    # a sparse graph that also stores some pairs beyond eps: they must be ignored
    keep = full < 0.8
    g = sp.csr_matrix(np.where(keep, full, 0.0))
    g.setdiag(0.0)  # explicit zeros on the diagonal
    expected = DBSCAN(eps=eps, min_samples=3, metric="precomputed").fit_predict(full)
    np.testing.assert_array_equal(dbscan_sparse(g, eps, 3), expected)


def test_dbscan_sparse_bad_input():
    g = sp.csr_matrix(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="eps"):
        dbscan_sparse(g, 0.0, 2)
    with pytest.raises(ValueError, match="min_samples"):
        dbscan_sparse(g, 0.5, 0)
    with pytest.raises(ValueError, match="square"):
        dbscan_sparse(sp.csr_matrix(np.zeros((2, 3))), 0.5, 2)
    with pytest.raises(ValueError, match="sparse"):
        dbscan_sparse(np.zeros((3, 3)), 0.5, 2)


def test_precomputed_knn_gives_the_same_matrix():
    from vreid.cluster.knn import knn_search

    x = sphere_blobs(300, seed=8)
    plain = jaccard_distance(x, 20, 6)
    reused = jaccard_distance(x, 20, 6, knn=knn_search(x, 40))  # more columns than needed
    assert (plain != reused).nnz == 0 and plain.nnz == reused.nnz
    with pytest.raises(ValueError, match="knn"):
        jaccard_distance(x, 20, 6, knn=knn_search(x, 10))  # too few columns


def test_knn_search_and_range_search_against_brute_force():
    from vreid.cluster.knn import knn_search, range_search

    x = sphere_blobs(150, seed=9)
    x64 = x.astype(np.float64)
    sq = np.maximum(2.0 - 2.0 * x64 @ x64.T, 0.0)
    np.fill_diagonal(sq, 0.0)
    dist, idx = knn_search(x, 12)
    ar = np.arange(len(x))
    for i in range(len(x)):
        order = np.lexsort((ar, ar != i, sq[i]))[:12]
        np.testing.assert_array_equal(idx[i], order)
        np.testing.assert_allclose(dist[i], sq[i, order], atol=1e-5)
    queries = sphere_blobs(20, seed=10)
    qd, qi = knn_search(x, 5, queries=queries)
    ref = np.maximum(2.0 - 2.0 * queries.astype(np.float64) @ x64.T, 0.0)
    np.testing.assert_array_equal(qi, np.argsort(ref, axis=1, kind="stable")[:, :5])
    # range search: exactly the pairs strictly closer than the radius, sorted by distance
    eu = np.sqrt(((x64[:, None] - x64[None]) ** 2).sum(-1))
    radius = float(np.quantile(eu, 0.05))
    lims, rd, ri = range_search(x, radius)
    for i in range(len(x)):
        got = ri[lims[i] : lims[i + 1]]
        want = np.flatnonzero(eu[i] < radius)
        np.testing.assert_array_equal(np.sort(got), want)
        assert np.all(np.diff(rd[lims[i] : lims[i + 1]]) >= 0)
        np.testing.assert_allclose(rd[lims[i] : lims[i + 1]], eu[i, got], atol=1e-12)


def test_knn_search_puts_self_first_among_many_duplicates():
    from vreid.cluster.knn import knn_search

    x = np.repeat(sphere_blobs(2, seed=12), [9, 3], axis=0)  # 9 identical rows, then 3
    dist, idx = knn_search(x, 4)
    np.testing.assert_array_equal(idx[:, 0], np.arange(12))
    assert np.all(dist[:, 0] == 0)
    np.testing.assert_array_equal(idx[8], [8, 0, 1, 2])  # ties by index after itself
    with pytest.raises(ValueError, match="k"):
        knn_search(x, 13)


def test_row_blocks_do_not_change_the_result(monkeypatch):
    # the accumulation and the mirroring go block by block; tiny blocks (many of them, some
    # of one row) must give the same matrix, bit for bit, as one block
    from vreid.cluster import jaccard as jac

    x = sphere_blobs(400, seed=8)
    one = jaccard_distance(x, 20, 6)
    monkeypatch.setattr(jac, "_BLOCK_EXPANDED", 500)
    monkeypatch.setattr(jac, "_BLOCK_DENSE", 400 * 7)
    many = jaccard_distance(x, 20, 6)
    for attr in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(many, attr), getattr(one, attr))
    cut = jaccard_distance(x, 20, 6, max_dist=0.4)
    np.testing.assert_array_equal(stored_mask(cut), stored_mask(one) & (densify(one) <= 0.4))


def test_mirror_blocks_against_a_dense_symmetric_matrix():
    from vreid.cluster.jaccard import _mirror_blocks

    rng = np.random.default_rng(4)
    n = 23
    dense = np.full((n, n), np.nan, dtype=np.float32)
    for i in range(n):
        cols = np.flatnonzero(rng.random(n - i) < 0.3) + i
        dense[i, i] = 0.0  # the diagonal opens every upper row (explicit zero)
        dense[i, cols[cols > i]] = rng.random(int((cols > i).sum())).astype(np.float32)
    dense[3, 9] = 0.0  # an explicit zero off the diagonal is kept
    upper = np.triu(dense)
    upper[np.tril_indices(n, -1)] = np.nan
    blocks, a = [], 0
    for b in (1, 5, 6, 14, n):  # blocks of 1, 4, 1, 8 and 9 rows
        rows = [np.flatnonzero(~np.isnan(upper[i])) for i in range(a, b)]
        cj = np.concatenate(rows).astype(np.int32)
        d = np.concatenate([upper[i, r] for i, r in zip(range(a, b), rows, strict=True)])
        blocks.append((a, np.array([len(r) for r in rows]), cj, d))
        a = b
    got = _mirror_blocks(n, blocks)
    assert blocks == []  # every block was released once placed
    full = np.where(np.isnan(upper), upper.T, upper)
    stored = ~np.isnan(full)
    assert got.has_sorted_indices
    np.testing.assert_array_equal(stored_mask(got), stored)
    np.testing.assert_array_equal(got.toarray()[stored], full[stored])
    assert np.all(np.diff(got.indices[got.indptr[5] : got.indptr[6]]) > 0)
