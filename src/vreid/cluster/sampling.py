"""Clustering a fixed number of images per viewpoint (VAPC on VeRi-Wild: "each viewpoint in
the clustering stage takes 10,000 images"), and giving every other image a pseudo label.

* :func:`sample_per_view` -- a seeded draw of at most ``per_view`` images of each viewpoint;
* :func:`assign_to_nearest_cluster` -- each image left out gets the label of the nearest
  cluster of its own viewpoint (the cosine-nearest centroid of that cluster's sampled images
  of that viewpoint): within one viewpoint distances are reliable, across viewpoints they are
  not (the papers' similarity dilemma). Exact: centroids are compared with every image in
  float32 blocks (no approximate index).
"""

from __future__ import annotations

import numpy as np

from ..checks import require_int
from .knn import check_features
from .tau import _check_views

__all__ = ["assign_to_nearest_cluster", "sample_per_view"]

#: Images per block of the centroid comparison (bounds the (block, clusters) score matrix).
_ASSIGN_BLOCK = 8192


def sample_per_view(views: np.ndarray, per_view: int, seed: int) -> np.ndarray:
    """Sorted row numbers of at most ``per_view`` images of each viewpoint, drawn without
    replacement with ``seed`` (all images of a viewpoint that has no more). ``per_view = 0``:
    every row."""
    v = _check_views(views, len(views))
    require_int("per_view", per_view, lo=0)
    if per_view == 0:
        return np.arange(len(v), dtype=np.int64)
    rng = np.random.default_rng(seed)
    picked = []
    for u in np.unique(v).tolist():
        rows = np.flatnonzero(v == u)
        picked.append(rows if len(rows) <= per_view else rng.choice(rows, per_view, replace=False))
    return np.sort(np.concatenate(picked)).astype(np.int64) if picked else np.zeros(0, np.int64)


def assign_to_nearest_cluster(
    features: np.ndarray, views: np.ndarray, sample: np.ndarray, sample_labels: np.ndarray
) -> np.ndarray:
    """Pseudo labels of every row: the sampled rows keep ``sample_labels``; every other row
    takes the label of the cluster whose centroid, over the sampled members *of its own
    viewpoint*, has the largest inner product with it (ties: the smaller label). Rows of a
    viewpoint with no labelled sampled member (all noise, ``-1``) get ``-1``.

    Args:
        features: ``(N, d)`` float32, rows L2-normalised.
        views: ``(N,)`` viewpoint of every row.
        sample: row numbers that were clustered (sorted, unique).
        sample_labels: their labels (``-1`` = dropped noise, never a target).
    """
    x = check_features(features)
    v = _check_views(views, x.shape[0])
    sample = np.asarray(sample, dtype=np.int64)
    sample_labels = np.asarray(sample_labels, dtype=np.int64)
    if sample.shape != sample_labels.shape:
        raise ValueError(
            f"sample ({sample.shape}) and sample_labels ({sample_labels.shape}) differ in shape"
        )
    if sample.size and (np.any(np.diff(sample) <= 0) or sample[0] < 0 or sample[-1] >= len(x)):
        raise ValueError(f"sample must be sorted unique row numbers in [0, {len(x)})")
    labels = np.full(len(x), -1, dtype=np.int64)
    labels[sample] = sample_labels
    rest = np.ones(len(x), dtype=bool)
    rest[sample] = False
    for u in np.unique(v[rest]).tolist():
        members = sample[(v[sample] == u) & (sample_labels >= 0)]
        todo = np.flatnonzero(rest & (v == u))
        if members.size == 0:
            continue
        ids, inverse = np.unique(labels[members], return_inverse=True)
        centroids = np.zeros((len(ids), x.shape[1]), dtype=np.float64)
        np.add.at(centroids, inverse, x[members])
        centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
        c32 = centroids.astype(np.float32)
        for start in range(0, len(todo), _ASSIGN_BLOCK):
            rows = todo[start : start + _ASSIGN_BLOCK]
            labels[rows] = ids[np.argmax(x[rows] @ c32.T, axis=1)]
    return labels
