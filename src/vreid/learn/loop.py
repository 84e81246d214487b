"""Training plumbing shared by the learning stages: device, seeds, optimiser, schedule,
resumable checkpoints, the epoch loop and feature extraction."""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ..io import InputError, TrainingDiverged, load_weights, save_torch
from . import distributed as ddp
from .images import AugmentConfig, ImageSource, augment, normalize

log = logging.getLogger("vreid")


def channels_last(x):
    """A module or 4-D tensor in channels-last memory format (faster convolutions on CPU
    (oneDNN) and on GPU tensor cores); other tensors are returned unchanged."""
    if isinstance(x, nn.Module):
        return x.to(memory_format=torch.channels_last)
    if x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def seed_everything(seed: int, threads: int) -> None:
    """Seed torch/numpy, fix the CPU thread count and ask for deterministic kernels.

    Same seed -> same bits on the same machine; :mod:`vreid.reproducibility` pins the math
    libraries' kernel choice for other CPUs (README, Reproducibility, says what was checked).
    """
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.set_num_threads(threads)
    deterministic_kernels()


def deterministic_kernels() -> None:
    """``torch.use_deterministic_algorithms(True, warn_only=True)`` without its import of
    ``torch._inductor.config`` (3.7 s per process on the project's CPU, measured with cProfile;
    every learning stage paid it). That import only sets Inductor's
    own deterministic flag, which matters under ``torch.compile``, not used here; the kernel
    switch itself is the same call. A torch without the private setter gets the public one."""
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None:
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        setter(True, warn_only=True)


#: every learning stage's weight decay but the supervised bound's (its own,
#: ``recognize.supervised_weight_decay``: docs/calibration.md, P65)
WEIGHT_DECAY = 5e-4


def build_optimizer(
    params: Any, name: str, lr: float, weight_decay: float = WEIGHT_DECAY
) -> torch.optim.Optimizer:
    """SGD (momentum 0.9, Nesterov) or Adam with ``weight_decay``."""
    if name == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=0.9, weight_decay=weight_decay, nesterov=True
        )
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def build_scheduler(opt: torch.optim.Optimizer, name: str, epochs: int) -> Any:
    """Per-epoch schedule: cosine to 0, step (x0.1 at 1/2 and 3/4), or constant."""
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
    if name == "step":
        milestones = sorted({max(1, epochs // 2), max(1, (3 * epochs) // 4)})
        return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=0.1)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)


def fingerprint(*parts: Any) -> str:
    """A short hash of JSON-serialisable parts (params, input digests) naming a training run."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_digest(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


class Checkpoints:
    """One resumable checkpoint per run, saved after each epoch under ``folder``.

    A checkpoint is reused only if its fingerprint (params + inputs) matches, so a stale
    checkpoint from other settings is never resumed. Removed when the run completes.
    """

    def __init__(self, folder: str | Path, run_id: str) -> None:
        self.path = Path(folder) / f"{run_id}.pt"

    KEYS = ("epoch", "model", "optimizer", "scheduler", "extra", "history")

    def load(self) -> dict[str, Any] | None:
        if not self.path.is_file():
            return None
        fix = "delete it to train this stage from the start"
        state = load_weights(self.path, "a training checkpoint", fix)
        if not isinstance(state, dict) or not all(k in state for k in self.KEYS):
            have = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise InputError(
                f"{self.path}: an incomplete training checkpoint (has {have}, needs "
                f"{', '.join(self.KEYS)}); {fix}"
            )
        log.info("resuming from %s (epoch %d done)", self.path, state["epoch"] + 1)
        return state

    def save(self, state: dict[str, Any]) -> None:
        save_torch(self.path, state)

    def clear(self) -> None:
        if ddp.is_main():
            self.path.unlink(missing_ok=True)


#: ``(update, z, idx)``: after the optimiser step the loop calls ``update(z, idx)`` under
#: ``torch.no_grad()`` with the batch's embeddings and dataset indices (gathered over all
#: processes when there are several), e.g. an objective's memory update; or None.
Update = tuple[Callable[[torch.Tensor, torch.Tensor], None], torch.Tensor, torch.Tensor] | None
StepFn = Callable[[torch.Tensor, torch.Tensor, int], tuple[torch.Tensor, dict[str, float], Update]]


@dataclass
class FitConfig:
    epochs: int
    batch_size: int
    seed: int
    device: torch.device
    augment: AugmentConfig
    name: str = "train"
    progress: bool = True
    #: linear learning-rate warm-up over the first epoch's steps (training from random weights
    #: at a high rate: without it the first steps blow the loss up)
    warmup: bool = False
    #: ``order(indices, gen) -> indices in epoch order``; None = a uniform random permutation
    order: Callable[[np.ndarray, torch.Generator], np.ndarray] | None = None
    #: mixed precision (:func:`mixed_precision`)
    amp: bool = False


@dataclass
class Trainable:
    """What the loop needs: model, optimiser, schedule, extra state (memories) to checkpoint."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    extra: dict[str, Any] = field(default_factory=dict)  # name -> object with state_dict()


def _resume(t: Trainable, checkpoints: Checkpoints | None) -> tuple[list[dict], int]:
    """(history, first epoch to run) from the run's checkpoint, or ([], 0)."""
    if checkpoints is None or (state := checkpoints.load()) is None:
        return [], 0
    try:
        t.model.load_state_dict(state["model"])
        t.optimizer.load_state_dict(state["optimizer"])
        t.scheduler.load_state_dict(state["scheduler"])
        for name, obj in t.extra.items():
            obj.load_state_dict(state["extra"][name])
    except (KeyError, ValueError, RuntimeError, TypeError) as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:160]
        raise InputError(
            f"{checkpoints.path}: does not fit this run ({type(exc).__name__}: {first}); "
            "delete it to train this stage from the start"
        ) from None
    return [dict(h) for h in state["history"]], state["epoch"] + 1


