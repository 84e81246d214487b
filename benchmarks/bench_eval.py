"""Benchmark: vreid.eval.evaluate_retrieval vs a plain fast-reid/torchreid-style evaluator.

    python -m benchmarks.bench_eval [--q 1678 --g 11579 --dim 2048 --repeat 3]

Random L2-normalised features with a VeRi-like structure (``--ids`` identities around random
centres, ``--cams`` cameras; a tenth of the queries are gallery files, as in VeRi where the
query images are also test images). Times (median of ``--repeat``):

- ours, end to end (features in, distance GEMM per query block included);
- ours, the distance alone (one full ``pairwise_distance``) and the ranking alone
  (``evaluate_retrieval(dist=...)`` on that matrix);
- the reference on the same distance matrix: a full ``np.argsort`` of the matrix (numpy's
  default sort, as fast-reid and torchreid do) and a per-query loop, written here plainly.

The reference is re-run once with a stable argsort (the tie rule of ``evaluate_retrieval``)
to check that both agree to 1e-6. Peak memory is the largest resident-set growth seen during
a call (sampled every millisecond from /proc/self/statm); so that freed blocks are returned to
the system and the growth is a real peak, glibc is told to serve every allocation above 1 MiB
by mmap (``mallopt(M_MMAP_THRESHOLD)``; skipped where glibc is absent).
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from vreid.eval import RetrievalSet, evaluate_retrieval, pairwise_distance

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _mmap_large_allocations(threshold: int = 1 << 20) -> bool:
    """glibc: allocations above ``threshold`` bytes are mmapped and unmapped when freed."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(-3, threshold))  # -3 = M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        return False


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def measure(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """(median seconds, peak RSS growth in MiB, last result) of ``repeat`` calls."""
    times, peaks, out = [], [], None
    for _ in range(repeat):
        out = None  # free the previous result before measuring
        base = _rss()
        peak = [base]
        stop = threading.Event()

        def sample(peak: list[int] = peak, stop: threading.Event = stop) -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], _rss())
                time.sleep(0.001)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        stop.set()
        th.join()
        peaks.append(max(peak[0], _rss()) - base)
    return statistics.median(times), max(peaks) / 2**20, out


def reference_eval(
    distmat: np.ndarray,
    q_pids: np.ndarray,
    g_pids: np.ndarray,
    q_camids: np.ndarray,
    g_camids: np.ndarray,
    q_keys: np.ndarray,
    g_keys: np.ndarray,
    max_rank: int = 20,
    kind: str = "quicksort",
) -> dict[str, float]:
    """The fast-reid/torchreid algorithm in plain numpy: full argsort, then a per-query loop."""
    num_q = distmat.shape[0]
    indices = np.argsort(distmat, axis=1, kind=kind)
    matches = (g_pids[indices] == q_pids[:, None]).astype(np.int32)
    all_cmc, all_ap, all_inp = [], [], []
    for i in range(num_q):
        order = indices[i]
        remove = ((g_pids[order] == q_pids[i]) & (g_camids[order] == q_camids[i])) | (
            g_keys[order] == q_keys[i]
        )
        raw = matches[i][~remove]
        if not raw.any():
            continue
        cum = raw.cumsum()
        last = np.flatnonzero(raw)[-1]
        all_inp.append(cum[last] / (last + 1.0))
        cmc = np.minimum(cum, 1)
        all_cmc.append(cmc[:max_rank])
        prec = cum / np.arange(1, raw.shape[0] + 1)
        all_ap.append((prec * raw).sum() / raw.sum())
    cmc = np.mean(np.asarray(all_cmc, dtype=np.float64), axis=0)
    return {
        "rank1": float(cmc[0]),
        "rank5": float(cmc[4]),
        "mAP": float(np.mean(all_ap)),
        "mINP": float(np.mean(all_inp)),
        "n_queries": len(all_ap),
    }


