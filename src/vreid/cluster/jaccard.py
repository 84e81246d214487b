"""Sparse, memory-bounded k-reciprocal Jaccard distance (VAPC Eq. 8-9) and DBSCAN on it.

The k-reciprocal encoding follows Zhong et al. (CVPR 2017), in the variant used by
unsupervised re-ID clustering (no mixing with the original distance):

* ``N(i, k)``: the ``k + 1`` nearest samples of ``i`` (itself first), or all samples when
  ``k + 1 > N``; ``k`` is clipped to ``N - 1``.
* ``R(i, k) = {j in N(i, k) : i in N(j, k)}`` (k-reciprocal set, contains ``i``).
* expansion: ``R*(i) = R(i, k1)`` united with every ``R(c, round(k1 / 2))``, ``c in R(i, k1)``,
  for which ``|R(c, round(k1/2)) & R(i, k1)| > 2/3 |R(c, round(k1/2))|`` (Python ``round``:
  half to even).
* weights (Eq. 8): ``V[i, j] = exp(-d_ij)`` for ``j in R*(i)``, 0 elsewhere, ``d`` the squared
  Euclidean distance ``2 - 2 <f_i, f_j>``; rows normalised to sum 1.
* local query expansion: ``V[i] <- mean of V[j]`` over the ``k2`` nearest samples ``j`` of ``i``
  (itself included; ``k2`` clipped to ``N``).
* Jaccard distance (Eq. 9): ``1 - sum_l min(V_il, V_jl) / sum_l max(V_il, V_jl)``, where
  ``sum max = sum V_i + sum V_j - sum min``.

Everything is sparse: the reciprocal test and the expansion are sparse 0/1 matrix products,
and ``sum_l min(V_il, V_jl)`` is accumulated through the inverted index (the columns of
``V``), for pairs ``j >= i`` only, in row blocks of bounded size, so only pairs that share a
non-zero column are ever touched. The symmetric result is then assembled from the blocks of
its upper triangle into arrays allocated once at their final size, each block released once
placed, so the peak is about the result plus its upper half. Time and memory beyond the faiss
k-NN follow the number of such pairs; no N x N array is created.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from ..checks import require_int
from .knn import check_features, check_knn, knn_search

__all__ = [
    "dbscan_sparse",
    "jaccard_distance",
    "jaccard_rows_vs_rest",
    "k_reciprocal_encoding",
    "k_reciprocal_sets",
]

# Bounds of the per-block temporaries in the Jaccard accumulation (number of elements).
_BLOCK_EXPANDED = 1 << 20  # expanded (row, column-entry) triplets per block
_BLOCK_DENSE = 1 << 22  # rows_in_block * N accumulator cells per block


def _check_k(value: int, name: str) -> int:
    return require_int(name, value, lo=1)


def _membership(nn: np.ndarray, n: int) -> sp.csr_matrix:
    """``(N, N)`` int32 0/1 matrix with a 1 at ``(i, nn[i, t])`` for every column ``t``."""
    rows = np.repeat(np.arange(nn.shape[0], dtype=np.int64), nn.shape[1])
    m = sp.csr_matrix(
        (np.ones(nn.size, dtype=np.int32), (rows, nn.ravel())), shape=(n, n), dtype=np.int32
    )
    m.sum_duplicates()
    m.data[:] = 1
    return m


def _reciprocal(nn: np.ndarray, k: int, n: int) -> sp.csr_matrix:
    """``R(i, k)`` for all ``i`` as a 0/1 CSR matrix (symmetric, diagonal set)."""
    a = _membership(nn[:, : k + 1], n)
    r = sp.csr_matrix(a.multiply(a.T), dtype=np.int32)
    r.eliminate_zeros()
    r.sort_indices()
    return r


def k_reciprocal_sets(nn: np.ndarray, k1: int) -> sp.csr_matrix:
    """Expanded k-reciprocal sets ``R*(i)`` (see module docstring) as a 0/1 CSR matrix.

    Args:
        nn: ``(N, >= min(k1, N-1) + 1)`` int64 neighbour lists from :func:`knn_search` on the
            features themselves (self first, sorted by distance).
        k1: the ``k1`` of the encoding (clipped to ``N - 1``).

    Returns:
        ``(N, N)`` int32 CSR with sorted indices; row ``i`` holds ``R*(i)``.
    """
    n = nn.shape[0]
    k1e = min(k1, n - 1)
    kh = min(int(round(k1 / 2)), n - 1)
    r = _reciprocal(nn, k1e, n)
    rh = _reciprocal(nn, kh, n)
    # overlap[i, c] = |R(i, k1) & R(c, kh)|, needed only for c in R(i, k1). R(., kh) is
    # symmetric, so R @ Rh gives sum_l R[i, l] Rh[l, c] = sum_l R[i, l] Rh[c, l].
    overlap = sp.csr_matrix((r @ rh).multiply(r), dtype=np.int64)
    overlap.eliminate_zeros()
    overlap.sort_indices()
    cand = overlap.indices
    size_h = np.diff(rh.indptr).astype(np.int64)
    keep = 3 * overlap.data > 2 * size_h[cand]  # exact integer form of "> 2/3 |R(c, kh)|"
    sel = sp.csr_matrix(
        (np.ones(int(keep.sum()), np.int32), cand[keep], _indptr_of_mask(overlap.indptr, keep)),
        shape=(n, n),
    )
    expanded = sp.csr_matrix(r + sel @ rh, dtype=np.int32)
    expanded.sum_duplicates()
    expanded.data[:] = 1
    expanded.sort_indices()
    return expanded


def _indptr_of_mask(indptr: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """CSR ``indptr`` after dropping the entries where ``keep`` is False."""
    csum = np.concatenate(([0], np.cumsum(keep, dtype=np.int64)))
    return csum[indptr]


def _lookup(keys_sorted: np.ndarray, values: np.ndarray, query: np.ndarray):
    """Values at ``query`` keys present in ``keys_sorted``; returns ``(found_mask, values)``."""
    pos = np.searchsorted(keys_sorted, query)
    pos_c = np.minimum(pos, keys_sorted.size - 1)
    found = keys_sorted[pos_c] == query
    return found, values[pos_c]


def _pair_sqdist(
    x: np.ndarray, rows: np.ndarray, cols: np.ndarray, dist: np.ndarray, nn: np.ndarray
) -> np.ndarray:
    """Squared distances of the pairs ``(rows[t], cols[t])``.

    Reused from the k-NN lists where either direction is known; the rest are computed as
    ``2 - 2 <x_i, x_j>`` from float32 dot products in bounded chunks.
    """
    n = x.shape[0]
    qkeys = rows * n + cols
    knn_rows = np.repeat(np.arange(n, dtype=np.int64), nn.shape[1])
    fwd = knn_rows * n + nn.ravel()
    order = np.argsort(fwd, kind="stable")
    found, vals = _lookup(fwd[order], dist.ravel()[order], qkeys)
    out = np.where(found, vals, np.nan).astype(np.float64)
    miss = ~found
    if miss.any():
        bwd = nn.ravel() * n + knn_rows
        order = np.argsort(bwd, kind="stable")
        found_b, vals_b = _lookup(bwd[order], dist.ravel()[order], qkeys[miss])
        sub = out[miss]
        sub[found_b] = vals_b[found_b]
        out[miss] = sub
        miss = np.isnan(out)
    todo = np.flatnonzero(miss)
    step = max(1, (1 << 21) // x.shape[1])
    for s in range(0, todo.size, step):
        t = todo[s : s + step]
        ip = np.einsum("ij,ij->i", x[rows[t]], x[cols[t]])
        out[t] = np.maximum(2.0 - 2.0 * ip.astype(np.float64), 0.0)
    return out


def _block_starts(cost: np.ndarray, budget: int, max_rows: int) -> list[int]:
    """Cut ``0..len(cost)`` into consecutive row blocks of summed cost <= ``budget`` (a row
    heavier than the budget gets a block of its own) and at most ``max_rows`` rows each."""
    n = cost.shape[0]
    starts = [0]
    csum = np.concatenate(([0], np.cumsum(cost, dtype=np.int64)))
    while starts[-1] < n:
        a = starts[-1]
        b = int(np.searchsorted(csum, csum[a] + budget, side="right")) - 1
        starts.append(min(n, max(b, a + 1), a + max_rows))
    return starts


class _Columns(NamedTuple):
    """Inverted index of a CSR ``V`` with sorted indices: ``V^T`` in CSR layout.

    ``ptr`` (N + 1,) column pointers; ``row`` / ``val``: row index and value of each column
    entry (rows ascending within a column); ``pos`` (nnz,): where each entry of ``V`` (in
    storage order) sits among the column entries; ``row_of`` (nnz,): row of each entry of
    ``V``; ``rowsum`` (N,): row sums, accumulated in storage order.
    """

    ptr: np.ndarray
    row: np.ndarray
    val: np.ndarray
    pos: np.ndarray
    row_of: np.ndarray
    rowsum: np.ndarray


def _columns(v: sp.csr_matrix) -> _Columns:
    n = v.shape[0]
    nnz = v.indptr[-1]
    ids = sp.csr_matrix((np.arange(1, nnz + 1, dtype=np.int64), v.indices, v.indptr), (n, n))
    vt = sp.csr_matrix(ids.T)
    vt.sort_indices()
    src = vt.data - 1  # position of each column entry in ``v``
    pos_in_col = np.empty(nnz, dtype=np.int64)
    pos_in_col[src] = np.arange(nnz, dtype=np.int64)
    row_of = np.repeat(np.arange(n, dtype=np.int64), np.diff(v.indptr))
    # Row sums accumulated sequentially in storage order, exactly like the diagonal of
    # _jaccard_from_v, so that identical rows get a distance of exactly 0.
    rowsum = np.bincount(row_of, weights=v.data, minlength=n)
    return _Columns(
        vt.indptr.astype(np.int64),
        vt.indices.astype(np.int64),
        v.data[src],
        pos_in_col,
        row_of,
        rowsum,
    )


def _block_min_sums(
    v: sp.csr_matrix,
    cols: _Columns,
    start: np.ndarray,
    cnt_all: np.ndarray,
    rows: tuple[int, int],
    width: int,
    first_col: int,
) -> np.ndarray:
    """``sum_l min(V_il, V_jl)`` for the rows ``a <= i < b`` of ``rows = (a, b)``, flat.

    Entry ``t`` of ``V`` (at ``(i, l)``) pairs with the ``cnt_all[t]`` entries of column
    ``l`` from position ``start[t]`` on (rows ``j`` ascending); the result is a dense
    ``(b - a) * width`` vector, ``[(i - a) * width + j - first_col]``.
    """
    a, b = rows
    p0, p1 = v.indptr[a], v.indptr[b]
    cnt = cnt_all[p0:p1]
    total = int(cnt.sum())
    first = np.cumsum(cnt) - cnt
    pos = np.repeat(start[p0:p1] - first, cnt) + np.arange(total, dtype=np.int64)
    mins = np.minimum(np.repeat(v.data[p0:p1], cnt), cols.val[pos])
    key = np.repeat((cols.row_of[p0:p1] - a) * width - first_col, cnt) + cols.row[pos]
    del pos
    return np.bincount(key, weights=mins, minlength=(b - a) * width)


def _jaccard_from_v(v: sp.csr_matrix, max_dist: float) -> sp.csr_matrix:
    """Jaccard distance between the rows of non-negative ``v`` (sorted indices), sparse.

    ``sum_l min(V_il, V_jl)`` is accumulated through the inverted index (the columns of
    ``V``) for pairs ``j >= i`` only, in row blocks, then mirrored. Every pair that shares a
    non-zero column and whose distance is ``<= max_dist`` is stored (also when it is 0).
    """
    n = v.shape[0]
    cols = _columns(v)
    rowsum = cols.rowsum
    # Entry (i, l) pairs with the entries of column l at rows j >= i: a suffix of the column.
    cnt_all = cols.ptr[v.indices.astype(np.int64) + 1] - cols.pos
    per_row = np.bincount(cols.row_of, weights=cnt_all, minlength=n).astype(np.int64)
    starts = _block_starts(per_row, _BLOCK_EXPANDED, max(1, _BLOCK_DENSE // max(n, 1)))
    blocks: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
    for a, b in zip(starts[:-1], starts[1:], strict=True):
        width = n - a  # columns j >= i >= a
        acc = _block_min_sums(v, cols, cols.pos, cnt_all, (a, b), width, a)
        hit = np.flatnonzero(acc != 0)  # a bool scan is several times faster than float
        smin = acc[hit]
        del acc
        # hits are sorted: split them by row instead of dividing every one of them
        row_cnt = np.diff(np.searchsorted(hit, np.arange(b - a + 1, dtype=np.int64) * width))
        cj = hit - np.repeat(np.arange(b - a, dtype=np.int64) * width - a, row_cnt)
        del hit
        si = np.repeat(rowsum[a:b], row_cnt)
        d = np.maximum(1.0 - smin / (si + rowsum[cj] - smin), 0.0).astype(np.float32)
        del si, smin
        if max_dist < 1.0:
            keep = d <= max_dist  # float32 comparison, as DBSCAN makes it on the stored values
            row_cnt = np.bincount(np.repeat(np.arange(b - a), row_cnt)[keep], minlength=b - a)
            cj, d = cj[keep], d[keep]
        blocks.append((a, row_cnt, cj.astype(np.int32), d))
    del cols, cnt_all
    return _mirror_blocks(n, blocks)


def _mirror_blocks(
    n: int, blocks: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]
) -> sp.csr_matrix:
    """Symmetric CSR from its upper triangle, given in consecutive row blocks.

    Each block ``(a, row_cnt, cols, data)`` holds rows ``a, a + 1, ...`` in CSR layout
    (``row_cnt`` entries per row, sorted columns ``>= row``, the diagonal first in every row).
    The output arrays are allocated once at their final size and each block is scattered
    into them and released: row ``i`` of the result is the mirrored strict-upper entries of
    rows ``< i`` (columns ``< i``, ascending) followed by its own upper row; explicit zeros
    kept. Peak memory is the output plus the blocks not yet placed, never a second copy.
    """
    up_cnt = np.zeros(n, dtype=np.int64)
    lo_cnt = np.zeros(n, dtype=np.int64)  # strict-upper entries per column = lower per row
    for a, row_cnt, cj, _ in blocks:
        up_cnt[a : a + row_cnt.size] = row_cnt
        lo_cnt += np.bincount(cj, minlength=n)
    lo_cnt -= 1  # every row's diagonal was counted in its own column
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(up_cnt + lo_cnt, out=indptr[1:])
    indices = np.empty(int(indptr[-1]), dtype=np.int32)
    data = np.empty(int(indptr[-1]), dtype=np.float32)
    fill = indptr[:-1].copy()  # next free slot of each row's lower part
    blocks.reverse()  # placed from the first block on, each popped (released) from the end
    while blocks:
        a, row_cnt, cj, d = blocks.pop()
        b = a + row_cnt.size
        first = np.cumsum(row_cnt) - row_cnt
        rank = np.arange(cj.size, dtype=np.int64) - np.repeat(first, row_cnt)
        pos = np.repeat(indptr[a:b] + lo_cnt[a:b], row_cnt) + rank
        if (row_cnt < 1).any() or not np.array_equal(cj[first], np.arange(a, b)):
            raise AssertionError("internal error: the diagonal must open every upper row")
        indices[pos] = cj
        data[pos] = d
        del pos, rank
        # the strict upper entries (i, j), j > i, become (j, i): transpose the block in
        # linear time (scipy's CSR -> CSC keeps rows ascending within each column)
        off = np.ones(cj.size, dtype=bool)
        off[first] = False
        strict_ptr = np.zeros(row_cnt.size + 1, dtype=np.int64)
        np.cumsum(row_cnt - 1, out=strict_ptr[1:])
        t = sp.csr_matrix((d[off], cj[off], strict_ptr), shape=(row_cnt.size, n)).tocsc()
        del off, cj, d
        col_cnt = np.diff(t.indptr)
        pos = np.repeat(fill - t.indptr[:-1], col_cnt) + np.arange(t.nnz, dtype=np.int64)
        indices[pos] = t.indices + a
        data[pos] = t.data
        fill += col_cnt
        del t, pos
    out = sp.csr_matrix((data, indices, indptr), shape=(n, n))
    out.has_sorted_indices = True
    return out


def jaccard_distance(
    features: np.ndarray,
    k1: int = 20,
    k2: int = 6,
    max_dist: float | None = None,
    knn: tuple[np.ndarray, np.ndarray] | None = None,
) -> sp.csr_matrix:
    """VAPC Eq. 8-9: k-reciprocal Jaccard distance between all rows, as a sparse matrix.

    Args:
        features: ``(N, d)`` float32, rows L2-normalised.
        k1: k-reciprocal neighbourhood size (paper: 20); clipped to ``N - 1``.
        k2: local query expansion size, self included; clipped to ``N``. ``k2 = 1`` disables it.
        max_dist: if given, store only pairs with distance ``<= max_dist`` (e.g. DBSCAN's eps;
            bounds memory on poorly clustered data); ``None`` stores every pair below 1.
        knn: optional ``knn_search(features, k)`` output with
            ``k >= max(min(k1, N - 1) + 1, min(k2, N))``, to reuse a search already made.

    Returns:
        ``(N, N)`` float32 ``scipy.sparse.csr_matrix`` (int32 indices), symmetric, sorted
        indices. Stored entries are exactly the pairs whose distance is below 1 (or
        ``<= max_dist``); the diagonal and distances of exactly 0 are stored as explicit
        zeros; every pair that is not stored has distance 1. Time and memory follow the number
        of pairs that share a non-zero column of ``V`` (at most about ``N * (k1 * k2)**2``,
        typically a few hundred to a few thousand per row); nothing of size ``N x N`` is
        ever allocated.
    """
    x = check_features(features)
    k1 = _check_k(k1, "k1")
    k2 = _check_k(k2, "k2")
    if max_dist is not None and not (np.isfinite(max_dist) and max_dist >= 0):
        raise ValueError(f"max_dist must be None or a finite number >= 0; got {max_dist!r}")
    n = x.shape[0]
    if n == 0:
        return sp.csr_matrix((0, 0), dtype=np.float32)
    k1e = min(k1, n - 1)
    k2e = min(k2, n)
    need = max(k1e + 1, k2e)
    dist, nn = knn_search(x, need) if knn is None else check_knn(knn, n, need)
    v = k_reciprocal_encoding(x, (dist, nn), k1, k2e)
    return _jaccard_from_v(v, 1.0 if max_dist is None else float(max_dist))


def k_reciprocal_encoding(
    x: np.ndarray,
    knn: tuple[np.ndarray, np.ndarray],
    k1: int,
    k2: int,
    row_scale: np.ndarray | None = None,
) -> sp.csr_matrix:
    """The k-reciprocal encoding ``V`` after local query expansion (module docstring).

    Args:
        x: ``(N, d)`` float32 features, rows L2-normalised.
        knn: ``(dist, nn)``, ``(N, >= max(min(k1, N-1) + 1, k2))`` squared distances and
            neighbour indices of every row, sorted by (distance, index).
        k1: as in :func:`k_reciprocal_sets` (clipped to ``N - 1``, ``round(k1 / 2)`` taken of
            the value given).
        k2: local query expansion size, ``1 <= k2 <= N``; 1 disables it.
        row_scale: optional ``(N,)`` positive divisors: ``V[i, j] = exp(-d_ij / row_scale[i])``
            instead of ``exp(-d_ij)`` (test-time re-ranking divides each row by its maximum).

    Returns:
        ``(N, N)`` float64 CSR with sorted indices, rows summing to 1.
    """
    dist, nn = knn
    n = x.shape[0]
    expanded = k_reciprocal_sets(nn, k1)
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(expanded.indptr))
    cols = expanded.indices.astype(np.int64)
    d = _pair_sqdist(x, rows, cols, dist, nn)
    if row_scale is not None:
        d /= row_scale[rows]
    w = np.exp(-d)
    w /= np.bincount(rows, weights=w, minlength=n)[rows]
    v = sp.csr_matrix((w, cols, expanded.indptr.astype(np.int64)), shape=(n, n))
    if k2 > 1:
        qcols = np.sort(nn[:, :k2], axis=1)  # sorted: identical rows sum in identical order
        q = sp.csr_matrix(
            (
                np.full(n * k2, 1.0 / k2),
                qcols.ravel(),
                np.arange(0, n * k2 + 1, k2, dtype=np.int64),
            ),
            shape=(n, n),
        )
        v = sp.csr_matrix(q @ v)
    v.sum_duplicates()
    v.sort_indices()
    return v


def jaccard_rows_vs_rest(v: sp.csr_matrix, n_rows: int) -> Iterator[tuple[int, int, np.ndarray]]:
    """Jaccard distances between the first ``n_rows`` rows of ``v`` and all the others.

    ``v``: ``(N, N)`` non-negative CSR with sorted indices (e.g. :func:`k_reciprocal_encoding`
    of query rows followed by gallery rows). Yields ``(a, b, block)`` for consecutive row
    ranges covering ``0..n_rows``: ``block`` is the dense ``(b - a, N - n_rows)`` float64
    ``1 - sum min / sum max`` of rows ``a..b-1`` against rows ``n_rows..N-1`` (1 where two rows
    share no column). The minima are accumulated through the inverted index like
    :func:`jaccard_distance`; a block holds at most about 4 M cells.
    """
    n = v.shape[0]
    width = n - n_rows
    if n_rows == 0 or width == 0:
        yield 0, n_rows, np.ones((n_rows, width), dtype=np.float64)
        return
    cols = _columns(v)
    idx = v.indices.astype(np.int64)
    # Entry (i, l) pairs with the entries of column l at rows j >= n_rows: a column suffix.
    head = np.bincount(idx[: v.indptr[n_rows]], minlength=n)  # column entries at rows < n_rows
    start = cols.ptr[idx] + head[idx]
    cnt_all = cols.ptr[idx + 1] - start
    per_row = np.bincount(cols.row_of, weights=cnt_all, minlength=n).astype(np.int64)
    starts = _block_starts(per_row[:n_rows], _BLOCK_EXPANDED, max(1, _BLOCK_DENSE // width))
    rest = cols.rowsum[n_rows:]
    for a, b in zip(starts[:-1], starts[1:], strict=True):
        smin = _block_min_sums(v, cols, start, cnt_all, (a, b), width, n_rows).reshape(-1, width)
        smin /= cols.rowsum[a:b, None] + rest[None, :] - smin
        yield a, b, np.subtract(1.0, smin, out=smin)


def dbscan_sparse(dist: sp.spmatrix, eps: float, min_samples: int) -> np.ndarray:
    """DBSCAN (scikit-learn, ``metric="precomputed"``) on a sparse distance matrix.

    The matrix is reduced to its radius graph: stored entries ``<= eps`` (explicit zeros
    kept), rows sorted by distance. Non-stored pairs count as farther than ``eps``: for a
    :func:`jaccard_distance` matrix (non-stored = 1) this is exact whenever ``eps < 1``, and
    the labels equal those of DBSCAN on the densified matrix.

    Args:
        dist: ``(N, N)`` sparse, non-negative distances.
        eps: neighbourhood radius (> 0), same units as ``dist``.
        min_samples: DBSCAN core-point threshold (>= 1), the point itself included.

    Returns:
        ``(N,)`` int64 labels, ``-1`` = noise.
    """
    if not sp.issparse(dist):
        raise ValueError("dist must be a scipy.sparse matrix (use DBSCAN directly for dense)")
    if dist.ndim != 2 or dist.shape[0] != dist.shape[1]:
        raise ValueError(f"dist must be a square matrix; got shape {dist.shape}")
    eps = float(eps)
    if not np.isfinite(eps) or eps <= 0:
        raise ValueError(f"eps must be a finite number > 0; got {eps}")
    min_samples = _check_k(min_samples, "min_samples")
    n = dist.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    g = sp.csr_matrix(dist)
    g.sum_duplicates()
    if g.data.size and g.data.min() < 0:
        raise ValueError("dist has negative entries; distances must be >= 0")
    row_of = np.repeat(np.arange(n, dtype=np.int64), np.diff(g.indptr))
    keep = g.data <= eps
    rows, cols, data = row_of[keep], g.indices[keep].astype(np.int64), g.data[keep]
    order = np.lexsort((cols, data, rows))  # rows sorted by distance, as sklearn prefers
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    radius = sp.csr_matrix((data[order], cols[order], indptr), shape=(n, n))
    from sklearn.cluster import DBSCAN  # here: scikit-learn takes a second to import

    labels = DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit_predict(radius)
    return labels.astype(np.int64)
