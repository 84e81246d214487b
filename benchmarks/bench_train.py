"""Training-step throughput: the project's recognition step against the bare backbone.

Usage::

    python -m benchmarks.bench_train [--batch 64] [--size 64 64] [--threads 2] [--steps 12]
                                     [--arch resnet18] [--channels 64]

Both rows run in the same process, at the same batch, image size and torch threads:

- ``bare backbone``: torchvision's ResNet as :mod:`vreid.learn.resnet` builds it (``--channels``:
  ``model.channels``'s width)
  forward + backward + SGD step on a random float batch (no augmentation, no loss beyond a
  mean, no memory): the floor of what a step costs.
- ``recognize step``: what ``vreid.learn.loop.fit`` does per batch of the default recognition
  stage: a uint8 batch from the in-RAM image cache, the batch augmentation
  (:func:`vreid.learn.images.augment`), :class:`vreid.learn.backbone.ReidNet` (BN neck,
  L2-normalised embedding), the CTACL loss (Eq. 7) + lambda * camera DA (Eq. 8-12) against a
  camera-tracklet memory of ``--slots`` entries, backward, SGD step and the memory update
  (CTACL Eq. 3).
- ``augment only`` and ``loss + memory only``: the two parts of the step that the bare backbone
  does not have, timed alone;
- ``recognize step, amp`` (``--amp``): the recognition step under ``train.amp`` (bfloat16
  autocast on the CPU, :func:`vreid.learn.loop.mixed_precision`).

Prints the median images/s over ``--steps`` steps (after two warm-up steps) and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from vreid.checks import resolve_device
from vreid.learn.backbone import ReidNet, resnet
from vreid.learn.images import AugmentConfig, augment
from vreid.learn.loop import build_optimizer, channels_last, mixed_precision
from vreid.learn.memory import CameraTrackletMemory
from vreid.learn.objectives import make_objective
from vreid.params import load as load_params


def _median_seconds(fn, steps: int) -> float:
    times = []
    for i in range(steps + 2):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, nargs=2, default=[64, 64], metavar=("H", "W"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--slots", type=int, default=3220, help="memory slots (train images)")
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--channels", type=int, default=64, help="model.channels (64 = torchvision)")
    ap.add_argument("--amp", action="store_true", help="also time the step under train.amp")
    ap.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (GPU throughput)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    dev = resolve_device(args.device)
    h, w = args.size
    b = args.batch
    g = torch.Generator().manual_seed(0)

    # bare backbone: the ResNet alone, random float batch, SGD
    torch.manual_seed(0)
    bare = channels_last(resnet(args.arch, args.channels).to(dev))
    bare_opt = torch.optim.SGD(bare.parameters(), lr=0.01, momentum=0.9)
    xb = channels_last(torch.randn(b, 3, h, w, generator=g).to(dev))

    def bare_step() -> None:
        loss = bare(xb).mean()
        bare_opt.zero_grad(set_to_none=True)
        loss.backward()
        bare_opt.step()

    # the project's recognition step
    torch.manual_seed(0)
    model = channels_last(ReidNet(args.arch, last_stride=2, channels=args.channels).to(dev))
    opt = build_optimizer(model.parameters(), "sgd", 0.05)
    n = args.slots
    cams = torch.randint(0, 8, (n,), generator=g)
    trk = cams * 100_000 + torch.randint(0, max(1, n // 24), (n,), generator=g)
    init = torch.nn.functional.normalize(torch.randn(n, model.dim, generator=g), dim=1)
    # the project's default CTACL settings (params.yaml), past the warm-up epochs
    params = load_params(Path(__file__).resolve().parents[1] / "params.yaml")
    obj = make_objective("ctacl", params, ctam=CameraTrackletMemory(init, cams, trk).to(dev))
    images = torch.randint(0, 256, (n, 3, h, w), dtype=torch.uint8, generator=g)
    aug = AugmentConfig()
    order = torch.randperm(n, generator=g)
    state = {"pos": 0}

    def next_batch() -> tuple[torch.Tensor, torch.Tensor]:
        p = state["pos"] % (n - b)
        state["pos"] += b
        idx = order[p : p + b]
        return images[idx].to(dev), idx.to(dev)

    def recognize_step(amp: bool = False) -> None:
        autocast, scaler = mixed_precision(dev, amp)
        x, idx = next_batch()
        x = channels_last(augment(x, aug, g))
        with autocast:
            z, logits = model(x)
            loss, _ = obj.loss(z, logits, idx, epoch=1)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        with torch.no_grad():
            obj.post(z.float(), idx)

    def augment_only() -> None:
        x, _ = next_batch()
        augment(x, aug, g)

    z0 = torch.nn.functional.normalize(torch.randn(b, model.dim, generator=g), dim=1).to(dev)

    def loss_only() -> None:
        z = z0.clone().requires_grad_(True)
        _, idx = next_batch()
        loss, _ = obj.loss(z, None, idx, epoch=1)
        loss.backward()
        with torch.no_grad():
            obj.post(z.detach(), idx)

    rows = {
        "bare backbone": _median_seconds(bare_step, args.steps),
        "recognize step": _median_seconds(recognize_step, args.steps),
        "augment only": _median_seconds(augment_only, args.steps),
        "loss + memory only": _median_seconds(loss_only, args.steps),
    }
    if args.amp:
        rows["recognize step, amp"] = _median_seconds(lambda: recognize_step(True), args.steps)
    print(
        f"{args.arch} (model.channels {args.channels}), batch {b}, {h} x {w}, "
        f"{args.threads} threads, {n} memory slots, channels_last, fp32, {dev}"
    )
    print(f"{'':22s} {'ms/step':>8s} {'images/s':>9s}")
    for name, s in rows.items():
        print(f"{name:22s} {s * 1000:8.1f} {b / s:9.1f}")
    ratio = rows["bare backbone"] / rows["recognize step"]
    print(f"recognize step throughput = {ratio:.0%} of the bare backbone's")
    return {k: b / s for k, s in rows.items()}


if __name__ == "__main__":
    main()