def _epoch_order(indices: np.ndarray, cfg: FitConfig, gen: torch.Generator) -> np.ndarray:
    if cfg.order is None:
        return indices[torch.randperm(len(indices), generator=gen).numpy()]
    return np.asarray(cfg.order(indices, gen), dtype=np.int64)


def _run_epoch(
    t: Trainable,
    source: ImageSource,
    indices: np.ndarray,
    cfg: FitConfig,
    epoch: int,
    forward: StepFn,
    precision: tuple[Any, torch.amp.GradScaler],
) -> dict[str, float]:
    """One epoch of optimiser steps; returns the epoch's record (mean of each loss part).

    Several processes (:mod:`.distributed`): the same epoch order everywhere, each rank takes
    its slice of every global batch, augments it as one process would and runs ``step``
    inside DDP (``forward``: the DDP-wrapped step, or the step itself with one process); the
    loss shown and checked is the mean over the ranks."""
    t.model.train()
    gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
    order = _epoch_order(indices, cfg, gen)
    total = len(order) // cfg.batch_size if len(order) >= cfg.batch_size else 1
    order, per_rank = ddp.shard_batches(order, cfg.batch_size)
    autocast, scaler = precision
    sums: dict[str, float] = {}
    n = 0
    began = time.time()
    bar = tqdm(
        source.batches(order, per_rank, drop_last=True),
        total=total,
        desc=f"{cfg.name} {epoch + 1}/{cfg.epochs}",
        disable=not (cfg.progress and ddp.is_main()),
        leave=False,
        mininterval=2.0,
    )
    for step_i, (x, idx) in enumerate(bar):
        if cfg.warmup and epoch == 0:
            for group in t.optimizer.param_groups:
                group["lr"] = group["initial_lr"] * (step_i + 1) / total
        x = ddp.augment_slice(x.to(cfg.device), lambda b: augment(b, cfg.augment, gen))
        x = channels_last(x)
        idx = idx.to(cfg.device)
        with autocast:
            loss, parts, update = forward(x, idx, epoch)
        # one sync per step, which the log line needs anyway
        value = float(ddp.mean_over_ranks(loss.detach().float()))
        if not math.isfinite(value):
            raise TrainingDiverged(
                f"{cfg.name}: the loss is {value} at epoch {epoch + 1}, step {step_i + 1} "
                f"(parts {parts}); nothing was written. Lower this stage's lr, or check the "
                "inputs; the last epoch's checkpoint is kept"
            )
        t.optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(t.optimizer)
        scaler.update()
        if update is not None:
            fn, z, slots = update
            with torch.no_grad():
                fn(ddp.gather_rows(z.detach().float()), ddp.gather_rows(slots))
        for key, part in parts.items():
            sums[key] = sums.get(key, 0.0) + float(part)
        n += 1
        bar.set_postfix(loss=f"{value:.3f}", refresh=False)
    t.scheduler.step()
    ddp.sync_buffers(t.model)
    means = ddp.mean_of_floats({k: v / max(n, 1) for k, v in sums.items()})
    return {"epoch": epoch + 1, **means, "seconds": time.time() - began}


