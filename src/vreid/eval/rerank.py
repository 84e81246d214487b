"""Test-time k-reciprocal re-ranking (Zhong et al., CVPR 2017, Eq. 14) of query x gallery.

Built on the sparse k-reciprocal encoding of the clustering (:mod:`vreid.cluster.jaccard`):
the same reciprocal sets, expansion, weights, local query expansion and Jaccard accumulation,
with the re-ranking's two differences: each row's distances are divided by the row's maximum
over all Q + G samples (as the authors' code does), and the Jaccard distance is mixed with
that row-normalised distance. One pass over the N x N distance, in square blocks of its upper
triangle (it is symmetric), yields the row maxima, every row's nearest neighbours and the
(Q, G) distances; no N x N array is ever held.
"""

from __future__ import annotations

import numpy as np
import torch

from ..checks import as_float_tensor, check_normalised
from ..cluster.jaccard import jaccard_rows_vs_rest, k_reciprocal_encoding
from .retrieval import pairwise_distance

__all__ = ["RERANK_MAX_SAMPLES", "reranking_kreciprocal"]

RERANK_MAX_SAMPLES = 20_000
_STRIP = 512  # rows per strip of the distance pass
_SUBSET = 1024  # samples of the subset that bounds the k-th neighbour distance
_MARGIN = 1e-4  # slack on that bound (float32 GEMMs of different shapes may round apart)


def _checked_inputs(
    qf: torch.Tensor | np.ndarray,
    gf: torch.Tensor | np.ndarray,
    k1: int,
    k2: int,
    lambda_value: float,
) -> tuple[torch.Tensor, int]:
    """The (Q + G, d) float32 CPU features, query rows first, and Q; after every check."""
    q = as_float_tensor(qf, "qf").float().cpu()
    g = as_float_tensor(gf, "gf").float().cpu()
    if q.shape[1] != g.shape[1]:
        raise ValueError(f"qf and gf: feature dims differ ({q.shape[1]} vs {g.shape[1]})")
    n = q.shape[0] + g.shape[0]
    if n > RERANK_MAX_SAMPLES:
        raise ValueError(
            f"reranking_kreciprocal: Q + G = {n} > {RERANK_MAX_SAMPLES} (time grows as "
            "(Q + G)^2 d). Turn re-ranking off (params evaluate.rerank: false)"
        )
    for name, val in (("k1", k1), ("k2", k2)):
        if isinstance(val, bool) or not isinstance(val, int) or val < 1:
            raise ValueError(f"{name}: expected an int >= 1, got {val!r}")
    if not 0.0 <= float(lambda_value) <= 1.0:
        raise ValueError(f"lambda_value: expected a number in [0, 1], got {lambda_value!r}")
    if q.shape[0] == 0 or g.shape[0] == 0:
        raise ValueError(
            f"qf/gf: need at least one query and one gallery row (Q={q.shape[0]}, G={g.shape[0]})"
        )
    check_normalised(q, "qf")
    check_normalised(g, "gf")
    return torch.cat([q, g]), q.shape[0]


