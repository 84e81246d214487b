"""Two pretraining lengths compared paired by encoder: P62's rule (docs/calibration.md, P62).

The experiments are named as ``studies/table.sh`` names them with
``TABLE_TAG=<prefix>e<epochs>ps<pretrain seed>``: ``<prefix>e<E>ps<P>-s<T>-<row>``. For each
row, each encoder (pretraining seed ``P``) and each length ``E``, the mean over the training
seeds ``T`` of the metric recorded in the experiment's ``metrics/eval.json``; then, per encoder,
the difference of the two lengths' means, and the mean ± std (ddof 1) of those differences over
the encoders. The rule: the longer pretraining is adopted only if, for every row, that mean
validation difference is positive and larger than its std. Test is printed beside it, never used.

    python studies/paired_encoders.py --prefix p62 --epochs 28 32 --pretrain-seeds 3 4 5 \\
        --train-seeds 0 1 2 --rows sup full --out metrics/p62_pretrain_length.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rescore_experiments import experiment_refs, show  # noqa: E402


def compare(metric, prefix, epochs, pretrain_seeds, train_seeds, rows) -> dict:
    """``metric(name, split)`` -> mAP of experiment ``name``; returns, per row and split, the
    per-encoder means for each length, their differences and the mean ± std of those."""
    short, long_ = epochs
    out: dict = {}
    for row in rows:
        out[row] = {}
        for split in ("val", "test"):
            means = {
                e: [
                    float(
                        np.mean(
                            [metric(f"{prefix}e{e}ps{p}-s{t}-{row}", split) for t in train_seeds]
                        )
                    )
                    for p in pretrain_seeds
                ]
                for e in epochs
            }
            diffs = [b - a for a, b in zip(means[short], means[long_], strict=True)]
            out[row][split] = {
                "means": {str(e): means[e] for e in epochs},
                "differences": diffs,
                "mean": float(np.mean(diffs)),
                "std": float(np.std(diffs, ddof=1)),
                "higher": sum(d > 0 for d in diffs),
            }
    out["adopt"] = all(out[r]["val"]["mean"] > max(out[r]["val"]["std"], 0.0) for r in rows)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--epochs", type=int, nargs=2, required=True, metavar=("SHORT", "LONG"))
    ap.add_argument("--pretrain-seeds", type=int, nargs="+", required=True)
    ap.add_argument("--train-seeds", type=int, nargs="+", required=True)
    ap.add_argument("--rows", nargs="+", default=["sup", "full"])
    ap.add_argument("--out", help="JSON file for the numbers printed")
    args = ap.parse_args()
    refs = experiment_refs()
    cache: dict[str, dict] = {}

    def metric(name: str, split: str) -> float:
        if name not in refs:
            raise SystemExit(f"no experiment named {name} here (dvc exp list)")
        if name not in cache:
            cache[name] = json.loads(show(refs[name], "metrics/eval.json"))
        return cache[name][split]["mAP"]

    r = compare(metric, args.prefix, args.epochs, args.pretrain_seeds, args.train_seeds, args.rows)
    short, long_ = args.epochs
    for row in args.rows:
        for split in ("val", "test"):
            c = r[row][split]
            per = ", ".join(
                f"ps{p} {a:.4f} -> {b:.4f}"
                for p, a, b in zip(
                    args.pretrain_seeds, c["means"][str(short)], c["means"][str(long_)], strict=True
                )
            )
            print(
                f"{row:4} {split:4}: {per}; {long_} - {short} by encoder {c['mean']:+.4f} ± "
                f"{c['std']:.4f} ({c['higher']}/{len(args.pretrain_seeds)} higher)"
            )
    print(
        f"adopt {long_} epochs by the rule (validation, every row): {'yes' if r['adopt'] else 'no'}"
    )
    if args.out:
        Path(args.out).write_text(json.dumps(r, indent=1) + "\n")


if __name__ == "__main__":
    main()