def mixed_precision(
    device: torch.device, enabled: bool, dtype: torch.dtype | None = None
) -> tuple[Any, torch.amp.GradScaler]:
    """``(autocast context, gradient scaler)`` of ``train.amp``.

    Off: a disabled autocast and a pass-through scaler (the fp32 path, bit for bit). On:
    float16 autocast with a dynamic loss scaler on CUDA, bfloat16 autocast (no scaling
    needed: bf16 has fp32's range) on CPU. ``dtype`` overrides the choice (the tests run the
    CUDA recipe, float16 + scaler, on the CPU)."""
    if dtype is None:
        dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    on = bool(enabled)
    scale = on and dtype == torch.float16
    return (
        torch.autocast(device.type, dtype=dtype, enabled=on),
        torch.amp.GradScaler(device.type, enabled=scale),
    )


def fit(
    t: Trainable,
    source: ImageSource,
    indices: np.ndarray,
    cfg: FitConfig,
    step: StepFn,
    before_epoch: Callable[[int], None] | None = None,
    checkpoints: Checkpoints | None = None,
) -> list[dict[str, float]]:
    """Train for ``cfg.epochs`` epochs over the images ``indices`` of ``source``.

    ``step(x, idx, epoch) -> (loss, parts, update)`` computes the loss of an augmented batch
    ``x`` of dataset images ``idx``; ``update`` (see :data:`Update`, or None) runs after the
    optimiser step (memory updates); ``before_epoch(epoch)`` runs first in each epoch (e.g.
    CTAM re-extraction). Resumes from ``checkpoints`` and saves one after each epoch (rank 0
    only when there are several processes). Returns the per-epoch history (mean of each loss
    part).
    """
    precision = mixed_precision(cfg.device, cfg.amp)
    if precision[1].is_enabled():  # the loss scale is training state: checkpoint it
        t.extra = {**t.extra, "amp_scaler": precision[1]}
    history, start = _resume(t, checkpoints)
    indices = np.asarray(indices, dtype=np.int64)
    forward = ddp.wrap_step(t.model, step)  # step itself with one process
    for epoch in range(start, cfg.epochs):
        if before_epoch is not None:
            before_epoch(epoch)
        record = _run_epoch(t, source, indices, cfg, epoch, forward, precision)
        history.append(record)
        log.info(
            "%s epoch %d/%d  %s  (%.1f s)",
            cfg.name,
            epoch + 1,
            cfg.epochs,
            "  ".join(f"{k}={v:.4f}" for k, v in record.items() if k not in ("epoch", "seconds")),
            record["seconds"],
        )
        if checkpoints is not None and ddp.is_main():
            checkpoints.save(
                {
                    "epoch": epoch,
                    "model": t.model.state_dict(),
                    "optimizer": t.optimizer.state_dict(),
                    "scheduler": t.scheduler.state_dict(),
                    "extra": {k: obj.state_dict() for k, obj in t.extra.items()},
                    "history": history,
                }
            )
    if forward is not step:  # a DDP wrapper: free its gradient hooks before the next wrap
        del forward
        gc.collect()
    return history


@dataclass(frozen=True)
class Recipe:
    """Optimiser and schedule of one learning stage (its params section)."""

    epochs: int
    optimizer: str
    lr: float
    schedule: str
    weight_decay: float = WEIGHT_DECAY

    @classmethod
    def of(
        cls, section: dict[str, Any], epochs: str = "epochs", lr: str = "lr", wd: str = ""
    ) -> Recipe:
        decay = section[wd] if wd else WEIGHT_DECAY
        return cls(section[epochs], section["optimizer"], section[lr], section["schedule"], decay)


@dataclass(frozen=True)
class Setup:
    """What every learning stage shares: device, batch size, augmentation, and the stage's
    checkpoint folder."""

    device: torch.device
    batch_size: int
    augment: AugmentConfig
    checkpoints: Path
    amp: bool = False  # train.amp: mixed precision (see mixed_precision)


