"""Several processes per learning stage: torchrun + DistributedDataParallel (DDP).

``train.processes: N`` (N > 1) makes a learning stage re-launch itself under ``torchrun``
(:func:`launch`), so that ``dvc repro`` stays the one command. In the N processes:

* NCCL on CUDA (process i on ``cuda:i``), gloo on CPU (each process gets
  ``train.threads // N`` threads); :func:`init` joins the group;
* every process walks the same epoch order; each global batch of ``train.batch_size`` is
  cut into N contiguous slices of ``batch_size / N`` (:func:`shard_batches`), one per rank;
* the step runs inside DDP's ``forward`` (:class:`StepModule`), so DDP averages the
  gradients: with per-sample mean losses the update equals one process's on the whole batch;
* memory updates (instance / cluster / camera-tracklet memories) see the whole global batch:
  the batch's embeddings and indices are all-gathered in rank order before each update
  (:func:`gather_rows`), so the memories stay identical on every rank;
* feature extraction is split by rank and all-gathered (:func:`gather_rows`), BN statistics
  are broadcast from rank 0 after each epoch (:func:`sync_buffers`);
* only rank 0 writes outputs and checkpoints (:func:`is_main`); every rank resumes from the
  same checkpoint.

* BatchNorm normalises over the global batch (:func:`sync_batch_norm`: the ranks' sums are
  all-reduced), and each rank draws the augmentation of the whole global batch from the shared
  generator and keeps its slice (:func:`augment_slice`), so N processes compute what one
  process computes with the same ``batch_size``, up to float rounding and the order of sums.
  Losses that compare samples inside a batch (the supervised baseline's batch-hard triplet)
  see each rank's slice only; the README states the tolerance the 2-process test allows.

With one process every function here is the identity (no torch.distributed call at all).
"""

from __future__ import annotations

import atexit
import logging
import os
import subprocess
import sys
import types
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ..io import InputError

log = logging.getLogger("vreid")

#: Set by torchrun in each process it starts.
_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


def under_torchrun() -> bool:
    return all(k in os.environ for k in _ENV)


def world() -> tuple[int, int]:
    """``(rank, size)`` of the running group; ``(0, 1)`` without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """True in rank 0 (the one process that writes outputs), and without a group."""
    return world()[0] == 0


def launch(stage: str, processes: int) -> None:
    """Re-run ``python -m vreid.stages.<stage>`` under torchrun with ``processes`` processes
    and exit with its status, when ``processes > 1`` and this is not already a torchrun child.
    Returns (does nothing) otherwise."""
    if processes <= 1 or under_torchrun():
        return
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nnodes=1",
        f"--nproc_per_node={processes}",
        "-m",
        f"vreid.stages.{stage}",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    backend = "NCCL" if torch.cuda.is_available() else "gloo"
    log.info("[%s] %d processes under torchrun (%s)", stage, processes, backend)
    status = subprocess.run(cmd, env=env).returncode
    if status:
        sys.exit(f"[{stage}] a process of the {processes}-process run failed ({status}); see above")
    sys.exit(0)


def init(device: torch.device, batch_size: int, threads: int) -> tuple[torch.device, int]:
    """Join the torchrun group (when there is one): ``(device of this rank, threads)``.

    NCCL with ``cuda:<local rank>`` on CUDA, gloo on CPU. ``batch_size`` must split evenly
    into the processes (each rank takes ``batch_size / N`` of every global batch)."""
    if not under_torchrun():
        return device, threads
    size, local = int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"])
    if batch_size % size:
        raise InputError(
            f"params.yaml: train.batch_size = {batch_size} does not split into "
            f"train.processes = {size}; choose a multiple of {size}"
        )
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        atexit.register(_leave)
    return device, max(1, threads // int(os.environ.get("LOCAL_WORLD_SIZE", size)))


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def augment_slice(x: torch.Tensor, augment: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``augment`` applied to this rank's slice ``x`` of a global batch exactly as one
    process would: the slice is placed at its position in a zero batch of the global size,
    the whole batch is augmented (same generator, same draws on every rank) and the slice is
    taken back. One process: ``augment(x)``. (The augmentation is per sample, so the zero
    rows do not change the slice.)"""
    rank, size = world()
    if size == 1:
        return augment(x)
    per = x.shape[0]
    whole = x.new_zeros((per * size, *x.shape[1:]))
    whole[rank * per : (rank + 1) * per] = x
    return augment(whole)[rank * per : (rank + 1) * per]


def shard_batches(order: np.ndarray, batch_size: int) -> tuple[np.ndarray, int]:
    """This rank's part of an epoch order cut in global batches of ``batch_size`` (the last,
    incomplete one dropped): ``(order, per-rank batch size)``. One process: unchanged."""
    rank, size = world()
    if size == 1:
        return order, batch_size
    per = batch_size // size
    n = len(order) // batch_size
    return order[: n * batch_size].reshape(n, size, per)[:, rank].reshape(-1), per


