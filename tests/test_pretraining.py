"""Attribute pretraining (vreid.learn.pretraining, stage `pretrain`) and the backbone hand-over."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from vreid.learn.backbone import ReidNet, backbone_state_dict
from vreid.learn.pretraining import attribute_loss, attribute_targets
from vreid.synth.plan import CUE_POOL


def _meta():
    return pd.DataFrame(
        {
            "type": [1, 9, 3],
            "color": [10, 1, 4],
            "model": [0, 5, 2],
            "view5": [0, 4, 2],
            "cues": ["plate_front:0-abc;roof:light;rims", "", "decal_left:stripe;dent:dark"],
        }
    )


def test_targets_from_synth_meta():
    t = attribute_targets(_meta())
    np.testing.assert_array_equal(t.classes["type"], [0, 8, 2])
    np.testing.assert_array_equal(t.classes["color"], [9, 0, 3])
    assert t.sizes == {"type": 9, "color": 10, "model": 6, "view": 5}
    assert t.cues[0, CUE_POOL.index("roof")] == 1 and t.cues[0, CUE_POOL.index("rims")] == 1
    assert t.cues[0].sum() == 2 and t.cues[1].sum() == 0  # plates are not cue kinds
    assert t.cues[2, CUE_POOL.index("decal_left")] == 1
    assert t.width == 9 + 10 + 6 + 5 + len(CUE_POOL)
    with pytest.raises(ValueError, match="'color'"):
        attribute_targets(_meta().drop(columns="color"))
    with pytest.raises(ValueError, match="outside"):
        attribute_targets(_meta(), sizes={"type": 9, "color": 10, "model": 3, "view": 5})


def test_attribute_loss_matches_per_head_reference():
    t = attribute_targets(_meta())
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, t.width, generator=g)
    classes = {k: torch.from_numpy(v) for k, v in t.classes.items()}
    cues = torch.from_numpy(t.cues)
    loss, parts = attribute_loss(logits, classes, cues, t.sizes)
    ref, start = 0.0, 0
    for name, size in t.sizes.items():
        ref += float(F.cross_entropy(logits[:, start : start + size], classes[name]))
        start += size
    bce = [
        -(c * np.log(1 / (1 + np.exp(-x))) + (1 - c) * np.log(1 - 1 / (1 + np.exp(-x))))
        for x, c in zip(logits[:, start:].double().numpy().ravel(), t.cues.ravel(), strict=True)
    ]
    ref += float(np.mean(bce)) * len(CUE_POOL) / 2
    assert float(loss) == pytest.approx(ref, rel=1e-5)
    assert parts["loss"] == pytest.approx(ref, rel=1e-5)
    assert 0.0 <= parts["acc_type"] <= 1.0


def test_backbone_round_trip_through_model_pretrained(tmp_path: Path):
    torch.manual_seed(0)
    src = ReidNet("resnet18")
    path = tmp_path / "backbone.pt"
    torch.save(backbone_state_dict(src), path)
    dst = ReidNet("resnet18", pretrained=str(path))
    for (ka, va), (kb, vb) in zip(
        src.body.state_dict().items(), dst.body.state_dict().items(), strict=True
    ):
        assert ka == kb and torch.equal(va, vb)
    fresh = ReidNet("resnet18")
    assert not torch.equal(fresh.body[0].weight, src.body[0].weight)


def test_pool_seed_must_differ_from_the_dataset_seed(tmp_path: Path):
    from vreid.stages.pretrain import check_pool_is_disjoint

    pool, data = tmp_path / "pool.yaml", tmp_path / "synth.yaml"
    pool.write_text("preset: pool\nseed: 3\n")
    data.write_text("preset: default\nseed: 3\n")
    with pytest.raises(ValueError, match="another seed"):
        check_pool_is_disjoint(pool, data)
    data.write_text("preset: default\nseed: 0\n")
    check_pool_is_disjoint(pool, data)
    check_pool_is_disjoint(pool, tmp_path / "missing.yaml")  # real data: nothing to compare


def test_pool_preset_shares_nothing_with_the_default_set():
    """Own seed: other cameras, other vehicle models, other identities."""
    from vreid.synth.plan import build_world

    data = build_world({"preset": "default", "seed": 0})
    pool = build_world({"preset": "pool", "seed": 1000, "n_train_ids": 50})
    cam_a = {tuple(sorted((k, str(v)) for k, v in c.items())) for c in data["cameras"].values()}
    cam_b = {tuple(sorted((k, str(v)) for k, v in c.items())) for c in pool["cameras"].values()}
    assert not cam_a & cam_b
    geo = lambda m: (round(m["L"], 6), round(m["W"], 6), round(m["H"], 6))  # noqa: E731
    assert not {geo(m) for m in data["models"]} & {geo(m) for m in pool["models"]}
    plates = lambda w: {str(i["plate_front"]) for i in w["identities"].values()}  # noqa: E731
    assert not plates(data) & plates(pool)
