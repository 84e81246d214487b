"""Stage `recognize`: self-supervised representation learning before any clustering.

``recognize.loss`` selects the objective: ``ctacl`` (CTACL Eq. 4 warm-up, then Eq. 7 +
lambda * camera DA, Eq. 8-12; the default), ``ctacl_noda`` (the same without DA), ``vapc``
(VAPC's repelled instance loss, Eq. 2-3), ``sscl`` (plain instance contrastive, CTACL
Table III) or ``supervised`` (an upper bound that USES LABELS, trained the way re-ID trains
supervised models: identity cross-entropy with label smoothing on the BN-neck logits, a
batch-hard triplet loss on the feature before the neck, identity-balanced P x K batches, its own
learning rate ``recognize.supervised_lr``).
Writes ``artifacts/recognize/{model.pt,features.npy,retrieval.npy}`` (the embedding every
image gets, the clustering's input; the retrieval features ``evaluate.feature``, what round 0
of the `cluster` stage scores), ``metrics/recognize.json`` (retrieval by ``evaluate.feature``) and
``plots/recognize_loss.csv``.
"""

from __future__ import annotations

import numpy as np
import torch

from ..io import save_npy, save_torch, write_csv, write_json
from ..learn.distributed import is_main
from ..learn.loop import Recipe, embedding_and_retrieval, extract_features, file_digest, train
from ..learn.memory import CameraTrackletMemory, FeatureMemory
from ..learn.objectives import make_objective
from ..learn.sampling import identity_balanced_order
from ._common import (
    MANIFEST,
    METRICS,
    PLOTS,
    RECOGNIZE_DIR,
    TRACKLETS,
    build_model,
    device_and_seed,
    image_source,
    log,
    read_manifest,
    read_tracklets,
    retrieval_by_split,
    run,
    start,
    train_setup,
    views_for_eval,
)


def main() -> None:
    params = start("recognize")
    r, t = params["recognize"], params["train"]
    df = read_manifest(MANIFEST)
    rows, cams, tracklets = read_tracklets(df)
    if not np.array_equal(rows, np.arange(len(rows))):
        raise ValueError(f"{MANIFEST}: train rows must come first (re-run `dvc repro prepare`)")
    device = device_and_seed(params)
    source = image_source(df, params)
    supervised = r["loss"] == "supervised"
    given: dict = {}
    n_classes = 0
    if supervised:
        # The ONLY place in training that reads ground-truth identities: the labelled upper bound.
        _, targets = np.unique(df["vid"].to_numpy()[rows], return_inverse=True)
        n_classes = int(targets.max()) + 1
        given["targets"] = torch.from_numpy(targets.astype(np.int64)).to(device)
    model = build_model(params, num_classes=n_classes).to(device)

    def initial_memory() -> torch.Tensor:
        return torch.from_numpy(extract_features(model, source, device, indices=rows)).to(device)

    if r["loss"] in ("ctacl", "ctacl_noda"):
        given["ctam"] = CameraTrackletMemory(
            initial_memory(), torch.from_numpy(cams.copy()), torch.from_numpy(tracklets.copy())
        ).to(device)
    elif r["loss"] in ("vapc", "sscl"):
        given["instance"] = FeatureMemory(initial_memory()).to(device)
    obj = make_objective(r["loss"], params, **given)

    def before_epoch(epoch: int) -> None:
        every, ctam = r["memory_reset_every"], given.get("ctam")
        if ctam is not None and every and epoch > 0 and epoch % every == 0:
            ctam.reset(initial_memory())  # CTACL: the CTAM is overhauled every 5 epochs

    def step(x, idx, epoch):
        pooled, z, logits = model.forward_all(x)
        loss, parts = obj.loss(z, logits, idx, epoch, pooled=pooled)
        return loss, parts, (obj.post, z, idx)

    def pk_order(idx, gen):  # identity-balanced P x K batches (slots are train positions)
        return idx[identity_balanced_order(targets[idx], r["instances"], t["batch_size"], gen)]

    history, ckpt = train(
        "recognize",
        model,
        source,
        rows,
        step,
        recognition_recipe(r),
        train_setup(params, device, "recognize"),
        seed=t["seed"],
        run=(params["model"], params["augment"], r, t, params["k"], params["gamma"])
        + (params["lambda"], file_digest(MANIFEST), file_digest(TRACKLETS)),
        extra=obj.memories(),
        before_epoch=before_epoch,
        order=pk_order if supervised else None,
    )
    # the embedding is the clustering's input; the scores rank by evaluate.feature
    feats, ret = embedding_and_retrieval(model, source, device, params["evaluate"]["feature"])
    if not is_main():  # several processes: rank 0 writes
        return
    scores = retrieval_by_split(df, ret, params, views_for_eval(df), device)
    write_outputs(model, feats, ret, history, r["loss"], scores)
    ckpt.clear()


def recognition_recipe(r: dict) -> Recipe:
    """The stage's optimiser and schedule from the ``recognize`` section: the supervised bound
    trains at its own rate ``recognize.supervised_lr`` and weight decay
    ``recognize.supervised_weight_decay``, every unsupervised loss at ``recognize.lr`` and the
    shared 5e-4 (validation prefers different values for the two, docs/calibration.md P57, P65)."""
    if r["loss"] == "supervised":  # its own rate and weight decay (P57, P65)
        return Recipe.of(r, lr="supervised_lr", wd="supervised_weight_decay")
    return Recipe.of(r, lr="lr")


def write_outputs(
    model, feats: np.ndarray, ret: np.ndarray, history: list[dict], loss: str, scores: dict
) -> None:
    """The encoder (no classifier head), the embedding and the retrieval features, metrics and
    the loss curve."""
    RECOGNIZE_DIR.mkdir(parents=True, exist_ok=True)
    save_torch(
        RECOGNIZE_DIR / "model.pt",
        {k: v for k, v in model.state_dict().items() if not k.startswith("head.")},
    )
    save_npy(RECOGNIZE_DIR / "features.npy", feats)
    save_npy(RECOGNIZE_DIR / "retrieval.npy", ret)  # the cluster stage's round-0 scores
    metrics = {
        "loss": loss,
        "uses_identity_labels": loss == "supervised",
        "final_loss": history[-1]["loss"],
        **scores,
    }
    write_json(METRICS / "recognize.json", metrics)
    keys = sorted({k for h in history for k in h} - {"epoch", "seconds"})
    write_csv(
        PLOTS / "recognize_loss.csv",
        ["epoch", *keys],
        ([h["epoch"], *[h.get(k, 0.0) for k in keys]] for h in history),
    )
    for which, sc in scores.items():
        log.info("[recognize] %s mAP %.4f rank-1 %.4f", which, sc["mAP"], sc["rank1"])


if __name__ == "__main__":
    run(main, "recognize")
