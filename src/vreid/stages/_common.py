"""Shared plumbing of the stage scripts: file locations, params, manifest I/O, models.

The data stages (``synthesize``, ``prepare``, ``tracklets``) never touch torch: the helpers of
the learning stages import it (and torchvision) when first called, so that a data stage or a
params error starts in well under a second instead of ~4.5 s (README "Tests")."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import params as params_mod
from ..data._manifest import VIEW5_NAMES
from ..io import InputError, TrainingDiverged, atomic_path, setup_logging
from ..reproducibility import open_bfloat16_units

if TYPE_CHECKING:
    import torch

    from ..learn.backbone import ReidNet
    from ..learn.images import AugmentConfig, ImageSource
    from ..learn.loop import Setup

ART = Path("artifacts")
POOL = Path("data/pretrain_pool")
PRETRAIN_DIR = ART / "pretrain"
MANIFEST = ART / "prepare" / "manifest.csv"
TRACKLETS = ART / "tracklets" / "tracklets.csv"
VIEWPOINT_DIR = ART / "viewpoint"
RECOGNIZE_DIR = ART / "recognize"
CLUSTER_DIR = ART / "cluster"
CHECKPOINTS = ART / "checkpoints"
METRICS = Path("metrics")
PLOTS = Path("plots")

log = logging.getLogger("vreid")

#: VAPC's 5 viewpoints as column-safe names (``front_side``), in label order 0..4.
VIEW_NAMES = [name.replace("-", "_") for name in VIEW5_NAMES]

_NULLABLE_INT = ["frame", "view5", "view8", "color", "type"]


#: The stages that train a network (``train.processes > 1`` runs them under torchrun).
LEARNING_STAGES = ("pretrain", "viewpoint", "recognize", "cluster")


def start(stage: str) -> dict[str, Any]:
    """Logging + validated params; exits with a one-line message on a params error. A
    learning stage with ``train.processes > 1`` re-launches itself under torchrun here
    (:func:`vreid.learn.distributed.launch`); its processes other than rank 0 log warnings
    only."""
    setup_logging()
    try:
        params = params_mod.load("params.yaml")
    except params_mod.ParamsError as exc:
        sys.exit(f"[{stage}] {exc}")
    if stage in LEARNING_STAGES:
        from ..checks import resolve_device
        from ..learn import distributed as ddp

        t = params["train"]
        if t["amp"] and resolve_device(t["device"]).type == "cpu" and open_bfloat16_units():
            log.info("[%s] train.amp on the CPU: oneDNN may use its bfloat16 units", stage)
        ddp.launch(stage, t["processes"])
        if ddp.under_torchrun() and os.environ["RANK"] != "0":
            log.setLevel(logging.WARNING)
    log.info("[%s] start", stage)
    return params


def write_manifest(df: pd.DataFrame, path: Path = MANIFEST) -> None:
    with atomic_path(path, ".csv") as tmp:
        df.to_csv(tmp, index=False, lineterminator="\n")


def read_manifest(path: Path = MANIFEST) -> pd.DataFrame:
    """The manifest written by ``prepare`` (one row per image, see README 'Manifest')."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; run `dvc repro prepare` first")
    df = pd.read_csv(
        path,
        dtype={"key": str, "path": str, "split": str, "tracklet": str},
        keep_default_na=False,
        na_values={c: [""] for c in _NULLABLE_INT},
    )
    for col in _NULLABLE_INT:
        df[col] = df[col].astype("Int64")
    df["vid"] = df["vid"].astype(np.int64)
    df["camid"] = df["camid"].astype(np.int64)
    return df


def train_rows(df: pd.DataFrame) -> np.ndarray:
    """Row numbers of the train split (int64)."""
    return np.flatnonzero((df["split"] == "train").to_numpy())


def image_source(df: pd.DataFrame, params: dict[str, Any]) -> ImageSource:
    from ..learn.images import ImageSource

    m, t = params["model"], params["train"]
    return ImageSource(
        df["path"].tolist(), m["height"], m["width"], workers=t["workers"], cache=t["cache_images"]
    )


def augment_config(params: dict[str, Any]) -> AugmentConfig:
    from ..learn.images import AugmentConfig

    a = params["augment"]
    return AugmentConfig(a["flip"], a["pad_crop"], a["color_jitter"], a["random_erasing"])


def device_and_seed(params: dict[str, Any]) -> torch.device:
    """The stage's device (this process's one under torchrun), after seeding and fixing the
    thread count (``train.threads`` shared by the processes of one machine)."""
    from ..checks import resolve_device
    from ..learn import distributed as ddp
    from ..learn.loop import seed_everything

    t = params["train"]
    device, threads = ddp.init(resolve_device(t["device"]), t["batch_size"], t["threads"])
    seed_everything(t["seed"], threads)
    return device


def train_setup(params: dict[str, Any], device: torch.device, stage: str) -> Setup:
    """Device, batch size, augmentation and ``artifacts/checkpoints/<stage>`` of a stage."""
    from ..learn.loop import Setup

    t = params["train"]
    return Setup(device, t["batch_size"], augment_config(params), CHECKPOINTS / stage, t["amp"])


def build_model(params: dict[str, Any], num_classes: int = 0) -> ReidNet:
    from ..learn.backbone import ReidNet

    m = params["model"]
    return ReidNet(
        m["arch"],
        m["last_stride"],
        num_classes=num_classes,
        pretrained=m["pretrained"],
        channels=m["channels"],
    )


