"""Noise selection (VAPC Eq. 10): hand-made P1 / P2 (+growth) / Hn cases, random invariants."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import DBSCAN

from vreid.cluster.noise_selection import noise_selection, noise_selection_with_stats


def on_circle(degrees) -> np.ndarray:
    """Unit-circle points: chord distance grows with the angle difference."""
    t = np.deg2rad(np.asarray(degrees, dtype=np.float64))
    return np.stack([np.cos(t), np.sin(t)], axis=1).astype(np.float32)


def test_p1_noise_joins_the_cluster_of_its_nearest_sample():
    # cluster 0 at 0..3 deg, cluster 1 far away; s1 at 4.5 deg: top1 = 3 deg, whose two
    # nearest are {2 deg, s1}: P1. s2 at 6.5 deg: top1 = s1 (already joined), whose two
    # nearest are {3 deg, s2}: P1 again, through the freshly assigned s1.
    x = on_circle([0, 1, 2, 3, 120, 121, 122, 123, 4.5, 6.5])
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, -1, -1])
    out, stats = noise_selection_with_stats(x, labels, k_tilde=2)
    np.testing.assert_array_equal(out, [0, 0, 0, 0, 1, 1, 1, 1, 0, 0])
    assert stats == {"n_noise": 2, "n_p1": 2, "n_p2": 0, "n_p2_samples": 0, "n_hard_negative": 0}


def test_hard_negative_becomes_a_singleton():
    # s at 8 deg: top1 = 3 deg, whose two nearest are {2 deg, 1 deg}: s is a hard negative
    x = on_circle([0, 1, 2, 3, 120, 121, 122, 123, 8])
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, -1])
    out, stats = noise_selection_with_stats(x, labels, k_tilde=2)
    np.testing.assert_array_equal(out, [0, 0, 0, 0, 1, 1, 1, 1, 2])
    assert stats["n_hard_negative"] == 1 and stats["n_p1"] == 0
    # with k~ = 4 the same sample passes the reciprocal test (P1)
    out4 = noise_selection(x, labels, k_tilde=4)
    assert out4[-1] == 0


def test_p2_new_clusters_grow_by_mutual_neighbours_and_never_merge():
    #            a   b   c     d     e     f   g   h     i
    noise_deg = [40, 42, 44.5, 47.5, 51.5, 56, 57, 58.5, 75]
    x = on_circle([0, 1, 2, 3, 120, 121, 122, 123] + noise_deg)
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1] + [-1] * 9)
    out, stats = noise_selection_with_stats(x, labels, k_tilde=2)
    a, b, c, d, e, f, g, h, i = range(8, 17)
    # f-g (distance 1 deg) come first: P2 {f, g}; h joins by growth (mutual 2-NN with f).
    # a-b: P2 {a, b}; growth adds c (via b), d (via c), e (via d). f is in e's 2-NN but e is
    # not in f's, and f already belongs to another new cluster: the two never merge.
    # i: top1 = h, whose 2-NN are {g, f}: hard negative.
    assert out[f] == out[g] == out[h] == 2
    assert out[a] == out[b] == out[c] == out[d] == out[e] == 3
    assert out[i] == 4
    np.testing.assert_array_equal(out[:8], labels[:8])
    assert stats == {"n_noise": 9, "n_p1": 0, "n_p2": 2, "n_p2_samples": 8, "n_hard_negative": 1}


def test_growth_requires_mutual_neighbours():
    # b is in a's 2-NN, but a is not in b's 2-NN (b, c, d crowd together): b does not join
    # the cluster {x0, a}; instead b, c, d form their own.
    x = on_circle([0, 2, 5.5, 6, 6.6])
    labels = np.full(5, -1)
    out = noise_selection(x, labels, k_tilde=2)
    assert out[0] == out[1]
    assert out[2] == out[3] == out[4]
    assert out[0] != out[2]


def test_nothing_to_do_and_all_noise():
    x = on_circle([0, 10, 20])
    same = noise_selection(x, np.array([0, 0, 1]))
    np.testing.assert_array_equal(same, [0, 0, 1])
    single = noise_selection(on_circle([5]), np.array([-1]))
    np.testing.assert_array_equal(single, [0])
    allnoise = noise_selection(on_circle([0, 1, 30]), np.array([-1, -1, -1]), k_tilde=1)
    assert allnoise.min() >= 0 and allnoise[0] == allnoise[1] != allnoise[2]


def plain_reference(x: np.ndarray, labels: np.ndarray, k_tilde: int) -> np.ndarray:
    """The same rules, written plainly over a dense float64 distance matrix."""
    n = len(x)
    x64 = x.astype(np.float64)
    dist = np.sqrt(((x64[:, None] - x64[None]) ** 2).sum(-1))
    ar = np.arange(n)
    topk = []
    for i in range(n):
        order = [j for j in np.lexsort((ar, dist[i])) if j != i]
        topk.append(order[: min(k_tilde, n - 1)])
    out = labels.copy()
    nxt = labels.max() + 1 if (labels >= 0).any() else 0
    noise = [s for s in range(n) if labels[s] == -1]
    noise.sort(key=lambda s: (dist[s, topk[s][0]], s))
    for s in noise:
        if out[s] != -1:
            continue
        p = topk[s][0]
        if s not in topk[p]:
            out[s] = nxt
            nxt += 1
        elif out[p] != -1:
            out[s] = out[p]
        else:
            out[s] = out[p] = nxt
            members = [s, p]
            changed = True
            while changed:
                changed = False
                for c in list(members):
                    for q in topk[c]:
                        if out[q] == -1 and c in topk[q]:
                            out[q] = nxt
                            members.append(q)
                            changed = True
            nxt += 1
    return out


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all((a[:, None] == a[None]) == (b[:, None] == b[None])))


@pytest.mark.parametrize(("seed", "k_tilde"), [(0, 2), (1, 1), (2, 3), (3, 2), (4, 5)])
def test_random_invariants_and_plain_reference(seed, k_tilde):
    rng = np.random.default_rng(seed)
    n, d = 300, 6
    centers = rng.standard_normal((12, d))
    x = centers[rng.integers(0, 12, n)] + 0.35 * rng.standard_normal((n, d))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    labels = DBSCAN(eps=0.3, min_samples=5).fit_predict(x).astype(np.int64)
    assert 20 < (labels == -1).sum() < n - 50 and labels.max() >= 2
    out, stats = noise_selection_with_stats(x, labels, k_tilde=k_tilde)

    assert out.dtype == np.int64 and out.min() >= 0
    clustered = labels >= 0
    np.testing.assert_array_equal(out[clustered], labels[clustered])  # never split / merged
    assert stats["n_p1"] + stats["n_p2_samples"] + stats["n_hard_negative"] == stats["n_noise"]
    assert stats["n_noise"] == int((~clustered).sum())
    assert stats["n_p1"] > 0 and stats["n_p2"] > 0 and stats["n_hard_negative"] > 0

    # independent check of the reciprocal test with a plain distance matrix
    x64 = x.astype(np.float64)
    dist = np.sqrt(((x64[:, None] - x64[None]) ** 2).sum(-1))
    np.fill_diagonal(dist, np.inf)
    top = np.argsort(dist, axis=1, kind="stable")[:, :k_tilde]
    old = set(labels[clustered].tolist())
    for s in np.flatnonzero(~clustered):
        p = top[s, 0]
        if out[s] in old:  # joined an existing cluster: only through P1
            assert s in top[p] and out[p] == out[s]
        members = np.flatnonzero(out == out[s])
        if members.size == 1:  # singleton: a hard negative
            assert s not in top[p]
        if out[s] not in old:
            assert not clustered[members].any()  # new clusters hold only former noise
    np.testing.assert_array_equal(out, plain_reference(x, labels, k_tilde))
    assert same_partition(out, plain_reference(x, labels, k_tilde))


def test_bad_input_raises():
    x = on_circle([0, 1, 2])
    with pytest.raises(ValueError, match="labels"):
        noise_selection(x, np.array([0, -1]))
    with pytest.raises(ValueError, match="labels"):
        noise_selection(x, np.array([0, -2, 0]))
    with pytest.raises(ValueError, match="k_tilde"):
        noise_selection(x, np.array([0, -1, 0]), k_tilde=0)


def test_precomputed_knn_gives_the_same_labels():
    from vreid.cluster.knn import knn_search

    x = on_circle([0, 1, 2, 3, 4.5, 6.5, 40, 42, 44.5, 75])
    labels = np.array([0, 0, 0, 0, -1, -1, -1, -1, -1, -1])
    np.testing.assert_array_equal(
        noise_selection_with_stats(x, labels, 2, knn=knn_search(x, 6))[0],
        noise_selection(x, labels, 2),
    )
    with pytest.raises(ValueError, match="knn"):
        noise_selection_with_stats(x, labels, 2, knn=knn_search(x, 2))
