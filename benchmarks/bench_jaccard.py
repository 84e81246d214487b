"""Benchmark: sparse k-reciprocal Jaccard distance vs a dense per-row reference.

    python -m benchmarks.bench_jaccard --n 2000 5000 10000 [--dim 2048] [--k1 30 --k2 6]
                                       [--reference] [--spread 1.0] [--eps 0.6]

Features: random clustered, L2-normalised, ``--dim``-d: ``N / --per-id`` random Gaussian
centres, each sample = centre + ``--spread`` x Gaussian noise (spread 1 gives a within-cluster
cosine similarity of about 0.5; a large spread gives unclustered data, the worst case for the
sparse method, whose work follows the number of pairs that share k-reciprocal support).

Every measurement runs in a fresh child process (one per N and method), so the peak memory
figures do not contaminate each other: the peak is the child's ``ru_maxrss`` (from
``os.wait4``), and the child also reports its high-water mark just before the call (imports +
features), so ``peak - base`` is what the call itself added. Reported per N:

- ours: wall time of ``jaccard_distance`` including its faiss k-NN (run first, separately
  timed in ``knn s`` and handed over through ``knn=``), CPU time (all threads), peak RSS,
  stored entries per row;
- reference (``--reference``, only for N <= ``--reference-max-n``): the usual re-ranking
  algorithm written plainly here -- faiss k-NN, then per-row Python/numpy loops for the
  k-reciprocal sets and their expansion, a dense N x N ``V``, query expansion, and a dense
  N x N Jaccard matrix accumulated row by row through an inverted index; same columns;
- whether DBSCAN (``--eps``, ``--min-samples``) gives identical labels on both (DBSCAN time
  is not part of the Jaccard time);
- ours-bf16 (``--bf16``): the same with ``cluster.knn_precision: bf16`` (certified-exact
  bfloat16 k-NN, :mod:`vreid.cluster.knn_bf16`); "same labels" then compares it with ours, and
  "same knn" its neighbour lists with faiss';
- the machine's floors (``--floors``), in the same run: the float32 and the bfloat16 GEMM
  ``N x N x dim`` alone (torch, blocks of 2048 rows, as the k-NN computes it).
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


def make_features(n: int, dim: int, per_id: int, spread: float, seed: int) -> np.ndarray:
    """Random clustered float32 features, rows L2-normalised."""
    rng = np.random.default_rng(seed)
    n_ids = max(1, n // per_id)
    centres = rng.standard_normal((n_ids, dim), dtype=np.float32)
    x = centres[rng.integers(0, n_ids, n)]
    x += np.float32(spread) * rng.standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def reference_jaccard(x: np.ndarray, k1: int, k2: int) -> np.ndarray:
    """Dense re-ranking Jaccard, per-row loops (the usual algorithm, written plainly)."""
    import faiss

    n = x.shape[0]
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    _, rank = index.search(x, k1 + 1)  # initial ranking, self first

    def reciprocal(i: int, k: int) -> np.ndarray:
        forward = rank[i, : k + 1]
        backward = rank[forward, : k + 1]
        return forward[np.where(backward == i)[0]]

    half = int(round(k1 / 2))
    v = np.zeros((n, n), dtype=np.float32)
    for i in range(n):
        r = reciprocal(i, k1)
        expanded = r
        for c in r:
            rc = reciprocal(int(c), half)
            if len(np.intersect1d(rc, r, assume_unique=True)) > 2 / 3 * len(rc):
                expanded = np.append(expanded, rc)
        expanded = np.unique(expanded)
        d = 2.0 - 2.0 * (x[expanded] @ x[i])
        w = np.exp(-d)
        v[i, expanded] = w / w.sum()
    if k2 > 1:
        v_qe = np.zeros_like(v)
        for i in range(n):
            v_qe[i] = v[rank[i, :k2]].mean(axis=0)
        v = v_qe
    inverted = [np.where(v[:, col] != 0)[0] for col in range(n)]
    jac = np.zeros((n, n), dtype=np.float32)
    for i in range(n):
        acc = np.zeros(n, dtype=np.float32)
        for col in np.where(v[i] != 0)[0]:
            rows = inverted[col]
            acc[rows] += np.minimum(v[i, col], v[rows, col])
        jac[i] = 1.0 - acc / (2.0 - acc)
    return jac


def _cpu_seconds() -> float:
    """User + system CPU time of this process, all threads."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def child(args: argparse.Namespace) -> None:
    """Run one measurement and print a JSON line (called in a fresh process)."""
    from sklearn.cluster import DBSCAN

    from vreid.cluster import dbscan_sparse, jaccard_distance, knn_search

    x = make_features(args.n[0], args.dim, args.per_id, args.spread, args.seed)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0, c0 = time.perf_counter(), _cpu_seconds()
    knn_seconds = float("nan")
    k = max(min(args.k1, len(x) - 1) + 1, min(args.k2, len(x)))
    if args.child in ("gemm-fp32", "gemm-bf16"):
        import torch

        xt = torch.from_numpy(x)
        xt = xt.bfloat16() if args.child == "gemm-bf16" else xt
        t0 = time.perf_counter()
        for s in range(0, len(x), 2048):
            _ = xt[s : s + 2048] @ xt.T
        print(
            json.dumps(
                {
                    "seconds": time.perf_counter() - t0,
                    "cpu_seconds": _cpu_seconds() - c0,
                    "knn_seconds": float("nan"),
                    "dbscan_seconds": 0.0,
                    "stored": 0,
                    "base_kib": base,
                    "clusters": 0,
                    "noise": 0,
                }
            )
        )
        np.save(args.labels_out, np.zeros(0, dtype=np.int64))
        return
    if args.child in ("ours", "ours-bf16"):
        if args.child == "ours":
            knn = knn_search(x, k)
        else:
            from vreid.cluster.knn_bf16 import knn_search_bf16

            knn = knn_search_bf16(x, k)[:2]
        knn_seconds = time.perf_counter() - t0
        np.save(args.labels_out.replace(".npy", "-knn.npy"), knn[1])
        dist = jaccard_distance(x, k1=args.k1, k2=args.k2, knn=knn)
        seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
        stored = int(dist.nnz)
        t1 = time.perf_counter()
        labels = dbscan_sparse(dist, args.eps, args.min_samples)
    else:
        dist = reference_jaccard(x, args.k1, args.k2)
        seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
        stored = int(dist.size)
        t1 = time.perf_counter()
        labels = DBSCAN(
            eps=args.eps, min_samples=args.min_samples, metric="precomputed"
        ).fit_predict(np.maximum(dist, 0))
    dbscan_seconds = time.perf_counter() - t1
    np.save(args.labels_out, labels)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu,
                "knn_seconds": knn_seconds,
                "dbscan_seconds": dbscan_seconds,
                "stored": stored,
                "base_kib": base,
                "clusters": int(labels.max()) + 1,
                "noise": int((labels == -1).sum()),
            }
        )
    )


