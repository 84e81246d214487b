"""Tests of vreid.learn.memory: Eq. 3 updates, centroids, cluster slots, checkpoint round-trip."""

from __future__ import annotations

import io
import math

import pytest
import torch

from vreid.learn.memory import CameraTrackletMemory, ClusterMemory, FeatureMemory

D64 = torch.float64


def _unit(v):
    v = torch.as_tensor(v, dtype=D64)
    return v / v.norm()


def ref_update(features, indices, feats):
    """Plain sequential reference of M[i] <- (M[i] + f) / ||M[i] + f||, in batch order."""
    m = [row.clone() for row in features]
    for i, f in zip(indices.tolist(), feats, strict=True):
        s = m[i] + f
        m[i] = s / s.norm()
    return torch.stack(m)


def test_init_normalises_and_is_not_a_parameter():
    init = torch.tensor([[3.0, 4.0], [0.0, -2.0]])
    mem = FeatureMemory(init)
    assert mem.features.dtype == torch.float32 and not mem.features.requires_grad
    torch.testing.assert_close(mem.features, torch.tensor([[0.6, 0.8], [0.0, -1.0]]))
    assert init[0, 0] == 3.0  # input untouched
    assert mem.num_slots == 2 and mem.dim == 2 and len(mem) == 2
    with pytest.raises(ValueError, match="zero norm"):
        FeatureMemory(torch.tensor([[0.0, 0.0], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="shape"):
        FeatureMemory(torch.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        FeatureMemory(torch.tensor([[math.nan, 1.0]]))


def test_update_mean_hand_values():
    # slot 0 = [1,0], f = [0,1] -> [1,1]/sqrt2; slot 1 = [0,1], f = [0,1] -> [0,1]
    mem = FeatureMemory(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]), dtype=D64)
    mem.update_mean(torch.tensor([0, 1]), torch.tensor([[0.0, 1.0], [0.0, 1.0]], dtype=D64))
    r = 1 / math.sqrt(2)
    torch.testing.assert_close(
        mem.features, torch.tensor([[r, r], [0.0, 1.0], [-1.0, 0.0]], dtype=D64)
    )
    # VAPC's (M + f) / 2 then renormalised is the same as CTACL's (M + f) / ||M + f||
    f = _unit([0.3, -0.9])
    before = mem.features[2].clone()
    mem.update_mean(torch.tensor([2]), f[None])
    half = (before + f) / 2
    torch.testing.assert_close(mem.features[2], half / half.norm())


def test_update_mean_duplicates_are_sequential():
    g = torch.Generator().manual_seed(0)
    init = torch.randn(6, 4, generator=g, dtype=D64)
    idx = torch.tensor([2, 5, 2, 0, 2, 5])
    feats = torch.nn.functional.normalize(torch.randn(6, 4, generator=g, dtype=D64), dim=1)
    mem = FeatureMemory(init, dtype=D64)
    expected = ref_update(mem.features, idx, feats)
    mem.update_mean(idx, feats)
    torch.testing.assert_close(mem.features, expected, rtol=0, atol=1e-14)
    # order matters (so the test distinguishes sequential from e.g. summed updates)
    mem2 = FeatureMemory(init, dtype=D64)
    mem2.update_mean(idx.flip(0), feats.flip(0))
    assert not torch.allclose(mem2.features[2], expected[2])
    # untouched slots stay; every slot is unit norm
    torch.testing.assert_close(
        mem.features[[1, 3, 4]], FeatureMemory(init, dtype=D64).features[[1, 3, 4]]
    )
    torch.testing.assert_close(mem.features.norm(dim=1), torch.ones(6, dtype=D64))


def test_update_mean_momentum_antipodal_and_errors():
    mem = FeatureMemory(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), dtype=D64)
    mem.update_mean(torch.tensor([0]), torch.tensor([[0.0, 1.0]], dtype=D64), momentum=0.75)
    torch.testing.assert_close(mem.features[0], _unit([0.75, 0.25]))
    # f = -M[i]: the sum vanishes, the slot becomes f
    mem.update_mean(torch.tensor([1]), torch.tensor([[0.0, -1.0]], dtype=D64))
    torch.testing.assert_close(mem.features[1], torch.tensor([0.0, -1.0], dtype=D64))
    with pytest.raises(ValueError, match="indices"):
        mem.update_mean(torch.tensor([2]), torch.ones(1, 2))
    with pytest.raises(ValueError, match="feats"):
        mem.update_mean(torch.tensor([0]), torch.ones(1, 3))
    with pytest.raises(ValueError, match="momentum"):
        mem.update_mean(torch.tensor([0]), torch.ones(1, 2), momentum=1.0)
    mem.update_mean(torch.tensor([], dtype=torch.long), torch.ones(0, 2))  # no-op


def test_update_does_not_track_grad():
    mem = FeatureMemory(torch.randn(4, 3))
    f = torch.nn.functional.normalize(torch.randn(2, 3), dim=1).requires_grad_(True)
    mem.update_mean(torch.tensor([0, 1]), f)
    assert not mem.features.requires_grad and mem.features.grad_fn is None


def test_reset():
    mem = FeatureMemory(torch.randn(4, 3))
    new = torch.tensor([[2.0, 0, 0], [0, 3.0, 0], [0, 0, 4.0], [1.0, 1.0, 0]])
    mem.reset(new)
    torch.testing.assert_close(mem.features[:3], torch.eye(3))
    with pytest.raises(ValueError, match="shape"):
        mem.reset(torch.randn(5, 3))


