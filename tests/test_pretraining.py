"""Attribute pretraining (vreid.learn.pretraining, stage `pretrain`) and the backbone hand-over."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vreid.io import InputError
from vreid.learn.backbone import ReidNet, backbone_state_dict
from vreid.learn.pretraining import attribute_loss, attribute_targets, with_cue_detail
from vreid.synth.palette import CUE_PALETTE
from vreid.synth.plan import CUE_DETAIL_SIZES, CUE_POOL, build_world, cue_detail_classes


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


def _loss_inputs(seed: int):
    """Targets of ``_meta()`` as tensors and random logits for them."""
    t = attribute_targets(_meta())
    logits = torch.randn(3, t.width, generator=torch.Generator().manual_seed(seed))
    classes = {k: torch.from_numpy(v) for k, v in t.classes.items()}
    return t, logits, classes, torch.from_numpy(t.cues)


def test_attribute_loss_matches_per_head_reference():
    t, logits, classes, cues = _loss_inputs(0)
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


def _expected_detail(ident: dict) -> dict[str, int]:
    """Reference: each cue-level class spelled out from the plan's raw cue dicts."""
    c, out = ident["cues"], {}
    kinds = {
        "decal": ["stripe", "logo", "two_tone", "band"],
        "face": ["front", "rear", "left", "right"],
        "dent": ["dark", "primer", "scrape"],
        "roof": ["rack", "box", "light"],
        "rear": ["spoiler", "sign", "spare", "ladder"],
    }
    s = c.get("sticker")
    out["sticker_corner"] = s["corner"] + 1 if s else 0
    out["sticker_n"] = s["n"] if s else 0
    out["sticker_color"] = s["colors"][0] + 1 if s else 0
    for side in ("left", "right"):
        d = c.get(f"decal_{side}")
        out[f"decal_{side}_kind"] = kinds["decal"].index(d["kind"]) + 1 if d else 0
        out[f"decal_{side}_color"] = d["color"] + 1 if d else 0
    d = c.get("dent")
    out["dent_face"] = kinds["face"].index(d["face"]) + 1 if d else 0
    out["dent_kind"] = kinds["dent"].index(d["kind"]) + 1 if d else 0
    r = c.get("roof")
    out["roof_kind"] = kinds["roof"].index(r["kind"]) + 1 if r else 0
    out["roof_color"] = r["color"] + 1 if r else 0
    r = c.get("rims")
    out["rims_color"] = r["color"] + 1 if r else 0
    out["rims_spokes"] = [0, 4, 5, 6].index(r["spokes"]) + 1 if r else 0
    r = c.get("rear_item")
    out["rear_kind"] = kinds["rear"].index(r["kind"]) + 1 if r else 0
    out["rear_color"] = r["color"] + 1 if r else 0
    out["plate_front_bg"] = ident["plate_front"]["bg"]
    out["plate_rear_bg"] = ident["plate_rear"]["bg"]
    return out


def test_cue_detail_classes_match_the_plans_cues_and_fill_every_class():
    """Every identity's classes equal the spelled-out reference; over 400 identities every
    class of every head occurs (absent = 0 included), none reaches its size."""
    world = build_world({"preset": "tiny", "n_train_ids": 400})
    seen = {name: set() for name in CUE_DETAIL_SIZES}
    for ident in world["identities"].values():
        got = cue_detail_classes(ident)
        assert list(got) == list(CUE_DETAIL_SIZES)
        assert got == _expected_detail(ident)
        for name, v in got.items():
            seen[name].add(v)
    for name, size in CUE_DETAIL_SIZES.items():
        expected = set(range(size))
        if name.endswith("_color") and name not in ("rims_color", "sticker_color"):
            expected = {0} | {1 + i for i in range(len(CUE_PALETTE))}  # colours contrast paint
            assert seen[name] <= expected and len(seen[name]) >= size - 3, (name, seen[name])
            continue
        assert seen[name] == expected, (name, seen[name], size)


def test_cue_detail_heads_extend_the_targets_with_their_weight():
    world = build_world({"preset": "tiny", "n_train_ids": 20})
    vids = np.array(sorted(world["identities"]) * 2)
    meta = _meta().iloc[[0, 1, 2] * 14][: len(vids)].reset_index(drop=True)
    base = attribute_targets(meta)
    t = with_cue_detail(base, vids, world["identities"], 0.25)
    names = [f"cue:{n}" for n in CUE_DETAIL_SIZES]
    assert list(t.sizes) == list(base.sizes) + names
    assert t.width == base.width + sum(CUE_DETAIL_SIZES.values())
    assert t.weights == dict.fromkeys(names, 0.25)
    for i, v in enumerate(vids):
        expected = _expected_detail(world["identities"][int(v)])
        assert {n: int(t.classes[f"cue:{n}"][i]) for n in CUE_DETAIL_SIZES} == expected
    with pytest.raises(ValueError, match=r"\[99999\] are not in the pool's plan.*dvc repro pool"):
        with_cue_detail(base, np.array([99999]), world["identities"], 0.5)


