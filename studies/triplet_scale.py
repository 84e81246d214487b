"""The scale the supervised recipe's triplet margin works at (docs/calibration.md, P43).

The batch-hard triplet loss reads the feature before the BN neck (``ReidNet.forward_all``'s
``pooled``), which is not normalised, so a margin means something only next to that feature's
distances. This embeds the train images of the last `dvc repro`
(``artifacts/prepare/manifest.csv``) with the model of ``params.yaml`` initialised from
``model.pretrained`` (by default the `pretrain` stage's encoder: where the supervised training
starts) or, with ``--model``, from a learning stage's ``model.pt``, and prints the mean norm of
the pooled feature, the mean distance between images of one vehicle and of different vehicles,
and each image's hardest positive and hardest negative over the whole train split (a batch
holds fewer images, so its hardest pairs are easier).

    python studies/triplet_scale.py [--model artifacts/recognize/model.pt]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torch import nn

from vreid.inference import load_encoder
from vreid.learn.loop import _all_images
from vreid.params import load
from vreid.stages._common import build_model, image_source, read_manifest, train_rows


class _Pooled(nn.Module):
    """The model's feature before the BN neck, in the ``(features, logits)`` form the
    extraction loop reads."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.model.forward_all(x)[0], None


def distance_summary(feats: torch.Tensor, vid: np.ndarray) -> dict[str, float]:
    """Mean norm, mean same-/other-vehicle distance, mean hardest positive / negative."""
    d = torch.cdist(feats.double(), feats.double())
    same = torch.from_numpy(vid[:, None] == vid[None, :])
    pos = same & ~torch.eye(len(feats), dtype=torch.bool)
    has_pos = pos.any(1)
    hardest_pos = torch.where(pos, d, torch.tensor(-np.inf, dtype=d.dtype)).max(1).values
    hardest_neg = torch.where(~same, d, torch.tensor(np.inf, dtype=d.dtype)).min(1).values
    return {
        "norm": float(feats.norm(dim=1).mean()),
        "same vehicle": float(d[pos].mean()),
        "other vehicles": float(d[~same].mean()),
        "hardest positive": float(hardest_pos[has_pos].mean()),
        "hardest negative": float(hardest_neg.mean()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="a learning stage's model.pt (default: model.pretrained)")
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    params = load(args.params)
    df = read_manifest()
    rows = train_rows(df)
    if args.model:
        model = load_encoder(args.model, params, "cpu").model
    else:
        model = build_model(params)
    model.eval()
    with torch.no_grad():
        feats = _all_images(
            _Pooled(model), image_source(df, params), torch.device("cpu"), 256, rows, lambda o: o[0]
        )
    out = distance_summary(torch.from_numpy(feats), df["vid"].to_numpy()[rows])
    print(f"{len(rows)} train images; pooled feature (before the BN neck):")
    for k, v in out.items():
        print(f"  {k:<18} {v:.3f}")


if __name__ == "__main__":
    main()
