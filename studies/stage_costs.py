"""Run the stages of ``dvc.yaml`` in order outside DVC, one process each, and print each
stage's wall time and peak resident memory (``ru_maxrss`` of the stage process, from
``os.wait4``; DataLoader worker processes are not included).

    python studies/stage_costs.py [--skip pool pretrain] [--out FILE.json]

Run it in a copy of the repository whose ``data/source`` and ``params.yaml`` hold the
configuration to measure (README "Scale" has the `veri` preset run that used it). A stage that
fails stops the run with its exit status.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import yaml


def run_stage(cmd: str) -> tuple[float, float, int]:
    """``(seconds, peak RSS in GiB, exit status)`` of one stage command."""
    began = time.perf_counter()
    proc = subprocess.Popen(shlex.split(cmd))
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - began, usage.ru_maxrss / 2**20, proc.returncode


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip", nargs="*", default=[], help="stages not to run (already done)")
    ap.add_argument("--out", type=Path, help="also write the table as JSON")
    args = ap.parse_args(argv)
    stages = yaml.safe_load(Path("dvc.yaml").read_text())["stages"]
    rows = []
    for name, stage in stages.items():
        if name in args.skip:
            continue
        cmd = " ".join(str(stage["cmd"]).split())
        print(f"=== {name}: {cmd}", flush=True)
        seconds, peak, code = run_stage(cmd)
        rows.append({"stage": name, "seconds": round(seconds, 1), "peak_rss_gib": round(peak, 2)})
        print(f"=== {name}: {seconds:.1f} s, peak {peak:.2f} GiB", flush=True)
        if code:
            sys.exit(f"{name} failed with status {code}")
    print("\n| stage | wall time | peak RSS |\n|---|---|---|")
    for r in rows:
        print(f"| {r['stage']} | {r['seconds']:.0f} s | {r['peak_rss_gib']:.2f} GiB |")
    print(f"| total | {sum(r['seconds'] for r in rows):.0f} s | |")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