def _kth_bounds(x: torch.Tensor, k: int) -> np.ndarray:
    """(N,) upper bounds of every row's k-th smallest distance (itself included).

    The k-th smallest distance to an evenly spaced subset of at least min(N, 1024, k)
    samples bounds the k-th smallest over all N; a margin covers float32 rounding
    differences between GEMMs of other shapes.
    """
    n = x.shape[0]
    sub = x[:: max(1, n // max(_SUBSET, k))]
    out = np.empty(n, dtype=np.float32)
    with torch.no_grad():
        for r0 in range(0, n, 4 * _STRIP):
            d = pairwise_distance(x[r0 : r0 + 4 * _STRIP], sub).numpy()
            out[r0 : r0 + 4 * _STRIP] = np.partition(d, k - 1, axis=1)[:, k - 1]
    return out + np.float32(_MARGIN)


def _nonzero(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nonzero`` of a C-contiguous 2-D mask (row-major order), several times faster."""
    return np.divmod(np.flatnonzero(mask), mask.shape[1])


def _strip_pass(
    x: torch.Tensor, n_q: int, bound: np.ndarray
) -> tuple[np.ndarray, list[tuple[np.ndarray, ...]], np.ndarray]:
    """One pass over the upper triangle of the N x N distance, in strips of rows.

    The strip of rows r0..r1-1 holds their distances to the samples r0..N-1; its rows give
    the row maxima and candidate neighbours (distance <= ``bound``) of rows r0..r1-1, its
    columns beyond r1 those of the later rows. Returns ``rmax`` (N,) float32 row maxima of
    ``max(d, 0)``, candidate parts ``(row, neighbour, distance)`` each grouped by row
    (ascending), and the (Q, G) float32 block of ``max(d, 0)``.
    """
    n = x.shape[0]
    cuts = sorted({*range(0, n_q, _STRIP), *range(n_q, n, _STRIP), n})  # a cut at n_q
    rmax = np.zeros(n, dtype=np.float32)
    d_qg = np.empty((n_q, n - n_q), dtype=np.float32)
    parts = []
    with torch.no_grad():
        for r0, r1 in zip(cuts[:-1], cuts[1:], strict=True):
            s = pairwise_distance(x[r0:r1], x[r0:]).numpy()
            np.maximum(rmax[r0:r1], s.max(axis=1), out=rmax[r0:r1])
            i, j = _nonzero(s <= bound[r0:r1, None])
            parts.append((i + r0, j + r0, s[i, j]))
            far = s[:, r1 - r0 :]  # the mirrored block: rows r1.. against r0..r1-1
            if far.shape[1]:
                np.maximum(rmax[r1:], far.max(axis=0), out=rmax[r1:])
                j, i = _nonzero(np.ascontiguousarray((far <= bound[None, r1:]).T))
                parts.append((j + r1, i + r0, far[i, j]))
            if r1 <= n_q:
                d_qg[r0:r1] = s[:, n_q - r0 :]
    return rmax, parts, np.maximum(d_qg, 0, out=d_qg)


def _nearest(parts: list[tuple[np.ndarray, ...]], n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest of every row among its candidates, sorted by (distance, index).

    Returns ``(nn_d, nn)``: (N, k) float32 distances clamped at 0, (N, k) int64 indices.
    """
    counts = [np.bincount(p[0], minlength=n) for p in parts]
    total = np.sum(counts, axis=0)
    if int(total.min()) < k:
        raise AssertionError("internal error: fewer than k neighbour candidates in a row")
    ptr = np.concatenate(([0], np.cumsum(total)))
    fill = ptr[:-1].copy()
    flat_i = np.empty(ptr[-1], dtype=np.int64)
    flat_d = np.empty(ptr[-1], dtype=np.float32)
    for (row, nb, dist), cnt in zip(parts, counts, strict=True):  # CSR layout, no sort
        at = fill[row] + np.arange(row.shape[0]) - (np.cumsum(cnt) - cnt)[row]
        flat_i[at], flat_d[at] = nb, np.maximum(dist, 0)
        fill += cnt
    nn_d = np.empty((n, k), dtype=np.float32)
    nn = np.empty((n, k), dtype=np.int64)
    for a in range(0, n, 4 * _STRIP):  # padded row chunks: partition, then sort k per row
        b = min(n, a + 4 * _STRIP)
        slot = np.arange(int(total[a:b].max()))
        real = slot[None, :] < total[a:b, None]
        at = np.where(real, ptr[a:b, None] + slot[None, :], 0)
        pad_d = np.where(real, flat_d[at], np.inf)
        part = np.argpartition(pad_d, k - 1, axis=1)[:, :k]
        cand_d, cand_i = np.take_along_axis(pad_d, part, 1), flat_i[np.take_along_axis(at, part, 1)]
        order = np.lexsort((cand_i, cand_d), axis=1)
        nn_d[a:b] = np.take_along_axis(cand_d, order, 1)
        nn[a:b] = np.take_along_axis(cand_i, order, 1)
    return nn_d, nn


def reranking_kreciprocal(
    qf: torch.Tensor | np.ndarray,
    gf: torch.Tensor | np.ndarray,
    k1: int = 20,
    k2: int = 6,
    lambda_value: float = 0.3,
) -> np.ndarray:
    """k-reciprocal re-ranking (Zhong et al., CVPR 2017, Eq. 14): (Q, G) float32 distances.

    qf (Q, d), gf (G, d): L2-normalised features. All N = Q + G samples are used as in the
    paper: d(i, j) = squared Euclidean distance (``pairwise_distance``, clamped at 0), each
    row divided by its maximum over the N samples (as the authors' code does; it keeps every
    row's ranking); R*(i, k1) = the k1-reciprocal neighbours of i, extended by every
    R(c, round(k1/2)) of a member c that shares more than 2/3 of itself with it (Eq. 9);
    V(i, j) = exp(-d(i, j)) over that set, normalised to sum 1 (Eq. 10); local query
    expansion averages V over the k2 nearest rows (k2 = 1: off); the Jaccard distance is
    1 - sum_k min(V_ik, V_jk) / sum_k max(V_ik, V_jk) (Eq. 11-13). Result:
    (1 - lambda) * Jaccard + lambda * d, query rows x gallery columns; with lambda_value = 1
    it is exactly the row-normalised d. Neighbours are ordered by (distance, index); k1 and k2
    are capped at N - 1 and N (round(k1/2) is taken of the capped k1).

    The encoding is :func:`vreid.cluster.jaccard.k_reciprocal_encoding` (sparse) and the
    Jaccard part :func:`vreid.cluster.jaccard.jaccard_rows_vs_rest`. Memory: O(N k1) for
    the neighbours and V, square distance blocks of 1024 x 1024, and the (Q, G) output;
    time O(N^2 d / 2) for the distances plus the sparse Jaccard accumulation. N > 20,000 is
    refused: turn re-ranking off (params ``evaluate.rerank: false``).
    """
    x, n_q = _checked_inputs(qf, gf, k1, k2, lambda_value)
    n = x.shape[0]
    k1, k2 = min(k1, n - 1), min(k2, n)  # tiny sets: every sample is a neighbour
    k = max(k1 + 1, k2)
    rmax, parts, d_qg = _strip_pass(x, n_q, _kth_bounds(x, k))
    nn_d, nn = _nearest(parts, n, k)
    del parts
    scale = np.where(rmax > 0, rmax, np.float32(1.0))
    d_qg /= scale[:n_q, None]
    v = k_reciprocal_encoding(x.numpy(), (nn_d, nn), k1, k2, row_scale=scale.astype(np.float64))
    for a, b, jac in jaccard_rows_vs_rest(v, n_q):
        jac *= 1.0 - lambda_value
        jac += lambda_value * d_qg[a:b]
        d_qg[a:b] = jac
    return d_qg
