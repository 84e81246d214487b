"""One benchmark table: every kernel against the machine's floor and a reference (``make bench``).

    python -m benchmarks.table [--quick] [--out benchmarks/results.json] [--readme README.md]
    python -m benchmarks.table --from benchmarks/results.json --readme README.md

Kernels (ours): the k-reciprocal Jaccard distance of the clustering (with its exact k-NN as a
row of its own, and with ``cluster.knn_precision: bf16`` at 10k and 20k), tau from ti (VAPC
Eq. 7), the retrieval evaluation end to end and from a given distance matrix, and test-time
re-ranking. Each is measured beside

- the machine's floor, measured in the same run: the float32 and bfloat16 GEMM of the same
  shape (torch, blocks of 2,048 rows; the bfloat16 one with ``ONEDNN_MAX_CPU_ISA=ALL`` so that
  CPUs with AMX use it), one pass over the distance matrix (a row minimum) and a full-row
  ``np.argsort`` of it (blocks of 256 rows);
- a reference implementation of the published algorithm written in the benchmarks (dense
  N x N matrices and per-row loops for the Jaccard distance, as the re-ranking code of Zhong
  et al. and the peers do; every cross-view pair for tau; argsort + per-query loop for the
  evaluation, as fast-reid and torchreid do; the former dense re-ranking), with the check that
  both give the same result (DBSCAN labels, tau to 1e-6, metrics to 1e-6, distances to 1e-5).

Every figure comes from a fresh child process: wall time of the call (after a small warm-up
call), and its peak memory, the growth of the resident set's peak during the call over the
resident set before it (Linux's peak mark, reset before the call). The results go to
``--out`` (JSON, with the CPU model and instruction set), a markdown table is printed, and
``--readme`` replaces the README's block between ``<!-- bench:start -->`` and
``<!-- bench:end -->`` with it. Run it on a quiet machine: the children share the cores with
anything else running. The full run takes about 20 minutes on 2 cores; ``--quick`` runs tiny
sizes (seconds; used by the tests).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

START, END = "<!-- bench:start -->", "<!-- bench:end -->"
BENCH_EPS = 0.6  # DBSCAN eps on the Jaccard distance in the benchmark (cluster-contrast's value)
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")

# (kernel, params) cases of the full run; sizes of the issue: Jaccard at 5k-37,778 and 2,048 / 512
# dimensions, evaluation at VeRi-776 and VeRi-Wild 3000 / 10000, tau at VeRi-776 train, re-ranking
# at VeRi-776 test. ``ref`` marks the cases whose reference is run (the dense Jaccard needs three
# N x N float32 matrices: 4.8 GiB at 20k, 17 GiB at 37,778; at 512-d it is run up to 10k).
EVAL_SIZES = {
    "VeRi-776 test": dict(q=1678, g=11579, dim=2048, ids=200, cams=20),
    "VeRi-Wild test 3000": dict(q=3000, g=38861, dim=512, ids=3000, cams=174),
    "VeRi-Wild test 10000": dict(q=10000, g=128517, dim=512, ids=10000, cams=174),
}
FULL: list[tuple[str, dict[str, Any]]] = (
    [
        ("jaccard", dict(n=n, dim=d, ref=n <= (20000 if d == 2048 else 10000), bf16=bf16))
        for d in (2048, 512)
        for n in (5000, 10000, 20000, 37778)
        for bf16 in [d == 2048 and n in (10000, 20000)]
    ]
    + [("tau", dict(n=37778, dim=2048, views=8, ti=1200, ref=True))]
    + [("eval", dict(name=k, ref=True, **v)) for k, v in EVAL_SIZES.items()]
    + [("rerank", dict(name="VeRi-776 test", q=1678, g=11579, dim=256, ids=200, ref=True))]
)
QUICK: list[tuple[str, dict[str, Any]]] = [
    ("jaccard", dict(n=600, dim=64, ref=True, bf16=True)),
    ("tau", dict(n=600, dim=64, views=4, ti=50, ref=True)),
    ("eval", dict(name="small", q=60, g=500, dim=32, ids=40, cams=5, ref=True)),
    ("rerank", dict(name="small", q=50, g=300, dim=32, ids=30, ref=True)),
]


# ---------------------------------------------------------------- children (one call each) ----


def _gemm(x: np.ndarray, y: np.ndarray, dtype: str) -> None:
    import torch

    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    if dtype == "bf16":
        xt, yt = xt.bfloat16(), yt.bfloat16()
    for s in range(0, xt.shape[0], 2048):
        _ = xt[s : s + 2048] @ yt.T


def _clustered(n: int, dim: int, n_ids: int, seed: int, spread: float = 1.0) -> np.ndarray:
    from benchmarks.bench_jaccard import make_features

    return make_features(n, dim, max(1, n // max(1, n_ids)), spread, seed)


def _views(n: int, n_views: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed + 1).integers(0, n_views, n)


def _eval_data(c: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.bench_eval import make_data

    return make_data(c["q"], c["g"], c["dim"], c["ids"], c["cams"], seed=0)


def _eval_dist(data: dict[str, Any]) -> np.ndarray:
    import torch

    from vreid.eval import pairwise_distance

    with torch.no_grad():
        return pairwise_distance(torch.from_numpy(data["qf"]), torch.from_numpy(data["gf"])).numpy()


def _eval_sets(data: dict[str, Any], with_features: bool, n_q: int | None = None):
    """(query, gallery) RetrievalSets; the first ``n_q`` queries only when given."""
    from vreid.eval import RetrievalSet

    def side(p: str, sl: slice) -> RetrievalSet:
        feats = data[f"{p}f"][sl] if with_features else None
        ids, cams, keys = (data[f"{p}_{k}"][sl] for k in ("vid", "cam", "key"))
        return RetrievalSet(features=feats, ids=ids, cams=cams, keys=keys)

    return side("q", slice(n_q)), side("g", slice(None))


def _eval_reference(data: dict[str, Any], dist: np.ndarray, block: int = 256) -> np.ndarray:
    """argsort + per-query loop (stable sort: the evaluator's tie rule), in query blocks."""
    from benchmarks.bench_eval import reference_eval

    labels = [data[k] for k in ("q_vid", "g_vid", "q_cam", "g_cam", "q_key", "g_key")]
    q_vid, g_vid, q_cam, g_cam, q_key, g_key = labels
    parts = []
    for b0 in range(0, dist.shape[0], block):
        sl = slice(b0, min(b0 + block, dist.shape[0]))
        r = reference_eval(
            dist[sl], q_vid[sl], g_vid, q_cam[sl], g_cam, q_key[sl], g_key, kind="stable"
        )
        parts.append([r["n_queries"], r["mAP"] * r["n_queries"], r["rank1"] * r["n_queries"]])
    n, ap, r1 = np.sum(parts, axis=0)
    return np.array([ap / n, r1 / n, n])


def _metrics(res: dict[str, Any]) -> np.ndarray:
    return np.array([res["mAP"], res["rank1"], res["n_queries"]], dtype=np.float64)


def _tau_reference(x: np.ndarray, views: np.ndarray, ti: int, block: int = 2048) -> float:
    """Every cross-view pair i < j: blockwise distances, keep the ti smallest, the ti-th."""
    import torch

    xt = torch.from_numpy(x).double()
    best = np.zeros(0)
    for b0 in range(0, x.shape[0], block):
        rows = xt[b0 : b0 + block]
        d = torch.cdist(rows, xt).numpy()
        i = np.arange(b0, b0 + rows.shape[0])[:, None]
        mask = (np.arange(x.shape[0])[None, :] > i) & (views[None, :] != views[i])
        vals = np.concatenate([best, d[mask]])
        best = np.partition(vals, ti - 1)[:ti] if vals.size > ti else vals
    return float(np.sort(best)[ti - 1])


def _call(op: str, c: dict[str, Any], out: str) -> tuple[Any, Any]:
    """(warm-up call, timed call) for one measurement; the timed call saves its result."""
    if op in ("gemm-fp32", "gemm-bf16"):
        x = _clustered(c["n"], c["dim"], 50, 0)
        y = _clustered(c["m"], c["dim"], 50, 1)
        dtype = op[-4:]
        return (lambda: _gemm(x[:256], y[:256], dtype)), (lambda: _gemm(x, y, dtype))
    if op in ("row-pass", "argsort"):
        dist = _eval_dist(_eval_data(c))

        def run(d: np.ndarray) -> None:
            for b0 in range(0, d.shape[0], 256):
                blk = d[b0 : b0 + 256]
                _ = blk.min(axis=1) if op == "row-pass" else np.argsort(blk, axis=1)

        return (lambda: run(dist[:8])), (lambda: run(dist))
    if op in ("knn", "jaccard", "jaccard-bf16", "jaccard-eps"):
        from vreid.cluster import dbscan_sparse, jaccard_distance, knn_search
        from vreid.cluster.knn_bf16 import knn_search_bf16

        x = _clustered(c["n"], c["dim"], c["n"] // 20, 0)
        k = 31

        def jac(xx: np.ndarray, save: bool) -> None:
            knn = knn_search(xx, k) if op != "jaccard-bf16" else knn_search_bf16(xx, k)[:2]
            if op == "knn":
                return np.save(out, knn[1]) if save else None
            # jaccard-eps stores only the pairs DBSCAN needs, as the cluster stage does
            max_dist = BENCH_EPS if op == "jaccard-eps" else None
            dist = jaccard_distance(xx, k1=30, k2=6, knn=knn, max_dist=max_dist)
            if save:
                np.save(out, dbscan_sparse(dist, BENCH_EPS, 4))

        return (lambda: jac(x[:500], False)), (lambda: jac(x, True))
    if op == "jaccard-ref":
        from sklearn.cluster import DBSCAN

        from benchmarks.bench_jaccard import reference_jaccard

        x = _clustered(c["n"], c["dim"], c["n"] // 20, 0)

        def ref(xx: np.ndarray, save: bool) -> None:
            dist = reference_jaccard(xx, 30, 6)
            if save:
                db = DBSCAN(eps=BENCH_EPS, min_samples=4, metric="precomputed")
                np.save(out, db.fit_predict(np.maximum(dist, 0)))

        return (lambda: ref(x[:200], False)), (lambda: ref(x, True))
    if op in ("tau", "tau-ref"):
        from vreid.cluster import tau_from_ti

        x = _clustered(c["n"], c["dim"], c["n"] // 20, 0)
        v = _views(c["n"], c["views"], 0)
        fn = tau_from_ti if op == "tau" else _tau_reference
        return (lambda: fn(x[:300], v[:300], 10)), (
            lambda: np.save(out, np.array([fn(x, v, c["ti"])]))
        )
    if op in ("eval", "rank", "eval-ref"):
        from vreid.eval import evaluate_retrieval

        data = _eval_data(c)
        dist = None if op == "eval" else _eval_dist(data)
        q, g = _eval_sets(data, with_features=op == "eval")
        if op == "eval-ref":
            return (lambda: _eval_reference(data, dist[:8])), (
                lambda: np.save(out, _eval_reference(data, dist))
            )

        wq, _ = _eval_sets(data, with_features=op == "eval", n_q=8)
        wd = None if dist is None else dist[:8]

        def ours() -> None:
            res = evaluate_retrieval(q, g, dist=dist, block_size=256, device="cpu")
            np.save(out, _metrics(res))

        return (lambda: evaluate_retrieval(wq, g, dist=wd, device="cpu")), ours
    if op in ("rerank", "rerank-ref"):
        if op == "rerank":
            from vreid.eval import reranking_kreciprocal as fn
        else:
            from tests.rerank_dense import dense_rerank as fn
        x = _clustered(c["q"] + c["g"], c["dim"], c["ids"], 0)
        qf, gf = x[: c["q"]], x[c["q"] :]
        return (lambda: fn(qf[:16], gf[:64], 20, 6, 0.3)), (
            lambda: np.save(out, fn(qf, gf, 20, 6, 0.3))
        )
    raise ValueError(f"unknown benchmark op {op!r}")


def _status_kib(field: str) -> int:
    """A ``/proc/self/status`` field in KiB (VmRSS: resident now; VmHWM: its peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def child(op: str, case: dict[str, Any], out: str) -> None:
    """Run one measurement in this (fresh) process and print a JSON line.

    Peak memory: the kernel's peak-RSS mark is reset just before the call (``clear_refs`` 5,
    Linux >= 4.0), so the call's peak growth is ``VmHWM`` after it minus ``VmRSS`` before it:
    no sampling thread and no allocator setting that would slow the kernel being timed.
    """
    warm, timed = _call(op, case, out)
    warm()
    Path("/proc/self/clear_refs").write_text("5")
    base = _status_kib("VmRSS")
    t0 = time.perf_counter()
    timed()
    seconds = time.perf_counter() - t0
    peak_mib = (_status_kib("VmHWM") - base) / 1024
    print(json.dumps({"seconds": seconds, "peak_mib": peak_mib}))


def run_child(op: str, case: dict[str, Any], out: str) -> dict[str, float]:
    env = dict(os.environ)
    if op in ("gemm-bf16", "jaccard-bf16"):
        env["ONEDNN_MAX_CPU_ISA"] = "ALL"  # the machine's bfloat16 units (AMX where present)
    cmd = [sys.executable, "-m", "benchmarks.table", "--child", op, json.dumps(case), out]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark {op} {case} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- the parent: rows ----


def _same(kind: str, a: np.ndarray, b: np.ndarray) -> bool:
    if kind == "labels":
        return bool(a.shape == b.shape and np.array_equal(a, b))
    tol = {"tau": 1e-6, "metrics": 1e-6, "dist": 1e-5}[kind]
    return bool(a.shape == b.shape and np.abs(a.astype(float) - b.astype(float)).max() <= tol)


def _row(
    kernel: str, size: str, ours: dict, floors: dict[str, dict], ref: dict | None, same: Any
) -> dict[str, Any]:
    return {
        "kernel": kernel,
        "size": size,
        "ours_s": ours["seconds"],
        "ours_mib": ours["peak_mib"],
        "floors": {k: v["seconds"] for k, v in floors.items()},
        "ref_s": ref["seconds"] if ref else None,
        "ref_mib": ref["peak_mib"] if ref else None,
        "same": same,
    }


def measure_case(kernel: str, c: dict[str, Any], tmp: str, cache: dict) -> list[dict[str, Any]]:
    """Every child of one case, in sequence; the rows it gives."""

    def run(op: str, case: dict[str, Any]) -> tuple[dict, np.ndarray | None]:
        key = (op, json.dumps(case, sort_keys=True))
        if key not in cache:
            out = os.path.join(tmp, f"{len(cache)}.npy")
            res = run_child(op, case, out)
            cache[key] = (res, np.load(out) if os.path.exists(out) else None)
            print(
                f"  {op:<11} {case}: {res['seconds']:.3f} s, +{res['peak_mib']:.0f} MiB", flush=True
            )
        return cache[key]

    if kernel in ("jaccard", "tau"):
        sq = {"n": c["n"], "m": c["n"], "dim": c["dim"]}
        floors = {f: run(f"gemm-{f}", sq)[0] for f in ("fp32", "bf16")}
        size = f"N = {c['n']:,}, {c['dim']}-d"
        if kernel == "tau":
            ours, a = run("tau", c)
            ref, b = run("tau-ref", c) if c["ref"] else (None, None)
            same = _same("tau", a, b) if ref else None
            return [
                _row(
                    f"tau from ti = {c['ti']}",
                    f"{size}, {c['views']} views",
                    ours,
                    floors,
                    ref,
                    same,
                )
            ]
        knn, _ = run("knn", c)
        ours, a = run("jaccard", c)
        ref, b = run("jaccard-ref", c) if c["ref"] else (None, None)
        same = _same("labels", a, b) if ref else None
        rows = [
            _row("exact k-NN (k = 31, faiss)", size, knn, floors, None, None),
            _row("Jaccard distance (k1 30, k2 6) + its k-NN", size, ours, floors, ref, same),
        ]
        eps_run, a_eps = run("jaccard-eps", c)  # "same" = the full matrix's DBSCAN labels
        label = f"the same storing only distances <= eps ({BENCH_EPS}), as `cluster` does"
        rows.append(_row(label, size, eps_run, floors, None, _same("labels", a_eps, a)))
        if c.get("bf16"):  # cluster.knn_precision: bf16; "same" = ours' DBSCAN labels
            b16, a16 = run("jaccard-bf16", c)
            label = "the same with `knn_precision: bf16`"
            rows.append(_row(label, size, b16, floors, None, _same("labels", a16, a)))
        return rows
    if kernel == "eval":
        size = f"{c['name']}: {c['q']:,} x {c['g']:,}, {c['dim']}-d"
        gemm = run("gemm-fp32", {"n": c["q"], "m": c["g"], "dim": c["dim"]})[0]
        floors = {"pass": run("row-pass", c)[0], "argsort": run("argsort", c)[0]}
        full, a = run("eval", c)
        rank, a2 = run("rank", c)
        ref, b = run("eval-ref", c) if c["ref"] else (None, None)
        same = _same("metrics", a2, b) and _same("metrics", a, b) if ref else None
        return [
            _row("evaluation, end to end (features in)", size, full, {"fp32": gemm}, None, None),
            _row("evaluation, ranking a given distance matrix", size, rank, floors, ref, same),
        ]
    if kernel == "rerank":
        n = c["q"] + c["g"]
        floors = {"fp32": run("gemm-fp32", {"n": n, "m": n, "dim": c["dim"]})[0]}
        ours, a = run("rerank", c)
        ref, b = run("rerank-ref", c) if c["ref"] else (None, None)
        same = _same("dist", a, b) if ref else None
        size = f"{c['name']}: {c['q']:,} x {c['g']:,}, {c['dim']}-d"
        return [_row("re-ranking (k1 20, k2 6, lambda 0.3)", size, ours, floors, ref, same)]
    raise ValueError(f"unknown kernel {kernel!r}")


def machine() -> dict[str, Any]:
    import faiss
    import torch

    model, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return {
        "cpu": model,
        "isa": [f for f in ISA_FLAGS if f in flags],
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "versions": {
            "numpy": np.__version__,
            "torch": torch.__version__,
            "faiss": faiss.__version__,
        },
        "date": time.strftime("%Y-%m-%d"),
    }


FLOOR_NAMES = {"fp32": "fp32 GEMM", "bf16": "bf16 GEMM", "pass": "one pass", "argsort": "argsort"}


def _s(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:.2f} s" if x >= 0.1 else f"{x * 1000:.1f} ms"


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"Measured by `{result['command']}` on {m['date']}: {m['cpu']}, {m['cores']} cores, "
        f"{m['torch_threads']} torch threads, instruction set {' '.join(m['isa']) or 'baseline'}; "
        f"numpy {m['versions']['numpy']}, torch {m['versions']['torch']}, faiss "
        f"{m['versions']['faiss']}; total {result['seconds'] / 60:.1f} min. Each figure from a "
        'fresh process; "+MiB" is the call\'s peak growth of the resident set; the floor '
        "columns give the floor's time and ours / floor; the reference is the published "
        "algorithm written in `benchmarks/` (speed-up = reference / ours).",
        "",
        "| kernel | size | ours | +MiB | floors (ours / floor) | reference | +MiB | speed-up "
        "| same result |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        floors = "; ".join(
            f"{FLOOR_NAMES[k]} {_s(v)} ({r['ours_s'] / v:.2f}×)" for k, v in r["floors"].items()
        )
        speed = "–" if r["ref_s"] is None else f"{r['ref_s'] / r['ours_s']:.1f}×"
        ref_mib = "–" if r["ref_mib"] is None else f"{r['ref_mib']:.0f}"
        same = {None: "–", True: "yes", False: "**no**"}[r["same"]]
        lines.append(
            f"| {r['kernel']} | {r['size']} | {_s(r['ours_s'])} | {r['ours_mib']:.0f} | {floors} "
            f"| {_s(r['ref_s'])} | {ref_mib} | {speed} | {same} |"
        )
    return "\n".join(lines) + "\n"


def splice(readme: str, block: str) -> str:
    """The README text with its bench block replaced by ``block``."""
    if (
        readme.count(START) != 1
        or readme.count(END) != 1
        or readme.index(START) > readme.index(END)
    ):
        raise ValueError(f"README: expected one {START} ... {END} block for the benchmark table")
    head, rest = readme.split(START)
    _, tail = rest.split(END)
    return f"{head}{START}\n{block}{END}{tail}"


def select(
    cases: list[tuple[str, dict[str, Any]]], only: list[str] | None
) -> list[tuple[str, dict[str, Any]]]:
    """The cases whose kernel name and parameters (as JSON) contain every text of ``only``."""
    if not only:
        return cases
    chosen = [
        (k, c) for k, c in cases if all(t in f"{k} {json.dumps(c, sort_keys=True)}" for t in only)
    ]
    if not chosen:
        raise SystemExit(f"--only {' '.join(only)}: no case of the run matches")
    return chosen


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (seconds)")
    ap.add_argument("--out", type=Path, help="write the results here (JSON)")
    ap.add_argument("--readme", type=Path, help="replace this file's bench block with the table")
    ap.add_argument("--from", dest="from_json", type=Path, help="results JSON to print, no run")
    ap.add_argument(
        "--only",
        nargs="+",
        metavar="CASE",
        help="only the full run's cases whose kernel and parameters contain every given "
        "text, e.g. --only jaccard 37778 (printed and --out only; the README keeps the full "
        "run's table)",
    )
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        op, case, out = args.child
        child(op, json.loads(case), out)
        return
    if args.only and (args.readme or args.quick or args.from_json):
        ap.error("--only measures a part of the full run: not with --readme, --quick or --from")
    if args.from_json:
        result = json.loads(args.from_json.read_text())
    else:
        t0, rows, cache = time.perf_counter(), [], {}
        with tempfile.TemporaryDirectory() as tmp:
            for kernel, case in select(QUICK if args.quick else FULL, args.only):
                print(f"{kernel} {case}", flush=True)
                rows += measure_case(kernel, case, tmp, cache)
        command = "python -m benchmarks.table" + (" --quick" if args.quick else "")
        if args.only:
            command += " --only " + " ".join(args.only)
        result = {
            "command": command,
            "machine": machine(),
            "seconds": time.perf_counter() - t0,
            "rows": rows,
        }
        if args.out:
            args.out.write_text(json.dumps(result, indent=1) + "\n")
    table = markdown(result)
    print(table)
    if args.readme:
        args.readme.write_text(splice(args.readme.read_text(), table))
    if any(r["same"] is False for r in result["rows"]):
        raise SystemExit("a kernel's result differs from its reference (see 'same result')")


if __name__ == "__main__":
    main()
