"""Several processes (torchrun / DDP, gloo on the CPU): the sharding arithmetic, and the
training loop in 2 gloo processes against 1 process with the same global batch.

Exactness: 2 processes and 1 process compute the same updates (DDP averages the two
half-batch gradients; BatchNorm normalises over the whole global batch; each rank augments its
slice with the draws one process makes; the memory sees the gathered whole batch in the same
order), so weights, BN statistics and memory agree to float rounding. The pipeline-level
comparison on `tiny` is in test_pipeline_e2e.py.
"""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn

from vreid.learn import distributed as ddp
from vreid.learn.images import AugmentConfig
from vreid.learn.loop import (
    FitConfig,
    Trainable,
    build_optimizer,
    build_scheduler,
    extract_features,
    fit,
    mixed_precision,
)
from vreid.learn.memory import FeatureMemory

N_IMAGES, BATCH, EPOCHS = 24, 8, 2


class TensorSource:
    """The ``ImageSource.batches`` interface over fixed uint8 images."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def batches(self, order, batch_size, drop_last=False):
        order = np.array(order, dtype=np.int64)
        if drop_last and len(order) >= batch_size:
            order = order[: len(order) - len(order) % batch_size]
        for start in range(0, len(order), batch_size):
            idx = torch.from_numpy(order[start : start + batch_size])
            yield self.images[idx], idx


class SmallNet(nn.Module):
    """Conv + BN + linear + BN neck: ``forward(x) -> (z, None)`` like ReidNet."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 6)
        self.neck = nn.BatchNorm1d(6)

    def forward(self, x):
        h = F.relu(self.bn(self.conv(x))).mean(dim=(2, 3))
        return F.normalize(self.neck(self.fc(h)), dim=1), None


def _images() -> torch.Tensor:
    gen = torch.Generator().manual_seed(3)
    return torch.randint(0, 256, (N_IMAGES, 3, 8, 8), generator=gen, dtype=torch.uint8)


def _train() -> tuple[dict, torch.Tensor, list[dict], np.ndarray]:
    """Instance-memory contrastive training (the VAPC / SSCL shape of step) of SmallNet."""
    torch.manual_seed(0)
    model = SmallNet()
    source = TensorSource(_images())
    memory = FeatureMemory(torch.from_numpy(extract_features(model, source, torch.device("cpu"))))
    opt = build_optimizer(model.parameters(), "sgd", 0.01)
    sched = build_scheduler(opt, "cosine", EPOCHS)

    def update(z, idx):  # the loop passes (z, idx) of the whole (gathered) batch
        memory.update_mean(idx, z)

    def step(x, idx, epoch):
        z, _ = model(x)
        loss = F.cross_entropy(z @ memory.features.T / 0.1, idx)
        return loss, {"loss": loss.item()}, (update, z, idx)

    every = AugmentConfig(flip=0.5, pad_crop=2, color_jitter=0.2, random_erasing=0.5)
    cfg = FitConfig(EPOCHS, BATCH, 0, torch.device("cpu"), every, progress=False)
    hist = fit(Trainable(model, opt, sched), source, np.arange(N_IMAGES), cfg, step)
    # a second fit of the same model (the cluster stage's rounds): the first DDP wrapper's
    # gradient hooks must be gone, or the second run would all-reduce twice
    unused = nn.Linear(6, 1)  # a parameter the step never uses (the pretraining's BN neck)
    model.unused = unused
    opt = build_optimizer(model.parameters(), "sgd", 0.01)
    sched = build_scheduler(opt, "cosine", EPOCHS)
    hist += fit(Trainable(model, opt, sched), source, np.arange(N_IMAGES), cfg, step)
    feats = extract_features(model, source, torch.device("cpu"))
    return model.state_dict(), memory.features.clone(), hist, feats


