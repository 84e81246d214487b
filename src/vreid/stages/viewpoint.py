"""Stage `viewpoint`: the 5-way viewpoint classifier (VAPC Sec. III-A, Eq. 1).

Trained with cross-entropy on the train images that carry a viewpoint label (a share
``viewpoint.labelled_share`` of them), or borrowed from another dataset
(``viewpoint.borrow: models/<file>.pt``, VAPC's cross-dataset use, for datasets without
viewpoint labels); predicts a viewpoint for every image. With
``viewpoint.corrupt_share`` > 0 a share of the predictions is replaced by a wrong view
(VAPC Fig. 9). Writes ``artifacts/viewpoint/{model.pt,predictions.csv}``,
``metrics/viewpoint.json`` and ``plots/viewpoint_confusion.{csv,png}``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..io import atomic_path, save_torch, write_csv, write_json
from ..learn.distributed import is_main
from ..learn.loop import Recipe, channels_last, file_digest, predict_logits, train
from ._common import (
    EVAL_SPLITS,
    MANIFEST,
    METRICS,
    PLOTS,
    VIEW_NAMES,
    VIEWPOINT_DIR,
    build_model,
    device_and_seed,
    image_source,
    load_model,
    log,
    read_manifest,
    run,
    start,
    train_setup,
)


def corrupt(pred: np.ndarray, share: float, seed: int, n_views: int = 5) -> np.ndarray:
    """Replace a random ``share`` of predictions by a uniformly drawn *different* view."""
    rng = np.random.default_rng(seed)
    out = pred.copy()
    n = int(round(share * len(pred)))
    pick = rng.choice(len(pred), size=n, replace=False)
    shift = rng.integers(1, n_views, size=n)
    out[pick] = (out[pick] + shift) % n_views
    return out


def confusion(truth: np.ndarray, pred: np.ndarray, n: int = 5) -> np.ndarray:
    m = np.zeros((n, n), dtype=np.int64)
    np.add.at(m, (truth, pred), 1)
    return m


def save_confusion_png(m: np.ndarray, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 4))
    norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(
                j,
                i,
                str(m[i, j]),
                ha="center",
                va="center",
                color="white" if norm[i, j] > 0.5 else "black",
                fontsize=8,
            )
    ax.set_xticks(range(5), VIEW_NAMES, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(5), VIEW_NAMES, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title("viewpoint confusion (test images)", fontsize=9)
    fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)


def eval_rows(df) -> list[tuple[str, np.ndarray]]:
    """(split name, row numbers) of the labelled val and test images, each file once."""
    split = df["split"].to_numpy()
    labelled = ~np.isnan(df["view5"].to_numpy(dtype="float64", na_value=np.nan))
    out = []
    for which, (q_split, g_split) in EVAL_SPLITS.items():
        rows = np.flatnonzero(np.isin(split, (q_split, g_split)) & labelled)
        _, first = np.unique(df["key"].to_numpy()[rows], return_index=True)
        if len(rows):
            out.append((which, rows[np.sort(first)]))
    return out


def view_accuracy(df, rows: np.ndarray, clean: np.ndarray, shown: np.ndarray) -> dict:
    """Accuracy (before and after corruption) and per-class accuracy on ``rows``."""
    truth = df["view5"].to_numpy(dtype="float64", na_value=np.nan)[rows].astype(np.int64)
    m = confusion(truth, clean[rows])
    return {
        "accuracy": float(np.mean(clean[rows] == truth)),
        "accuracy_after_corruption": float(np.mean(shown[rows] == truth)),
        "per_class_accuracy": {
            VIEW_NAMES[v]: float(m[v, v] / m[v].sum()) if m[v].sum() else None for v in range(5)
        },
        "images": int(len(rows)),
    }


def train_classifier(params: dict, df, source, labelled: np.ndarray, device):
    """Eq. 1 on a share ``viewpoint.labelled_share`` of the labelled train images:
    ``(model, rows used, history)``; the checkpoint is cleared by the caller."""
    vp, t = params["viewpoint"], params["train"]
    rng = np.random.default_rng(t["seed"])
    used = np.sort(
        rng.permutation(labelled)[: max(1, math.ceil(vp["labelled_share"] * len(labelled)))]
    )
    view = df["view5"].to_numpy(dtype="float64", na_value=np.nan)
    labels = torch.from_numpy(np.nan_to_num(view, nan=-1).astype(np.int64)).to(device)
    model = channels_last(build_model(params, num_classes=5).to(device))

    def step(x, idx, epoch):
        _, logits = model(x)
        loss = F.cross_entropy(logits, labels[idx])
        acc = (logits.argmax(1) == labels[idx]).float().mean()
        return loss, {"loss": loss.item(), "acc": acc.item()}, None

    history, ckpt = train(
        "viewpoint",
        model,
        source,
        used,
        step,
        Recipe.of(vp),
        train_setup(params, device, "viewpoint"),
        seed=t["seed"],
        run=(params["model"], params["augment"], vp, t, file_digest(MANIFEST)),
    )
    return model, used, history, ckpt


def borrowed_classifier(params: dict, device):
    """The classifier of ``viewpoint.borrow`` (trained on another dataset), not trained here."""
    path = Path(params["viewpoint"]["borrow"])
    fix = (
        "viewpoint.borrow must name a 5-way viewpoint model (artifacts/viewpoint/model.pt of "
        f"a run with model.arch = {params['model']['arch']}) copied into models/"
    )
    log.info("[viewpoint] borrowing %s (no training here)", path)
    return channels_last(load_model(path, params, num_classes=5, fix=fix).to(device))


def main() -> None:
    params = start("viewpoint")
    vp = params["viewpoint"]
    df = read_manifest(MANIFEST)
    device = device_and_seed(params)
    view = df["view5"].to_numpy(dtype="float64", na_value=np.nan)
    labelled = np.flatnonzero((df["split"].to_numpy() == "train") & ~np.isnan(view))
    if len(labelled) == 0 and not vp["borrow"]:
        sys.exit(
            "[viewpoint] no train image of this dataset carries a viewpoint label (view5): "
            "add keypoint_train.txt (VeRi-776's orientations) to the dataset folder, or borrow "
            "a classifier trained on another dataset (viewpoint.borrow: models/<file>.pt)"
        )
    # the classifier runs at its own input size (viewpoint.height/width)
    small = {**params, "model": {**params["model"], "height": vp["height"], "width": vp["width"]}}
    source = image_source(df, small)
    ckpt, used, history = None, np.zeros(0, dtype=np.int64), []
    if vp["borrow"]:
        model = borrowed_classifier(params, device)
    else:
        model, used, history, ckpt = train_classifier(params, df, source, labelled, device)
    prob = torch.softmax(torch.from_numpy(predict_logits(model, source, device)), 1).numpy()
    if not is_main():  # several processes: rank 0 writes
        return
    pred_clean = prob.argmax(1)
    pred = (
        corrupt(pred_clean, vp["corrupt_share"], vp["corrupt_seed"])
        if vp["corrupt_share"]
        else pred_clean
    )
    # Accuracy on labelled val / test images; a query is also in its gallery: count each key once.
    metrics = {
        **{w: view_accuracy(df, rows, pred_clean, pred) for w, rows in eval_rows(df)},
        "train_accuracy": float(np.mean(pred_clean[used] == view[used])) if len(used) else None,
        "labelled_train_images": int(len(labelled)),
        "used_train_images": int(len(used)),
        "corrupt_share": vp["corrupt_share"],
        "final_loss": history[-1]["loss"] if history else None,
        **({"borrowed_from": vp["borrow"]} if vp["borrow"] else {}),
    }
    write_outputs(df, model, prob, pred, metrics)
    if ckpt is not None:
        ckpt.clear()


def write_outputs(df, model, prob: np.ndarray, pred: np.ndarray, metrics: dict) -> None:
    """The classifier, every image's predicted view, metrics and the test confusion matrix."""
    test_rows = dict(eval_rows(df)).get("test", np.zeros(0, dtype=np.int64))
    view = df["view5"].to_numpy(dtype="float64", na_value=np.nan)
    truth, shown = view[test_rows].astype(np.int64), pred[test_rows]
    VIEWPOINT_DIR.mkdir(parents=True, exist_ok=True)
    save_torch(VIEWPOINT_DIR / "model.pt", model.state_dict())
    write_csv(
        VIEWPOINT_DIR / "predictions.csv",
        ["row", "view5_pred", *[f"p_{n}" for n in VIEW_NAMES]],
        ([i, int(pred[i]), *prob[i].tolist()] for i in range(len(df))),
    )
    write_json(METRICS / "viewpoint.json", metrics)
    write_csv(
        PLOTS / "viewpoint_confusion.csv",
        ["actual", "predicted"],
        ((VIEW_NAMES[a], VIEW_NAMES[p]) for a, p in zip(truth, shown, strict=True)),
    )
    save_confusion_png(confusion(truth, shown), PLOTS / "viewpoint_confusion.png")
    for which in ("val", "test"):
        if which in metrics:
            log.info("[viewpoint] %s accuracy %s", which, metrics[which]["accuracy"])


if __name__ == "__main__":
    run(main, "viewpoint")