def load_model(
    path: Path,
    params: dict[str, Any],
    num_classes: int = 0,
    fix: str = "re-run the stage that writes it: `dvc repro -f <stage>`",
) -> ReidNet:
    """A model written by an earlier stage (weights only; see :func:`vreid.io.load_weights`);
    ``fix`` says what to do when the file is missing, broken or of another architecture."""
    from ..learn.backbone import load_state

    model = build_model({**params, "model": {**params["model"], "pretrained": "none"}}, num_classes)
    m = params["model"]
    return load_state(
        model, path, f"model.arch = {m['arch']}, model.channels = {m['channels']}", fix
    )


def run(main: Callable[[], None], stage: str) -> None:
    """Run a stage's ``main``; a bad input file or parameter (:class:`InputError`, a missing
    file) ends it with one line naming it and exit status 1, not a traceback."""
    try:
        main()
    except (InputError, FileNotFoundError, TrainingDiverged) as exc:
        sys.exit(f"[{stage}] {exc}")


#: Retrieval splits: name -> (query split, gallery split) in the manifest. ``val`` is for
#: choosing parameters; ``test`` only reports (nothing is ever selected on it).
EVAL_SPLITS = {"val": ("val_query", "val_gallery"), "test": ("query", "gallery")}


def query_gallery(df: pd.DataFrame, which: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Row numbers of the query and gallery images of ``which`` (``val`` or ``test``)."""
    q_split, g_split = EVAL_SPLITS[which]
    split = df["split"].to_numpy()
    return np.flatnonzero(split == q_split), np.flatnonzero(split == g_split)


def eval_splits(df: pd.DataFrame) -> list[str]:
    """The retrieval splits present in the manifest: ``val`` (if any), then ``test``."""
    return [w for w in EVAL_SPLITS if all(len(r) for r in query_gallery(df, w))]


def views_for_eval(df: pd.DataFrame, predicted: np.ndarray | None = None) -> np.ndarray:
    """Ground-truth view5 where known, else the predicted view (for cross-view metrics)."""
    truth = df["view5"].to_numpy(dtype="float64", na_value=np.nan)
    if predicted is None:
        return np.where(np.isnan(truth), -1, truth).astype(np.int64)
    return np.where(np.isnan(truth), predicted, truth).astype(np.int64)


def retrieval(
    df: pd.DataFrame,
    feats: np.ndarray,
    params: dict[str, Any],
    views: np.ndarray | None = None,
    device: torch.device | None = None,
    which: str = "test",
    dist: np.ndarray | torch.Tensor | None = None,
    per_query: bool = False,
) -> dict:
    """Query x gallery retrieval scores of ``feats`` (rows aligned with ``df``) on ``which``."""
    import torch

    from ..eval import RetrievalSet, evaluate_retrieval

    q, g = query_gallery(df, which)
    e = params["evaluate"]
    vid, cam, key = (df[c].to_numpy() for c in ("vid", "camid", "key"))

    def side(rows: np.ndarray) -> RetrievalSet:
        return RetrievalSet(
            features=None if dist is not None else torch.from_numpy(feats[rows]),
            ids=vid[rows],
            cams=cam[rows],
            keys=key[rows],
            views=None if views is None else views[rows],
        )

    return evaluate_retrieval(
        side(q),
        side(g),
        dist=dist,
        max_rank=e["max_rank"],
        remove_same_camera=e["remove_same_camera"],
        block_size=e["block_size"],
        device=device,
        per_query=per_query,
    )


def retrieval_by_split(
    df: pd.DataFrame,
    feats: np.ndarray,
    params: dict[str, Any],
    views: np.ndarray | None = None,
    device: torch.device | None = None,
) -> dict[str, dict]:
    """``{"val": summary, "test": summary}`` (``val`` only when the manifest has it)."""
    return {
        w: retrieval_summary(retrieval(df, feats, params, views, device, w))
        for w in eval_splits(df)
    }


def read_tracklets(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train rows, camera ids, tracklet ids) from the `tracklets` stage, aligned."""
    if not TRACKLETS.is_file():
        raise FileNotFoundError(f"{TRACKLETS}: missing; run `dvc repro tracklets` first")
    t = pd.read_csv(TRACKLETS)
    rows = t["row"].to_numpy(np.int64)
    if not np.array_equal(rows, train_rows(df)):
        raise ValueError(f"{TRACKLETS} does not match {MANIFEST}; re-run `dvc repro tracklets`")
    return rows, t["camid"].to_numpy(np.int64), t["tracklet"].to_numpy(np.int64)


def read_view_predictions(n: int) -> np.ndarray:
    path = VIEWPOINT_DIR / "predictions.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; run `dvc repro viewpoint` first")
    pred = pd.read_csv(path, usecols=["row", "view5_pred"])
    if len(pred) != n:
        raise ValueError(f"{path} has {len(pred)} rows, the manifest {n}; re-run `dvc repro`")
    return pred["view5_pred"].to_numpy(np.int64)


RETRIEVAL_KEYS = (
    "mAP",
    "rank1",
    "rank5",
    "rank10",
    "rank20",
    "mINP",
    "cross_view_mAP",
    "cross_view_rank1",
)


def retrieval_summary(r: dict) -> dict:
    return {k: r[k] for k in RETRIEVAL_KEYS if k in r}
