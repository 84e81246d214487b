"""Training plumbing: augmentation determinism, image errors, atomic writes, resumable fit."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from vreid.io import save_torch, write_json
from vreid.learn.backbone import ReidNet
from vreid.learn.images import (
    MEAN,
    STD,
    AugmentConfig,
    ImageLoadError,
    ImageSource,
    augment,
    load_image,
    normalize,
)
from vreid.learn.loop import (
    Checkpoints,
    FitConfig,
    Trainable,
    build_optimizer,
    build_scheduler,
    embedding_and_retrieval,
    extract_feature_kinds,
    extract_features,
    fit,
)


def _images(tmp_path, n=12):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        p = tmp_path / f"{i:03d}.png"
        Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    return paths


def test_augment_is_seeded_and_shaped():
    x = torch.randint(0, 255, (6, 3, 32, 32), dtype=torch.uint8)
    cfg = AugmentConfig(0.5, 4, 0.3, 0.5)
    a = augment(x, cfg, torch.Generator().manual_seed(1))
    b = augment(x, cfg, torch.Generator().manual_seed(1))
    c = augment(x, cfg, torch.Generator().manual_seed(2))
    assert a.shape == (6, 3, 32, 32) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)


def _augment_loop_reference(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator):
    """Per-sample loops drawing the same random numbers in the same order as `augment`."""
    b, _, h, w = x.shape
    x = x.float() / 255.0
    flip = torch.rand(b, generator=gen) < cfg.flip
    x = torch.stack([xi.flip(-1) if f else xi for xi, f in zip(x, flip, strict=True)])
    p = cfg.pad_crop
    padded = torch.nn.functional.pad(x, (p, p, p, p))
    offs = torch.randint(0, 2 * p + 1, (b, 2), generator=gen).tolist()
    x = torch.stack([padded[i, :, dy : dy + h, dx : dx + w] for i, (dy, dx) in enumerate(offs)])
    assert cfg.color_jitter == 0
    x = (x - MEAN) / STD
    erase = (torch.rand(b, generator=gen) < cfg.random_erasing).tolist()
    area = (0.02 + torch.rand(b, generator=gen) * 0.2).double().tolist()
    u = torch.rand(b, generator=gen).double().tolist()
    pos = torch.rand(b, 2, generator=gen).double().tolist()
    for i in range(b):
        if not erase[i]:
            continue
        aspect = math.exp(math.log(0.3) + u[i] * math.log(1 / 0.09))
        eh = min(h, max(1, round(math.sqrt(area[i] * h * w * aspect))))
        ew = min(w, max(1, round(math.sqrt(area[i] * h * w / aspect))))
        y0 = int(pos[i][0] * (h - eh + 1))
        x0 = int(pos[i][1] * (w - ew + 1))
        x[i, :, y0 : y0 + eh, x0 : x0 + ew] = 0.0
    return x


def test_vectorised_augment_matches_per_sample_loops():
    x = torch.randint(0, 256, (32, 3, 20, 16), dtype=torch.uint8)
    cfg = AugmentConfig(flip=0.5, pad_crop=3, color_jitter=0.0, random_erasing=0.7)
    fast = augment(x, cfg, torch.Generator().manual_seed(5))
    ref = _augment_loop_reference(x, cfg, torch.Generator().manual_seed(5))
    assert torch.allclose(fast, ref, atol=1e-6)
    assert (fast == 0).any()  # some rectangles were erased


def test_saved_weights_have_bytes_that_depend_only_on_the_weights(tmp_path):
    model = ReidNet("resnet18", num_classes=3)
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    save_torch(a, model.state_dict())
    save_torch(b, model.state_dict())
    assert a.read_bytes() == b.read_bytes()  # torch.save alone writes a random id each time
    loaded = torch.load(a, weights_only=True)
    assert all(torch.equal(loaded[k], v) for k, v in model.state_dict().items())


def test_bad_image_names_the_file(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(ImageLoadError, match="broken.jpg"):
        load_image(str(bad), 16, 16)
    with pytest.raises(ImageLoadError, match="missing.jpg"):
        load_image(str(tmp_path / "missing.jpg"), 16, 16)


def test_cached_and_streamed_sources_agree(tmp_path):
    paths = _images(tmp_path)
    cached = ImageSource(paths, 16, 16, workers=0, cache=True)
    streamed = ImageSource(paths, 16, 16, workers=0, cache=False)
    order = np.array([5, 1, 7, 0, 11])
    a = list(cached.batches(order, 2))
    b = list(streamed.batches(order, 2))
    assert len(a) == len(b) == 3
    for (xa, ia), (xb, ib) in zip(a, b, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ia, ib)


def test_write_json_rounds_and_is_atomic(tmp_path):
    path = tmp_path / "m.json"
    write_json(path, {"a": 0.1 + 0.2, "n": np.int64(3), "nan": float("nan")})
    assert json.loads(path.read_text()) == {"a": 0.3, "n": 3, "nan": None}
    with pytest.raises(TypeError):
        write_json(path, {"bad": object()})
    assert json.loads(path.read_text())["a"] == 0.3  # the old file survives a failed write
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def _train(tmp_path, paths, epochs, ckpt):
    torch.manual_seed(0)
    model = ReidNet("resnet18", last_stride=2, num_classes=3)
    opt = build_optimizer(model.parameters(), "sgd", 0.01)
    sched = build_scheduler(opt, "cosine", 3)
    labels = torch.arange(len(paths)) % 3

    def step(x, idx, epoch):
        _, logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits, labels[idx])
        return loss, {"loss": loss.item()}, None

    cfg = FitConfig(epochs, 4, 0, torch.device("cpu"), AugmentConfig(), progress=False)
    src = ImageSource(paths, 32, 32, workers=0)
    hist = fit(
        Trainable(model, opt, sched), src, np.arange(len(paths)), cfg, step, checkpoints=ckpt
    )
    return model, hist


def test_fit_resumes_bit_identically(tmp_path):
    torch.set_num_threads(1)
    paths = _images(tmp_path)
    full, hist_full = _train(tmp_path, paths, 3, None)
    ckpt = Checkpoints(tmp_path / "ckpt", "run")
    _train(tmp_path, paths, 2, ckpt)  # "interrupted" after 2 of 3 epochs
    assert ckpt.path.is_file()
    resumed, hist_resumed = _train(tmp_path, paths, 3, ckpt)
    assert [h["loss"] for h in hist_resumed] == [h["loss"] for h in hist_full]
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert torch.equal(a, b), k


def test_warmup_raises_the_rate_linearly_over_the_first_epoch(tmp_path):
    paths = _images(tmp_path)
    model = torch.nn.Linear(3, 1)
    opt = build_optimizer(model.parameters(), "sgd", 0.4)
    sched = build_scheduler(opt, "constant", 2)
    seen: list[tuple[int, float]] = []

    def step(x, idx, epoch):
        seen.append((epoch, opt.param_groups[0]["lr"]))
        loss = model(x.mean(dim=(2, 3))).sum()
        return loss, {"loss": loss.item()}, None

    cfg = FitConfig(2, 4, 0, torch.device("cpu"), AugmentConfig(), progress=False, warmup=True)
    fit(Trainable(model, opt, sched), ImageSource(paths, 8, 8, workers=0), np.arange(12), cfg, step)
    assert [round(lr, 6) for e, lr in seen if e == 0] == [0.133333, 0.266667, 0.4]
    assert all(lr == pytest.approx(0.4) for e, lr in seen if e == 1)


def test_custom_epoch_order_is_used(tmp_path):
    paths = _images(tmp_path)
    model = torch.nn.Linear(3, 1)
    opt = build_optimizer(model.parameters(), "sgd", 0.1)
    batches: list[list[int]] = []

    def step(x, idx, epoch):
        batches.append(idx.tolist())
        loss = model(x.mean(dim=(2, 3))).sum()
        return loss, {"loss": loss.item()}, None

    cfg = FitConfig(1, 4, 0, torch.device("cpu"), AugmentConfig(), progress=False)
    cfg.order = lambda idx, gen: idx[::-1][:8]
    sched = build_scheduler(opt, "constant", 1)
    fit(Trainable(model, opt, sched), ImageSource(paths, 8, 8, workers=0), np.arange(12), cfg, step)
    assert batches == [[11, 10, 9, 8], [7, 6, 5, 4]]


@pytest.mark.parametrize(
    "loss, rate, decay",
    [
        ("supervised", 0.01, 0.002),
        ("ctacl", 0.02, 5e-4),
        ("ctacl_noda", 0.02, 5e-4),
        ("sscl", 0.02, 5e-4),
        ("vapc", 0.02, 5e-4),
    ],
)
def test_supervised_bound_trains_at_its_own_rate_and_weight_decay(repo_root, loss, rate, decay):
    """`recognize.supervised_lr` and `recognize.supervised_weight_decay` are the supervised
    bound's, `recognize.lr` and the shared 5e-4 every other loss's (P57, P65: validation
    prefers other values for the one than for the other)."""
    from vreid.stages.recognize import recognition_recipe

    committed = yaml.safe_load((repo_root / "params.yaml").read_text())["recognize"]
    r = {**committed, "loss": loss, "lr": 0.02, "supervised_lr": 0.01}
    r["supervised_weight_decay"] = 0.002
    recipe = recognition_recipe(r)
    assert (recipe.lr, recipe.weight_decay) == (rate, decay)
    assert (recipe.epochs, recipe.optimizer, recipe.schedule) == (
        r["epochs"],
        r["optimizer"],
        r["schedule"],
    )


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_the_optimiser_applies_the_weight_decay_it_is_given(name):
    """SGD and Adam carry the weight decay they are given (5e-4 by default); for SGD, a step
    from a zero gradient moves a weight by the decay's own term."""
    for decay in (5e-4, 2e-3, None):
        w = torch.nn.Parameter(torch.ones(3))
        opt = (
            build_optimizer([w], name, 0.1)
            if decay is None
            else build_optimizer([w], name, 0.1, decay)
        )
        assert opt.param_groups[0]["weight_decay"] == (5e-4 if decay is None else decay)
        w.grad = torch.zeros(3)
        opt.step()
        if name == "sgd":  # nesterov: the step is lr x (g + momentum x buf), buf = g = decay x w
            expected = 1 - 0.1 * (1 + 0.9) * (5e-4 if decay is None else decay)
            assert torch.allclose(w.detach(), torch.full((3,), expected))


