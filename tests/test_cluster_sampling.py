"""cluster.per_view_sample: the per-viewpoint draw and the nearest-cluster assignment of the
images left out, against brute-force references."""

from __future__ import annotations

import numpy as np
import pytest

from vreid.cluster import ClusterConfig, cluster_round
from vreid.cluster.sampling import assign_to_nearest_cluster, sample_per_view


def _unit(rng, n, d=8):
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_sample_per_view_takes_at_most_k_of_each_view_seeded():
    views = np.array([0] * 10 + [1] * 3 + [4] * 7)
    got = sample_per_view(views, 5, seed=1)
    assert np.all(np.diff(got) > 0)
    counts = {u: int((views[got] == u).sum()) for u in (0, 1, 4)}
    assert counts == {0: 5, 1: 3, 4: 5}
    np.testing.assert_array_equal(got, sample_per_view(views, 5, seed=1))
    assert not np.array_equal(got, sample_per_view(views, 5, seed=2))
    np.testing.assert_array_equal(sample_per_view(views, 0, seed=1), np.arange(20))
    np.testing.assert_array_equal(sample_per_view(views, 10, seed=1), np.arange(20))
    with pytest.raises(ValueError, match="per_view must be an integer >= 0"):
        sample_per_view(views, -1, seed=0)


def _assign_reference(x, views, sample, sample_labels):
    """Per row, a loop over the clusters of its viewpoint."""
    out = np.full(len(x), -1, dtype=np.int64)
    out[sample] = sample_labels
    for i in sorted(set(range(len(x))) - set(sample.tolist())):
        best, best_score = -1, -np.inf
        for lab in sorted(set(sample_labels.tolist()) - {-1}):
            members = [
                s
                for s, lab_s in zip(sample, sample_labels, strict=True)
                if lab_s == lab and views[s] == views[i]
            ]
            if not members:
                continue
            c = x[members].astype(np.float64).sum(0)
            c /= np.linalg.norm(c)
            score = float(x[i].astype(np.float64) @ c)
            if score > best_score + 1e-6:
                best, best_score = lab, score
        out[i] = best
    return out


@pytest.mark.parametrize("seed", range(5))
def test_assignment_matches_the_per_row_reference(seed):
    rng = np.random.default_rng(seed)
    x = _unit(rng, 60)
    views = rng.integers(0, 3, size=60)
    sample = sample_per_view(views, 8, seed)
    sample_labels = rng.integers(-1, 6, size=len(sample))
    got = assign_to_nearest_cluster(x, views, sample, sample_labels)
    np.testing.assert_array_equal(got, _assign_reference(x, views, sample, sample_labels))


def test_assignment_keeps_sampled_labels_and_leaves_a_view_without_clusters_unlabelled():
    rng = np.random.default_rng(0)
    x = _unit(rng, 10)
    views = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 2])
    sample = np.array([0, 3, 7])
    got = assign_to_nearest_cluster(x, views, sample, np.array([5, 2, -1]))
    np.testing.assert_array_equal(got, [5, 5, 5, 2, 2, 2, 2, -1, -1, -1])
    with pytest.raises(ValueError, match="sorted unique"):
        assign_to_nearest_cluster(x, views, np.array([3, 0, 7]), np.array([5, 2, -1]))


def test_sampling_every_image_is_the_plain_round():
    """per_view_sample >= every view's size: the same labels as clustering everything."""
    rng = np.random.default_rng(3)
    centres = _unit(rng, 6, 16)
    x = centres[rng.integers(0, 6, size=120)] + 0.05 * rng.normal(size=(120, 16))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    views = rng.integers(0, 3, size=120)
    cfg = ClusterConfig(k1=6, k2=2, min_samples=2)
    plain, _ = cluster_round(x, views, 0.3, cfg)
    sample = sample_per_view(views, 1000, 0)
    part, _ = cluster_round(x[sample], views[sample], 0.3, cfg)
    np.testing.assert_array_equal(assign_to_nearest_cluster(x, views, sample, part), plain)
