"""Stage `recognize`: self-supervised representation learning before any clustering.

``recognize.loss`` selects the objective: ``ctacl`` (CTACL Eq. 4 warm-up, then Eq. 7 +
lambda * camera DA, Eq. 8-12; the default), ``ctacl_noda`` (the same without DA), ``vapc``
(VAPC's repelled instance loss, Eq. 2-3), ``sscl`` (plain instance contrastive, CTACL
Table III) or ``supervised`` (an upper bound that USES LABELS, trained the way re-ID trains
supervised models: identity cross-entropy with label smoothing on the BN-neck logits, a
batch-hard triplet loss on the feature before the neck, identity-balanced P x K batches).
Writes ``artifacts/recognize/{model.pt,features.npy}``, ``metrics/recognize.json`` and
``plots/recognize_loss.csv``.
"""

from __future__ import annotations

import numpy as np
import torch

from ..io import save_npy, save_torch, write_csv, write_json
from ..memory import CameraTrackletMemory, FeatureMemory
from ..objectives import Objective
from ..sampling import identity_balanced_order
from ..training import (
    Checkpoints,
    FitConfig,
    Trainable,
    build_optimizer,
    build_scheduler,
    extract_features,
    file_digest,
    fingerprint,
    fit,
)
from ._common import (
    CHECKPOINTS,
    MANIFEST,
    METRICS,
    PLOTS,
    RECOGNIZE_DIR,
    TRACKLETS,
    augment_config,
    build_model,
    device_and_seed,
    image_source,
    log,
    read_manifest,
    read_tracklets,
    retrieval_by_split,
    start,
    views_for_eval,
)


def main() -> None:
    params = start("recognize")
    r, t = params["recognize"], params["train"]
    df = read_manifest(MANIFEST)
    rows, cams, tracklets = read_tracklets(df)
    n_train = len(rows)
    if not np.array_equal(rows, np.arange(n_train)):
        raise ValueError(f"{MANIFEST}: train rows must come first (re-run `dvc repro prepare`)")
    device = device_and_seed(params)
    source = image_source(df, params)
    supervised = r["loss"] == "supervised"
    n_classes = 0
    obj = Objective(
        r["loss"],
        temperature=r["temperature"],
        beta=r["beta"],
        k=params["k"],
        gamma=params["gamma"],
        lam=params["lambda"],
        da_temperature=r["da_temperature"],
        warmup_epochs=r["warmup_epochs"],
    )
    if supervised:
        # The ONLY place in training that reads ground-truth identities: the labelled upper bound.
        _, targets = np.unique(df["vid"].to_numpy()[rows], return_inverse=True)
        n_classes = int(targets.max()) + 1
        obj.targets = torch.from_numpy(targets.astype(np.int64)).to(device)
        obj.label_smoothing, obj.triplet_margin = r["label_smoothing"], r["triplet_margin"]
    model = build_model(params, num_classes=n_classes).to(device)

    def initial_memory() -> torch.Tensor:
        return torch.from_numpy(extract_features(model, source, device, indices=rows)).to(device)

    if r["loss"] in ("ctacl", "ctacl_noda"):
        obj.ctam = CameraTrackletMemory(
            initial_memory(), torch.from_numpy(cams), torch.from_numpy(tracklets)
        ).to(device)
    elif r["loss"] in ("vapc", "sscl"):
        obj.instance = FeatureMemory(initial_memory()).to(device)

    def before_epoch(epoch: int) -> None:
        every = r["memory_reset_every"]
        if obj.ctam is not None and every and epoch > 0 and epoch % every == 0:
            obj.ctam.reset(initial_memory())  # CTACL: the CTAM is overhauled every 5 epochs

    def step(x, idx, epoch):
        pooled, z, logits = model.forward_all(x)
        loss, parts = obj.loss(z, logits, idx, epoch, pooled=pooled)
        return loss, parts, lambda: obj.post(z, idx)

    opt = build_optimizer(model.parameters(), r["optimizer"], r["lr"])
    sched = build_scheduler(opt, r["schedule"], r["epochs"])
    run = fingerprint(
        params["model"],
        params["augment"],
        r,
        t,
        params["k"],
        params["gamma"],
        params["lambda"],
        file_digest(MANIFEST),
        file_digest(TRACKLETS),
    )
    ckpt = Checkpoints(CHECKPOINTS / "recognize", run)
    cfg = FitConfig(
        r["epochs"], t["batch_size"], t["seed"], device, augment_config(params), name="recognize"
    )
    if supervised:  # identity-balanced P x K batches (slots are train positions = rows)
        cfg.order = lambda idx, gen: idx[
            identity_balanced_order(targets[idx], r["instances"], t["batch_size"], gen)
        ]
    history = fit(
        Trainable(model, opt, sched, obj.memories()),
        source,
        rows,
        cfg,
        step,
        before_epoch=before_epoch,
        checkpoints=ckpt,
    )

    feats = extract_features(model, source, device)
    scores = retrieval_by_split(df, feats, params, views_for_eval(df), device)
    metrics = {
        "loss": r["loss"],
        "uses_identity_labels": supervised,
        "final_loss": history[-1]["loss"],
        **scores,
    }
    RECOGNIZE_DIR.mkdir(parents=True, exist_ok=True)
    save_torch(
        RECOGNIZE_DIR / "model.pt",
        {k: v for k, v in model.state_dict().items() if not k.startswith("head.")},
    )
    save_npy(RECOGNIZE_DIR / "features.npy", feats)
    write_json(METRICS / "recognize.json", metrics)
    keys = sorted({k for h in history for k in h} - {"epoch", "seconds"})
    write_csv(
        PLOTS / "recognize_loss.csv",
        ["epoch", *keys],
        ([h["epoch"], *[h.get(k, 0.0) for k in keys]] for h in history),
    )
    ckpt.clear()
    for which, sc in scores.items():
        log.info("[recognize] %s mAP %.4f rank-1 %.4f", which, sc["mAP"], sc["rank1"])


if __name__ == "__main__":
    main()
