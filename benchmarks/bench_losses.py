"""Time forward + backward of the vectorised CTACL loss against a per-sample loop.

Usage::

    python -m benchmarks.bench_losses --slots 3000 37778 --batch 64 --dim 512 --loop-max 3000

Prints one line per setting: median wall time over ``--repeats`` runs (after one warm-up).
The per-sample baseline runs the same loss one anchor at a time (a Python loop over the batch),
only for ``N <= --loop-max``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from vreid.learn.losses import camera_da_loss, ctacl_loss
from vreid.learn.memory import CameraTrackletMemory


def make_memory(n: int, d: int, n_cams: int, seed: int, device: str) -> CameraTrackletMemory:
    g = torch.Generator().manual_seed(seed)
    cams = torch.randint(0, n_cams, (n,), generator=g)
    trks = cams * 100_000 + torch.randint(0, max(1, n // (n_cams * 3)), (n,), generator=g)
    return CameraTrackletMemory(torch.randn(n, d, generator=g), cams, trks).to(device)


def time_it(fn, repeats: int, device: str) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--slots", type=int, nargs="+", default=[3000])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--cams", type=int, default=18)
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--gamma", type=float, default=0.01)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--loop-max", type=int, default=3000)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    for n in args.slots:
        mem = make_memory(n, args.dim, args.cams, 0, args.device)
        g = torch.Generator().manual_seed(1)
        idx = torch.randperm(n, generator=g)[: args.batch].to(args.device)
        z0 = F.normalize(torch.randn(args.batch, args.dim, generator=g), dim=1).to(args.device)

        def vectorised(mem=mem, idx=idx, z0=z0):
            z = z0.clone().requires_grad_(True)
            loss = ctacl_loss(z, idx, mem, extended=True, k=args.k, gamma=args.gamma)
            loss = loss + 0.2 * camera_da_loss(z, mem)
            loss.backward()

        def per_sample(mem=mem, idx=idx, z0=z0):
            z = z0.clone().requires_grad_(True)
            total = z.new_zeros(())
            for b in range(z.shape[0]):
                total = total + ctacl_loss(
                    z[b : b + 1], idx[b : b + 1], mem, extended=True, k=args.k, gamma=args.gamma
                )
            (total / z.shape[0] + 0.2 * camera_da_loss(z, mem)).backward()

        t_vec = time_it(vectorised, args.repeats, args.device)
        line = (
            f"N={n} B={args.batch} d={args.dim} cams={args.cams} k={args.k} "
            f"gamma={args.gamma} device={args.device} threads={torch.get_num_threads()}: "
            f"vectorised fwd+bwd {t_vec * 1e3:.1f} ms"
        )
        if n <= args.loop_max:
            t_loop = time_it(per_sample, args.repeats, args.device)
            line += f", per-sample loop {t_loop * 1e3:.1f} ms ({t_loop / t_vec:.1f}x)"
        print(line, flush=True)


if __name__ == "__main__":
    main()