def _net_with_statistics(num_classes=0):
    torch.manual_seed(0)
    model = ReidNet("resnet18", 2, num_classes=num_classes, channels=16)
    for module in model.modules():  # a BN neck that is not the identity
        if isinstance(module, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.2, 2.0)
    return model.eval()


def test_retrieval_features_are_the_embedding_and_the_normalised_pooled_feature(tmp_path):
    """`evaluate.feature`: ``embedding`` is the BN-neck ``z`` every loss trains, ``pooled`` the
    feature before the neck, L2-normalised; one extraction pass gives both, each equal to its
    own pass and to the model's forward on the batch."""
    model = _net_with_statistics(num_classes=3)
    source = ImageSource(_images(tmp_path), 32, 32, workers=0)
    x = normalize(next(source.batches(np.arange(len(source)), len(source)))[0])
    with torch.no_grad():
        pooled, z, _ = model.forward_all(x)
        emb, pool = model.features(x, ("embedding", "pooled"))
    torch.testing.assert_close(emb, z)
    torch.testing.assert_close(pool, pooled / pooled.norm(dim=1, keepdim=True))
    assert not torch.allclose(emb, pool, atol=1e-3)  # the neck is not a no-op here

    cpu = torch.device("cpu")
    one, two = extract_feature_kinds(model, source, cpu, ("embedding", "pooled"), batch_size=5)
    np.testing.assert_allclose(one, z.numpy(), atol=1e-5)
    np.testing.assert_allclose(two, pool.numpy(), atol=1e-5)
    np.testing.assert_array_equal(one, extract_features(model, source, cpu))
    np.testing.assert_array_equal(two, extract_features(model, source, cpu, feature="pooled"))
    feats, ret = embedding_and_retrieval(model, source, cpu, "pooled")
    np.testing.assert_array_equal(feats, one)
    np.testing.assert_array_equal(ret, two)
    feats, ret = embedding_and_retrieval(model, source, cpu, "embedding")
    assert ret is feats
    np.testing.assert_array_equal(feats, one)
