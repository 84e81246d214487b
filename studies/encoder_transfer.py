"""How far a pretrained encoder gets on its own: retrieval before any training on the dataset.

The counterpart of "ImageNet weights, no re-ID training" in the papers' setting: each encoder
file (``model.pretrained`` format, e.g. ``artifacts/pretrain/backbone.pt``) is loaded into
``model.arch`` / ``model.channels`` of ``params.yaml``, the validation and test images of the
last `dvc repro` (``artifacts/prepare/manifest.csv``) are embedded without augmentation, and their
retrieval mAP / rank-1 is printed (same protocol as the `evaluate` stage). An encoder that
already reaches the supervised bound here has learned the set's identities' make-up in
pretraining (docs/calibration.md, P40).

With ``--trained`` the files are models written by a learning stage (``artifacts/*/model.pt``,
the format ``vreid embed --model`` reads): a model trained on one rendering of the set is then
measured on another one's validation and test vehicles, e.g. two training-set sizes on the
same held-out vehicles (P41). On the model's own set this gives the `evaluate` stage's numbers.

    python studies/encoder_transfer.py artifacts/pretrain/backbone.pt [other.pt ...]
    python studies/encoder_transfer.py --trained artifacts/cluster/model.pt [other.pt ...]

``--feature`` (repeatable) scores the other retrieval feature too (``evaluate.feature`` of the
params by default): ``--feature pooled --feature embedding`` measures a model both ways, the
comparison that chose ``evaluate.feature`` (docs/calibration.md, P58).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from vreid.choices import RETRIEVAL_FEATURES
from vreid.inference import load_encoder
from vreid.learn.loop import extract_features
from vreid.params import load
from vreid.stages._common import (
    build_model,
    eval_splits,
    image_source,
    query_gallery,
    read_manifest,
    retrieval_by_split,
    views_for_eval,
)


def direct_transfer(
    df, params: dict, encoder: str, device: torch.device, trained: bool = False, feature=None
) -> dict[str, dict]:
    """Retrieval summaries (``{"val": ..., "test": ...}``) of ``encoder``'s features
    on the manifest ``df``'s query and gallery images (``trained``: a stage's model file,
    embedded as the `evaluate` stage embeds it; else a ``model.pretrained`` encoder file), by
    the retrieval feature ``feature`` (default ``evaluate.feature`` of ``params``)."""
    rows = np.concatenate([r for w in eval_splits(df) for r in query_gallery(df, w)])
    if trained:
        model = load_encoder(encoder, params, str(device)).model
    else:
        params = {**params, "model": {**params["model"], "pretrained": encoder}}
        model = build_model(params).to(device).eval()
    feats = np.zeros((len(df), model.dim), dtype=np.float32)
    feats[rows] = extract_features(
        model,
        image_source(df, params),
        device,
        indices=rows,
        feature=feature or params["evaluate"]["feature"],
    )
    return retrieval_by_split(df, feats, params, views_for_eval(df), device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "encoders",
        nargs="+",
        help="encoder files (model.pretrained format; --trained: model.pt files)",
    )
    ap.add_argument(
        "--trained", action="store_true", help="the files are learning stages' model.pt files"
    )
    ap.add_argument(
        "--feature",
        action="append",
        choices=RETRIEVAL_FEATURES,
        help="retrieval feature (repeatable; default: evaluate.feature of --params)",
    )
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    params = load(args.params)
    df = read_manifest()
    print("| encoder | feature | val mAP | val rank-1 | test mAP | test rank-1 |")
    print("|---|---|---|---|---|---|")
    for enc in args.encoders:
        for feature in args.feature or [params["evaluate"]["feature"]]:
            r = direct_transfer(df, params, enc, torch.device(args.device), args.trained, feature)
            cells = [f"{r[w][k]:.4f}" for w in ("val", "test") if w in r for k in ("mAP", "rank1")]
            print(f"| {enc} | {feature} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
