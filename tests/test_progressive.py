"""One progressive clustering round (VAPC Algorithm 1, lines 8-17) and its Table II ablations."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from sklearn.cluster import DBSCAN
from sklearn.metrics import adjusted_rand_score

from vreid.cluster import (
    ClusterConfig,
    cluster_round,
    dbscan_sparse,
    jaccard_distance,
    tau_from_ti,
)


def unit(rng, shape):
    z = rng.standard_normal(shape)
    return z / np.linalg.norm(z, axis=-1, keepdims=True)


def identities_by_view(seed: int = 0, n_ids: int = 24, d: int = 48):
    """Vehicles seen from 2-3 of 5 viewpoints, 4-8 images per (vehicle, view), plus outliers.

    A feature = identity direction + a shared per-view direction + a per-(identity, view)
    offset + image noise: tight inside (identity, view), looser across views.
    """
    rng = np.random.default_rng(seed)
    ident, view_dir = unit(rng, (n_ids, d)), unit(rng, (5, d))
    feats, ids, views = [], [], []
    for i in range(n_ids):
        for v in rng.choice(5, size=rng.integers(2, 4), replace=False):
            offset = unit(rng, d)
            for _ in range(rng.integers(4, 9)):
                feats.append(ident[i] + 0.55 * view_dir[v] + 0.45 * offset + 0.12 * unit(rng, d))
                ids.append(i)
                views.append(v)
    for _ in range(12):  # outliers: noise for Euclidean DBSCAN
        feats.append(unit(rng, d))
        ids.append(n_ids + len(ids))
        views.append(rng.integers(0, 5))
    x = np.array(feats)
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return x, np.array(ids), np.array(views, dtype=np.int64)


def cfg_for(**kw) -> ClusterConfig:
    eps = 0.6 if kw.get("k_reciprocal", True) else 0.45
    return ClusterConfig(k1=20, k2=6, eps=eps, min_samples=4, k_tilde=2, **kw)


def check_partition(labels, n, allow_noise):
    assert labels.shape == (n,) and labels.dtype == np.int64
    kept = labels[labels >= 0]
    assert sorted(set(kept.tolist())) == list(range(int(kept.max()) + 1))
    if not allow_noise:
        assert (labels >= 0).all()


@pytest.fixture(scope="module")
def data():
    x, ids, views = identities_by_view()
    return x, ids, views, tau_from_ti(x, views, 1000)


@pytest.mark.parametrize(
    ("two_period", "k_reciprocal", "noise_selection", "noise_mode"),
    [
        c
        for c in itertools.product(
            [True, False], [True, False], [True, False], ["singleton", "drop"]
        )
        if not (c[2] and c[3] == "drop")
    ],
)
def test_every_ablation_returns_a_valid_partition(
    data, two_period, k_reciprocal, noise_selection, noise_mode
):
    x, ids, views, tau = data
    cfg = cfg_for(
        two_period=two_period,
        k_reciprocal=k_reciprocal,
        noise_selection=noise_selection,
        noise_mode=noise_mode,
    )
    labels, stats = cluster_round(x, views, tau, cfg)
    allow_noise = not noise_selection and noise_mode == "drop"
    check_partition(labels, len(x), allow_noise)
    before = stats.pop("labels_before_merge")
    check_partition(before, len(x), allow_noise)
    json.dumps(stats)  # JSON-ready
    assert stats["n_clusters"] == int(labels.max()) + 1
    assert stats["n_noise_after"] == int((labels == -1).sum())
    if not k_reciprocal:
        assert stats["n_noise_before_selection"] >= 12  # the outliers are DBSCAN noise
    if noise_selection:
        assert (
            stats["n_p1"] + stats["n_p2_samples"] + stats["n_hard_negative"]
            == stats["n_noise_before_selection"]
        )
    else:
        assert stats["n_p1"] == stats["n_p2"] == stats["n_hard_negative"] == 0
    if two_period:
        assert set(stats["per_view"]) == {str(v) for v in np.unique(views)}
        assert stats["n_clusters"] == stats["n_clusters_first_period"] - stats["n_merges"]
    else:
        assert set(stats["per_view"]) == {"all"} and stats["n_merges"] == 0
    assert adjusted_rand_score(ids, labels) > 0.3  # it found the structure, roughly


def views_per_cluster(labels, views):
    return [len(set(views[labels == c].tolist())) for c in np.unique(labels[labels >= 0])]


def test_first_period_never_mixes_views_and_merge_joins_them(data):
    x, ids, views, tau = data
    labels, stats = cluster_round(x, views, tau, cfg_for())
    before = stats["labels_before_merge"]
    assert max(views_per_cluster(before, views)) == 1
    assert stats["n_merges"] > 0
    assert max(views_per_cluster(labels, views)) > 1
    # merging cross-view clusters of the same vehicles improves agreement with the truth
    assert adjusted_rand_score(ids, labels) > adjusted_rand_score(ids, before)
    # tau = 0: no second period merge, clusters stay inside their view
    labels0, stats0 = cluster_round(x, views, 0.0, cfg_for())
    assert stats0["n_merges"] == 0 and max(views_per_cluster(labels0, views)) == 1
    np.testing.assert_array_equal(labels0, before)


def test_without_two_periods_views_mix_and_nothing_merges(data):
    x, ids, views, tau = data
    labels, stats = cluster_round(x, views, tau, cfg_for(two_period=False))
    assert stats["n_merges"] == 0
    assert max(views_per_cluster(labels, views)) > 1


def test_first_period_equals_dbscan_per_view(data):
    x, ids, views, _ = data
    for k_reciprocal in (True, False):
        cfg = cfg_for(k_reciprocal=k_reciprocal, noise_selection=False, noise_mode="drop")
        labels, _ = cluster_round(x, views, 0.0, cfg)
        for v in np.unique(views):
            idx = np.flatnonzero(views == v)
            xv = x[idx].astype(np.float64)
            if k_reciprocal:
                dense = np.ones((len(idx), len(idx)))
                j = jaccard_distance(x[idx], 20, 6).tocoo()
                dense[j.row, j.col] = j.data
                assert (
                    dbscan_sparse(j.tocsr(), cfg.eps, 4)
                    == DBSCAN(eps=cfg.eps, min_samples=4, metric="precomputed").fit_predict(dense)
                ).all()
            else:
                dense = np.sqrt(np.maximum(((xv[:, None] - xv[None]) ** 2).sum(-1), 0))
            ref = DBSCAN(eps=cfg.eps, min_samples=4, metric="precomputed").fit_predict(dense)
            got = labels[idx]
            assert ((got == -1) == (ref == -1)).all()
            assert ((got[:, None] == got[None]) == (ref[:, None] == ref[None])).all()
            assert len(set(ref.tolist()) - {-1}) >= 2


def test_noise_modes_without_selection(data):
    x, ids, views, tau = data
    kw = {"noise_selection": False, "k_reciprocal": False}
    single, s1 = cluster_round(x, views, 0.0, cfg_for(**kw))
    drop, s2 = cluster_round(x, views, 0.0, cfg_for(noise_mode="drop", **kw))
    noise = drop == -1
    assert noise.sum() == s2["n_noise_before_selection"] > 0
    assert s1["n_noise_before_selection"] == s2["n_noise_before_selection"]
    # singleton mode: the same noise samples, each in a cluster of its own
    assert len(set(single[noise].tolist())) == noise.sum()
    assert all((single == c).sum() == 1 for c in single[noise])


def test_deterministic(data):
    x, ids, views, tau = data
    a, sa = cluster_round(x, views, tau, cfg_for())
    b, sb = cluster_round(x, views, tau, cfg_for())
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(sa.pop("labels_before_merge"), sb.pop("labels_before_merge"))
    assert sa == sb


def test_tiny_views_do_not_crash():
    x, _, views = identities_by_view(seed=3, n_ids=6)
    x = np.concatenate([x, x[-1:], x[:2]])  # a view with 1 sample (7), one with 2 (8)
    views = np.concatenate([views, [7], [8, 8]])
    for two_period, k_rec, ns in itertools.product([True, False], repeat=3):
        cfg = cfg_for(two_period=two_period, k_reciprocal=k_rec, noise_selection=ns)
        labels, stats = cluster_round(x, views, 0.3, cfg)
        check_partition(labels, len(x), allow_noise=False)
        if two_period:
            assert stats["per_view"]["7"]["n_samples"] == 1
    empty, st = cluster_round(np.zeros((0, 4), np.float32), np.zeros(0, np.int64), 0.5)
    assert empty.shape == (0,) and st["n_clusters"] == 0


def test_bad_config_and_inputs_raise(data):
    x, _, views, _ = data
    with pytest.raises(ValueError, match="eps"):
        ClusterConfig(eps=1.2)
    ClusterConfig(eps=1.2, k_reciprocal=False)  # fine for Euclidean distances
    with pytest.raises(ValueError, match="noise_mode"):
        ClusterConfig(noise_mode="keep")
    with pytest.raises(ValueError, match="k1"):
        ClusterConfig(k1=0)
    with pytest.raises(ValueError, match="two_period"):
        ClusterConfig(two_period="yes")
    with pytest.raises(ValueError, match="tau"):
        cluster_round(x, views, float("nan"))
    with pytest.raises(ValueError, match="views"):
        cluster_round(x, views[:-1], 0.1)
