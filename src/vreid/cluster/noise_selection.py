"""Noise selection inside one viewpoint (VAPC Eq. 10, Fig. 3)."""

from __future__ import annotations

from collections import deque

import numpy as np

from ..checks import require_int
from .knn import check_features, check_knn, knn_search

__all__ = ["noise_selection", "noise_selection_with_stats"]


def _check_labels(labels: np.ndarray, n: int, name: str = "labels") -> np.ndarray:
    lab = np.asarray(labels)
    if lab.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match the features; got {lab.shape}")
    if lab.size and not np.issubdtype(lab.dtype, np.integer):
        raise ValueError(f"{name} must be integers (-1 = noise); got dtype {lab.dtype}")
    lab = lab.astype(np.int64)
    if lab.size and lab.min() < -1:
        raise ValueError(f"{name} must be >= -1 (-1 = noise); found {int(lab.min())}")
    return lab


def noise_selection_with_stats(
    features: np.ndarray,
    labels: np.ndarray,
    k_tilde: int = 2,
    knn: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, dict[str, int]]:
    """VAPC Eq. 10: give every DBSCAN noise sample of one viewpoint a cluster.

    For each noise sample ``s`` let ``p = top1[s]`` be its nearest *other* sample of the view
    and ``topk[x]`` the ``k_tilde`` nearest other samples of ``x`` (ties by index). The pairs
    ``(s, p)`` are processed by ascending distance (descending similarity; ties by ``s``);
    ``s`` already given a cluster earlier in this order is skipped. Then:

    * **P1** -- ``p`` is in a cluster at that moment and ``s in topk[p]``: ``s`` joins it;
    * **P2** -- ``p`` is still unassigned noise and ``s in topk[p]``: ``{s, p}`` form a new
      cluster ``C``, which grows: an unassigned noise sample ``q in topk[c]`` of a member
      ``c`` joins ``C`` if also ``c in topk[q]`` (mutual ``k_tilde``-NN), repeated until ``C``
      stops growing. Clusters never merge with each other;
    * **Hn** (hard negative) -- ``s not in topk[p]``: ``s`` becomes a singleton cluster.

    A view with a single sample turns it into a singleton (counted as a hard negative).

    Args:
        features: ``(n, d)`` float32 features of ONE viewpoint, rows L2-normalised.
        labels: ``(n,)`` int DBSCAN labels of that viewpoint, ``-1`` = noise.
        k_tilde: ``k~`` of the reciprocal test (paper: 2), clipped to ``n - 1``.
        knn: optional ``knn_search(features, k)`` output with ``k >= min(k_tilde, n-1) + 1``,
            to reuse a search already made.

    Returns:
        ``(labels, stats)``: ``(n,)`` int64 labels without ``-1`` (new clusters numbered from
        ``max(labels) + 1`` in processing order, existing labels untouched) and a dict of
        plain ints ``n_noise``, ``n_p1``, ``n_p2`` (new clusters), ``n_p2_samples`` (their
        members), ``n_hard_negative``.
    """
    x = check_features(features)
    n = x.shape[0]
    lab = _check_labels(labels, n)
    require_int("k_tilde", k_tilde, lo=1)
    noise = np.flatnonzero(lab == -1)
    stats = {
        "n_noise": int(noise.size),
        "n_p1": 0,
        "n_p2": 0,
        "n_p2_samples": 0,
        "n_hard_negative": 0,
    }
    out = lab.copy()
    if noise.size == 0:
        return out, stats
    next_label = int(lab.max()) + 1 if (lab >= 0).any() else 0
    if n == 1:
        out[0] = next_label
        stats["n_hard_negative"] = 1
        return out, stats
    kt = min(int(k_tilde), n - 1)
    dist, nn = knn_search(x, kt + 1) if knn is None else check_knn(knn, n, kt + 1)
    topk = nn[:, 1:]  # column 0 is the sample itself

    order = noise[np.lexsort((noise, dist[noise, 1]))]
    _assign_in_order(out, order, topk, next_label, stats)
    return out, stats


def _assign_in_order(
    out: np.ndarray, order: np.ndarray, topk: np.ndarray, next_label: int, stats: dict
) -> None:
    """The P1 / P2 / Hn rules of Eq. 10 applied to the noise samples in ``order`` (in place
    on ``out``; new clusters numbered from ``next_label``; counts added to ``stats``)."""
    top1 = topk[:, 0]

    def in_topk(a: int, b: int) -> bool:
        """Is ``a`` among the k~ nearest neighbours of ``b``?"""
        return bool((topk[b] == a).any())

    for s in order.tolist():
        if out[s] != -1:
            continue
        p = int(top1[s])
        if not in_topk(s, p):  # Hn
            out[s] = next_label
            next_label += 1
            stats["n_hard_negative"] += 1
        elif out[p] != -1:  # P1
            out[s] = out[p]
            stats["n_p1"] += 1
        else:  # P2: a new cluster grown by mutual k~-NN
            out[s] = out[p] = next_label
            members = 2
            queue = deque([s, p])
            while queue:
                c = queue.popleft()
                for q in topk[c].tolist():
                    if out[q] == -1 and in_topk(c, q):
                        out[q] = next_label
                        members += 1
                        queue.append(q)
            next_label += 1
            stats["n_p2"] += 1
            stats["n_p2_samples"] += members


def noise_selection(features: np.ndarray, labels: np.ndarray, k_tilde: int = 2) -> np.ndarray:
    """VAPC Eq. 10: noise selection in one viewpoint; labels only (see
    :func:`noise_selection_with_stats`). Returns ``(n,)`` int64 labels without ``-1``."""
    return noise_selection_with_stats(features, labels, k_tilde)[0]
