"""Tests of vreid.eval retrieval and clustering diagnostics against plain loop references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

from vreid.eval import (
    RetrievalSet,
    cluster_quality,
    evaluate_retrieval,
    merge_precision,
    pairwise_distance,
)

# --------------------------------------------------------------------------- references


def ref_retrieval(
    dist,
    q_vid,
    g_vid,
    q_cam,
    g_cam,
    q_key=None,
    g_key=None,
    remove_same_camera=True,
    max_rank=20,
    q_view=None,
    g_view=None,
):
    """Per-query loop: stable argsort, explicit removal, CMC / AP / INP as in torchreid."""
    dist = np.asarray(dist, dtype=np.float64)
    cmcs, aps, inps, firsts = [], [], [], []
    skipped = 0
    for i in range(dist.shape[0]):
        order = np.argsort(dist[i], kind="stable")
        keep = np.ones(order.shape[0], dtype=bool)
        if remove_same_camera:
            keep &= ~((g_vid[order] == q_vid[i]) & (g_cam[order] == q_cam[i]))
        if q_key is not None:
            keep &= np.array([g_key[j] != q_key[i] for j in order])
        if q_view is not None:
            keep &= g_view[order] != q_view[i]
        hits = (g_vid[order] == q_vid[i])[keep]
        if not hits.any():
            skipped += 1
            continue
        hit_pos = np.flatnonzero(hits)  # 0-based positions in the kept ranking
        precisions = [(n + 1) / (p + 1) for n, p in enumerate(hit_pos)]
        aps.append(sum(precisions) / len(precisions))
        inps.append(len(hit_pos) / (hit_pos[-1] + 1))
        firsts.append(hit_pos[0] + 1)
        cmc = np.zeros(max_rank)
        if hit_pos[0] < max_rank:
            cmc[hit_pos[0] :] = 1
        cmcs.append(cmc)
    n = len(aps)
    if n == 0:
        return None
    firsts = np.array(firsts)
    return {
        "mAP": float(np.mean(aps)),
        "mINP": float(np.mean(inps)),
        "cmc": list(np.mean(cmcs, axis=0)),
        "rank1": float(np.mean(firsts <= 1)),
        "rank5": float(np.mean(firsts <= 5)),
        "rank10": float(np.mean(firsts <= 10)),
        "rank20": float(np.mean(firsts <= 20)),
        "n_queries": n,
        "n_skipped": skipped,
    }


def sides(qf, gf, q_vid, g_vid, q_cam, g_cam, q_key=None, g_key=None, q_view=None, g_view=None):
    """The query and gallery :class:`RetrievalSet` of a case given as parallel arrays."""
    query = RetrievalSet(features=qf, ids=q_vid, cams=q_cam, keys=q_key, views=q_view)
    gallery = RetrievalSet(features=gf, ids=g_vid, cams=g_cam, keys=g_key, views=g_view)
    return query, gallery


def assert_same(got, ref, tol=1e-6):
    for k in ("mAP", "mINP", "rank1", "rank5", "rank10", "rank20"):
        assert got[k] == pytest.approx(ref[k], abs=tol), k
        assert isinstance(got[k], float)
    assert np.allclose(got["cmc"], ref["cmc"], atol=tol)
    assert len(got["cmc"]) == len(ref["cmc"])
    assert got["n_queries"] == ref["n_queries"]
    assert got["n_skipped"] == ref["n_skipped"]


def unit(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def random_case(seed, n_q=37, n_g=83, n_ids=6, n_cams=3, dim=5):
    rng = np.random.default_rng(seed)
    qf, gf = unit(rng, n_q, dim), unit(rng, n_g, dim)
    q_vid = rng.integers(0, n_ids + 2, n_q)  # ids n_ids, n_ids+1 never in the gallery
    g_vid = rng.integers(0, n_ids, n_g)
    q_cam = rng.integers(0, n_cams, n_q)
    g_cam = rng.integers(0, n_cams, n_g)
    g_key = np.array([f"g{j}" for j in range(n_g)])
    # a third of the queries are gallery files themselves (same key, id and camera)
    q_key = np.array([f"q{i}" for i in range(n_q)], dtype=object)
    for i in range(0, n_q, 3):
        j = int(rng.integers(n_g))
        q_key[i], q_vid[i], q_cam[i] = g_key[j], g_vid[j], g_cam[j]
        qf[i] = gf[j]
    return qf, gf, q_vid, g_vid, q_cam, g_cam, q_key.astype(str), g_key


# --------------------------------------------------------------------------- retrieval


def test_pairwise_distance_is_squared_euclidean():
    rng = np.random.default_rng(0)
    q, g = unit(rng, 4, 7), unit(rng, 5, 7)
    d = pairwise_distance(torch.from_numpy(q), torch.from_numpy(g)).numpy()
    ref = ((q[:, None, :] - g[None, :, :]) ** 2).sum(-1)
    assert d.shape == (4, 5)
    np.testing.assert_allclose(d, ref, atol=1e-5)
    np.testing.assert_allclose(pairwise_distance(q, g).numpy(), d)  # numpy accepted


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("with_keys", [False, True])
@pytest.mark.parametrize("remove_same_camera", [True, False])
def test_matches_loop_reference_on_random_inputs(seed, with_keys, remove_same_camera):
    qf, gf, q_vid, g_vid, q_cam, g_cam, q_key, g_key = random_case(seed)
    keys = (q_key, g_key) if with_keys else (None, None)
    dist = ((qf[:, None].astype(np.float64) - gf[None].astype(np.float64)) ** 2).sum(-1)
    ref = ref_retrieval(
        dist, q_vid, g_vid, q_cam, g_cam, *keys, remove_same_camera=remove_same_camera
    )
    assert ref["n_skipped"] > 0  # the skip branch is exercised
    for block in (1, 5, 16, 1000):  # 5 and 16 do not divide Q = 37
        got = evaluate_retrieval(
            *sides(torch.from_numpy(qf), torch.from_numpy(gf), q_vid, g_vid, q_cam, g_cam, *keys),
            remove_same_camera=remove_same_camera,
            block_size=block,
            device="cpu",
        )
        assert_same(got, ref)
    # numpy features and a precomputed distance give the same
    got = evaluate_retrieval(
        *sides(qf, gf, q_vid, g_vid, q_cam, g_cam, *keys), remove_same_camera=remove_same_camera
    )
    assert_same(got, ref)
    got = evaluate_retrieval(
        *sides(None, None, q_vid, g_vid, q_cam, g_cam, *keys),
        remove_same_camera=remove_same_camera,
        dist=dist,
        block_size=7,
    )
    assert_same(got, ref)


def test_own_file_is_removed_even_under_another_id():
    # the query's own file is filed under a different id in the gallery (inconsistent data):
    # it must still be removed, and it is a negative otherwise
    dist = np.array([[0.1, 0.2, 0.3]])
    args = (np.array([1]), np.array([2, 1, 1]), np.array([0]), np.array([5, 6, 7]))
    keys = (np.array(["a"]), np.array(["a", "b", "c"]))
    got = evaluate_retrieval(*sides(None, None, *args, *keys), dist=dist)
    assert got["mAP"] == pytest.approx(1.0)
    got = evaluate_retrieval(*sides(None, None, *args), dist=dist)
    assert got["mAP"] == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_ties_follow_gallery_index_order():
    # features with entries +-1/4 in 16-d: unit norm, exact dot products, many ties
    rng = np.random.default_rng(5)
    for seed in range(3):
        rng = np.random.default_rng(seed)
        base = (rng.integers(0, 2, (6, 16)) * 2 - 1).astype(np.float32) / 4
        gf = base[rng.integers(0, 6, 60)]  # duplicated gallery features
        qf = base[rng.integers(0, 6, 20)]
        q_vid, g_vid = rng.integers(0, 4, 20), rng.integers(0, 4, 60)
        q_cam, g_cam = rng.integers(0, 3, 20), rng.integers(0, 3, 60)
        dist = 2 - 2 * qf.astype(np.float64) @ gf.T.astype(np.float64)
        assert len(np.unique(dist[0])) < 10  # heavy ties
        ref = ref_retrieval(dist, q_vid, g_vid, q_cam, g_cam)
        for block in (3, 64):
            got = evaluate_retrieval(*sides(qf, gf, q_vid, g_vid, q_cam, g_cam), block_size=block)
            assert_same(got, ref)
        # the order matters: reversing the gallery changes the tie-breaks and the result
        rev = ref_retrieval(dist[:, ::-1], q_vid, g_vid[::-1], q_cam, g_cam[::-1])
        got_rev = evaluate_retrieval(
            *sides(qf, gf[::-1].copy(), q_vid, g_vid[::-1], q_cam, g_cam[::-1])
        )
        assert_same(got_rev, rev)
    assert got_rev["mAP"] != pytest.approx(got["mAP"], abs=1e-9)


def test_hand_computed_case():
    # gallery:      g0     g1     g2     g3     g4     g5
    g_vid = np.array([1, 1, 2, 2, 3, 1])
    g_cam = np.array([0, 1, 0, 1, 0, 2])
    q_vid = np.array([1, 2, 4])
    q_cam = np.array([0, 1, 0])
    dist = np.array(
        [
            [0.5, 0.1, 0.2, 0.3, 0.05, 0.9],
            [0.4, 0.6, 0.1, 0.2, 0.7, 0.8],
            [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
        ]
    )
    # q0 (id 1, cam 0): order g4 g1 g2 g3 g0 g5; g0 is id 1 cam 0 -> removed.
    #   kept: g4 - , g1 + , g2 - , g3 - , g5 +   positives at ranks 2 and 5
    #   AP = (1/2 + 2/5) / 2 = 0.45, first hit 2, INP = 2/5 = 0.4
    # q1 (id 2, cam 1): order g2 g3 g0 g1 g4 g5; g3 is id 2 cam 1 -> removed.
    #   kept: g2 + , g0 -, g1 -, g4 -, g5 -     AP = 1, first hit 1, INP = 1/1 = 1
    # q2 (id 4): no positive -> skipped
    # mAP = (0.45 + 1) / 2 = 0.725, mINP = (0.4 + 1) / 2 = 0.7, rank1 = 0.5, rank5 = 1
    r = evaluate_retrieval(*sides(None, None, q_vid, g_vid, q_cam, g_cam), dist=dist, max_rank=6)
    assert r["mAP"] == pytest.approx(0.725)
    assert r["mINP"] == pytest.approx(0.7)
    assert r["rank1"] == pytest.approx(0.5)
    assert r["rank5"] == r["rank10"] == r["rank20"] == pytest.approx(1.0)
    assert r["cmc"] == pytest.approx([0.5, 1, 1, 1, 1, 1])
    assert (r["n_queries"], r["n_skipped"]) == (2, 1)
    # without the camera rule:
    #   q0 kept: g4 -, g1 +, g2 -, g3 -, g0 +, g5 +: AP = (1/2 + 2/5 + 3/6) / 3 = 1.4/3,
    #      INP = 3/6 = 0.5
    #   q1: g2 +, g3 +, ...: AP = (1/1 + 2/2) / 2 = 1, INP = 2/2 = 1
    r = evaluate_retrieval(
        *sides(None, None, q_vid, g_vid, q_cam, g_cam), dist=dist, remove_same_camera=False
    )
    assert r["mAP"] == pytest.approx((1.4 / 3 + 1) / 2)
    assert r["mINP"] == pytest.approx(0.75)
    assert r["rank1"] == pytest.approx(0.5)
    assert len(r["cmc"]) == 20
    # keys: q1 is the file g2 -> g2 removed too, q1 has no positive left (g3 same camera)
    #   -> only q0 counts: mAP 0.45, mINP 0.4, rank1 0, rank5 1
    r = evaluate_retrieval(
        *sides(
            None,
            None,
            q_vid,
            g_vid,
            q_cam,
            g_cam,
            ["a", "g2", "c"],
            ["g0", "g1", "g2", "g3", "g4", "g5"],
        ),
        dist=dist,
    )
    assert r["mAP"] == pytest.approx(0.45)
    assert r["mINP"] == pytest.approx(0.4)
    assert (r["rank1"], r["rank5"]) == (0.0, 1.0)
    assert (r["n_queries"], r["n_skipped"]) == (1, 2)
    # cross-view: views g = [0, 1, 0, 1, 1, 0], q = [0, 0, 1]
    #   q0 (view 0) keeps g1 (+, 0.1), g3 (-, 0.3), g4 (-, 0.05): order g4 -, g1 +, g3 -
    #      AP = 1/2, rank1 miss;  q1 (view 0): keeps g1 -, g4 -, g3 removed -> skipped
    r = evaluate_retrieval(
        *sides(None, None, q_vid, g_vid, q_cam, g_cam, q_view=[0, 0, 1], g_view=[0, 1, 0, 1, 1, 0]),
        dist=dist,
    )
    assert r["cross_view_mAP"] == pytest.approx(0.5)
    assert r["cross_view_rank1"] == 0.0
    assert r["cross_view_n_queries"] == 1
    assert r["mAP"] == pytest.approx(0.725)  # the main metrics are unchanged


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cross_view_matches_loop_reference(seed):
    qf, gf, q_vid, g_vid, q_cam, g_cam, q_key, g_key = random_case(seed, n_q=41, n_g=97)
    rng = np.random.default_rng(100 + seed)
    q_view, g_view = rng.integers(0, 3, 41), rng.integers(0, 3, 97)
    q_view[q_vid == 0] = 0  # id 0 is seen from one viewpoint only: no cross-view positive
    g_view[g_vid == 0] = 0
    dist = ((qf[:, None].astype(np.float64) - gf[None].astype(np.float64)) ** 2).sum(-1)
    ref = ref_retrieval(dist, q_vid, g_vid, q_cam, g_cam, q_key, g_key)
    ref_cv = ref_retrieval(
        dist, q_vid, g_vid, q_cam, g_cam, q_key, g_key, q_view=q_view, g_view=g_view
    )
    for block in (4, 41):
        got = evaluate_retrieval(
            *sides(qf, gf, q_vid, g_vid, q_cam, g_cam, q_key, g_key, q_view=q_view, g_view=g_view),
            block_size=block,
        )
        assert_same(got, ref)
        assert got["cross_view_mAP"] == pytest.approx(ref_cv["mAP"], abs=1e-6)
        assert got["cross_view_rank1"] == pytest.approx(ref_cv["rank1"], abs=1e-6)
        assert got["cross_view_n_queries"] == ref_cv["n_queries"]
        assert ref_cv["n_queries"] < ref["n_queries"]  # the cross-view skip is exercised
        assert abs(ref_cv["mAP"] - ref["mAP"]) > 1e-3


def test_bad_inputs_are_named():
    rng = np.random.default_rng(0)
    q, g = unit(rng, 3, 4), unit(rng, 5, 4)
    ids = (np.arange(3), np.arange(5) % 3, np.zeros(3, int), np.ones(5, int))
    with pytest.raises(ValueError, match="query.features"):
        evaluate_retrieval(*sides(q * 2, g, *ids))
    with pytest.raises(ValueError, match="gallery.ids"):
        evaluate_retrieval(*sides(q, g, ids[0], ids[1][:4], *ids[2:]))
    with pytest.raises(ValueError, match="query.keys and gallery.keys"):
        evaluate_retrieval(*sides(q, g, *ids, ["a", "b", "c"]))
    with pytest.raises(ValueError, match="no query has a positive"):
        evaluate_retrieval(*sides(q, g, np.full(3, 9), *ids[1:]))
    with pytest.raises(ValueError, match="NaN"):
        evaluate_retrieval(*sides(None, None, *ids), dist=np.full((3, 5), np.nan))
    with pytest.raises(ValueError, match="max_rank"):
        evaluate_retrieval(*sides(q, g, *ids), max_rank=0)


def test_gemm_of_the_next_block_runs_ahead_safely():
    # the features path computes block i + 1 in a worker thread while block i is ranked:
    # tensors that require grad are fine there (no_grad is set in the worker), and an error
    # raised while ranking a block stops the evaluation cleanly with the worker's block pending
    rng = np.random.default_rng(1)
    qf, gf = unit(rng, 9, 8), unit(rng, 30, 8)
    ids = (np.arange(9) % 4, np.arange(30) % 4, np.zeros(9, int), np.ones(30, int))
    ref = evaluate_retrieval(*sides(qf, gf, *ids), block_size=100)
    qt = torch.from_numpy(qf).requires_grad_(True)
    got = evaluate_retrieval(*sides(qt, torch.from_numpy(gf), *ids), block_size=2)
    assert got == ref
    bad = qf.copy()
    bad[5] = np.nan  # in the third block of 2; its norm check passes as NaN compares False
    with pytest.raises(ValueError, match=r"query rows 4\.\.5\): NaN"):
        evaluate_retrieval(*sides(bad, gf, *ids), block_size=2)


# --------------------------------------------------------------------------- clustering


def brute_pairs(pred, truth):
    tp = fp = fn = 0
    n = len(pred)
    for i in range(n):
        for j in range(i + 1, n):
            same_p = pred[i] == pred[j] and pred[i] != -1
            same_t = truth[i] == truth[j]
            tp += same_p and same_t
            fp += same_p and not same_t
            fn += same_t and not same_p
    prec = tp / (tp + fp) if tp + fp else 1.0
    rec = tp / (tp + fn) if tp + fn else 1.0
    return prec, rec


@pytest.mark.parametrize("seed", range(6))
def test_cluster_quality_pairwise_vs_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = 120
    truth = rng.integers(0, 9, n)
    pred = np.where(rng.random(n) < 0.7, truth, rng.integers(0, 12, n))
    pred[rng.random(n) < 0.15 * (seed % 3)] = -1  # seeds 0, 3: no noise
    q = cluster_quality(pred, truth)
    prec, rec = brute_pairs(pred, truth)
    assert q["pairwise_precision"] == pytest.approx(prec, abs=1e-6)
    assert q["pairwise_recall"] == pytest.approx(rec, abs=1e-6)
    assert q["pairwise_f1"] == pytest.approx(2 * prec * rec / (prec + rec), abs=1e-6)
    assert q["noise_share"] == pytest.approx(np.mean(pred == -1), abs=1e-6)
    real = sorted(set(pred[pred >= 0].tolist()))
    assert q["n_clusters"] == len(real)
    assert q["n_singletons"] == sum(int((pred == c).sum() == 1) for c in real)
    maj = sum(np.bincount(truth[pred == c]).max() for c in real)
    assert q["purity"] == pytest.approx(maj / max(1, (pred >= 0).sum()), abs=1e-6)
    # noise as singletons, checked by explicit relabelling
    single = pred.copy()
    single[pred == -1] = 1000 + np.arange(int((pred == -1).sum()))
    assert q["ami"] == pytest.approx(adjusted_mutual_info_score(truth, single), abs=1e-6)
    assert q["ari"] == pytest.approx(adjusted_rand_score(truth, single), abs=1e-6)
    if seed % 3 == 0:
        assert q["ami"] == pytest.approx(adjusted_mutual_info_score(truth, pred), abs=1e-6)
    for k in ("ami", "ari", "pairwise_precision", "purity", "noise_share"):
        assert isinstance(q[k], float)
    for k in ("n_clusters", "n_singletons"):
        assert isinstance(q[k], int)


def test_cluster_quality_noise_is_not_one_cluster():
    truth = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([5, 5, -1, -1, 7, 7])
    q = cluster_quality(pred, truth)
    # the two noise samples of id 1 are singletons, not a shared cluster
    assert q["pairwise_precision"] == 1.0
    assert q["pairwise_recall"] == pytest.approx(2 / 3)
    assert (q["n_clusters"], q["n_singletons"], q["noise_share"]) == (2, 0, pytest.approx(1 / 3))
    assert q["purity"] == 1.0
    q2 = cluster_quality(np.array([5, 5, 9, 9, 7, 7]), truth)  # the same as one cluster
    assert q2["ami"] == pytest.approx(1.0) and q["ami"] < 1.0


def test_cluster_quality_perfect_and_relabelled():
    truth = np.repeat(np.arange(7), 5)
    q = cluster_quality((truth * 3 + 11) % 97, truth)
    for k in ("ami", "ari", "pairwise_precision", "pairwise_recall", "pairwise_f1", "purity"):
        assert q[k] == pytest.approx(1.0), k
    assert q["n_clusters"] == 7 and q["noise_share"] == 0.0
    allnoise = cluster_quality(np.full(35, -1), truth)
    assert allnoise["n_clusters"] == 0 and allnoise["noise_share"] == 1.0
    assert allnoise["pairwise_recall"] == 0.0 and allnoise["pairwise_f1"] == 0.0


def brute_merge_precision(before, after, truth):
    clusters = sorted(set(before[before >= 0].tolist()))
    maj, dest = {}, {}
    for c in clusters:
        members = before == c
        ids, cnt = np.unique(truth[members], return_counts=True)
        maj[c] = ids[np.argmax(cnt)]  # first maximum = smallest id
        labs, cnt = np.unique(after[members], return_counts=True)
        dest[c] = labs[np.argmax(cnt)]
    good = total = 0
    for i, a in enumerate(clusters):
        for b in clusters[i + 1 :]:
            if dest[a] == dest[b] and dest[a] != -1:
                total += 1
                good += maj[a] == maj[b]
    return None if total == 0 else good / total


def test_merge_precision_hand_case():
    truth = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    before = np.array([0, 0, 1, 1, 2, 2, 3, -1])
    # clusters 0, 1 (both id 0) and 2 (id 1) merged into 10; 3 stays alone
    after = np.array([10, 10, 10, 10, 10, 10, 11, -1])
    # pairs (0,1) ok, (0,2) wrong, (1,2) wrong -> 1/3
    assert merge_precision(before, after, truth) == pytest.approx(1 / 3)
    assert merge_precision(before, before, truth) is None  # nothing merged
    assert merge_precision(np.full(8, -1), after, truth) is None
    # clusters whose members mostly became noise join no merge
    gone = np.array([-1, -1, -1, -1, 10, 10, 11, -1])
    assert merge_precision(before, gone, truth) is None  # only cluster 2 goes to 10
    gone[2] = 10  # cluster 1 splits 1:1 between -1 and 10: the tie goes to -1 (smaller)
    assert merge_precision(before, gone, truth) is None
    gone[:4] = 10  # now clusters 0, 1, 2 all go to 10
    assert merge_precision(before, gone, truth) == pytest.approx(1 / 3)


@pytest.mark.parametrize("seed", range(5))
def test_merge_precision_vs_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = 200
    truth = rng.integers(0, 10, n)
    before = np.where(rng.random(n) < 0.8, truth * 3 + rng.integers(0, 3, n), -1)
    after = np.where(rng.random(n) < 0.85, before // 3, rng.integers(0, 10, n))
    after[rng.random(n) < 0.05] = -1
    got = merge_precision(before, after, truth)
    ref = brute_merge_precision(before, after, truth)
    assert ref is not None and got == pytest.approx(ref)


def test_no_nan_in_cross_view_when_no_cross_view_positive():
    dist = np.array([[0.1, 0.2]])
    r = evaluate_retrieval(
        *sides(None, None, [1], [1, 2], [0], [1, 1], q_view=[0], g_view=[0, 1]), dist=dist
    )
    assert r["cross_view_mAP"] is None and r["cross_view_n_queries"] == 0
    assert not math.isnan(r["mAP"])
