"""Benchmark: the stages' peak-memory estimates (vreid.resources) against measured peaks.

    python -m benchmarks.bench_memory [--n 5000 --dim 256 --k1 20 30] [--q 1678 --g 11579]

Each measurement runs in a fresh child process and reports the growth of its peak resident
memory (``ru_maxrss``) over a small warm-up call, i.e. what the step itself added:

- ``cluster``: :func:`vreid.cluster.jaccard.jaccard_distance` + ``dbscan_sparse`` on N random
  clustered features (clusters of ~20), against :func:`vreid.resources.cluster_peak_bytes`;
- ``evaluate``: :func:`vreid.eval.evaluate_retrieval` (block 256) of Q x G, with and without
  re-ranking, against :func:`vreid.resources.evaluate_peak_bytes`.

An estimate is meant to be above the measurement (it refuses configurations that would not
fit), and not far above it (it must not refuse ones that would).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

import numpy as np


def _features(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(1, n // 20), dim), dtype=np.float32)
    x = centres[rng.integers(0, len(centres), n)] + rng.standard_normal((n, dim), np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child_cluster(n: int, dim: int, k1: int) -> dict:
    from vreid.cluster.jaccard import dbscan_sparse, jaccard_distance
    from vreid.resources import cluster_peak_bytes

    x = _features(n, dim)
    dbscan_sparse(jaccard_distance(x[:300], 6, 2), 0.3, 4)
    base = _peak_mib()
    d = jaccard_distance(x, k1, 6)
    dbscan_sparse(d, 0.3, 4)
    est = (cluster_peak_bytes(n, dim, k1, True) - 2 * n * dim * 4) / 2**20  # x is in base
    return {"measured": _peak_mib() - base, "estimate": est, "per_row": d.nnz / n}


def _child_evaluate(q: int, g: int, dim: int, rerank: bool) -> dict:
    import torch

    from vreid.eval import RetrievalSet, evaluate_retrieval, reranking_kreciprocal
    from vreid.resources import evaluate_peak_bytes

    x = _features(q + g, dim)
    rng = np.random.default_rng(1)
    ids, cams = rng.integers(0, 500, q + g), rng.integers(0, 20, q + g)

    def run(nq: int, ng: int) -> None:
        qf, gf = torch.from_numpy(x[:nq]), torch.from_numpy(x[q : q + ng])
        dist = reranking_kreciprocal(qf, gf) if rerank else None
        evaluate_retrieval(
            RetrievalSet(ids=ids[:nq], cams=cams[:nq], features=None if rerank else qf),
            RetrievalSet(
                ids=ids[q : q + ng], cams=cams[q : q + ng], features=None if rerank else gf
            ),
            dist=dist,
            device="cpu",
        )

    run(50, 300)
    base = _peak_mib()
    run(q, g)
    est = (evaluate_peak_bytes(q, g, dim, 256, rerank) - (q + g) * dim * 4) / 2**20
    return {"measured": _peak_mib() - base, "estimate": est}


def _in_child(args: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_memory", "--child", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, nargs="+", default=[5000])
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--k1", type=int, nargs="+", default=[20, 30])
    p.add_argument("--q", type=int, default=1678)
    p.add_argument("--g", type=int, default=11579)
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        if kind == "cluster":
            res = _child_cluster(*map(int, rest))
        else:
            q, g, dim, rerank = map(int, rest)
            res = _child_evaluate(q, g, dim, bool(rerank))
        print(json.dumps(res))
        return
    print(f"{'step':<34} {'measured MiB':>13} {'estimate MiB':>13}")
    for n in args.n:
        for k1 in args.k1:
            r = _in_child(["cluster", str(n), str(args.dim), str(k1)])
            name = f"cluster N={n} k1={k1} ({r['per_row']:.0f}/row)"
            print(f"{name:<34} {r['measured']:>13.0f} {r['estimate']:>13.0f}")
    for rerank in (0, 1):
        r = _in_child(["evaluate", str(args.q), str(args.g), str(args.dim), str(rerank)])
        name = f"evaluate {args.q}x{args.g}" + (" rerank" if rerank else "")
        print(f"{name:<34} {r['measured']:>13.0f} {r['estimate']:>13.0f}")


if __name__ == "__main__":
    main()
