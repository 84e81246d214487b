"""Clustering diagnostics of pseudo labels against ground-truth ids (no file I/O).

:func:`cluster_quality` (AMI, ARI, pairwise precision / recall / F1, purity, counts) and
:func:`merge_precision` (correctness of one cross-view merging step).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..checks import as_int_array

__all__ = ["cluster_quality", "merge_precision"]


def _noise_as_singletons(pred: np.ndarray) -> np.ndarray:
    """Each -1 gets its own new label (above every real label)."""
    out = pred.copy()
    noise = out == -1
    start = (int(out.max()) + 1) if out.size else 0
    out[noise] = start + np.arange(int(noise.sum()))
    return out


def _pairs(x: np.ndarray) -> int:
    x = x.astype(np.int64)
    return int((x * (x - 1) // 2).sum())


def cluster_quality(pred: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """Clustering diagnostics of pseudo labels against ground-truth ids (diagnostics only).

    pred (N,) int cluster labels, -1 = noise (unclustered); truth (N,) int identities, taken
    as given. For ami, ari and the pairwise scores every noise sample is its own singleton
    cluster. Returns (floats rounded to 6 digits, ints):

    - ami, ari: scikit-learn ``adjusted_mutual_info_score`` (arithmetic normalisation) and
      ``adjusted_rand_score``;
    - pairwise_precision / recall / f1 over all unordered sample pairs: a pair is predicted
      same if both share a (non-noise) cluster, truly same if both share an id; from the
      contingency counts n_ij: TP = sum C(n_ij, 2), precision = TP / sum_i C(a_i, 2),
      recall = TP / sum_j C(b_j, 2). An empty denominator gives 1.0 (nothing predicted,
      nothing to find); f1 = 0 when precision + recall = 0;
    - n_clusters: distinct non-noise labels; n_singletons: non-noise clusters of one sample;
      noise_share: share of -1;
    - purity: over the non-noise samples, sum over clusters of their majority-id count
      divided by the number of non-noise samples (1.0 if every sample is noise).

    Cost: O(N log N) except scikit-learn's expected mutual information inside AMI, which grows
    with (clusters + noise samples) x ids (~2.6 s at N = 37,778, 700 clusters, 20% noise).
    """
    from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

    p = as_int_array(pred, len(pred), "pred")
    t = as_int_array(truth, p.shape[0], "truth")
    if p.shape[0] == 0:
        raise ValueError("pred: empty labelling")
    if (p < -1).any():
        raise ValueError("pred: labels must be >= 0, or -1 for noise")
    ps = _noise_as_singletons(p)
    _, pi = np.unique(ps, return_inverse=True)
    _, ti = np.unique(t, return_inverse=True)
    _, n_ij = np.unique(pi.astype(np.int64) * (ti.max() + 1) + ti, return_counts=True)
    tp = _pairs(n_ij)
    pred_pairs = _pairs(np.bincount(pi))
    true_pairs = _pairs(np.bincount(ti))
    prec = tp / pred_pairs if pred_pairs else 1.0
    rec = tp / true_pairs if true_pairs else 1.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec > 0 else 0.0

    clustered = p >= 0
    sizes = np.bincount(p[clustered]) if clustered.any() else np.zeros(0, dtype=np.int64)
    n_clusters = int(np.count_nonzero(sizes))
    n_singletons = int(np.count_nonzero(sizes == 1))
    if clustered.any():
        cl_codes = p[clustered].astype(np.int64) * (ti.max() + 1) + ti[clustered]
        codes, cnt = np.unique(cl_codes, return_counts=True)
        cl = codes // (ti.max() + 1)
        best = np.zeros(int(cl.max()) + 1, dtype=np.int64)
        np.maximum.at(best, cl, cnt)
        purity = float(best.sum()) / int(clustered.sum())
    else:
        purity = 1.0
    return {
        "ami": round(float(adjusted_mutual_info_score(t, ps)), 6),
        "ari": round(float(adjusted_rand_score(t, ps)), 6),
        "pairwise_precision": round(float(prec), 6),
        "pairwise_recall": round(float(rec), 6),
        "pairwise_f1": round(float(f1), 6),
        "n_clusters": n_clusters,
        "n_singletons": n_singletons,
        "noise_share": round(float(np.mean(p == -1)), 6),
        "purity": round(purity, 6),
    }


def _plurality(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each distinct key, the most frequent value (ties: the smallest value)."""
    pairs, cnt = np.unique(np.stack([keys, values], axis=1), axis=0, return_counts=True)
    # sort by key, then count descending, then value ascending; take the first per key
    o = np.lexsort((pairs[:, 1], -cnt, pairs[:, 0]))
    pairs = pairs[o]
    first = np.ones(pairs.shape[0], dtype=bool)
    first[1:] = pairs[1:, 0] != pairs[:-1, 0]
    return pairs[first, 0], pairs[first, 1]


def merge_precision(
    pred_before: np.ndarray, pred_after: np.ndarray, truth: np.ndarray
) -> float | None:
    """Share of merged cluster pairs whose majority identities agree (merge correctness).

    pred_before (N,), pred_after (N,) int labels of one merging step (e.g. VAPC's cross-view
    merge), -1 = noise; truth (N,) int ids. Definition:

    1. every cluster c of ``pred_before`` (label >= 0) gets its majority id m(c) (most
       frequent truth among its members; ties: the smallest id) and its destination a(c):
       the most frequent ``pred_after`` label among its members (ties: the smallest; a
       cluster whose destination is -1 is in no merge);
    2. clusters with the same destination form a merged group; a group of g >= 2 clusters
       contributes its C(g, 2) unordered cluster pairs;
    3. merge precision = (pairs with m(c1) == m(c2)) / (all such pairs).

    Returns a float in [0, 1], or None if the step merged nothing (no pair).
    """
    b = as_int_array(pred_before, len(pred_before), "pred_before")
    a = as_int_array(pred_after, b.shape[0], "pred_after")
    t = as_int_array(truth, b.shape[0], "truth")
    keep = b >= 0
    if not keep.any():
        return None
    _, major = _plurality(b[keep], t[keep])  # both are ordered by the before-label
    _, dest = _plurality(b[keep], a[keep])
    in_group = dest >= 0
    dest, major = dest[in_group], major[in_group]
    if dest.size == 0:
        return None
    total = _pairs(np.unique(dest, return_counts=True)[1])
    if total == 0:
        return None
    _, same = np.unique(np.stack([dest, major], axis=1), axis=0, return_counts=True)
    return _pairs(same) / total
