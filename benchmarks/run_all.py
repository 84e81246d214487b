"""Run every benchmark at the sizes quoted in the README (``make bench``).

    python -m benchmarks.run_all [--quick]

``--quick`` runs each benchmark at a small size (a smoke run of about a minute); the default
sizes are the ones whose figures the README reports and take several minutes on 2 CPU cores.
Run it on a quiet machine: the benchmarks share the cores with anything else running.
"""

from __future__ import annotations

import argparse
import time

from benchmarks import (
    bench_eval,
    bench_jaccard,
    bench_losses,
    bench_memory,
    bench_rerank,
    bench_synth,
    bench_train,
)

FULL = {
    "bench_synth": (bench_synth.main, ["--preset", "default"]),
    "bench_jaccard": (bench_jaccard.main, ["--n", "2000", "5000", "10000", "--reference"]),
    "bench_eval": (bench_eval.main, []),
    "bench_rerank": (bench_rerank.main, []),
    "bench_memory": (bench_memory.main, []),
    "bench_losses": (bench_losses.main, ["--slots", "3000", "37778"]),
    "bench_train": (bench_train.main, []),
}
QUICK = {
    "bench_synth": (bench_synth.main, ["--preset", "tiny"]),
    "bench_jaccard": (bench_jaccard.main, ["--n", "1000", "--reference"]),
    "bench_eval": (bench_eval.main, ["--q", "200", "--g", "2000", "--dim", "256", "--repeat", "1"]),
    "bench_rerank": (bench_rerank.main, ["--q", "200", "--g", "2000"]),
    "bench_memory": (bench_memory.main, ["--n", "1000", "--q", "200", "--g", "2000"]),
    "bench_losses": (bench_losses.main, ["--slots", "1000", "--repeats", "1"]),
    "bench_train": (bench_train.main, ["--size", "32", "32", "--steps", "2"]),
}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    args = ap.parse_args(argv)
    plan = QUICK if args.quick else FULL
    for name, (fn, fn_argv) in plan.items():
        print(f"\n=== {name} {' '.join(fn_argv)}", flush=True)
        t0 = time.perf_counter()
        fn(fn_argv)
        print(f"=== {name} done in {time.perf_counter() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    main()
