"""Second period: merge clusters of different viewpoints below tau (VAPC Eq. 5-7)."""

from __future__ import annotations

import numpy as np

from .knn import check_features, range_search
from .noise_selection import _check_labels
from .tau import _check_views

__all__ = ["cross_view_merge", "cross_view_merge_with_stats", "relabel_consecutive"]


def relabel_consecutive(labels: np.ndarray) -> np.ndarray:
    """Map labels >= 0 to ``0..C-1`` (order of the old label values), keep ``-1``."""
    lab = np.asarray(labels, dtype=np.int64)
    out = np.full_like(lab, -1)
    keep = lab >= 0
    _, out[keep] = np.unique(lab[keep], return_inverse=True)
    return out


def _cluster_views(lab: np.ndarray, views: np.ndarray) -> np.ndarray:
    """View of every cluster ``0..C-1``; raises if a cluster spans several views."""
    keep = lab >= 0
    c = int(lab.max()) + 1 if keep.any() else 0
    lo = np.full(c, np.iinfo(np.int64).max)
    hi = np.full(c, np.iinfo(np.int64).min)
    np.minimum.at(lo, lab[keep], views[keep])
    np.maximum.at(hi, lab[keep], views[keep])
    bad = np.flatnonzero(lo != hi)
    if bad.size:
        members = np.flatnonzero(lab == bad[0])
        raise ValueError(
            f"labels: cluster {int(bad[0])} has members in several views "
            f"{sorted(set(views[members].tolist()))}; cross_view_merge expects first-period "
            "clusters, each inside one viewpoint"
        )
    return lo


def cross_view_merge_with_stats(
    features: np.ndarray, labels: np.ndarray, views: np.ndarray, tau: float
) -> tuple[np.ndarray, dict[str, int]]:
    """VAPC Eq. 5-7: merge clusters of different viewpoints whose distance is below tau.

    The view of a cluster is the view of its members (first-period clusters lie in one
    view). The distance of clusters ``a``, ``b`` of different views is the smallest
    member-pair Euclidean distance (Eq. 5). Cross-view cluster pairs are ranked by it
    (Eq. 6, ties by cluster ids) and, in that order, every pair strictly closer than tau is
    merged with union-find (Eq. 7). Clusters of the same view are never compared directly;
    they can end up together through a chain ``a - b - c``. Since the ranked list is fixed
    before merging, the result equals the connected components of the below-tau cross-view
    cluster graph (single linkage); ``tau <= 0`` merges nothing.

    Only sample pairs closer than tau are ever formed (faiss range search per view against
    the later views, re-measured in float64 in :func:`range_search`), so memory follows the
    number of close pairs, never ``N x N``.

    Args:
        features: ``(N, d)`` float32, rows L2-normalised.
        labels: ``(N,)`` int cluster labels, ``-1`` = noise (never merged, stays ``-1``).
        views: ``(N,)`` int viewpoint of each sample.
        tau: Euclidean distance threshold (from :func:`tau_from_ti`).

    Returns:
        ``(labels, stats)``: ``(N,)`` int64 labels relabelled to ``0..C-1`` (in order of the
        smallest input label of each merged group; noise stays ``-1``), and plain-int stats
        ``n_clusters_before``, ``n_clusters_after``, ``n_merges`` (successful unions),
        ``n_cluster_pairs_below_tau``, ``n_sample_pairs_below_tau``.
    """
    x = check_features(features)
    n = x.shape[0]
    lab = _check_labels(labels, n)
    v = _check_views(views, n)
    tau = float(tau)
    if not np.isfinite(tau):
        raise ValueError(f"tau must be a finite number; got {tau}")
    dense = relabel_consecutive(lab)
    n_clusters = int(dense.max()) + 1 if (dense >= 0).any() else 0
    cview = _cluster_views(dense, v)
    stats = {
        "n_clusters_before": n_clusters,
        "n_clusters_after": n_clusters,
        "n_merges": 0,
        "n_cluster_pairs_below_tau": 0,
        "n_sample_pairs_below_tau": 0,
    }
    if tau <= 0 or n_clusters < 2:
        return dense, stats

    clustered = dense >= 0
    keys, dists, stats["n_sample_pairs_below_tau"] = _cluster_pair_distances(
        x, dense, v, cview, tau, n_clusters
    )
    if keys.size == 0:
        return dense, stats
    order = np.lexsort((keys, dists))  # Eq. 6: ascending distance, ties by cluster ids
    keys = keys[order]
    stats["n_cluster_pairs_below_tau"] = int(keys.size)
    roots, merges = _union_in_order(keys, n_clusters)
    out = np.full(n, -1, dtype=np.int64)
    out[clustered] = relabel_consecutive(roots)[dense[clustered]]
    stats["n_merges"] = merges
    stats["n_clusters_after"] = n_clusters - merges
    return out, stats