def train(
    name: str,
    model: nn.Module,
    source: ImageSource,
    indices: np.ndarray,
    step: StepFn,
    recipe: Recipe,
    setup: Setup,
    *,
    seed: int,
    run: tuple,
    extra: dict[str, Any] | None = None,
    before_epoch: Callable[[int], None] | None = None,
    order: Callable[[np.ndarray, torch.Generator], np.ndarray] | None = None,
    warmup: bool = False,
) -> tuple[list[dict[str, float]], Checkpoints]:
    """The fit sequence of every learning stage: optimiser -> schedule -> fingerprinted
    checkpoints (``run``: the params and input digests that name the run) -> :func:`fit`.

    Returns the history and the checkpoints; call ``checkpoints.clear()`` once the stage's
    outputs are written (a run killed before that resumes instead of training again).
    """
    opt = build_optimizer(model.parameters(), recipe.optimizer, recipe.lr, recipe.weight_decay)
    sched = build_scheduler(opt, recipe.schedule, recipe.epochs)
    ckpt = Checkpoints(setup.checkpoints, fingerprint(*run))
    cfg = FitConfig(
        recipe.epochs,
        setup.batch_size,
        seed,
        setup.device,
        setup.augment,
        name=name,
        warmup=warmup,
        order=order,
        amp=setup.amp,
    )
    trainable = Trainable(model, opt, sched, dict(extra or {}))
    return fit(trainable, source, indices, cfg, step, before_epoch, ckpt), ckpt


def _all_images(
    model: nn.Module,
    source: ImageSource,
    device: torch.device,
    batch_size: int,
    indices: np.ndarray | None,
    pick: Callable[[tuple], torch.Tensor],
) -> np.ndarray:
    """``pick(model outputs)`` of the images ``indices`` (all by default), no augmentation,
    float32 ``(N, ...)``; with several processes each rank runs its part and all get all."""
    model.eval()
    order = np.arange(len(source)) if indices is None else np.asarray(indices, dtype=np.int64)
    mine = order[ddp.rank_slice(len(order))]
    out: list[torch.Tensor] = []
    with torch.no_grad():
        for x, _ in source.batches(mine, batch_size):
            out.append(pick(model(channels_last(normalize(x.to(device))))).float())
    if ddp.world()[1] > 1:
        width = ddp.broadcast_from_main(lambda: tuple(out[0].shape[1:]) if out else (0,))
        part = torch.cat(out) if out else torch.zeros((0, *width), device=device)
        return ddp.gather_rows(part).cpu().numpy()
    if not out:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate([o.cpu().numpy() for o in out]).astype(np.float32, copy=False)


class _Features(nn.Module):
    """``model``'s features ``kinds`` side by side, ``(B, len(kinds) * D)``."""

    def __init__(self, model: nn.Module, kinds: tuple[str, ...]) -> None:
        super().__init__()
        self.model, self.kinds = model, kinds

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(self.model.features(x, self.kinds), dim=1)


def extract_feature_kinds(
    model: nn.Module,
    source: ImageSource,
    device: torch.device,
    kinds: tuple[str, ...],
    batch_size: int = 256,
    indices: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Each of the L2-normalised features ``kinds`` (``embedding``, ``pooled``: see
    :meth:`vreid.learn.backbone.ReidNet.features`) of the images, ``(N, D)`` float32, from one
    pass without augmentation. The embedding alone needs only ``model(x)[0]`` (any model whose
    forward gives ``(z, ...)``); other kinds need :meth:`ReidNet.features`."""
    if kinds == ("embedding",):
        return [_all_images(model, source, device, batch_size, indices, lambda out: out[0])]
    both = _all_images(_Features(model, kinds), source, device, batch_size, indices, lambda o: o)
    return [np.ascontiguousarray(f) for f in np.split(both, len(kinds), axis=1)]


def extract_features(
    model: nn.Module,
    source: ImageSource,
    device: torch.device,
    batch_size: int = 256,
    indices: np.ndarray | None = None,
    feature: str = "embedding",
) -> np.ndarray:
    """L2-normalised features ``(N, D)`` float32 of the images (no augmentation): the
    embedding ``z`` by default, or ``feature`` (``pooled``)."""
    return extract_feature_kinds(model, source, device, (feature,), batch_size, indices)[0]


def embedding_and_retrieval(
    model: nn.Module, source: ImageSource, device: torch.device, retrieval: str
) -> tuple[np.ndarray, np.ndarray]:
    """``(embedding, retrieval feature)`` of every image from one pass: the embedding is what
    the clustering and the memories read, the retrieval feature (``evaluate.feature``) what
    the scores rank by; the same array twice when ``retrieval`` is ``embedding``."""
    if retrieval == "embedding":
        feats = extract_features(model, source, device)
        return feats, feats
    feats, ret = extract_feature_kinds(model, source, device, ("embedding", retrieval))
    return feats, ret


def predict_logits(
    model: nn.Module, source: ImageSource, device: torch.device, batch_size: int = 256
) -> np.ndarray:
    """Classifier logits ``(N, C)`` of all images."""
    return _all_images(model, source, device, batch_size, None, lambda out: out[1])