def _fmt(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds:.2f}"  # NaN: not measured


def run_child(method: str, n: int, args: argparse.Namespace, labels_out: str) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.bench_jaccard",
        "--child",
        method,
        "--n",
        str(n),
        "--dim",
        str(args.dim),
        "--k1",
        str(args.k1),
        "--k2",
        str(args.k2),
        "--per-id",
        str(args.per_id),
        "--spread",
        str(args.spread),
        "--seed",
        str(args.seed),
        "--eps",
        str(args.eps),
        "--min-samples",
        str(args.min_samples),
        "--labels-out",
        labels_out,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{method} at N={n} failed with exit code {proc.returncode}")
    res = json.loads(out.strip().splitlines()[-1])
    res["peak_mib"] = usage.ru_maxrss / 1024
    res["base_mib"] = res.pop("base_kib") / 1024
    return res


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, nargs="+", default=[2000, 5000, 10000])
    p.add_argument("--dim", type=int, default=2048)
    p.add_argument("--k1", type=int, default=30)
    p.add_argument("--k2", type=int, default=6)
    p.add_argument("--per-id", type=int, default=20, help="samples per cluster on average")
    p.add_argument("--spread", type=float, default=1.0, help="noise scale around the centres")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eps", type=float, default=0.6)
    p.add_argument("--min-samples", type=int, default=4)
    p.add_argument("--reference", action="store_true", help="also run the dense reference")
    p.add_argument("--reference-max-n", type=int, default=5000)
    p.add_argument("--bf16", action="store_true", help="also run ours with the bf16 k-NN")
    p.add_argument("--floors", action="store_true", help="also time the fp32 and bf16 GEMMs")
    p.add_argument(
        "--child",
        choices=["ours", "ours-bf16", "reference", "gemm-fp32", "gemm-bf16"],
        help=argparse.SUPPRESS,
    )
    p.add_argument("--labels-out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args)
        return
    print(
        f"# jaccard_distance: dim={args.dim} k1={args.k1} k2={args.k2} per_id={args.per_id} "
        f"spread={args.spread}; DBSCAN eps={args.eps} min_samples={args.min_samples}; "
        f"{os.cpu_count()} CPUs"
    )
    header = (
        f"{'N':>7} {'method':>9} {'seconds':>8} {'knn s':>6} {'cpu s':>7} {'peak MiB':>9} "
        f"{'call MiB':>9} "
        f"{'stored/row':>10} {'clusters':>8} {'noise':>6} {'dbscan s':>8} {'same labels':>11}"
    )
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.n:
            methods = ["ours"]
            if args.reference and n <= args.reference_max_n:
                methods.append("reference")
            methods += ["ours-bf16"] if args.bf16 else []
            methods += ["gemm-fp32", "gemm-bf16"] if args.floors else []
            results, labels, knns = {}, {}, {}
            for m in methods:
                path = os.path.join(tmp, f"{m}-{n}.npy")
                results[m] = run_child(m, n, args, path)
                labels[m] = np.load(path)
                if m.startswith("ours"):
                    knns[m] = np.load(path.replace(".npy", "-knn.npy"))
            same = {
                m: str(bool(np.array_equal(labels["ours"], labels[m])))
                for m in ("reference", "ours-bf16")
                if m in labels
            }
            if "ours-bf16" in knns:
                differ = int((knns["ours"] != knns["ours-bf16"]).any(axis=1).sum())
                print(f"{n:>7} ours-bf16: neighbour lists differing from faiss': {differ} rows")
            for m in methods:
                r = results[m]
                print(
                    f"{n:>7} {m:>9} {r['seconds']:>8.2f} {_fmt(r['knn_seconds']):>6} "
                    f"{r['cpu_seconds']:>7.2f} "
                    f"{r['peak_mib']:>9.0f} "
                    f"{r['peak_mib'] - r['base_mib']:>9.0f} {r['stored'] / n:>10.1f} "
                    f"{r['clusters']:>8} {r['noise']:>6} {r['dbscan_seconds']:>8.2f} "
                    f"{same.get(m, ''):>11}",
                    flush=True,
                )
            for floor in ("gemm-fp32", "gemm-bf16"):
                if floor in results:
                    for m in ("ours", "ours-bf16"):
                        if m in results:
                            ratio = results[m]["seconds"] / results[floor]["seconds"]
                            knn = results[m]["knn_seconds"] / results[floor]["seconds"]
                            print(f"{n:>7} {m} / {floor}: jaccard {ratio:.2f}x, knn {knn:.2f}x")
            if "reference" in results:
                print(
                    f"{n:>7} {'speed-up':>9} "
                    f"{results['reference']['seconds'] / results['ours']['seconds']:>8.1f}x",
                    flush=True,
                )


if __name__ == "__main__":
    main()
