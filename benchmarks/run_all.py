"""Run every benchmark at the sizes quoted in the README (``make bench``).

    python -m benchmarks.run_all [--quick]

First the kernel table (:mod:`benchmarks.table`: Jaccard, k-NN, tau, evaluation, re-ranking,
each against the machine's floor and a reference), which writes ``benchmarks/results.json``
and the README's table between its ``bench`` markers; then the other benchmarks (generator,
memory estimates, CTACL loss, training step), printed. ``--quick`` runs each at a small size (a
smoke run of about two minutes, nothing written); the default sizes are the ones whose figures
the README and docs/speed.md report and take about half an hour on 2 CPU cores. Run it on a
quiet machine: the benchmarks share the cores with anything else running.
"""

from __future__ import annotations

import argparse
import time

from benchmarks import bench_losses, bench_memory, bench_synth, bench_train, table

FULL = {
    "table": (table.main, ["--out", "benchmarks/results.json", "--readme", "README.md"]),
    "bench_synth": (bench_synth.main, ["--preset", "default"]),
    "bench_memory": (bench_memory.main, []),
    "bench_losses": (bench_losses.main, ["--slots", "3000", "37778"]),
    "bench_train": (bench_train.main, []),
}
QUICK = {
    "table": (table.main, ["--quick"]),
    "bench_synth": (bench_synth.main, ["--preset", "tiny"]),
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
