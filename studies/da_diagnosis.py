"""Why CTACL's camera DA term (Eq. 8-11) is nearly inert here: P(c|z) without a temperature.

Reads the recognition features of the last `dvc repro` (``artifacts/recognize/features.npy``)
and the train cameras, builds the camera centroids of Eq. 9 from the features (the CTAM
holds the same features after a memory reset), and prints, for the paper's form
``P(c|z) = softmax_c(z . zbar_c)`` and for the same logits divided by a temperature, how far
P is from uniform: the DA loss ``KL(U || P)``, the largest class probability and the entropy
relative to ``log C``.

    python studies/da_diagnosis.py [--temperatures 1 0.1 0.07 0.05]
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch
import torch.nn.functional as F

from vreid.stages._common import MANIFEST, RECOGNIZE_DIR, read_manifest, read_tracklets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 0.1, 0.07, 0.05])
    args = ap.parse_args()
    df = read_manifest(MANIFEST)
    rows, cams, _ = read_tracklets(df)
    z = torch.from_numpy(np.load(RECOGNIZE_DIR / "features.npy")[rows])
    cam_ids = np.unique(cams)
    cent = torch.stack([z[torch.from_numpy(cams == c)].mean(0) for c in cam_ids])
    cent = F.normalize(cent, dim=1)
    logits = z @ cent.T
    c = len(cam_ids)
    own = torch.from_numpy(np.searchsorted(cam_ids, cams))
    spread = float((logits.max(1).values - logits.min(1).values).mean())
    lo, hi = float(logits.min()), float(logits.max())
    print(f"{len(z)} train features, {c} cameras; logits z.zbar_c in [{lo:.3f}, {hi:.3f}]")
    print(f"mean spread of a row's logits (max - min): {spread:.3f}")
    print("| temperature | DA loss KL(U||P) | mean max P | mean P(own camera) | entropy/log C |")
    print("|---|---|---|---|---|")
    for t in args.temperatures:
        log_p = F.log_softmax(logits / t, dim=1)
        p = log_p.exp()
        kl = float((-math.log(c) - log_p.mean(1)).mean())
        ent = float((-(p * log_p).sum(1)).mean()) / math.log(c)
        own_p = float(p[torch.arange(len(z)), own].mean())
        print(
            f"| {t:g} | {kl:.4f} | {float(p.max(1).values.mean()):.4f} | {own_p:.4f} | {ent:.4f} |"
        )
    print(f"(uniform P: max P = own P = {1 / c:.4f}, entropy ratio 1, loss 0)")


if __name__ == "__main__":
    main()
