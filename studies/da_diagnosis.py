"""Why CTACL's camera DA term (Eq. 8-11) is nearly inert here: P(c|z) without a temperature.

Reads the recognition features of the last `dvc repro` (``artifacts/recognize/features.npy``)
and the train cameras, builds the camera centroids of Eq. 9 from the features (the CTAM
holds the same features after a memory reset), and prints, for the paper's form
``P(c|z) = softmax_c(z . zbar_c)`` and for the same logits divided by a temperature, how far
P is from uniform: the DA loss ``KL(U || P)``, the largest class probability and the entropy
relative to ``log C``.

    python studies/da_diagnosis.py [--temperatures 1 0.1 0.07 0.05] [--features F]

``--compare WITHOUT WITH`` asks what the term does to the features: two comma-separated lists
of feature files of the same seeds in the same order (`recognize` features of
``-S recognize.loss=ctacl_noda`` runs, then of ``ctacl`` runs, all on the manifest of the
current checkout), and prints per list mean ± std, then the paired difference, of: P(own
camera) under the camera centroids at ``recognize.da_temperature`` (how much camera the
features carry), the same-vehicle share of CTACL's mined other-camera positives P+ (Eq. 5-6),
validation and test mAP (the `evaluate` protocol on these features), and the share of the
query's camera among the wrong vehicles in its top 10 (same-camera impostors; gallery entries
of the query's vehicle and camera removed, as the protocol does).

    python studies/da_diagnosis.py --compare noda-s0.npy,noda-s1.npy,noda-s2.npy \\
        da-s0.npy,da-s1.npy,da-s2.npy
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from positive_precision import p_plus_share

from vreid.params import load
from vreid.stages._common import (
    MANIFEST,
    RECOGNIZE_DIR,
    query_gallery,
    read_manifest,
    read_tracklets,
    retrieval,
)


def camera_logits(z: torch.Tensor, cams: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """``z . zbar_c`` for every train feature and camera centroid (Eq. 9), and each row's own
    camera's column."""
    cam_ids = np.unique(cams)
    cent = torch.stack([z[torch.from_numpy(cams == c)].mean(0) for c in cam_ids])
    return z @ F.normalize(cent, dim=1).T, torch.from_numpy(np.searchsorted(cam_ids, cams))


def temperature_table(z: torch.Tensor, cams: np.ndarray, temperatures: list[float]) -> None:
    logits, own = camera_logits(z, cams)
    c = logits.shape[1]
    spread = float((logits.max(1).values - logits.min(1).values).mean())
    lo, hi = float(logits.min()), float(logits.max())
    print(f"{len(z)} train features, {c} cameras; logits z.zbar_c in [{lo:.3f}, {hi:.3f}]")
    print(f"mean spread of a row's logits (max - min): {spread:.3f}")
    print("| temperature | DA loss KL(U||P) | mean max P | mean P(own camera) | entropy/log C |")
    print("|---|---|---|---|---|")
    for t in temperatures:
        log_p = F.log_softmax(logits / t, dim=1)
        p = log_p.exp()
        kl = float((-math.log(c) - log_p.mean(1)).mean())
        ent = float((-(p * log_p).sum(1)).mean()) / math.log(c)
        own_p = float(p[torch.arange(len(z)), own].mean())
        print(
            f"| {t:g} | {kl:.4f} | {float(p.max(1).values.mean()):.4f} | {own_p:.4f} | {ent:.4f} |"
        )
    print(f"(uniform P: max P = own P = {1 / c:.4f}, entropy ratio 1, loss 0)")


def same_camera_impostor_share(
    df: pd.DataFrame, feats: np.ndarray, which: str, top: int = 10
) -> float:
    """Share of the query's camera among the wrong vehicles in each query's ``top`` gallery
    entries (entries of the query's vehicle and camera removed), over all queries of ``which``."""
    q, g = query_gallery(df, which)
    vid, cam = df["vid"].to_numpy(), df["camid"].to_numpy()
    dist = -feats[q] @ feats[g].T
    dist[(vid[q][:, None] == vid[g][None, :]) & (cam[q][:, None] == cam[g][None, :])] = np.inf
    nearest = np.argsort(dist, axis=1, kind="stable")[:, :top]
    wrong = vid[g][nearest] != vid[q][:, None]
    same_cam = cam[g][nearest] == cam[q][:, None]
    return float((wrong & same_cam).sum() / wrong.sum())


def feature_effects(df: pd.DataFrame, feats: np.ndarray, params: dict) -> dict[str, float]:
    rows, cams, tracklets = read_tracklets(df)
    z = torch.from_numpy(feats[rows])
    logits, own = camera_logits(z, cams)
    p = F.softmax(logits / params["recognize"]["da_temperature"], dim=1)
    vid = df["vid"].to_numpy()[rows]
    out = {
        "P(own camera)": float(p[torch.arange(len(z)), own].mean()),
        "P+ same vehicle": p_plus_share(z, cams, tracklets, vid, params["k"], params["gamma"]),
    }
    for which in ("val", "test"):
        out[f"{which} mAP"] = retrieval(df, feats, params, which=which)["mAP"]
    for which in ("val", "test"):
        out[f"{which} same-camera impostors"] = same_camera_impostor_share(df, feats, which)
    return out


def compare(df: pd.DataFrame, params: dict, without: list[str], with_da: list[str]) -> None:
    if len(without) != len(with_da):
        raise SystemExit(
            f"--compare: {len(without)} files without DA but {len(with_da)} with it; give one "
            "file per seed on each side, the seeds in the same order"
        )
    res = {}
    for name, files in (("without DA", without), ("with DA", with_da)):
        res[name] = []
        for f in files:
            feats = np.load(f).astype(np.float32)
            if len(feats) != len(df):
                raise SystemExit(f"{f}: {len(feats)} rows, the manifest {MANIFEST} has {len(df)}")
            feats /= np.linalg.norm(feats, axis=1, keepdims=True)
            res[name].append(feature_effects(df, feats, params))
    cols = list(res["with DA"][0])

    def cell(values: list[float]) -> str:
        sd = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
        return f"{np.mean(values):+.3f} ± {sd:.3f}"

    print(f"| {len(with_da)} seeds | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for name, runs in res.items():
        print(f"| {name} | " + " | ".join(cell([r[c] for r in runs])[1:] for c in cols) + " |")
    diff = [
        [a[c] - b[c] for a, b in zip(res["with DA"], res["without DA"], strict=True)] for c in cols
    ]
    print("| with − without (paired) | " + " | ".join(cell(d) for d in diff) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 0.1, 0.07, 0.05])
    ap.add_argument("--features", default=str(RECOGNIZE_DIR / "features.npy"))
    ap.add_argument("--compare", nargs=2, metavar=("WITHOUT", "WITH"))
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    df = read_manifest(MANIFEST)
    if args.compare:
        compare(df, load(args.params), *(s.split(",") for s in args.compare))
        return
    rows, cams, _ = read_tracklets(df)
    temperature_table(torch.from_numpy(np.load(args.features)[rows]), cams, args.temperatures)


if __name__ == "__main__":
    main()