def _cluster_pair_distances(
    x: np.ndarray, dense: np.ndarray, v: np.ndarray, cview: np.ndarray, tau: float, n_clusters: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Eq. 5 below tau: ``(keys, distances, n_sample_pairs)`` of the cross-view cluster pairs
    with a member pair closer than tau (key = ``min * C + max`` of the two cluster ids,
    distance = the smallest member-pair distance)."""
    clustered = dense >= 0
    uniq = np.unique(cview)
    pair_keys: list[np.ndarray] = []
    pair_dist: list[np.ndarray] = []
    n_sample_pairs = 0
    for k, u in enumerate(uniq[:-1]):
        q = np.flatnonzero(clustered & (v == u))
        db = np.flatnonzero(clustered & np.isin(v, uniq[k + 1 :]))
        if q.size == 0 or db.size == 0:
            continue
        lims, dist, idx = range_search(x[db], tau, queries=x[q])
        a = dense[np.repeat(q, np.diff(lims))]
        b = dense[db[idx]]
        n_sample_pairs += int(a.size)
        if a.size == 0:
            continue
        # cluster distance = min over its sample pairs (Eq. 5): reduce per cluster pair
        key = np.minimum(a, b) * n_clusters + np.maximum(a, b)
        order = np.lexsort((dist, key))
        key, dist = key[order], dist[order]
        first = np.ones(key.size, dtype=bool)
        first[1:] = key[1:] != key[:-1]
        pair_keys.append(key[first])
        pair_dist.append(dist[first])
    if not pair_keys:
        return np.zeros(0, dtype=np.int64), np.zeros(0), n_sample_pairs
    return np.concatenate(pair_keys), np.concatenate(pair_dist), n_sample_pairs


def _union_in_order(keys: np.ndarray, n_clusters: int) -> tuple[np.ndarray, int]:
    """Eq. 7: union-find over the ranked cluster pairs; ``(root of every cluster, merges)``,
    the root of a group being its smallest cluster id."""
    parent = list(range(n_clusters))

    def find(c: int) -> int:
        root = c
        while parent[root] != root:
            root = parent[root]
        while parent[c] != root:  # path compression
            parent[c], c = root, parent[c]
        return root

    merges = 0
    for ca, cb in zip((keys // n_clusters).tolist(), (keys % n_clusters).tolist(), strict=True):
        ra, rb = find(ca), find(cb)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)  # root = smallest cluster id of the group
            merges += 1
    roots = np.fromiter((find(c) for c in range(n_clusters)), dtype=np.int64, count=n_clusters)
    return roots, merges


def cross_view_merge(
    features: np.ndarray, labels: np.ndarray, views: np.ndarray, tau: float
) -> np.ndarray:
    """VAPC Eq. 5-7: cross-view merge below tau; labels only (see
    :func:`cross_view_merge_with_stats`). Returns ``(N,)`` int64 labels ``0..C-1`` / ``-1``."""
    return cross_view_merge_with_stats(features, labels, views, tau)[0]