def make_data(n_q: int, n_g: int, dim: int, n_ids: int, n_cams: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_ids, dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    noise = np.float32(0.6 * dim**-0.25)  # noise norm 0.6 dim^(1/4): a mid-range mAP

    def feats(vid: np.ndarray) -> np.ndarray:
        x = centres[vid] + noise * rng.standard_normal((vid.shape[0], dim), dtype=np.float32)
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    g_vid = rng.integers(0, n_ids, n_g)
    q_vid = rng.integers(0, n_ids, n_q)
    gf, qf = feats(g_vid), feats(q_vid)
    g_cam, q_cam = rng.integers(0, n_cams, n_g), rng.integers(0, n_cams, n_q)
    g_key = np.array([f"g{j:06d}" for j in range(n_g)])
    q_key = np.array([f"q{i:06d}" for i in range(n_q)], dtype=g_key.dtype)
    share = rng.choice(n_q, n_q // 10, replace=False)  # queries that are gallery files
    src = rng.choice(n_g, share.shape[0], replace=False)
    q_key[share], q_vid[share], q_cam[share] = g_key[src], g_vid[src], g_cam[src]
    qf[share] = gf[src]
    return dict(
        qf=qf, gf=gf, q_vid=q_vid, g_vid=g_vid, q_cam=q_cam, g_cam=g_cam, q_key=q_key, g_key=g_key
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--q", type=int, default=1678)
    ap.add_argument("--g", type=int, default=11579)
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--ids", type=int, default=200)
    ap.add_argument("--cams", type=int, default=19)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--block-size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-reference", action="store_true")
    args = ap.parse_args(argv)
    if min(args.q, args.g, args.dim, args.ids, args.cams, args.repeat, args.block_size) < 1:
        ap.error("every size must be >= 1")

    exact_rss = _mmap_large_allocations()
    data = make_data(args.q, args.g, args.dim, args.ids, args.cams, args.seed)
    labels = [data[k] for k in ("q_vid", "g_vid", "q_cam", "g_cam", "q_key", "g_key")]
    qf, gf = torch.from_numpy(data["qf"]), torch.from_numpy(data["gf"])
    print(
        f"Q={args.q} G={args.g} dim={args.dim} ids={args.ids} cams={args.cams} "
        f"block={args.block_size} torch threads={torch.get_num_threads()} repeat={args.repeat}"
        f"{'' if exact_rss else ' (mallopt unavailable: peak memory may be understated)'}"
    )
    n_w = min(args.q, 64)  # warm-up: thread pools and BLAS buffers are set up outside timing
    q_vid, g_vid, q_cam, g_cam, q_key, g_key = labels
    query = RetrievalSet(features=qf, ids=q_vid, cams=q_cam, keys=q_key)
    gallery = RetrievalSet(features=gf, ids=g_vid, cams=g_cam, keys=g_key)
    warm = RetrievalSet(features=qf[:n_w], ids=q_vid[:n_w], cams=q_cam[:n_w], keys=q_key[:n_w])
    evaluate_retrieval(warm, gallery, device="cpu")

    def ours_full() -> dict:
        return evaluate_retrieval(query, gallery, block_size=args.block_size, device="cpu")

    t_full, m_full, res = measure(ours_full, args.repeat)
    with torch.no_grad():
        t_dist, m_dist, dist_t = measure(lambda: pairwise_distance(qf, gf), args.repeat)
    dist = dist_t.numpy()

    def ours_rank() -> dict:
        return evaluate_retrieval(
            query, gallery, dist=dist, block_size=args.block_size, device="cpu"
        )

    t_rank, m_rank, res_d = measure(ours_rank, args.repeat)
    print(f"ours  end to end (distance + ranking): {t_full:7.3f} s  peak +{m_full:7.1f} MiB")
    print(f"ours  distance alone (full matrix)   : {t_dist:7.3f} s  peak +{m_dist:7.1f} MiB")
    print(f"ours  ranking alone (dist given)     : {t_rank:7.3f} s  peak +{m_rank:7.1f} MiB")
    print(
        f"      mAP {res['mAP']:.6f} mINP {res['mINP']:.6f} rank1 {res['rank1']:.6f} "
        f"rank5 {res['rank5']:.6f} queries {res['n_queries']} skipped {res['n_skipped']}"
    )
    worst = max(abs(res[k] - res_d[k]) for k in ("mAP", "mINP", "rank1", "rank5"))
    print(f"      end to end vs dist given: max |diff| {worst:.2e}")
    if args.skip_reference:
        return

    def reference(kind: str = "quicksort") -> dict:
        return reference_eval(dist, *labels, kind=kind)

    t_ref, m_ref, _ = measure(reference, args.repeat)
    t_sort, _, _ = measure(lambda: np.argsort(dist, axis=1), args.repeat)
    print(
        f"ref   argsort + per-query loop       : {t_ref:7.3f} s  peak +{m_ref:7.1f} MiB "
        f"(of which argsort {t_sort:.3f} s)"
    )
    ref = reference("stable")
    diff = max(abs(res_d[k] - ref[k]) for k in ("mAP", "mINP", "rank1", "rank5"))
    ok = diff <= 1e-6 and ref["n_queries"] == res_d["n_queries"]
    print(
        f"agreement with the stable-sort reference: max |diff| {diff:.2e} -> "
        f"{'OK' if ok else 'MISMATCH'}"
    )
    print(
        f"speed-up, ranking vs reference: {t_ref / t_rank:.1f}x; "
        f"end to end vs reference (no distance there): {t_ref / t_full:.1f}x"
    )
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
