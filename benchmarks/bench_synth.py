"""Benchmark the synthetic dataset generator.

Usage: ``python -m benchmarks.bench_synth --preset tiny|default|medium|veri [--workers 2]``.
Renders the preset into a temporary directory (or ``--out``) and prints the image count,
wall time and images per second.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from vreid.synth import PRESETS, generate


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="keep the output here")
    args = ap.parse_args(argv)
    spec = {"preset": args.preset, "seed": args.seed}
    t0 = time.perf_counter()
    if args.out is not None:
        summary = generate(spec, args.out, workers=args.workers)
    else:
        with tempfile.TemporaryDirectory(prefix="bench_synth_") as tmp:
            summary = generate(spec, Path(tmp) / "out", workers=args.workers)
    wall = time.perf_counter() - t0
    n = summary["n_train_images"] + summary["n_test_images"]
    print(
        f"bench_synth preset={args.preset} workers={args.workers}: "
        f"{n} rendered images (+{summary['n_query_images']} query copies), "
        f"train {summary['n_train_images']}, test {summary['n_test_images']}, "
        f"ids {summary['n_train_ids']}/{summary['n_test_ids']}, cameras {summary['n_cameras']}; "
        f"wall {wall:.2f} s, {n / wall:.1f} images/s"
    )
    return {"preset": args.preset, "workers": args.workers, "images": n, "seconds": wall}


if __name__ == "__main__":
    main()
