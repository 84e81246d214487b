"""Stage `pretrain`: attribute pretraining of the backbone on the synthetic pool.

The counterpart of the papers' ImageNet initialisation (see :mod:`vreid.learn.pretraining`). Reads
the pool rendered by the `pool` stage (``data/pretrain_pool``: its own seed, so its vehicle
models, identities and cameras are disjoint from the dataset's train, validation and test),
trains ``model.arch`` at ``model.height x model.width`` to predict type, colour, model,
viewpoint and cue kinds (and, with ``pretrain.cue_detail_weight`` > 0, the cues' details from the
pool's plan), and writes the encoder in torchvision's names to
``artifacts/pretrain/backbone.pt`` (``model.pretrained`` points there by default; set it to
``none`` to start from random weights). ``metrics/pretrain.json`` has the attribute accuracy on
pool identities held out of training. Cached by DVC: it runs once per pool and model shape.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..io import save_torch, write_json
from ..learn.backbone import backbone_state_dict
from ..learn.distributed import is_main
from ..learn.images import ImageSource, normalize
from ..learn.loop import Recipe, channels_last, file_digest, train
from ..learn.pretraining import (
    attribute_head,
    attribute_loss,
    attribute_targets,
    with_cue_detail,
)
from ..synth.plan import build_world
from ..synth.presets import load_spec
from ._common import (
    METRICS,
    POOL,
    PRETRAIN_DIR,
    build_model,
    device_and_seed,
    log,
    run,
    start,
    train_setup,
)

POOL_SPEC = Path("data/source/pool.yaml")
SYNTH_SPEC = Path("data/source/synth.yaml")
#: Share of pool identities held out of pretraining to measure attribute accuracy.
HELD_OUT_SHARE = 0.05


def read_pool(root=POOL) -> pd.DataFrame:
    """The pool's train images (``synth_meta.csv`` rows) with their paths."""
    meta_path = root / "synth_meta.csv"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path}: missing; run `dvc repro pool` first")
    meta = pd.read_csv(meta_path)
    meta = meta[meta["split"] == "train"].sort_values("name").reset_index(drop=True)
    if meta.empty:
        raise ValueError(f"{meta_path}: the pool has no train images")
    meta["path"] = [str(root / "image_train" / n) for n in meta["name"]]
    return meta


def check_pool_is_disjoint(pool_spec=POOL_SPEC, data_spec=SYNTH_SPEC) -> None:
    """Models, identities and cameras are drawn from the spec's seed: equal seeds would put
    the dataset's own vehicles into the pool. Raises ValueError naming both files."""
    if not data_spec.is_file():
        return  # a real dataset: the pool is synthetic, nothing can be shared
    pool_seed, data_seed = load_spec(pool_spec)["seed"], load_spec(data_spec)["seed"]
    if pool_seed == data_seed:
        raise ValueError(
            f"{pool_spec} and {data_spec} both use seed {pool_seed}: the pool would contain the "
            f"dataset's own vehicle models and cameras; give {pool_spec} another seed"
        )


def held_out(meta: pd.DataFrame, seed: int) -> np.ndarray:
    """Which pool images belong to the ``HELD_OUT_SHARE`` of vehicles kept out of training
    (boolean per row, drawn with the stage's seed)."""
    ids = np.unique(meta["vid"].to_numpy())
    rng = np.random.default_rng(seed)
    held = rng.choice(ids, size=max(1, int(len(ids) * HELD_OUT_SHARE)), replace=False)
    return meta["vid"].isin(set(held.tolist())).to_numpy()


