"""Exact nearest-neighbour search over L2-normalised features with faiss.

Conventions shared by the whole ``vreid.cluster`` package:

* features are ``(N, d)`` float32 arrays whose rows are L2-normalised;
* the squared Euclidean distance between two such rows is ``2 - 2 <a, b>``; faiss computes the
  inner products with ``IndexFlatIP`` (float32 GEMM) and the result is clipped at 0;
* when exactness at a threshold matters (``range_search``, :func:`pair_distances`), candidate
  pairs are re-measured as ``||a - b||`` in float64.

Tie order: every returned row is sorted by (distance, index), with the query itself first when
it is part of the database. Which of several *exactly tied* neighbours make it into a
truncated top-k list is decided by faiss; its heaps keep the first-seen (lowest-index)
candidate on ties, which makes the lists stable by index in practice, but faiss does not
promise it, and float32 rounding can break near-ties differently than a float64 reference.
"""

from __future__ import annotations

import faiss
import numpy as np

__all__ = ["check_features", "check_knn", "knn_search", "pair_distances", "range_search"]

# Slack on the inner-product threshold handed to faiss before the exact float64 re-check, so
# that float32 rounding inside faiss never drops a pair that is really inside the radius.
_IP_SLACK = 1e-4
# Number of float64 elements processed at once by pair_distances (bounds temporary memory).
_PAIR_CHUNK_ELEMS = 1 << 22
# Query rows per faiss range_search call (bounds faiss' result buffers).
_RANGE_BLOCK = 4096


def check_features(x: np.ndarray, name: str = "features", atol: float = 1e-3) -> np.ndarray:
    """Validate ``(N, d)`` L2-normalised features; return them as C-contiguous float32."""
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (N, d); got shape {arr.shape}")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} must have at least one feature dimension; got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{name} must be a floating-point array; got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if arr.shape[0]:
        norms = np.sqrt(np.einsum("ij,ij->i", arr, arr))  # NaN / inf entries fail here too
        bad = np.flatnonzero(~(np.abs(norms - 1.0) <= atol))
        if bad.size:
            raise ValueError(
                f"{name} rows must be L2-normalised; row {int(bad[0])} has norm "
                f"{norms[bad[0]]:.6g} ({bad.size} rows off by more than {atol}); "
                "normalise with x / ||x|| first"
            )
    return arr


def check_knn(
    knn: tuple[np.ndarray, np.ndarray], n: int, k: int, name: str = "knn"
) -> tuple[np.ndarray, np.ndarray]:
    """Validate precomputed neighbours ``(dist, idx)`` of :func:`knn_search` (self-search of
    the same ``n`` features, at least ``k`` columns); return their first ``k`` columns."""
    try:
        dist, idx = (np.asarray(a) for a in knn)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be the (dist, idx) pair returned by knn_search") from err
    if dist.ndim != 2 or dist.shape != idx.shape or dist.shape[0] != n or dist.shape[1] < k:
        raise ValueError(
            f"{name} must be knn_search(features, k) output with shape ({n}, >= {k}); "
            f"got dist {dist.shape}, idx {idx.shape}"
        )
    if not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"{name}: idx must hold integer indices; got dtype {idx.dtype}")
    return dist[:, :k], idx[:, :k].astype(np.int64, copy=False)


def _flat_ip_index(x: np.ndarray, gpu: bool):
    """``(index, resources)``: an exact inner-product index holding ``x``, on GPU only if
    asked and ``faiss.get_num_gpus() > 0``; keep ``resources`` alive while using the index."""
    d = x.shape[1]
    res = None
    if gpu and faiss.get_num_gpus() > 0:
        res = faiss.StandardGpuResources()
        index = faiss.GpuIndexFlatIP(res, d)
    else:
        index = faiss.IndexFlatIP(d)
    index.add(x)
    return index, res


