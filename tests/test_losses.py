"""Tests of vreid.learn.losses against plain per-sample references and hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vreid.learn.losses import (
    camera_da_loss,
    cluster_loss,
    ctacl_loss,
    ctacl_masks,
    repelled_loss,
    sscl_loss,
    supervised_ce_loss,
)
from vreid.learn.memory import CameraTrackletMemory, ClusterMemory, FeatureMemory

D64 = torch.float64


# ---------------------------------------------------------------------------- fixtures
def random_ctam(seed: int, n_target: int, n_cams: int, d: int = 8, tiny_cam: int = 0):
    """Random CTAM in float64: tracklets of 1-6 images; camera 0 gets ``tiny_cam`` slots
    if > 0 (to exercise 'fewer than k' cases); camera ids are sparse (10, 20, ...)."""
    g = torch.Generator().manual_seed(seed)
    cams, trks = [], []
    next_trk = 7
    cam_sizes = []
    for c in range(n_cams):
        size = tiny_cam if (tiny_cam and c == 0) else max(1, n_target // n_cams)
        cam_sizes.append(size)
        left = size
        while left > 0:
            length = min(left, int(torch.randint(1, 7, (1,), generator=g)))
            cams += [10 * (c + 1)] * length
            trks += [next_trk] * length
            next_trk += int(torch.randint(1, 4, (1,), generator=g))  # sparse ids
            left -= length
    n = len(cams)
    perm = torch.randperm(n, generator=g)  # interleave cameras/tracklets in slot order
    cams_t = torch.tensor(cams)[perm]
    trks_t = torch.tensor(trks)[perm]
    feats = torch.randn(n, d, generator=g, dtype=D64)
    mem = CameraTrackletMemory(feats, cams_t, trks_t, dtype=D64)
    return mem, g


def random_batch(mem, g, b: int):
    idx = torch.randperm(mem.num_slots, generator=g)[:b]
    # Features near their own slot, so own-tracklet similarities are realistic.
    z = mem.features[idx] + 0.7 * torch.randn(b, mem.dim, generator=g, dtype=D64)
    z = F.normalize(z, dim=1)
    return z, idx


# ---------------------------------------------------------------------------- references
def ref_ctacl_sets(z, idx, mem, *, extended, k, gamma):
    """Plain per-anchor selection with Python lists/sets; returns [(pos, denom)] per anchor."""
    M = mem.features
    cams = mem.cams.tolist()
    trks = mem.tracklets.tolist()
    n = len(cams)
    out = []
    for b in range(z.shape[0]):
        i = int(idx[b])
        sims = [float(x) for x in (M @ z[b].detach())]
        own = {j for j in range(n) if trks[j] == trks[i]}
        same_cam = {j for j in range(n) if cams[j] == cams[i]}
        if not extended:
            out.append((own, same_cam))
            continue
        other = [j for j in range(n) if cams[j] != cams[i]]
        by_sim = sorted(other, key=lambda j: (-sims[j], j))  # descending, lower index on ties
        easy = set(by_sim[:k])
        far = min(own, key=lambda j: (sims[j], j))
        hsims = [float(x) for x in (M @ M[far])]
        hard = set(sorted(other, key=lambda j: (-hsims[j], j))[:k])
        plus = easy | hard
        remaining = [j for j in by_sim if j not in plus]
        n_grey = math.ceil(gamma * len(remaining) - 1e-9)
        negatives = set(remaining[n_grey:])
        out.append((own | plus, same_cam | plus | negatives))
    return out


def ref_ctacl_loss(z, idx, mem, *, temperature, extended, k, gamma):
    """Per-sample loop with torch ops (float64) so that autograd gives a reference gradient."""
    sets = ref_ctacl_sets(z, idx, mem, extended=extended, k=k, gamma=gamma)
    M = mem.features
    total = z.new_zeros(())
    for b, (pos, denom) in enumerate(sets):
        denom_l = sorted(denom)
        log_denom = torch.log(sum(torch.exp(z[b] @ M[j] / temperature) for j in denom_l))
        terms = [z[b] @ M[p] / temperature - log_denom for p in sorted(pos)]
        total = total - sum(terms) / len(terms)
    return total / z.shape[0]


def ref_da_loss(z, mem, temperature=1.0):
    cams = mem.cams.tolist()
    ids = sorted(set(cams))
    cents = []
    for c in ids:
        rows = [j for j in range(len(cams)) if cams[j] == c]
        mean = sum(mem.features[j] for j in rows) / len(rows)
        cents.append(mean / mean.norm())
    total = 0.0
    for b in range(z.shape[0]):
        logits = [float(z[b] @ c) / temperature for c in cents]
        mx = max(logits)
        denom = sum(math.exp(x - mx) for x in logits)
        p = [math.exp(x - mx) / denom for x in logits]
        u = 1.0 / len(cents)
        total += sum(u * math.log(u / pc) for pc in p)
    return total / z.shape[0]


# ---------------------------------------------------------------------------- CTACL
CASES = [
    # seed, n slots, cameras, batch, k, gamma, tiny camera size
    (0, 60, 3, 8, 0, 0.0, 0),
    (1, 80, 4, 10, 1, 0.01, 0),
    (2, 120, 5, 12, 3, 0.2, 2),
    (3, 200, 3, 16, 5, 0.5, 3),
    (4, 90, 4, 16, 5, 0.01, 2),
    (5, 150, 5, 12, 3, 0.0, 0),
    (6, 70, 3, 8, 1, 0.5, 1),
    (7, 100, 4, 16, 0, 0.2, 0),
    (8, 40, 2, 8, 5, 0.2, 2),  # anchors of the big camera see only 2 other-camera slots < k
]


@pytest.mark.parametrize("seed,n,n_cams,b,k,gamma,tiny", CASES)
@pytest.mark.parametrize("extended", [False, True])
def test_ctacl_matches_loop_reference(seed, n, n_cams, b, k, gamma, tiny, extended):
    mem, g = random_ctam(seed, n, n_cams, tiny_cam=tiny)
    z0, idx = random_batch(mem, g, b)
    if tiny:  # make sure anchors of the tiny camera are in the batch
        tiny_slots = (mem.cams == 10).nonzero().flatten()
        idx[: len(tiny_slots)] = tiny_slots[:b]
        z0[: len(tiny_slots)] = mem.features[tiny_slots[:b]]

    # masks vs sets
    pos, denom = ctacl_masks(z0, idx, mem, extended=extended, k=k, gamma=gamma)
    ref_sets = ref_ctacl_sets(z0, idx, mem, extended=extended, k=k, gamma=gamma)
    for row, (rp, rd) in enumerate(ref_sets):
        assert set(pos[row].nonzero().flatten().tolist()) == rp
        assert set(denom[row].nonzero().flatten().tolist()) == rd

    z = z0.clone().requires_grad_(True)
    loss = ctacl_loss(z, idx, mem, temperature=0.07, extended=extended, k=k, gamma=gamma)
    (grad,) = torch.autograd.grad(loss, z)
    zr = z0.clone().requires_grad_(True)
    ref = ref_ctacl_loss(zr, idx, mem, temperature=0.07, extended=extended, k=k, gamma=gamma)
    (ref_grad,) = torch.autograd.grad(ref, zr)
    assert loss.dtype == D64 and loss.ndim == 0
    assert abs(float(loss.detach()) - float(ref.detach())) < 1e-5 * max(
        1.0, abs(float(ref.detach()))
    )
    torch.testing.assert_close(grad, ref_grad, rtol=1e-6, atol=1e-8)
    assert float(grad.norm()) > 0


def test_extended_selection_is_nontrivial():
    """Guard against a vacuous comparison: with k=3, gamma=0.2 the extended sets contain
    mined positives, a grey zone and negatives, and differ from Eq. 4."""
    mem, g = random_ctam(2, 120, 5)
    z, idx = random_batch(mem, g, 12)
    pos4, den4 = ctacl_masks(z, idx, mem, extended=False)
    pos7, den7 = ctacl_masks(z, idx, mem, extended=True, k=3, gamma=0.2)
    other = (mem.cam_index[idx][:, None] != mem.cam_index[None, :]).sum(1)
    n_plus = (pos7 & ~pos4).sum(1)
    assert bool(((n_plus >= 3) & (n_plus <= 6)).all())
    n_neg = (den7 & ~den4).sum(1) - n_plus
    n_rem = other - n_plus
    expected_neg = n_rem - torch.ceil(0.2 * n_rem.double() - 1e-9).long()
    assert torch.equal(n_neg, expected_neg)
    assert bool((n_neg < n_rem).all())
    l4 = ctacl_loss(z, idx, mem, extended=False)
    l7 = ctacl_loss(z, idx, mem, extended=True, k=3, gamma=0.2)
    assert abs(float(l4) - float(l7)) > 1e-3


def test_ctacl_eq4_hand_example():
    # 2 cameras, 2-D. Camera 1: slots 0 (trk 5), 1 (trk 5), 2 (trk 6). Camera 2: slot 3 (trk 9).
    m = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [1.0, 0.0]], dtype=D64)
    mem = CameraTrackletMemory(m, torch.tensor([1, 1, 1, 2]), torch.tensor([5, 5, 6, 9]), dtype=D64)
    z = torch.tensor([[1.0, 0.0]], dtype=D64)
    t = 0.5
    # s = z.M / t = [2, 0, -2, 2]; Eq. 4 for anchor 0: pos {0, 1}, denom {0, 1, 2}
    lse = math.log(math.exp(2) + 1 + math.exp(-2))
    expected = -0.5 * ((2 - lse) + (0 - lse))
    got = ctacl_loss(z, torch.tensor([0]), mem, temperature=t, extended=False)
    assert float(got) == pytest.approx(expected, rel=1e-12)
    # Eq. 7, k=0, gamma=0: denominator = all 4 slots, positives = own tracklet.
    lse_all = math.log(2 * math.exp(2) + 1 + math.exp(-2))
    expected7 = -0.5 * ((2 - lse_all) + (0 - lse_all))
    got7 = ctacl_loss(z, torch.tensor([0]), mem, temperature=t, extended=True, k=0, gamma=0.0)
    assert float(got7) == pytest.approx(expected7, rel=1e-12)
    # Eq. 7, k=1: slot 3 becomes a positive (easy and hard: counted once).
    expected7k = -(1 / 3) * ((2 - lse_all) + (0 - lse_all) + (2 - lse_all))
    got7k = ctacl_loss(z, torch.tensor([0]), mem, temperature=t, extended=True, k=1, gamma=0.0)
    assert float(got7k) == pytest.approx(expected7k, rel=1e-12)
    # gamma=1: the whole remainder is grey, equivalent to k=0 with no negatives = Eq. 4 here
    # (camera 2 has one slot, k=0 leaves it as the remainder, ceil(1*1)=1 is dropped).
    got_g = ctacl_loss(z, torch.tensor([0]), mem, temperature=t, extended=True, k=0, gamma=1.0)
    assert float(got_g) == pytest.approx(expected, rel=1e-12)


def test_ctacl_ties_break_by_lower_index_and_hard_positive():
    # Anchor camera 0: slots 0 (trk 1), 1 (trk 1). Other camera 1: slots 2..6, exact ties.
    e1, e2 = [1.0, 0.0], [0.0, 1.0]
    m = torch.tensor([e1, e2, e2, e1, e1, e2, e1], dtype=D64)
    cams = torch.tensor([0, 0, 1, 1, 1, 1, 1])
    trks = torch.tensor([1, 1, 2, 3, 4, 5, 6])
    mem = CameraTrackletMemory(m, cams, trks, dtype=D64)
    z = torch.tensor([e1], dtype=D64)  # z.M = [1, 0, 0, 1, 1, 0, 1]
    pos, den = ctacl_masks(z, torch.tensor([0]), mem, extended=True, k=2, gamma=0.0)
    # easy: ties among {3, 4, 6} at 1 -> {3, 4}; far own slot = 1 (e2); hard: ties among
    # {2, 5} at 1 -> {2, 5}.
    assert pos[0].nonzero().flatten().tolist() == [0, 1, 2, 3, 4, 5]
    assert den[0].all()
    pos, den = ctacl_masks(z, torch.tensor([0]), mem, extended=True, k=1, gamma=0.5)
    # easy {3}, hard {2}; remaining sorted: 4, 6 (sim 1), 5 (sim 0); ceil(0.5*3)=2 grey -> {4, 6}
    assert pos[0].nonzero().flatten().tolist() == [0, 1, 2, 3]
    assert den[0].nonzero().flatten().tolist() == [0, 1, 2, 3, 5]


def test_ctacl_single_camera_extended_equals_eq4():
    mem, g = random_ctam(11, 40, 1)
    z, idx = random_batch(mem, g, 6)
    a = ctacl_loss(z, idx, mem, extended=False)
    b = ctacl_loss(z, idx, mem, extended=True, k=5, gamma=0.01)
    assert float(a) == pytest.approx(float(b), rel=1e-12)


def test_ctacl_float32_and_bad_input():
    mem, g = random_ctam(12, 50, 3)
    z, idx = random_batch(mem, g, 4)
    mem32 = CameraTrackletMemory(mem.features, mem.cams, mem.tracklets)
    loss32 = ctacl_loss(z.float(), idx, mem32, extended=True, k=3, gamma=0.01)
    loss64 = ctacl_loss(z, idx, mem, extended=True, k=3, gamma=0.01)
    assert loss32.dtype == torch.float32
    assert float(loss32) == pytest.approx(float(loss64), rel=1e-4)
    with pytest.raises(ValueError, match="k must"):
        ctacl_loss(z, idx, mem, extended=True, k=-1)
    with pytest.raises(ValueError, match="gamma"):
        ctacl_loss(z, idx, mem, extended=True, gamma=1.5)
    with pytest.raises(ValueError, match="temperature"):
        ctacl_loss(z, idx, mem, extended=True, temperature=0.0)
    with pytest.raises(ValueError, match="idx"):
        ctacl_loss(z, idx + 1000, mem, extended=False)
    with pytest.raises(ValueError, match="dimension"):
        ctacl_loss(z[:, :3], idx, mem, extended=False)


# ---------------------------------------------------------------------------- VAPC
def test_repelled_loss_hand_example():
    # M = [[1,0],[0,1],[-1,0]], z = [1,0], beta = 0.1: logits = [10, 0, -10].
    # target 0: -log(e^10 / (e^10 + 1 + e^-10)) = log(1 + e^-10 + e^-20)
    # target 1: -log(1 / (e^10 + 1 + e^-10)) = log(e^10 + 1 + e^-10)
    mem = FeatureMemory(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]), dtype=D64)
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0]], dtype=D64)
    l0 = math.log(1 + math.exp(-10) + math.exp(-20))
    l1 = math.log(math.exp(10) + 1 + math.exp(-10))
    got = repelled_loss(z, torch.tensor([0, 1]), mem, beta=0.1)
    assert float(got) == pytest.approx((l0 + l1) / 2, rel=1e-12)
    # then the Eq. 3 update: slot 0 <- norm([1,0]+[1,0]) = [1,0]; slot 1 <- norm([1,1]).
    mem.update_mean(torch.tensor([0, 1]), z)
    r = 1 / math.sqrt(2)
    expected = torch.tensor([[1.0, 0.0], [r, r], [-1.0, 0.0]], dtype=D64)
    torch.testing.assert_close(mem.features, expected, rtol=0, atol=1e-15)


def test_repelled_and_sscl_match_loop():
    g = torch.Generator().manual_seed(3)
    mem = FeatureMemory(torch.randn(30, 6, generator=g, dtype=D64), dtype=D64)
    z = F.normalize(torch.randn(5, 6, generator=g, dtype=D64), dim=1)
    idx = torch.tensor([0, 4, 4, 29, 17])
    for beta in (0.1, 0.07):
        ref = 0.0
        for b in range(5):
            s = [float(z[b] @ mem.features[j]) / beta for j in range(30)]
            ref += -(s[int(idx[b])] - math.log(sum(math.exp(x) for x in s)))
        assert float(repelled_loss(z, idx, mem, beta=beta)) == pytest.approx(ref / 5, rel=1e-10)
        assert float(sscl_loss(z, idx, mem, temperature=beta)) == pytest.approx(ref / 5, rel=1e-10)


def test_cluster_loss_ignores_unclustered():
    g = torch.Generator().manual_seed(4)
    feats = torch.randn(20, 5, generator=g, dtype=D64)
    labels = torch.tensor([0, 1, 2, -1, 0, 1, 2, 3, 3, -1, 0, 1, 2, 3, -1, 0, 1, 2, 3, 0])
    mem = ClusterMemory.from_labels(feats, labels, dtype=D64)
    z = F.normalize(torch.randn(6, 5, generator=g, dtype=D64), dim=1).requires_grad_(True)
    t = torch.tensor([2, -1, 0, 3, -1, 1])
    loss = cluster_loss(z, t, mem, beta=0.1)
    keep = t >= 0
    ref = F.cross_entropy(z[keep] @ mem.features.T / 0.1, t[keep])
    assert float(loss.detach()) == pytest.approx(float(ref.detach()), rel=1e-12)
    (grad,) = torch.autograd.grad(loss, z)
    assert float(grad[~keep].abs().max()) == 0.0 and float(grad[keep].abs().max()) > 0
    # all ignored: zero, still differentiable, zero gradient
    zero = cluster_loss(z, torch.full((6,), -1), mem)
    assert float(zero.detach()) == 0.0 and zero.requires_grad
    (g0,) = torch.autograd.grad(zero, z)
    assert float(g0.abs().max()) == 0.0
    with pytest.raises(ValueError, match="targets"):
        cluster_loss(z, torch.tensor([4, 0, 0, 0, 0, 0]), mem)


# ---------------------------------------------------------------------------- DA
def test_da_uniform_is_zero_and_hand_value():
    # Two cameras with centroids [1,0] (camera 3) and [0,1] (camera 8).
    m = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=D64)
    mem = CameraTrackletMemory(m, torch.tensor([3, 3, 8]), torch.tensor([0, 0, 1]), dtype=D64)
    r = 1 / math.sqrt(2)
    z_eq = torch.tensor([[r, r], [-r, -r]], dtype=D64)  # equal similarity to both centroids
    assert float(camera_da_loss(z_eq, mem)) == pytest.approx(0.0, abs=1e-15)
    # z = [1, 0]: logits [1, 0], P = [e/(e+1), 1/(e+1)];
    # KL = 0.5 log(0.5 / P1) + 0.5 log(0.5 / P2) = 0.5 log((e+1)^2 / (4 e))
    z = torch.tensor([[1.0, 0.0]], dtype=D64)
    e = math.e
    expected = 0.5 * math.log((e + 1) ** 2 / (4 * e))
    assert float(camera_da_loss(z, mem)) == pytest.approx(expected, rel=1e-12)
    assert expected > 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_da_matches_loop_reference(seed):
    mem, g = random_ctam(seed + 20, 90, 3 + seed)
    z, _ = random_batch(mem, g, 10)
    z = z.requires_grad_(True)
    loss = camera_da_loss(z, mem)
    assert float(loss.detach()) == pytest.approx(ref_da_loss(z.detach(), mem), rel=1e-10)
    loss.backward()
    assert float(z.grad.norm()) > 0
    # precomputed centroids give the same value
    again = camera_da_loss(z.detach(), mem, centroids=mem.camera_centroids())
    assert float(again) == pytest.approx(float(loss.detach()), rel=1e-14)


@pytest.mark.parametrize("temperature", [0.07, 0.5, 2.0])
def test_da_temperature_matches_loop_reference(temperature):
    mem, g = random_ctam(31, 90, 4)
    z, _ = random_batch(mem, g, 10)
    got = float(camera_da_loss(z, mem, temperature=temperature))
    assert got == pytest.approx(ref_da_loss(z, mem, temperature), rel=1e-10)
    # a sharper softmax is further from uniform for the same features
    if temperature < 1:
        assert got > float(camera_da_loss(z, mem))
    with pytest.raises(ValueError, match="temperature"):
        camera_da_loss(z, mem, temperature=0.0)


def test_supervised_ce():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]], dtype=D64)
    t = torch.tensor([0, 2])
    expected = (-(2 - math.log(math.exp(2) + 1 + math.exp(-1))) + math.log(3)) / 2
    assert float(supervised_ce_loss(logits, t)) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="targets"):
        supervised_ce_loss(logits, torch.tensor([0, 3]))


# ---------------------------------------------------------------------------- batch-hard triplet
def _triplet_reference(feat, labels, margin):
    """Per-anchor loops over every positive and negative (``margin="soft"``: log(1 + e^gap))."""
    f = feat.double()
    losses = []
    for a in range(len(f)):
        pos = [
            float((f[a] - f[p]).norm()) for p in range(len(f)) if p != a and labels[p] == labels[a]
        ]
        neg = [float((f[a] - f[n]).norm()) for n in range(len(f)) if labels[n] != labels[a]]
        if pos and neg:
            gap = max(pos) - min(neg)
            losses.append(math.log1p(math.exp(gap)) if margin == "soft" else max(0.0, margin + gap))
    return sum(losses) / len(losses) if losses else 0.0


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_triplet_hard_matches_loops(seed):
    from vreid.learn.losses import triplet_hard_loss

    g = torch.Generator().manual_seed(seed)
    feat = torch.randn(12, 5, generator=g)
    labels = torch.randint(0, 4, (12,), generator=g)
    labels[0] = 7  # an anchor without a positive is skipped
    got = float(triplet_hard_loss(feat, labels, margin=0.5))
    assert got == pytest.approx(_triplet_reference(feat, labels, 0.5), abs=1e-5)
    soft = float(triplet_hard_loss(feat, labels, margin="soft"))
    assert soft == pytest.approx(_triplet_reference(feat, labels, "soft"), abs=1e-5)


def test_triplet_hard_without_positives_is_zero_with_gradient():
    from vreid.learn.losses import triplet_hard_loss

    feat = torch.randn(4, 3, requires_grad=True)
    loss = triplet_hard_loss(feat, torch.arange(4), margin=0.3)
    loss.backward()
    assert float(loss.detach()) == 0.0 and feat.grad is not None
    with pytest.raises(ValueError, match="margin"):
        triplet_hard_loss(feat, torch.arange(4), margin=-1.0)
    with pytest.raises(ValueError, match="'soft', got 'hard'"):
        triplet_hard_loss(feat, torch.arange(4), margin="hard")


def test_supervised_objective_soft_margin_is_softplus_of_the_batch_hard_gap():
    from vreid.learn.objectives import make_objective

    g = torch.Generator().manual_seed(1)
    logits, pooled = torch.randn(8, 4, generator=g), torch.randn(8, 6, generator=g)
    targets = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    params = {"recognize": {"label_smoothing": 0.0, "triplet_margin": "soft"}}
    obj = make_objective("supervised", params, targets=targets)
    _, parts = obj.loss(F.normalize(pooled), logits, torch.arange(8), 0, pooled=pooled)
    assert parts["triplet"] == pytest.approx(_triplet_reference(pooled, targets, "soft"), rel=1e-5)


def test_supervised_objective_is_label_smoothed_ce_plus_batch_hard_triplet():
    from vreid.learn.losses import triplet_hard_loss
    from vreid.learn.objectives import make_objective

    g = torch.Generator().manual_seed(0)
    logits, pooled = torch.randn(8, 5, generator=g), torch.randn(8, 6, generator=g)
    targets = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3, 4, 4])
    slots = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7])
    params = {"recognize": {"label_smoothing": 0.1, "triplet_margin": 0.3}}
    obj = make_objective("supervised", params, targets=targets)
    loss, parts = obj.loss(F.normalize(pooled), logits, slots, 0, pooled=pooled)
    y = targets[slots]
    ref = F.cross_entropy(logits, y, label_smoothing=0.1) + triplet_hard_loss(pooled, y, margin=0.3)
    assert float(loss) == pytest.approx(float(ref), rel=1e-6)
    assert set(parts) == {"ce", "triplet", "loss"}
    with pytest.raises(ValueError, match="pooled"):
        obj.loss(F.normalize(pooled), logits, slots, 0)


@pytest.mark.parametrize("weight", [0.0, 0.5, 1.0])
def test_cluster_objective_weights_the_pseudo_label_term(weight):
    """A round's loss is cluster_weight x the cluster-memory loss (VAPC Eq. 11) + tracklet_weight
    x CTACL (Eq. 7) + lambda x DA; at cluster_weight 0 the pseudo labels leave the loss (the
    control that measures what they add) and the other terms are unchanged."""
    from vreid.learn.objectives import make_objective

    g = torch.Generator().manual_seed(7)
    feats = F.normalize(torch.randn(12, 6, generator=g, dtype=D64), dim=1)
    cams = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, 0, 1, 2])
    trks = torch.tensor([0, 0, 1, 2, 2, 3, 4, 4, 5, 6, 7, 8])
    ctam = CameraTrackletMemory(feats, cams, trks, dtype=D64)
    labels = torch.tensor([0, 1, 0, 1, 2, -1, 2, 0, 1, 2, -1, 0])
    clusters = ClusterMemory.from_labels(feats, labels, dtype=D64)
    params = {
        "k": 2,
        "gamma": 0.0,
        "lambda": 0.2,
        "recognize": {"temperature": 0.07, "da_temperature": 0.07},
        "cluster": {
            "method": "combined",
            "beta": 0.1,
            "tracklet_weight": 4.0,
            "cluster_weight": weight,
        },
    }
    z = F.normalize(torch.randn(6, 6, generator=g, dtype=D64), dim=1)
    slots = torch.tensor([0, 3, 5, 6, 9, 11])
    obj = make_objective("cluster", params, ctam=ctam, clusters=clusters)
    loss, parts = obj.loss(z, None, slots, 0)
    pseudo = cluster_loss(z, clusters.targets(slots), clusters, beta=0.1)
    ctacl = ctacl_loss(z, slots, ctam, temperature=0.07, extended=True, k=2, gamma=0.0)
    da = camera_da_loss(z, ctam, temperature=0.07)
    ref = weight * pseudo + 4.0 * ctacl + 0.2 * da
    assert float(loss) == pytest.approx(float(ref), rel=1e-10)
    assert ("cluster" in parts) == (weight > 0)
    assert parts["ctacl"] == pytest.approx(4.0 * float(ctacl), rel=1e-10)