def test_attribute_loss_weights_each_head():
    t, logits, classes, cues = _loss_inputs(1)
    plain, parts = attribute_loss(logits, classes, cues, t.sizes)
    weighted, wparts = attribute_loss(logits, classes, cues, t.sizes, {"model": 0.5, "view": 0})
    ce = F.cross_entropy
    assert wparts["model"] == pytest.approx(0.5 * parts["model"], rel=1e-6)
    assert wparts["view"] == 0 and wparts["type"] == parts["type"]
    dropped = 0.5 * float(ce(logits[:, 19:25], classes["model"])) + parts["view"]
    assert float(weighted) == pytest.approx(float(plain) - dropped, rel=1e-5)


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


def _torchvision_reference(arch: str, channels: int) -> nn.Module:
    """The network built with torchvision itself, re-widened with its own ``_make_layer``
    and initialisation loop (what `backbone.resnet` did before it stopped importing it)."""
    import torchvision

    net = getattr(torchvision.models, arch)(weights=None)
    if channels == 64:
        return net
    block = type(net.layer1[0])
    net.inplanes = channels
    net.conv1 = nn.Conv2d(3, channels, kernel_size=7, stride=2, padding=3, bias=False)
    net.bn1 = nn.BatchNorm2d(channels)
    for i in range(4):
        depth = len(getattr(net, f"layer{i + 1}"))
        layer = net._make_layer(block, channels * 2**i, depth, stride=1 if i == 0 else 2)
        setattr(net, f"layer{i + 1}", layer)
    net.fc = nn.Linear(channels * 8 * block.expansion, net.fc.out_features)
    for mod in net.modules():
        if isinstance(mod, nn.Conv2d):
            nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(mod, nn.BatchNorm2d):
            nn.init.constant_(mod.weight, 1)
            nn.init.constant_(mod.bias, 0)
    return net


@pytest.mark.parametrize(
    "arch, channels",
    [("resnet18", 64), ("resnet18", 32), ("resnet34", 16), ("resnet50", 32), ("resnet101", 8)],
)
def test_resnet_is_torchvisions_bit_for_bit(arch, channels):
    """Same seed -> the same weights as torchvision's ResNet (so committed runs, cached models
    and ImageNet state dicts stay valid), the same outputs and the same gradients."""
    from vreid.learn.backbone import resnet

    torch.manual_seed(3)
    ours = resnet(arch, channels)
    torch.manual_seed(3)
    ref = _torchvision_reference(arch, channels)
    mine, theirs = ours.state_dict(), ref.state_dict()
    assert list(mine) == list(theirs)
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs)
    x = torch.randn(2, 3, 64, 48, generator=torch.Generator().manual_seed(0))
    out_a, out_b = ours(x), ref(x)  # train mode: batch statistics, running stats updated
    assert torch.equal(out_a, out_b)
    out_a.square().sum().backward()
    out_b.square().sum().backward()
    grads = zip(ours.named_parameters(), ref.parameters(), strict=True)
    assert all(torch.equal(p.grad, q.grad) for (_, p), q in grads)
    assert all(torch.equal(a, b) for a, b in zip(ours.buffers(), ref.buffers(), strict=True))
    assert torch.equal(ours.eval()(x), ref.eval()(x))


@pytest.mark.parametrize("arch, dim", [("resnet18", 256), ("resnet50", 1024)])
def test_channels_scale_every_stage(arch, dim):
    from vreid.learn.backbone import resnet

    net = resnet(arch, 32)
    stem = net.conv1.weight.shape[0]
    widths = [getattr(net, f"layer{i}")[-1].bn1.num_features for i in range(1, 5)]
    assert stem == 32 and widths == [32, 64, 128, 256]
    assert net.fc.in_features == dim
    model = ReidNet(arch, channels=32).eval()
    z, _ = model(torch.randn(2, 3, 64, 64))
    assert z.shape == (2, dim) and model.dim == dim
    assert torch.allclose(z.norm(dim=1), torch.ones(2), atol=1e-5)
    # torchvision's initialisation: He normal on the convolutions (fan_out), BN at 1 / 0
    w = net.layer3[0].conv1.weight.detach()
    fan_out = w.shape[0] * w.shape[2] * w.shape[3]
    assert float(w.std()) == pytest.approx((2 / fan_out) ** 0.5, rel=0.1)
    assert torch.equal(net.layer3[0].bn1.weight, torch.ones(128))


def test_channels_quarter_the_multiply_adds():
    from vreid.learn.backbone import resnet

    def macs(net):
        total = 0

        def hook(mod, inp, out):
            nonlocal total
            total += out.numel() * mod.weight[0].numel()

        hs = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.Conv2d)]
        net(torch.randn(1, 3, 64, 64))
        for h in hs:
            h.remove()
        return total

    full, half = macs(resnet("resnet18", 64)), macs(resnet("resnet18", 32))
    assert 0.25 <= half / full < 0.28  # the stem's 3 input channels do not scale


def test_pretrained_weights_of_another_width_name_model_channels(tmp_path: Path):
    path = tmp_path / "backbone.pt"
    torch.save(backbone_state_dict(ReidNet("resnet18", channels=32)), path)
    ReidNet("resnet18", pretrained=str(path), channels=32)  # same width: fits
    with pytest.raises(InputError, match="model.channels = 64: conv1.weight is .*model.channels"):
        ReidNet("resnet18", pretrained=str(path))
    with pytest.raises(InputError, match="torchvision needs model.channels = 64"):
        ReidNet("resnet18", pretrained="torchvision", channels=32)
    with pytest.raises(ValueError, match="model.channels = 0"):
        ReidNet("resnet18", channels=0)