def main() -> None:
    params = start("pretrain")
    p, t = params["pretrain"], params["train"]
    check_pool_is_disjoint()
    meta = read_pool()
    # its own seed (train.seed is not a param of this stage: every seed reuses this encoder)
    device = device_and_seed({**params, "train": {**t, "seed": p["seed"]}})
    is_held = held_out(meta, p["seed"])
    targets = attribute_targets(meta)
    if p["cue_detail_weight"] > 0:
        plan = build_world(load_spec(POOL_SPEC))["identities"]
        targets = with_cue_detail(targets, meta["vid"].to_numpy(), plan, p["cue_detail_weight"])
    log.info(
        "[pretrain] pool: %d images of %d vehicles (%d held out); heads %s + %d cue kinds",
        len(meta),
        meta["vid"].nunique(),
        meta["vid"][is_held].nunique(),
        targets.sizes,
        targets.cues.shape[1],
    )
    m = params["model"]
    source = ImageSource(
        meta["path"].tolist(), m["height"], m["width"], t["workers"], cache=t["cache_images"]
    )
    model = build_model({**params, "model": {**m, "pretrained": "none"}}).to(device)
    head = attribute_head(model.dim, targets).to(device)
    classes = {k: torch.from_numpy(v).to(device) for k, v in targets.classes.items()}
    cues = torch.from_numpy(targets.cues).to(device)

    def step(x, idx, epoch):
        pooled, _, _ = model.forward_all(x)
        idx = idx.to(device)
        loss, parts = attribute_loss(
            head(pooled),
            {k: v[idx] for k, v in classes.items()},
            cues[idx],
            targets.sizes,
            targets.weights,
        )
        return loss, parts, None

    modules = torch.nn.ModuleDict({"model": model, "head": head})
    shared = {k: v for k, v in t.items() if k != "seed"}
    train_idx = np.flatnonzero(~is_held)
    history, ckpt = train(
        "pretrain",
        modules,
        source,
        train_idx,
        step,
        Recipe.of(p),
        train_setup(params, device, "pretrain"),
        seed=p["seed"],
        run=(m, params["augment"], p, shared, file_digest(POOL / "synth_meta.csv")),
        warmup=True,
    )
    if not is_main():  # several processes: rank 0 writes
        return
    held_acc = held_out_accuracy(model, head, source, np.flatnonzero(is_held), targets, device)
    write_outputs(model, params, meta, is_held, history, held_acc)
    ckpt.clear()


def write_outputs(model, params: dict, meta, is_held, history: list[dict], held_acc: dict) -> None:
    """The encoder in torchvision's names and ``metrics/pretrain.json``."""
    PRETRAIN_DIR.mkdir(parents=True, exist_ok=True)
    save_torch(PRETRAIN_DIR / "backbone.pt", backbone_state_dict(model))
    write_json(
        METRICS / "pretrain.json",
        {
            "task": "attributes (type, colour, model, viewpoint, cue kinds"
            + (", cue details" if params["pretrain"]["cue_detail_weight"] > 0 else "")
            + "); no identity classes",
            "arch": params["model"]["arch"],
            "n_images": int((~is_held).sum()),
            "n_vehicles": int(meta["vid"][~is_held].nunique()),
            "epochs": params["pretrain"]["epochs"],
            "final_loss": history[-1]["loss"] if history else None,
            "held_out_accuracy": held_acc,
        },
    )
    log.info("[pretrain] held-out attribute accuracy %s", held_acc)


@torch.no_grad()
def held_out_accuracy(model, head, source, rows: np.ndarray, targets, device) -> dict[str, float]:
    """Attribute accuracy on the held-out pool vehicles (no augmentation), per head."""
    model.eval()
    head.eval()
    classes = {k: torch.from_numpy(v).to(device) for k, v in targets.classes.items()}
    cues = torch.from_numpy(targets.cues).to(device)
    sums: dict[str, float] = {}
    for x, idx in source.batches(rows, 256):
        pooled, _, _ = model.forward_all(channels_last(normalize(x.to(device))))
        idx = idx.to(device)
        _, parts = attribute_loss(
            head(pooled),
            {k: v[idx] for k, v in classes.items()},
            cues[idx],
            targets.sizes,
            targets.weights,
        )
        for k, v in parts.items():
            if k.startswith("acc_"):
                sums[k] = sums.get(k, 0.0) + v * len(idx)
    return {k.removeprefix("acc_"): v / max(len(rows), 1) for k, v in sums.items()}


if __name__ == "__main__":
    run(main, "pretrain")