def _worker(rank: int, size: int, port: int, out: str) -> None:
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(size),
        LOCAL_RANK=str(rank),
        LOCAL_WORLD_SIZE=str(size),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)
    ddp.init(torch.device("cpu"), BATCH, 2)
    state, memory, hist, feats = _train()
    torch.save({"state": state, "memory": memory, "hist": hist, "feats": feats}, f"{out}.{rank}")
    dist.barrier()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_gloo_processes_train_like_one_with_the_same_global_batch(tmp_path):
    torch.set_num_threads(1)
    state, memory, hist, feats = _train()
    out = str(tmp_path / "rank")
    mp.spawn(_worker, args=(2, _free_port(), out), nprocs=2, join=True)
    ranks = [torch.load(f"{out}.{r}", weights_only=False) for r in range(2)]
    close = {"rtol": 1e-3, "atol": 1e-3}  # float rounding, grown over 12 SGD steps
    for got in ranks:  # every rank holds the same model, memory and features ...
        for key, value in state.items():  # ... and they are one process's, to rounding
            torch.testing.assert_close(got["state"][key], value, **close)
        torch.testing.assert_close(got["memory"], memory, **close)
        np.testing.assert_allclose(got["feats"], feats, **close)
        losses = [h["loss"] for h in got["hist"]]
        np.testing.assert_allclose(losses, [h["loss"] for h in hist], rtol=1e-4)
    for key in state:
        assert torch.equal(ranks[0]["state"][key], ranks[1]["state"][key]), key
    assert torch.equal(ranks[0]["memory"], ranks[1]["memory"])


def test_one_process_is_untouched(monkeypatch):
    """Without a group every helper is the identity (the default run's bits do not move)."""
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    order = np.arange(10)
    got, per = ddp.shard_batches(order, 4)
    assert got is order and per == 4
    x = torch.arange(6.0).reshape(3, 2)
    assert ddp.gather_rows(x) is x and ddp.mean_over_ranks(x) is x
    assert ddp.rank_slice(7) == slice(0, 7)
    assert ddp.broadcast_from_main(lambda a: a + 1, 1) == 2
    assert ddp.init(torch.device("cpu"), 6, 2) == (torch.device("cpu"), 2)
    ddp.launch("recognize", 1)  # returns: nothing to launch


def test_shard_batches_cuts_every_global_batch_into_rank_slices(monkeypatch):
    order = np.arange(100, 123)  # 23 items, global batch 8: 2 whole batches, 7 dropped
    seen = []
    for rank in (0, 1):
        monkeypatch.setattr(ddp, "world", lambda r=rank: (r, 2))
        got, per = ddp.shard_batches(order, 8)
        assert per == 4
        seen.append(got.reshape(-1, 4))
    # batch b of one process = rank 0's slice b followed by rank 1's slice b
    whole = np.concatenate([seen[0], seen[1]], axis=1).reshape(-1)
    np.testing.assert_array_equal(whole, order[:16])


def test_rank_slices_cover_every_item_once(monkeypatch):
    for n in (0, 1, 5, 8, 9):
        parts = []
        for rank in range(3):
            monkeypatch.setattr(ddp, "world", lambda r=rank: (r, 3))
            parts.append(np.arange(n)[ddp.rank_slice(n)])
        np.testing.assert_array_equal(np.concatenate(parts), np.arange(n))


def test_batch_size_must_split_into_the_processes(monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("LOCAL_RANK", "0")
    with pytest.raises(ValueError, match=r"train.batch_size = 64 does not split into.*3"):
        ddp.init(torch.device("cpu"), 64, 2)


@pytest.mark.parametrize(
    ("dtype", "scaled"), [(torch.bfloat16, False), (torch.float16, True)], ids=["cpu", "cuda"]
)
def test_mixed_precision_trains_on_the_cpu(dtype, scaled):
    """train.amp: the CPU recipe (bfloat16 autocast) and the CUDA recipe (float16 autocast +
    loss scaling), both run here on the CPU: finite losses, the weights move, the scaler
    steps only in the float16 recipe; amp off is the plain float32 path."""
    torch.manual_seed(0)
    model = SmallNet()
    autocast, scaler = mixed_precision(torch.device("cpu"), True, dtype=dtype)
    assert scaler.is_enabled() == scaled
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(8, 3, 8, 8)
    before = model.fc.weight.detach().clone()
    for _ in range(3):
        with autocast:
            z, _ = model(x)
            assert z.dtype == dtype
            loss = F.cross_entropy(z @ z.T / 0.1, torch.arange(8))
        opt.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        assert torch.isfinite(loss)
    assert not torch.equal(before, model.fc.weight)
    off, plain = mixed_precision(torch.device("cpu"), False)
    assert not plain.is_enabled()
    with off:
        assert model(x)[0].dtype == torch.float32
