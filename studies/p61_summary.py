"""P61's numbers from the re-scored P60 runs (docs/calibration.md, P61).

Reads the JSON of ``studies/rescore_experiments.py`` over P60's 36 runs
(``p60e{28,32}ps{0,1,2}-s{0,1,2}-{sup,full}``: pretraining epochs, pretraining seed, training
seed, row) and prints, for each row and each validation split (``recorded`` = the 80-identity
split the runs were scored on, ``rescored`` = the 240-identity one):

- the spread of validation mAP over training seeds, per encoder (std, ddof 1), and its mean
  over the six encoders — rule (a);
- the mean ± std of the paired 32 − 28 validation differences by encoder at training seed 0 —
  rule (b), P60's own — and over the nine encoder × training-seed pairs;
- Pearson's correlation of validation and test mAP over the 18 runs and over the nine paired
  differences.

    python studies/p61_summary.py metrics/p61_p60_rescored.json
    python studies/p61_summary.py --defaults metrics/p61_defaults_rescored.json
    python studies/p61_summary.py --defaults --prefix z34 --base sup-lr001 \
        metrics/p61_p57_rescored.json

With ``--defaults`` the file holds session 33's default-choice runs
(``z33p28-s{0,1,2}-<row>``, re-scored by the BN-neck embedding as they ran): each alternative
row's paired validation and test differences against its default row (``full``, or ``sup`` for
the bound's rows; ``--base`` names another, ``--prefix`` other runs, e.g. P57's ``z34`` runs of
the bound's learning rate against its default 0.01), mean ± std over the three training seeds,
on both validation splits.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

EPOCHS, SEEDS = (28, 32), (0, 1, 2)


def summary(runs: dict, row: str, which: str) -> dict:
    def m(e, p, s, split):
        return runs[f"p60e{e}ps{p}-s{s}-{row}"][which][split]["mAP"]

    spread = [np.std([m(e, p, s, "val") for s in SEEDS], ddof=1) for e in EPOCHS for p in SEEDS]
    by_enc = [m(32, p, 0, "val") - m(28, p, 0, "val") for p in SEEDS]
    pairs = [(p, s) for p in SEEDS for s in SEEDS]
    dv = [m(32, p, s, "val") - m(28, p, s, "val") for p, s in pairs]
    dt = [m(32, p, s, "test") - m(28, p, s, "test") for p, s in pairs]
    val = [m(e, p, s, "val") for e in EPOCHS for p, s in pairs]
    test = [m(e, p, s, "test") for e in EPOCHS for p, s in pairs]
    return {
        "seed_spread_mean": float(np.mean(spread)),
        "seed_spread": [round(float(x), 4) for x in spread],
        "paired_by_encoder_s0": (float(np.mean(by_enc)), float(np.std(by_enc, ddof=1))),
        "paired_by_encoder_s0_values": [round(x, 4) for x in by_enc],
        "paired_9": (float(np.mean(dv)), float(np.std(dv, ddof=1))),
        "paired_9_higher": sum(x > 0 for x in dv),
        "corr_levels": float(np.corrcoef(val, test)[0, 1]),
        "corr_paired": float(np.corrcoef(dv, dt)[0, 1]),
        "val_28": (float(np.mean(val[:9])), float(np.std(val[:9], ddof=1))),
        "val_32": (float(np.mean(val[9:])), float(np.std(val[9:], ddof=1))),
    }


def defaults(runs: dict, prefix: str = "z33p28", base: str | None = None) -> None:
    """Paired differences of each ``<prefix>-s<seed>-<row>`` against its default row: ``base``
    if given, else ``sup`` for the bound's rows and ``full`` for the others."""
    rows = sorted({name.split("-", 2)[2] for name in runs})
    for row in rows:
        default = base or ("sup" if row.startswith("sup") else "full")
        if row == default:
            continue
        cells = []
        for which, label in (("recorded", "val 80"), ("rescored", "val 240"), ("rescored", "test")):
            split = "test" if label == "test" else "val"
            d = [
                runs[f"{prefix}-s{s}-{row}"][which][split]["mAP"]
                - runs[f"{prefix}-s{s}-{default}"][which][split]["mAP"]
                for s in SEEDS
            ]
            cells.append(
                f"{label} {np.mean(d):+.4f} ± {np.std(d, ddof=1):.4f} ({sum(x > 0 for x in d)}/3)"
            )
        print(f"{row:10} - {default:9}: " + "; ".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rescored", help="JSON written by studies/rescore_experiments.py")
    ap.add_argument("--defaults", action="store_true", help="the file holds default-choice runs")
    ap.add_argument("--prefix", default="z33p28", help="--defaults: the runs' name prefix")
    ap.add_argument("--base", help="--defaults: the default row (else sup / full)")
    args = ap.parse_args()
    runs = json.load(open(args.rescored))
    if args.defaults:
        defaults(runs, args.prefix, args.base)
        return
    for row in ("sup", "full"):
        for which, label in (("recorded", "80 ids"), ("rescored", "240 ids")):
            s = summary(runs, row, which)
            mb, sb = s["paired_by_encoder_s0"]
            m9, s9 = s["paired_9"]
            print(
                f"{row:4} val {label:7}: seed spread {s['seed_spread_mean']:.4f} "
                f"{s['seed_spread']}; 28 ep {s['val_28'][0]:.4f} ± {s['val_28'][1]:.4f}, "
                f"32 ep {s['val_32'][0]:.4f} ± {s['val_32'][1]:.4f}; 32 - 28 by encoder (seed 0) "
                f"{mb:+.4f} ± {sb:.4f} {s['paired_by_encoder_s0_values']}; over 9 pairs "
                f"{m9:+.4f} ± {s9:.4f} ({s['paired_9_higher']}/9 higher); corr val/test "
                f"{s['corr_levels']:.2f} (levels), {s['corr_paired']:.2f} (paired)"
            )


if __name__ == "__main__":
    main()
