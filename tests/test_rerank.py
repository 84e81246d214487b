"""Tests of vreid.eval.rerank: the sparse re-ranking against the former dense implementation
(``tests/rerank_dense.py``, kept only as the reference) and against plain loops."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.rerank_dense import dense_rerank

from vreid.eval import RetrievalSet, evaluate_retrieval, pairwise_distance, reranking_kreciprocal


def unit(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def clustered(rng, n, d, n_centres, spread):
    """Random clustered features, rows L2-normalised (non-trivial reciprocal sets)."""
    centres = unit(rng, n_centres, d)
    x = centres[rng.integers(0, n_centres, n)]
    x = x + np.float32(spread) * rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("seed", range(6))
def test_sparse_matches_the_dense_implementation_on_random_inputs(seed):
    rng = np.random.default_rng(100 + seed)
    n_q, n_g = int(rng.integers(1, 40)), int(rng.integers(1, 200))
    d = int(rng.integers(2, 32))
    x = clustered(rng, n_q + n_g, d, int(rng.integers(2, 12)), float(rng.uniform(0.2, 1.0)))
    k1, k2 = int(rng.integers(1, 30)), int(rng.integers(1, 10))
    lam = float(rng.uniform(0, 1))
    got = reranking_kreciprocal(torch.from_numpy(x[:n_q]), torch.from_numpy(x[n_q:]), k1, k2, lam)
    ref = dense_rerank(x[:n_q], x[n_q:], k1, k2, lam)
    assert got.shape == (n_q, n_g) and got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    "k1,k2",
    [
        (1, 1),  # smallest sets, no query expansion
        (2, 1),  # round(1) = 1
        (3, 2),  # round(1.5) = 2
        (5, 6),  # round(2.5) = 2 (half to even); k2 > k1 + 1
        (20, 6),  # the defaults
        (59, 3),  # k1 = N - 1: every sample a neighbour
        (200, 80),  # k1 > N - 1 and k2 > N: both capped
    ],
)
def test_k1_k2_edge_cases_match_the_dense_implementation(k1, k2):
    rng = np.random.default_rng(k1 * 100 + k2)
    x = clustered(rng, 60, 8, 5, 0.5)
    got = reranking_kreciprocal(x[:12], x[12:], k1, k2, 0.3)
    np.testing.assert_allclose(got, dense_rerank(x[:12], x[12:], k1, k2, 0.3), rtol=0, atol=1e-5)


def test_lambda_mixes_jaccard_and_row_normalised_distance():
    rng = np.random.default_rng(7)
    x = clustered(rng, 150, 16, 8, 0.6)
    qf, gf = x[:30], x[30:]
    jac = reranking_kreciprocal(qf, gf, 10, 4, lambda_value=0.0)
    d_all = pairwise_distance(x, x).clamp(min=0).numpy()
    d = d_all[:30, 30:] / d_all[:30].max(axis=1, keepdims=True)
    for lam in (0.0, 0.3, 0.5, 0.9, 1.0):
        got = reranking_kreciprocal(qf, gf, 10, 4, lambda_value=lam)
        np.testing.assert_allclose(got, dense_rerank(qf, gf, 10, 4, lam), rtol=0, atol=1e-5)
        np.testing.assert_allclose(got, (1 - lam) * jac + lam * d, rtol=0, atol=1e-6)
    assert (jac >= 0).all() and (jac <= 1 + 1e-6).all() and (jac < 1).any()


def test_single_query_single_gallery_and_float64_input():
    rng = np.random.default_rng(3)
    x = clustered(rng, 30, 6, 3, 0.4)
    for qf, gf in ((x[:1], x[1:]), (x[:29], x[29:]), (x[:1], x[1:2])):
        got = reranking_kreciprocal(qf.astype(np.float64), torch.from_numpy(gf))
        np.testing.assert_allclose(got, dense_rerank(qf, gf), rtol=0, atol=1e-5)


def test_bad_inputs_are_refused():
    rng = np.random.default_rng(0)
    qf, gf = unit(rng, 3, 4), unit(rng, 5, 4)
    with pytest.raises(ValueError, match="qf"):
        reranking_kreciprocal(qf * 2, gf)
    with pytest.raises(ValueError, match="feature dims"):
        reranking_kreciprocal(qf, unit(rng, 5, 3))
    with pytest.raises(ValueError, match="k1"):
        reranking_kreciprocal(qf, gf, k1=0)
    with pytest.raises(ValueError, match="k2"):
        reranking_kreciprocal(qf, gf, k2=True)
    with pytest.raises(ValueError, match="lambda_value"):
        reranking_kreciprocal(qf, gf, lambda_value=1.5)
    with pytest.raises(ValueError, match="at least one"):
        reranking_kreciprocal(qf[:0], gf)


# ------------------------------------------------- plain loops over the algorithm (float64)


def ref_rerank(qf, gf, k1, k2, lam):
    """Dense loops over the k-reciprocal re-ranking algorithm (Zhong et al. 2017)."""
    x = np.concatenate([qf, gf]).astype(np.float64)
    n, nq = x.shape[0], qf.shape[0]
    d = np.array([[np.sum((x[i] - x[j]) ** 2) for j in range(n)] for i in range(n)])
    d = d / d.max(axis=1, keepdims=True)
    rank = np.argsort(d, axis=1, kind="stable")

    def krec(i, k):
        fwd = rank[i, : k + 1]
        return [j for j in fwd if i in rank[j, : k + 1]]

    kh = int(np.around(k1 / 2))
    v = np.zeros((n, n))
    for i in range(n):
        r = krec(i, k1)
        exp = set(r)
        for c in r:
            rc = krec(c, kh)
            if len(set(rc) & set(r)) > 2 / 3 * len(rc):
                exp |= set(rc)
        exp = sorted(exp)
        w = np.exp(-d[i, exp])
        v[i, exp] = w / w.sum()
    if k2 > 1:
        v = np.array([v[rank[i, :k2]].mean(axis=0) for i in range(n)])
    out = np.zeros((nq, n - nq))
    for i in range(nq):
        for j in range(nq, n):
            mn = np.minimum(v[i], v[j]).sum()
            mx = np.maximum(v[i], v[j]).sum()
            out[i, j - nq] = (1 - lam) * (1 - mn / mx) + lam * d[i, j]
    return out


@pytest.mark.parametrize("k1,k2,lam", [(6, 3, 0.3), (4, 1, 0.0), (5, 2, 0.5)])
def test_rerank_matches_dense_reference(k1, k2, lam):
    rng = np.random.default_rng(k1)
    # clustered features so the reciprocal sets are non-trivial
    centers = unit(rng, 4, 6)
    lab = rng.integers(0, 4, 25)
    x = centers[lab] + 0.3 * rng.standard_normal((25, 6)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    qf, gf = x[:5], x[5:]
    got = reranking_kreciprocal(torch.from_numpy(qf), torch.from_numpy(gf), k1, k2, lam)
    ref = ref_rerank(qf, gf, k1, k2, lam)
    assert got.shape == (5, 20) and got.dtype == np.float32
    np.testing.assert_allclose(got, ref, atol=2e-5)


def test_rerank_lambda_one_is_the_row_normalised_distance():
    rng = np.random.default_rng(1)
    qf, gf = unit(rng, 5, 8), unit(rng, 20, 8)
    got = reranking_kreciprocal(qf, gf, k1=6, k2=3, lambda_value=1.0)
    d_all = pairwise_distance(np.concatenate([qf, gf]), np.concatenate([qf, gf])).numpy()
    d = pairwise_distance(qf, gf).numpy()
    np.testing.assert_allclose(got, d / d_all[:5].max(axis=1, keepdims=True), atol=1e-6)
    # same per-row ranking as the plain distance
    assert (np.argsort(got, axis=1) == np.argsort(d, axis=1)).all()
    # and evaluate_retrieval accepts it
    ids = rng.integers(0, 3, 5), rng.integers(0, 3, 20)
    cams = rng.integers(0, 2, 5), rng.integers(0, 2, 20)
    query = RetrievalSet(features=qf, ids=ids[0], cams=cams[0])
    gallery = RetrievalSet(features=gf, ids=ids[1], cams=cams[1])
    r = evaluate_retrieval(query, gallery)
    r2 = evaluate_retrieval(query, gallery, dist=got)
    assert r["mAP"] == pytest.approx(r2["mAP"])


def test_rerank_refuses_large_sets():
    big = np.zeros((20_001, 2), dtype=np.float32)
    big[:, 0] = 1
    with pytest.raises(ValueError, match="evaluate.rerank"):
        reranking_kreciprocal(big[:1], big[1:])
