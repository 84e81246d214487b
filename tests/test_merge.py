"""Cross-view merge (VAPC Eq. 5-7): hand-made layouts and a dense brute-force reference."""

from __future__ import annotations

import numpy as np
import pytest

from vreid.cluster.merge import cross_view_merge, cross_view_merge_with_stats


def on_circle(degrees) -> np.ndarray:
    t = np.deg2rad(np.asarray(degrees, dtype=np.float64))
    return np.stack([np.cos(t), np.sin(t)], axis=1).astype(np.float32)


def chord(deg: float) -> float:
    return 2.0 * np.sin(np.deg2rad(deg) / 2.0)


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all((a[:, None] == a[None]) == (b[:, None] == b[None])))


def test_chain_merges_same_view_clusters_only_through_a_cross_view_link():
    # a (view 0) at 0-1 deg, b (view 1) at 5-6 deg, c (view 0) at 10-11 deg: a-b and b-c are
    # 4 deg apart, a-c is 9 deg apart but never compared (same view).
    x = on_circle([0, 1, 5, 6, 10, 11, 100])
    labels = np.array([0, 0, 1, 1, 2, 2, 3])
    views = np.array([0, 0, 1, 1, 0, 0, 2])
    out, stats = cross_view_merge_with_stats(x, labels, views, tau=chord(4.5))
    np.testing.assert_array_equal(out, [0, 0, 0, 0, 0, 0, 1])
    assert stats["n_merges"] == 2 and stats["n_clusters_after"] == 2
    # without b, a and c stay apart even with a tau far above their distance
    keep = np.array([0, 1, 4, 5, 6])
    out2 = cross_view_merge(x[keep], labels[keep], views[keep], tau=chord(30))
    assert out2[0] != out2[2]
    assert out2[0] == out2[1] and out2[2] == out2[3]


def test_same_view_clusters_are_never_merged_directly():
    x = on_circle([0, 0.5, 1, 1.5, 90])
    labels = np.array([0, 0, 1, 1, 2])
    views = np.array([3, 3, 3, 3, 4])
    out, stats = cross_view_merge_with_stats(x, labels, views, tau=0.5)
    np.testing.assert_array_equal(out, [0, 0, 1, 1, 2])
    assert stats["n_merges"] == 0 and stats["n_cluster_pairs_below_tau"] == 0


def test_threshold_is_strict():
    # (1, 0) and (0, 1): distance sqrt(2) exactly; (1, 0) and (-1, 0): distance 2 exactly
    x = np.array([[1, 0], [0, 1], [-1, 0]], dtype=np.float32)
    labels = np.array([0, 1, 2])
    views = np.array([0, 1, 1])
    tau = float(np.sqrt(2.0))
    np.testing.assert_array_equal(cross_view_merge(x, labels, views, tau), [0, 1, 2])
    above = float(np.nextafter(tau, 3.0))
    np.testing.assert_array_equal(cross_view_merge(x, labels, views, above), [0, 0, 1])
    np.testing.assert_array_equal(cross_view_merge(x, labels, views, 2.0), [0, 0, 1])
    np.testing.assert_array_equal(
        cross_view_merge(x, labels, views, float(np.nextafter(2.0, 3.0))), [0, 0, 0]
    )


def test_cross_view_triangle_counts_merges_not_pairs():
    x = on_circle([0, 1, 2, 50])
    labels = np.array([0, 1, 2, 3])
    views = np.array([0, 1, 2, 0])
    out, stats = cross_view_merge_with_stats(x, labels, views, tau=chord(3))
    np.testing.assert_array_equal(out, [0, 0, 0, 1])
    assert stats["n_cluster_pairs_below_tau"] == 3
    assert stats["n_sample_pairs_below_tau"] == 3
    assert stats["n_merges"] == 2


def test_noise_never_merges_and_labels_are_consecutive():
    x = on_circle([0, 0.2, 0.4, 0.6, 60, 61])
    labels = np.array([7, -1, 12, -1, 30, 30])
    views = np.array([0, 1, 1, 0, 0, 0])
    out = cross_view_merge(x, labels, views, tau=0.1)
    np.testing.assert_array_equal(out, [0, -1, 0, -1, 1, 1])
    # tau <= 0: no merge, labels still made consecutive
    np.testing.assert_array_equal(cross_view_merge(x, labels, views, tau=0.0), [0, -1, 1, -1, 2, 2])


def test_mixed_view_cluster_raises():
    x = on_circle([0, 1, 2])
    with pytest.raises(ValueError, match="several views"):
        cross_view_merge(x, np.array([0, 0, 1]), np.array([0, 1, 1]), 0.5)


def brute_force_merge(x, labels, views, tau):
    """Dense reference: all cluster pairs of different views, min member distance, ranked,
    union-find while < tau."""
    x64 = x.astype(np.float64)
    dist = np.sqrt(((x64[:, None] - x64[None]) ** 2).sum(-1))
    ids = sorted(set(labels[labels >= 0].tolist()))
    view_of = {c: views[labels == c][0] for c in ids}
    pairs = []
    for ia, a in enumerate(ids):
        for b in ids[ia + 1 :]:
            if view_of[a] != view_of[b]:
                pairs.append((dist[np.ix_(labels == a, labels == b)].min(), a, b))
    pairs.sort()
    parent = {c: c for c in ids}

    def find(c):
        while parent[c] != c:
            c = parent[c]
        return c

    merges = 0
    for d, a, b in pairs:
        if d >= tau:
            break
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
            merges += 1
    roots = sorted({find(c) for c in ids})
    out = np.array([roots.index(find(c)) if c >= 0 else -1 for c in labels.tolist()])
    return out, merges


@pytest.mark.parametrize("seed", range(6))
def test_random_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    n, d = 240, 5
    x = rng.standard_normal((n, d))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    views = rng.integers(0, 4, n)
    # single-view clusters: random groups inside each view, a few noise samples
    labels = np.full(n, -1)
    nxt = 0
    for v in range(4):
        members = rng.permutation(np.flatnonzero(views == v))
        for chunk in np.array_split(members, max(1, members.size // 4)):
            labels[chunk] = nxt
            nxt += 1
    labels[rng.random(n) < 0.1] = -1
    x64 = x.astype(np.float64)
    all_d = np.sqrt(((x64[:, None] - x64[None]) ** 2).sum(-1))
    cross = views[:, None] != views[None]
    tau = float(np.quantile(all_d[cross], [0.002, 0.01, 0.03][seed % 3]))
    out, stats = cross_view_merge_with_stats(x, labels, views, tau)
    ref, ref_merges = brute_force_merge(x, labels, views, tau)
    np.testing.assert_array_equal(out, ref)
    assert same_partition(out, ref)
    assert stats["n_merges"] == ref_merges > 0
    assert stats["n_clusters_after"] == stats["n_clusters_before"] - ref_merges
