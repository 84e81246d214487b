"""Benchmark: one clustering round at VeRi-Wild's training size, on random features.

    python -m benchmarks.bench_scale [--n 277797 --dim 2048 --ids 30671 --per-view 10000]

VeRi-Wild's train split: 277,797 images of 30,671 vehicles; VAPC's viewpoint model puts them
in 4 views (front 110,204, front-side 52,716, rear-side 64,968, rear 49,909) and clusters
10,000 images per view (``cluster.per_view_sample``). The features are random clustered ones
(one centre per vehicle, Gaussian noise, L2-normalised) at ResNet-50's 2048 dimensions. The
steps are those of the cluster stage, with the default clustering params (k1 20, k2 6,
eps 0.3, min_samples 4, k~ 2, ti 1200):

1. ``sample_per_view``  2. ``tau_from_ti`` on the sample  3. ``cluster_round`` (per view:
k-NN, sparse Jaccard, DBSCAN, noise selection; then the cross-view merge)  4.
``assign_to_nearest_cluster`` for every image left out.

Each step's wall time and the process's peak resident memory after it are printed; the
features alone take N x dim x 4 bytes (2.1 GiB at the default size). ``--per-view 0``
clusters every image (each view's Jaccard over all of its images).
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

#: VeRi-Wild's train images per predicted view in VAPC (Sec. IV-A).
VIEW_COUNTS = (110_204, 52_716, 64_968, 49_909)


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def features(n: int, dim: int, ids: int, noise: float, seed: int = 0):
    """``(x, vid, view)``: random clustered unit features, vehicle ids and views drawn with
    VeRi-Wild's view proportions."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((ids, dim), dtype=np.float32)
    vid = np.sort(rng.integers(0, ids, n))
    x = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 65_536):  # in blocks: no second N x dim temporary
        stop = min(n, start + 65_536)
        block = centres[vid[start:stop]]
        block += noise * rng.standard_normal((stop - start, dim), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        x[start:stop] = block
    share = np.asarray(VIEW_COUNTS, dtype=np.float64) / sum(VIEW_COUNTS)
    view = rng.choice(len(VIEW_COUNTS), size=n, p=share)
    return x, vid, view


def main(argv: list[str] | None = None) -> None:
    from vreid.cluster import ClusterConfig, cluster_round, tau_from_ti
    from vreid.cluster.sampling import assign_to_nearest_cluster, sample_per_view
    from vreid.eval import cluster_quality

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=277_797)
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--ids", type=int, default=30_671)
    ap.add_argument("--noise", type=float, default=0.8, help="per-dimension noise / centre")
    ap.add_argument("--per-view", type=int, default=10_000)
    ap.add_argument("--ti", type=int, default=1200)
    ap.add_argument(
        "--ami", action="store_true", help="also the AMI of all labels (slow with 30k ids)"
    )
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    x, vid, view = features(args.n, args.dim, args.ids, args.noise)
    print(
        f"features {args.n} x {args.dim} ({x.nbytes / 2**30:.2f} GiB), {args.ids} ids, views "
        f"{np.bincount(view).tolist()}: {time.perf_counter() - t0:.1f} s, "
        f"peak {_peak_gib():.2f} GiB",
        flush=True,
    )
    rows: list[tuple[str, float, float]] = []

    def timed(name, fn, *a):
        t = time.perf_counter()
        out = fn(*a)
        rows.append((name, time.perf_counter() - t, _peak_gib()))
        print(f"{name}: {rows[-1][1]:.1f} s, peak {rows[-1][2]:.2f} GiB", flush=True)
        return out

    sample = timed("sample_per_view", sample_per_view, view, args.per_view, 0)
    xs, vs = x[sample], view[sample]
    tau = timed("tau_from_ti", tau_from_ti, xs, vs, args.ti)
    labels, stats = timed("cluster_round", cluster_round, xs, vs, tau, ClusterConfig())
    if len(sample) < args.n:
        del xs
        assign = assign_to_nearest_cluster
        labels = timed("assign_to_nearest_cluster", assign, x, view, sample, labels)
    total = sum(r[1] for r in rows)
    ami = f"; AMI of all labels {cluster_quality(labels, vid)['ami']:.3f}" if args.ami else ""
    print(
        f"\n{len(sample)} of {args.n} images clustered ({args.per_view or 'all'} per view), "
        f"tau {tau:.4f}, {stats['n_clusters']} clusters, {stats['n_merges']} merges{ami}\n"
        f"| step | seconds | peak RSS (GiB) |\n|---|---|---|"
    )
    for name, sec, peak in rows:
        print(f"| {name} | {sec:.1f} | {peak:.2f} |")
    print(f"| total (after the features) | {total:.1f} | {_peak_gib():.2f} |")


if __name__ == "__main__":
    main()