def _ctam():
    # cameras 4 and 9 (sparse ids), tracklets 11 and 12 on camera 9, 30 on camera 4
    feats = torch.tensor(
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.0], [1.0, 1.0, 0.0], [0.0, 1.0, 1.0]],
        dtype=D64,
    )
    cams = torch.tensor([9, 4, 9, 4, 9])
    trks = torch.tensor([11, 30, 12, 30, 11])
    return CameraTrackletMemory(feats, cams, trks, dtype=D64)


def test_ctam_metadata_and_centroids():
    mem = _ctam()
    assert mem.num_cameras == 2
    assert mem.camera_ids.tolist() == [4, 9]
    assert mem.cam_index.tolist() == [1, 0, 1, 0, 1]
    assert mem.cam_counts.tolist() == [2, 3]
    assert mem.track_index.tolist() == [0, 2, 1, 2, 0]
    cent = mem.camera_centroids()
    r = 1 / math.sqrt(2)
    # camera 4: mean([0,1,0], [r,r,0]); camera 9: mean([1,0,0], [0,0,1], [0,r,r])
    c4 = _unit([r, 1 + r, 0.0])
    c9 = _unit([1.0, r, 1 + r])
    torch.testing.assert_close(cent, torch.stack([c4, c9]))


def test_ctam_centroids_match_loop_random():
    g = torch.Generator().manual_seed(5)
    cams = torch.randint(0, 6, (80,), generator=g)
    trks = cams * 1000 + torch.randint(0, 10, (80,), generator=g)
    mem = CameraTrackletMemory(torch.randn(80, 7, generator=g, dtype=D64), cams, trks, dtype=D64)
    cent = mem.camera_centroids()
    for row, c in enumerate(mem.camera_ids.tolist()):
        rows = [j for j in range(80) if int(cams[j]) == c]
        mean = sum(mem.features[j] for j in rows) / len(rows)
        torch.testing.assert_close(cent[row], mean / mean.norm())


def test_ctam_rejects_tracklet_spanning_cameras():
    with pytest.raises(ValueError, match="unique across cameras"):
        CameraTrackletMemory(torch.randn(3, 2), torch.tensor([0, 1, 1]), torch.tensor([5, 5, 6]))
    with pytest.raises(ValueError, match="cams"):
        CameraTrackletMemory(torch.randn(3, 2), torch.tensor([0, 1]), torch.tensor([5, 5, 6]))
    with pytest.raises(ValueError, match="tracklets"):
        CameraTrackletMemory(torch.randn(3, 2), torch.tensor([0, 1, 1]), torch.tensor([5.0, 6, 6]))


def test_cluster_memory_from_labels_and_update():
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(12, 4, generator=g, dtype=D64)
    labels = torch.tensor([1, 0, -1, 2, 1, 1, 0, -1, 2, 2, 0, 1])
    mem = ClusterMemory.from_labels(feats, labels, dtype=D64)
    assert mem.num_clusters == 3
    for c in range(3):
        rows = [j for j in range(12) if int(labels[j]) == c]
        mean = sum(feats[j] for j in rows) / len(rows)
        torch.testing.assert_close(mem.features[c], mean / mean.norm())
    assert mem.targets(torch.tensor([2, 3, 0])).tolist() == [-1, 2, 1]
    # update by samples: sample 2 is unclustered (skipped); samples 0 and 4 both hit cluster 1
    f = torch.nn.functional.normalize(torch.randn(3, 4, generator=g, dtype=D64), dim=1)
    expected = ref_update(mem.features, torch.tensor([1, 1]), f[[0, 2]])
    mem.update_samples(torch.tensor([0, 2, 4]), f)
    torch.testing.assert_close(mem.features, expected, rtol=0, atol=1e-14)
    with pytest.raises(ValueError, match="dense"):
        ClusterMemory.from_labels(feats, torch.where(labels == 1, 3, labels))
    with pytest.raises(ValueError, match="all -1"):
        ClusterMemory.from_labels(feats, torch.full((12,), -1))


@pytest.mark.parametrize("kind", ["feature", "ctam", "cluster"])
def test_state_dict_round_trip_weights_only(kind):
    g = torch.Generator().manual_seed(2)
    if kind == "feature":
        mem = FeatureMemory(torch.randn(5, 3, generator=g))
    elif kind == "ctam":
        mem = _ctam().to(dtype=torch.float32)
    else:
        mem = ClusterMemory.from_labels(
            torch.randn(6, 3, generator=g), torch.tensor([0, 1, 0, -1, 1, 2])
        )
    buf = io.BytesIO()
    torch.save(mem.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    clone = type(mem).from_state_dict(state)
    for name, value in mem.state_dict().items():
        assert torch.equal(getattr(clone, name), value)
    if kind == "ctam":
        assert torch.equal(clone.cam_index, mem.cam_index)
        torch.testing.assert_close(clone.camera_centroids(), mem.camera_centroids())
    # load_state_dict into an existing memory (even of another size) and the state is a copy
    other = type(mem).from_state_dict(state)
    mem.update_mean(torch.tensor([0]), -mem.features[1:2])
    assert not torch.equal(mem.features, other.features)
    other.load_state_dict(mem.state_dict())
    assert torch.equal(mem.features, other.features)
    bad = {} if kind == "feature" else {"features": mem.features}
    with pytest.raises(ValueError, match="missing"):
        other.load_state_dict(bad)


def test_to_device_and_dtype():
    mem = _ctam().to("cpu", dtype=torch.float32)
    assert mem.features.dtype == torch.float32 and mem.cams.dtype == torch.long
    assert mem.device == torch.device("cpu")
    with pytest.raises(ValueError, match="dtype"):
        mem.to(dtype=torch.int64)
