"""Stage `synthesize`: render the synthetic VeRi-776-layout dataset from its spec.

python -m vreid.stages.synthesize [--spec data/source/synth.yaml] [--out data/synthetic]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from ..io import setup_logging
from ..synth import contact_sheet, generate, load_spec

log = logging.getLogger("vreid")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--spec", default="data/source/synth.yaml")
    ap.add_argument("--out", default="data/synthetic")
    ap.add_argument("--sheet", default="plots/synth_contact_sheet.png")
    ap.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1))
    args = ap.parse_args(argv)
    setup_logging()
    try:
        spec = load_spec(Path(args.spec))
    except (ValueError, FileNotFoundError) as exc:
        sys.exit(f"[synthesize] {exc}")
    summary = generate(spec, Path(args.out), workers=args.workers)
    log.info("[synthesize] %s", json.dumps({k: v for k, v in summary.items() if k != "seconds"}))
    contact_sheet(Path(args.out), Path(args.sheet))


if __name__ == "__main__":
    main()