def rank_slice(n: int) -> slice:
    """This rank's contiguous part of ``n`` items (rank order; the last ranks may be shorter)."""
    rank, size = world()
    per = -(-n // size)
    return slice(min(n, rank * per), min(n, (rank + 1) * per))


def gather_rows(x: torch.Tensor) -> torch.Tensor:
    """All ranks' ``x`` concatenated along dim 0 in rank order (sizes may differ by rank).
    One process: ``x`` itself."""
    _, size = world()
    if size == 1:
        return x
    n = torch.tensor([x.shape[0]], device=x.device)
    counts = [torch.zeros_like(n) for _ in range(size)]
    dist.all_gather(counts, n)
    most = int(max(c.item() for c in counts))
    padded = x.new_zeros((most, *x.shape[1:]))
    padded[: x.shape[0]] = x
    parts = [torch.empty_like(padded) for _ in range(size)]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([p[: int(c.item())] for p, c in zip(parts, counts, strict=True)])


def mean_over_ranks(value: torch.Tensor) -> torch.Tensor:
    """The mean of a tensor over the ranks (itself with one process)."""
    _, size = world()
    if size == 1:
        return value
    value = value.detach().clone()
    dist.all_reduce(value)
    return value / size


def mean_of_floats(values: dict[str, float]) -> dict[str, float]:
    """Each value's mean over the ranks (float64); the dict itself with one process."""
    if world()[1] == 1:
        return values
    keys = list(values)
    # NCCL moves CUDA tensors only; gloo CPU ones
    device = torch.device("cuda", torch.cuda.current_device()) if _nccl() else "cpu"
    flat = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    flat = mean_over_ranks(flat)
    return dict(zip(keys, flat.tolist(), strict=True))


def _nccl() -> bool:
    return dist.is_initialized() and dist.get_backend() == "nccl"


def sync_buffers(module: nn.Module) -> None:
    """Broadcast rank 0's buffers (BN running statistics) to every rank."""
    if world()[1] == 1:
        return
    for buf in module.buffers():
        dist.broadcast(buf, 0)


def broadcast_from_main(compute: Callable[..., Any], *args: Any) -> Any:
    """``compute(*args)`` run on rank 0 only, its (picklable) result sent to every rank."""
    if world()[1] == 1:
        return compute(*args)
    box = [compute(*args) if is_main() else None]
    dist.broadcast_object_list(box, 0)
    return box[0]


class _SumOverRanks(torch.autograd.Function):
    """``x`` summed over the ranks; its gradient is the ranks' gradients summed (each rank's
    loss depends on every rank's ``x`` through the sum)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        out = x.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


def _global_batch_norm(self: nn.modules.batchnorm._BatchNorm, x: torch.Tensor) -> torch.Tensor:
    """BatchNorm over the whole global batch (the ranks' slices together), as one process
    would compute it: batch mean and variance from all-reduced sums (autograd flows through
    the all-reduce), running statistics updated with the global unbiased variance. In eval
    mode: the usual running-statistics path. Used on CPU and CUDA alike (torch's own
    SyncBatchNorm refuses CPU tensors)."""
    if not self.training:
        return type(self).forward(self, x)
    dims = [0, *range(2, x.dim())]
    xf = x.float()
    c = xf.shape[1]
    count = torch.tensor([xf.numel() // c], dtype=xf.dtype, device=xf.device)
    sums = _SumOverRanks.apply(torch.cat([xf.sum(dims), count]))  # two passes, as torch's own
    n = sums[c]
    shape = [1, c] + [1] * (x.dim() - 2)
    mean = sums[:c] / n
    centred = xf - mean.view(shape)
    var = _SumOverRanks.apply((centred * centred).sum(dims)) / n
    if self.track_running_stats and self.running_mean is not None:
        with torch.no_grad():
            self.num_batches_tracked += 1
            steps = float(self.num_batches_tracked)
            m = self.momentum if self.momentum is not None else 1.0 / steps
            self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
            unbiased = var.detach() * (n / (n - 1).clamp_min(1.0))
            self.running_var.mul_(1 - m).add_(unbiased, alpha=m)
    y = centred * torch.rsqrt(var.view(shape) + self.eps)
    if self.affine:
        y = y * self.weight.view(shape) + self.bias.view(shape)
    return y.to(x.dtype)


def sync_batch_norm(module: nn.Module) -> None:
    """Make every BatchNorm of ``module`` normalise over the global batch (in place: the
    modules, parameters and state_dict keys stay the same)."""
    for sub in module.modules():
        if isinstance(sub, nn.modules.batchnorm._BatchNorm) and "forward" not in vars(sub):
            sub.forward = types.MethodType(_global_batch_norm, sub)


class StepModule(nn.Module):
    """Runs a training step inside ``forward`` so that DDP sees every parameter it uses
    (DDP prepares its gradient all-reduce in its own ``forward``)."""

    def __init__(self, model: nn.Module, step: Callable[..., Any]) -> None:
        super().__init__()
        self.model = model
        self.step = step

    def forward(self, *args: Any) -> Any:
        return self.step(*args)


def wrap_step(model: nn.Module, step: Callable[..., Any]) -> Callable[..., Any]:
    """``step`` itself with one process; a DDP-wrapped :class:`StepModule` with several."""
    if world()[1] == 1:
        return step
    sync_batch_norm(model)
    device = next(model.parameters()).device
    ids = [device.index] if device.type == "cuda" else None
    # static_graph: the same parameters take part in every step (e.g. pretraining leaves the
    # BN neck unused every time), so DDP needs no per-step search for unused ones
    return nn.parallel.DistributedDataParallel(
        StepModule(model, step), device_ids=ids, static_graph=True
    )