def knn_search(
    x: np.ndarray, k: int, queries: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours by inner product (faiss ``IndexFlatIP``).

    Args:
        x: ``(N, d)`` float32 database, rows L2-normalised.
        k: neighbours per query, ``1 <= k <= N``.
        queries: ``(M, d)`` float32 queries, rows L2-normalised; ``None`` searches ``x`` against
            itself, and then every row contains the query itself first, at distance exactly 0
            (if more than ``k`` exact duplicates tie with it, the last retrieved one gives way).

    Returns:
        ``(dist, idx)``: ``(M, k)`` float32 squared Euclidean distances ``max(2 - 2 ip, 0)`` and
        ``(M, k)`` int64 database indices; each row sorted by (distance, index), self first.
        Uses a GPU index only when ``faiss.get_num_gpus() > 0``.
    """
    x = check_features(x, "x")
    n = x.shape[0]
    if not isinstance(k, int | np.integer) or isinstance(k, bool):
        raise ValueError(f"k must be an integer; got {k!r}")
    k = int(k)
    if n == 0:
        raise ValueError("x is empty; knn_search needs at least one database row")
    if not 1 <= k <= n:
        raise ValueError(f"k = {k} must be between 1 and the number of database rows ({n})")
    self_search = queries is None
    q = x if self_search else check_features(queries, "queries")
    if q.shape[1] != x.shape[1]:
        raise ValueError(f"queries have dimension {q.shape[1]} but x has dimension {x.shape[1]}")
    m = q.shape[0]
    if m == 0:
        return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
    index, _res = _flat_ip_index(x, gpu=True)
    ip, idx = index.search(q, k)
    idx = idx.astype(np.int64, copy=False)
    dist = np.maximum(2.0 - 2.0 * ip, 0.0).astype(np.float32)
    order = np.lexsort((idx, dist), axis=-1)
    dist, idx = np.take_along_axis(dist, order, axis=1), np.take_along_axis(idx, order, axis=1)
    return self_first(dist, idx) if self_search else (dist, idx)


def self_first(dist: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A self-search's rows in the order of :func:`knn_search`: the query itself first at
    distance 0 (put in place of the last entry when more than ``k`` exact duplicates crowded
    it out), then by (distance, index). Modifies ``dist`` and ``idx``."""
    rows = np.arange(len(idx), dtype=np.int64)[:, None]
    is_self = idx == rows
    missing = ~is_self.any(axis=1)
    if missing.any():  # more than k exact duplicates of the query: make room for itself
        idx[missing, -1] = rows[missing, 0]
        is_self[missing, -1] = True
    dist[is_self] = 0.0
    order = np.lexsort((idx, ~is_self, dist), axis=-1)
    return np.take_along_axis(dist, order, axis=1), np.take_along_axis(idx, order, axis=1)


def pair_distances(
    x: np.ndarray, a: np.ndarray, b: np.ndarray, y: np.ndarray | None = None
) -> np.ndarray:
    """Euclidean distances ``||x[a[t]] - y[b[t]]||`` in float64, computed in bounded chunks.

    Args:
        x: ``(N, d)`` features; y: ``(M, d)`` features (``None``: ``x``).
        a, b: ``(P,)`` integer row indices into ``x`` and ``y``.

    Returns:
        ``(P,)`` float64 distances (not squared).
    """
    y = x if y is None else y
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    out = np.empty(a.shape[0], dtype=np.float64)
    step = max(1, _PAIR_CHUNK_ELEMS // max(1, x.shape[1]))
    for s in range(0, a.shape[0], step):
        diff = x[a[s : s + step]].astype(np.float64) - y[b[s : s + step]]
        out[s : s + step] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return out


def range_search(
    x: np.ndarray,
    max_dist: float,
    queries: np.ndarray | None = None,
    inclusive: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All database rows within Euclidean distance ``max_dist`` of each query.

    faiss ``IndexFlatIP.range_search`` (CPU) finds candidates with a slightly loosened
    inner-product threshold ``1 - max_dist**2 / 2``; each candidate is then re-measured in
    float64 (:func:`pair_distances`) and kept if ``dist < max_dist`` (``inclusive``: ``<=``).
    Memory is proportional to the number of pairs found (queries run in blocks).

    Args:
        x: ``(N, d)`` float32 database, rows L2-normalised.
        max_dist: Euclidean radius (not squared); ``>= 0``.
        queries: ``(M, d)`` queries; ``None`` searches ``x`` against itself (self included,
            at distance 0, whenever ``0`` passes the test).
        inclusive: keep pairs at exactly ``max_dist`` too.

    Returns:
        ``(lims, dist, idx)`` in CSR layout: results of query ``i`` are
        ``dist[lims[i]:lims[i+1]]`` (float64 Euclidean) and ``idx[...]`` (int64), sorted by
        (distance, index). ``lims`` is ``(M + 1,)`` int64.
    """
    x = check_features(x, "x")
    q = x if queries is None else check_features(queries, "queries")
    if q.shape[1] != x.shape[1]:
        raise ValueError(f"queries have dimension {q.shape[1]} but x has dimension {x.shape[1]}")
    max_dist = float(max_dist)
    if not np.isfinite(max_dist) or max_dist < 0:
        raise ValueError(f"max_dist must be a finite number >= 0; got {max_dist}")
    m = q.shape[0]
    empty = (np.zeros(m + 1, np.int64), np.zeros(0, np.float64), np.zeros(0, np.int64))
    if m == 0 or x.shape[0] == 0 or (max_dist == 0 and not inclusive):
        return empty
    index, _ = _flat_ip_index(x, gpu=False)  # faiss GPU flat indexes have no range search
    thr = 1.0 - max_dist * max_dist / 2.0 - _IP_SLACK
    counts = np.zeros(m, dtype=np.int64)
    d_parts: list[np.ndarray] = []
    i_parts: list[np.ndarray] = []
    for s in range(0, m, _RANGE_BLOCK):
        e = min(m, s + _RANGE_BLOCK)
        lims, _, idx = index.range_search(q[s:e], thr)
        lims = lims.astype(np.int64)
        idx = idx.astype(np.int64, copy=False)
        qrow = np.repeat(np.arange(s, e, dtype=np.int64), np.diff(lims))
        dist = pair_distances(q, qrow, idx, x)
        keep = dist <= max_dist if inclusive else dist < max_dist
        qrow, idx, dist = qrow[keep], idx[keep], dist[keep]
        order = np.lexsort((idx, dist, qrow))
        d_parts.append(dist[order])
        i_parts.append(idx[order])
        counts[s:e] = np.bincount(qrow - s, minlength=e - s)
    lims = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(counts, out=lims[1:])
    return lims, np.concatenate(d_parts), np.concatenate(i_parts)
