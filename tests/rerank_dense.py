"""The former dense k-reciprocal re-ranking (``vreid.evaluation.reranking_kreciprocal`` before
it moved to the sparse encoding of ``vreid.cluster.jaccard``), kept only as the reference of
``tests/test_rerank.py`` and ``benchmarks/bench_rerank.py``.

Dense N x N float32 distances, an argpartition of the whole matrix and per-row loops for the
reciprocal sets, the expansion and the Jaccard accumulation; input checks left out.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from vreid.eval import pairwise_distance


def _dense_neighbours(dist, k_top):
    """Nearest ``k_top`` of every row of the dense (N, N) distance, by (distance, index)."""
    n = dist.shape[0]
    part = (
        np.argpartition(dist, k_top - 1, axis=1)[:, :k_top]
        if k_top < n
        else (np.tile(np.arange(n), (n, 1)))
    )
    part_d = np.take_along_axis(dist, part, axis=1)
    o = np.lexsort((part, part_d), axis=1)
    return np.take_along_axis(part, o, axis=1)


def _dense_encoding(dist, nn_idx, k1, k2):
    """V (N, N) sparse: reciprocal sets, expansion, weights, local query expansion."""
    n = dist.shape[0]
    kh = int(np.around(k1 / 2.0))

    def reciprocal(k):
        """(n, k+1) bool: nn_idx[i, :k+1][j] has i among its own k+1 nearest."""
        fwd = nn_idx[:, : k + 1]
        back = nn_idx[fwd, : k + 1]  # (n, k+1, k+1)
        return (back == np.arange(n)[:, None, None]).any(axis=2)

    rec_full = reciprocal(k1)
    rec_half = reciprocal(kh)
    half_sets = [nn_idx[i, : kh + 1][rec_half[i]] for i in range(n)]
    v_rows, v_cols, v_vals = [], [], []
    for i in range(n):
        base = nn_idx[i, : k1 + 1][rec_full[i]]
        members = [base]
        for cand in base:
            cs = half_sets[cand]
            if len(np.intersect1d(cs, base)) > 2.0 / 3.0 * len(cs):
                members.append(cs)
        expansion = np.unique(np.concatenate(members))
        w = np.exp(-dist[i, expansion])
        v_rows.append(np.full(expansion.shape[0], i))
        v_cols.append(expansion)
        v_vals.append(w / w.sum())
    vmat = sp.csr_matrix(
        (np.concatenate(v_vals), (np.concatenate(v_rows), np.concatenate(v_cols))), shape=(n, n)
    )
    if k2 > 1:
        qe = sp.csr_matrix(
            (np.full(n * k2, 1.0 / k2), (np.repeat(np.arange(n), k2), nn_idx[:, :k2].ravel())),
            shape=(n, n),
        )
        vmat = (qe @ vmat).tocsr()
    return vmat


def _dense_jaccard(vmat, n_q):
    """(Q, G) Jaccard distance, one query row at a time through the inverted index."""
    n = vmat.shape[0]
    vcsc = vmat.tocsc()
    jac = np.empty((n_q, n - n_q), dtype=np.float64)
    for i in range(n_q):
        lo, hi = vmat.indptr[i], vmat.indptr[i + 1]
        ks, vi = vmat.indices[lo:hi], vmat.data[lo:hi]
        starts, ends = vcsc.indptr[ks], vcsc.indptr[ks + 1]
        cnt = ends - starts
        pos = np.repeat(starts, cnt) + (np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt))
        m = np.bincount(
            vcsc.indices[pos], weights=np.minimum(np.repeat(vi, cnt), vcsc.data[pos]), minlength=n
        )[n_q:]
        jac[i] = 1.0 - m / (2.0 - m)
    return jac


def dense_rerank(qf, gf, k1=20, k2=6, lambda_value=0.3):
    """The former ``vreid.evaluation.reranking_kreciprocal``: dense N x N distances,
    per-row loops (input checks left out)."""
    q = torch.as_tensor(np.asarray(qf)).float()
    g = torch.as_tensor(np.asarray(gf)).float()
    n_q, n = q.shape[0], q.shape[0] + g.shape[0]
    feats = torch.cat([q, g])
    with torch.no_grad():
        dist = pairwise_distance(feats, feats).clamp_(min=0).numpy()
    rmax = dist.max(axis=1, keepdims=True)
    dist /= np.where(rmax > 0, rmax, 1.0)
    k1, k2 = min(k1, n - 1), min(k2, n)  # tiny sets: every sample is a neighbour
    nn_idx = _dense_neighbours(dist, max(k1 + 1, k2))
    jac = _dense_jaccard(_dense_encoding(dist, nn_idx, k1, k2), n_q)
    out = (1.0 - lambda_value) * jac + lambda_value * dist[:n_q, n_q:]
    return out.astype(np.float32)
