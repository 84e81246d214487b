"""The cross-view merge threshold tau from the pair rank ti (VAPC Sec. III-C, Eq. 7)."""

from __future__ import annotations

import math

import numpy as np

from .knn import check_features, knn_search, pair_distances

__all__ = ["count_cross_view_pairs", "tau_from_ti"]

# faiss distances are float32; a neighbour list only proves that no unseen pair is closer
# than t when its last distance clears t by this margin (squared-distance units).
_SQ_MARGIN = 1e-4


def _check_views(views: np.ndarray, n: int, name: str = "views") -> np.ndarray:
    v = np.asarray(views)
    if v.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match the features; got {v.shape}")
    if v.size and not np.issubdtype(v.dtype, np.integer):
        raise ValueError(f"{name} must hold integer viewpoint ids; got dtype {v.dtype}")
    return v.astype(np.int64, copy=False)


def count_cross_view_pairs(views: np.ndarray) -> int:
    """Number of unordered sample pairs ``(i < j)`` with ``views[i] != views[j]``."""
    v = np.asarray(views)
    _, counts = np.unique(v, return_counts=True)
    n = int(v.shape[0])
    return (n * n - sum(int(c) ** 2 for c in counts)) // 2


def tau_from_ti(features: np.ndarray, views: np.ndarray, ti: int) -> float:
    """VAPC Eq. 7: tau = distance of the ti-th closest cross-viewpoint sample pair.

    All unordered pairs ``(i, j)``, ``i < j``, with ``views[i] != views[j]`` are ranked by the
    Euclidean distance ``||f_i - f_j||`` (not squared) and the ``ti``-th smallest (1-based) is
    returned. ``ti = 0`` returns ``0.0``, which means *no cross-view merging* (the merge keeps
    pairs strictly closer than tau).

    The pairs are never all materialised: each viewpoint's samples query the samples of the
    other viewpoints for their ``m`` nearest neighbours (faiss); the candidate pairs are
    deduplicated and re-measured in float64, and ``t`` = their ``ti``-th smallest distance.
    ``t`` is exact when every sample's ``m``-th cross-view neighbour lies at ``>= t`` (a pair
    missing from the candidates would need both endpoints' lists to stop below ``t``);
    otherwise the samples that fail are searched again with ``2 m`` (up to all of them).

    Args:
        features: ``(N, d)`` float32, rows L2-normalised.
        views: ``(N,)`` integer viewpoint id of each sample.
        ti: rank of the pair, ``0 <= ti <=`` number of cross-view pairs.

    Returns:
        tau as a Python float (Euclidean distance units).
    """
    if isinstance(ti, bool) or not isinstance(ti, int | np.integer) or ti < 0:
        raise ValueError(f"ti must be an integer >= 0; got {ti!r}")
    ti = int(ti)
    x = check_features(features)
    n = x.shape[0]
    v = _check_views(views, n)
    if ti == 0:
        return 0.0
    total = count_cross_view_pairs(v)
    if ti > total:
        raise ValueError(
            f"ti = {ti} exceeds the number of cross-viewpoint sample pairs ({total}); "
            "lower ti (or use ti = 0 for no cross-view merging)"
        )
    uniq = np.unique(v)
    members = {int(u): np.flatnonzero(v == u) for u in uniq}
    n_other = n - np.array([members[int(u)].size for u in v], dtype=np.int64)
    m_init = max(8, math.ceil(2 * ti / n))
    m = np.minimum(n_other, m_init)
    last_sq = np.zeros(n, dtype=np.float64)  # faiss squared distance of each list's last entry
    keys = np.zeros(0, dtype=np.int64)  # candidate pairs lo * n + hi, sorted, unique
    d = np.zeros(0, dtype=np.float64)  # their float64 distances
    todo = np.ones(n, dtype=bool)
    while True:
        cand_keys: list[np.ndarray] = []
        for u in uniq:
            q = members[int(u)]
            q = q[todo[q]]
            if q.size == 0:
                continue
            others = np.flatnonzero(v != u)
            mm = int(m[q].max())
            m[q] = mm
            dist, idx = knn_search(x[others], mm, queries=x[q])
            a = np.repeat(q, mm)
            b = others[idx].ravel()
            cand_keys.append(np.minimum(a, b) * n + np.maximum(a, b))
            last_sq[q] = dist[:, -1]
        new = np.unique(np.concatenate(cand_keys))
        new = new[~np.isin(new, keys, assume_unique=True)]
        keys = np.concatenate([keys, new])
        d = np.concatenate([d, pair_distances(x, new // n, new % n)])
        order = np.argsort(keys, kind="stable")
        keys, d = keys[order], d[order]
        if d.size >= ti:
            t = float(np.partition(d, ti - 1)[ti - 1])
            complete = m >= n_other
            fail = ~complete & (last_sq < t * t + _SQ_MARGIN)
        else:  # too few candidates: grow every list that is not complete yet
            t = math.inf
            fail = m < n_other
        if not fail.any():
            return t
        m = np.where(fail, np.minimum(2 * m, n_other), m)
        todo = fail
