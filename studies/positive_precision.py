"""How often the positives each method trains on show the same vehicle (docs/results.md).

A diagnostic, not a pipeline stage: it reads the default run's outputs and the ground truth of
the train split (which no unsupervised stage reads) and prints, per anchor image, the share of
its positives that show the same vehicle:

- CTACL (Eq. 7): the own tracklet (same camera) and P+ (the k easy + k hard other-camera slots
  mined in the CTAM, Eq. 5-6), mined exactly as :func:`vreid.learn.losses.ctacl_masks` does,
  here on the `recognize` stage's final features of the train images;
- the clustering rounds: the other members of the anchor's pseudo-label cluster
  (``artifacts/cluster/labels.csv``, the last round; noise = no positives).

    python studies/positive_precision.py
"""

import argparse

import numpy as np
import pandas as pd
import torch

from vreid import params as P
from vreid.learn.losses import ctacl_masks
from vreid.learn.memory import CameraTrackletMemory
from vreid.stages._common import read_manifest, read_tracklets


def _share(pos: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """Mean over anchors with >= 1 positive of the same-vehicle share; mean positives."""
    n = pos.sum(1)
    has = n > 0
    return float(((pos & same).sum(1)[has] / n[has]).mean()), float(n.mean())


def mined_positive_masks(
    z: torch.Tensor, cams: np.ndarray, tracklets: np.ndarray, k: int, gamma: float, block: int = 512
):
    """Yield ``(idx, pos)`` per block of anchors: CTACL's positives (own tracklet and P+), mined
    as :func:`vreid.learn.losses.ctacl_masks` does on the L2-normalised train features ``z``,
    with the anchor itself removed."""
    memory = CameraTrackletMemory(
        z, torch.from_numpy(cams.copy()), torch.from_numpy(tracklets.copy())
    )
    for start in range(0, len(z), block):
        idx = torch.arange(start, min(start + block, len(z)))
        pos, _ = ctacl_masks(z[idx], idx, memory, extended=True, k=k, gamma=gamma)
        pos = pos.numpy()
        pos[np.arange(len(idx)), idx.numpy()] = False  # the anchor itself
        yield idx.numpy(), pos


def p_plus_share(
    z: torch.Tensor, cams: np.ndarray, tracklets: np.ndarray, vid: np.ndarray, k: int, gamma: float
) -> float:
    """Same-vehicle share of the mined other-camera positives P+ (Eq. 5-6), mean over anchors."""
    parts = [
        (pos & (tracklets[idx][:, None] != tracklets[None, :]), vid[idx][:, None] == vid[None, :])
        for idx, pos in mined_positive_masks(z, cams, tracklets, k, gamma)
    ]
    return _share(np.concatenate([p for p, _ in parts]), np.concatenate([s for _, s in parts]))[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--features", default="artifacts/recognize/features.npy")
    ap.add_argument("--labels", default="artifacts/cluster/labels.csv")
    a = ap.parse_args()
    params = P.load("params.yaml")
    df = read_manifest()
    rows, cams, tracklets = read_tracklets(df)
    z = torch.from_numpy(np.load(a.features)[rows].copy()).float()
    z = z / z.norm(dim=1, keepdim=True)
    vid = df["vid"].to_numpy()[rows]
    out = {"own tracklet": [], "P+ (mined, other cameras)": [], "CTACL positives (both)": []}
    for idx, pos in mined_positive_masks(z, cams, tracklets, params["k"], params["gamma"]):
        own = tracklets[idx][:, None] == tracklets[None, :]
        same = vid[idx][:, None] == vid[None, :]
        for name, mask in zip(out, (pos & own, pos & ~own, pos), strict=True):
            out[name].append((mask, same))
    labels = pd.read_csv(a.labels)["pseudo_label"].to_numpy()[: len(rows)]
    print(f"{'positives of an anchor':<36} {'same vehicle':>12} {'per anchor':>10}")
    for name, parts in out.items():
        share, n = _share(
            np.concatenate([p for p, _ in parts]), np.concatenate([s for _, s in parts])
        )
        print(f"{name:<36} {share:>12.3f} {n:>10.1f}")
    clustered = labels >= 0
    pos = (labels[:, None] == labels[None, :]) & clustered[:, None]
    np.fill_diagonal(pos, False)
    share, n = _share(pos, vid[:, None] == vid[None, :])
    print(f"{'pseudo-label cluster (last round)':<36} {share:>12.3f} {n:>10.1f}")


if __name__ == "__main__":
    main()
