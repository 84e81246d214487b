"""Benchmark: sparse k-reciprocal re-ranking (vreid.eval) vs the former dense implementation.

    python -m benchmarks.bench_rerank [--q 1678 --g 11579 --dim 256 --k1 20 --k2 6 --lam 0.3]
                                      [--ids 200 --spread 1.0] [--skip-dense]

Features: random clustered, L2-normalised, ``--dim``-d: ``--ids`` random Gaussian centres,
each sample = centre + ``--spread`` x Gaussian noise; the first ``--q`` rows are the queries,
the other ``--g`` the gallery (defaults: the VeRi-776 test split, 1,678 x 11,579). Methods:

- ``sparse``: :func:`vreid.eval.reranking_kreciprocal` (one blocked pass over the symmetric
  distance, then the sparse encoding and Jaccard accumulation of ``vreid.cluster.jaccard``);
- ``dense``: the former implementation, kept as the test reference in
  ``tests/rerank_dense.py`` (dense N x N distances, argpartition, per-row loops).

Every measurement runs in a fresh child process, so the peak memory figures do not
contaminate each other: the peak is the child's ``ru_maxrss`` (from ``os.wait4``), and the
child also reports its high-water mark just before the call (imports, features and a small
warm-up call), so ``peak - base`` is what the call itself added. The parent compares the two
(Q, G) results (max absolute difference, and whether the per-row rankings agree).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np


def make_features(n: int, dim: int, n_ids: int, spread: float, seed: int) -> np.ndarray:
    """Random clustered float32 features, rows L2-normalised."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(1, n_ids), dim), dtype=np.float32)
    x = centres[rng.integers(0, centres.shape[0], n)]
    x += np.float32(spread) * rng.standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def _method(name: str):
    if name == "sparse":
        from vreid.eval import reranking_kreciprocal

        return reranking_kreciprocal
    from tests.rerank_dense import dense_rerank

    return dense_rerank


def child(args: argparse.Namespace) -> None:
    """Run one measurement, save the result and print a JSON line (in a fresh process)."""
    fn = _method(args.child)
    x = make_features(args.q + args.g, args.dim, args.ids, args.spread, args.seed)
    qf, gf = x[: args.q], x[args.q :]
    fn(qf[:16], gf[:64], args.k1, args.k2, args.lam)  # warm-up: thread pools, imports
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    out = fn(qf, gf, args.k1, args.k2, args.lam)
    seconds = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    np.save(args.out, out)
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "base_kib": base}))


def run_child(method: str, args: argparse.Namespace, out: str) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.bench_rerank", "--child", method, "--out", out]
    for opt in ("q", "g", "dim", "k1", "k2", "lam", "ids", "spread", "seed"):
        cmd += [f"--{opt}", str(getattr(args, opt))]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    text = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{method} failed with exit code {os.waitstatus_to_exitcode(status)}")
    res = json.loads(text.strip().splitlines()[-1])
    res["peak_mib"] = usage.ru_maxrss / 1024
    res["base_mib"] = res.pop("base_kib") / 1024
    return res


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--q", type=int, default=1678)
    p.add_argument("--g", type=int, default=11579)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--k1", type=int, default=20)
    p.add_argument("--k2", type=int, default=6)
    p.add_argument("--lam", type=float, default=0.3)
    p.add_argument("--ids", type=int, default=200, help="number of cluster centres")
    p.add_argument("--spread", type=float, default=1.0, help="noise scale around the centres")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-dense", action="store_true", help="time the sparse method only")
    p.add_argument("--child", choices=["sparse", "dense"], help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args)
        return
    print(
        f"# reranking_kreciprocal: Q={args.q} G={args.g} dim={args.dim} k1={args.k1} "
        f"k2={args.k2} lambda={args.lam} ids={args.ids} spread={args.spread}; "
        f"{os.cpu_count()} CPUs"
    )
    print(f"{'method':>7} {'seconds':>8} {'cpu s':>7} {'peak MiB':>9} {'call MiB':>9}")
    methods = ["sparse"] if args.skip_dense else ["sparse", "dense"]
    with tempfile.TemporaryDirectory() as tmp:
        results, outs = {}, {}
        for m in methods:
            path = os.path.join(tmp, f"{m}.npy")
            r = results[m] = run_child(m, args, path)
            outs[m] = np.load(path)
            print(
                f"{m:>7} {r['seconds']:>8.2f} {r['cpu_seconds']:>7.2f} {r['peak_mib']:>9.0f} "
                f"{r['peak_mib'] - r['base_mib']:>9.0f}",
                flush=True,
            )
        if "dense" in outs:
            a, b = outs["sparse"].astype(np.float64), outs["dense"].astype(np.float64)
            same_rank = float(np.mean(np.argmin(a, axis=1) == np.argmin(b, axis=1)))
            print(
                f"max |sparse - dense| {np.abs(a - b).max():.2e}; same nearest gallery entry "
                f"in {same_rank:.2%} of the rows; speed-up "
                f"{results['dense']['seconds'] / results['sparse']['seconds']:.1f}x"
            )


if __name__ == "__main__":
    main()
