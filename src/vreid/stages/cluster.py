"""Stage `cluster`: VAPC progressive clustering rounds (Algorithm 1, lines 6-18).

tau is computed once from the recognition features (``ti``). Each round: first period
(per predicted viewpoint: k-reciprocal Jaccard + DBSCAN, then noise selection with
``k_tilde``), second period (cross-view merge below tau), then retraining on the pseudo
labels with a cluster memory (``cluster.method = vapc``), plus the CTACL tracklet term and
lambda * camera DA (``combined``, the default). ``ctacl`` runs no rounds: the recognition
model is the final model. Ground truth is read only for diagnostics (AMI, ARI, pairwise
precision/recall, merge correctness), never for training.

Writes ``artifacts/cluster/{model.pt,features.npy,labels.csv}``, ``metrics/cluster.json``
and ``plots/rounds.csv``.
"""

from __future__ import annotations

import shutil

import numpy as np
import torch

from ..cluster import ClusterConfig, cluster_round, relabel_consecutive, tau_from_ti
from ..evaluation import cluster_quality, merge_precision
from ..io import save_npy, save_torch, write_csv, write_json
from ..memory import CameraTrackletMemory, ClusterMemory
from ..objectives import Objective
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
    CLUSTER_DIR,
    MANIFEST,
    METRICS,
    PLOTS,
    RECOGNIZE_DIR,
    TRACKLETS,
    augment_config,
    device_and_seed,
    image_source,
    load_model,
    log,
    read_manifest,
    read_tracklets,
    read_view_predictions,
    retrieval_by_split,
    start,
    views_for_eval,
)

#: Pseudo-label quality of a round (``metrics/cluster.json`` ``final.*``, ``plots/rounds.csv``).
CLUSTER_COLUMNS = [
    "ami",
    "ari",
    "pairwise_precision",
    "pairwise_recall",
    "n_clusters",
    "noise_share",
    "n_merges",
    "merge_precision",
]
HEADLINE = ("mAP", "rank1", "cross_view_mAP")
ROUND_COLUMNS = [
    "round",
    *CLUSTER_COLUMNS,
    *[f"{w}_{k}" for w in ("val", "test") for k in HEADLINE],
]


def headline(scores: dict[str, dict]) -> dict[str, float]:
    """``{"val_mAP": ..., "test_rank1": ...}`` from :func:`retrieval_by_split` output."""
    return {f"{w}_{k}": sc[k] for w, sc in scores.items() for k in HEADLINE if k in sc}


def main() -> None:
    params = start("cluster")
    c, t = params["cluster"], params["train"]
    df = read_manifest(MANIFEST)
    rows, cams, tracklets = read_tracklets(df)
    device = device_and_seed(params)
    model = load_model(RECOGNIZE_DIR / "model.pt", params).to(device)
    feats = np.load(RECOGNIZE_DIR / "features.npy")
    views_pred = read_view_predictions(len(df))
    train_views = views_pred[rows]
    truth = df["vid"].to_numpy()[rows]  # diagnostics only
    eval_views = views_for_eval(df)

    cfg = ClusterConfig(
        k1=c["k1"],
        k2=c["k2"],
        eps=c["eps"],
        min_samples=c["min_samples"],
        k_tilde=params["k_tilde"],
        two_period=c["two_period"],
        k_reciprocal=c["k_reciprocal"],
        noise_selection=c["noise_selection"],
        noise_mode=c["noise_mode"],
    )
    tau = tau_from_ti(feats[rows], train_views, params["ti"]) if params["ti"] > 0 else 0.0
    log.info("[cluster] tau = %.4f from ti = %d", tau, params["ti"])
    base = retrieval_by_split(df, feats, params, eval_views, device)
    records: list[dict] = [{"round": 0, **headline(base)}]
    final_scores = base
    rounds = c["rounds"] if c["method"] != "ctacl" else 0
    labels = np.full(len(rows), -1, dtype=np.int64)
    source = image_source(df, params) if rounds else None
    run = fingerprint(
        params["model"],
        params["augment"],
        c,
        t,
        params["ti"],
        params["k_tilde"],
        params["k"],
        params["gamma"],
        params["lambda"],
        params["recognize"]["da_temperature"],
        file_digest(MANIFEST),
        file_digest(TRACKLETS),
        file_digest(RECOGNIZE_DIR / "model.pt"),
    )
    last_stats: dict = {}
    for rnd in range(1, rounds + 1):
        train_feats = feats[rows]
        labels, stats = cluster_round(train_feats, train_views, tau, cfg)
        labels = relabel_consecutive(np.asarray(labels, dtype=np.int64))
        before_merge = stats.pop("labels_before_merge", None)
        quality = cluster_quality(labels, truth)
        mp = merge_precision(before_merge, labels, truth) if before_merge is not None else None
        last_stats = stats
        log.info(
            "[cluster] round %d: %d clusters, AMI %.4f, %d merges",
            rnd,
            quality["n_clusters"],
            quality["ami"],
            stats.get("n_merges", 0),
        )
        if (labels >= 0).sum() == 0:
            raise RuntimeError(
                "clustering left every sample as noise; lower cluster.min_samples or raise "
                "cluster.eps"
            )
        obj = Objective(
            "cluster",
            temperature=params["recognize"]["temperature"],
            beta=c["beta"],
            k=params["k"],
            gamma=params["gamma"],
        )
        lab_t = torch.from_numpy(labels).to(device)
        f_t = torch.from_numpy(train_feats).to(device)
        obj.clusters = ClusterMemory.from_labels(f_t, lab_t).to(device)
        if c["method"] == "combined":
            obj.lam, obj.tracklet_weight = params["lambda"], c["tracklet_weight"]
            obj.da_temperature = params["recognize"]["da_temperature"]
            obj.ctam = CameraTrackletMemory(
                f_t, torch.from_numpy(cams), torch.from_numpy(tracklets)
            ).to(device)

        def step(x, idx, epoch, obj=obj):
            z, _ = model(x)
            loss, parts = obj.loss(z, None, idx, epoch)
            return loss, parts, lambda: obj.post(z, idx)

        opt = build_optimizer(model.parameters(), c["optimizer"], c["lr"])
        sched = build_scheduler(opt, c["schedule"], c["epochs_per_round"])
        ckpt = Checkpoints(CHECKPOINTS / "cluster", f"{run}-round{rnd}")
        train_idx = rows if c["noise_mode"] != "drop" else rows[labels >= 0]
        fcfg = FitConfig(
            c["epochs_per_round"],
            t["batch_size"],
            t["seed"] + rnd,
            device,
            augment_config(params),
            name=f"round {rnd}",
        )
        fit(
            Trainable(model, opt, sched, obj.memories()),
            source,
            train_idx,
            fcfg,
            step,
            checkpoints=ckpt,
        )
        feats = extract_features(model, source, device)
        scores = final_scores = retrieval_by_split(df, feats, params, eval_views, device)
        records.append(
            {
                "round": rnd,
                "ami": quality["ami"],
                "ari": quality["ari"],
                "pairwise_precision": quality["pairwise_precision"],
                "pairwise_recall": quality["pairwise_recall"],
                "n_clusters": quality["n_clusters"],
                "noise_share": stats.get("n_noise_before_selection", 0) / max(len(rows), 1),
                "n_merges": stats.get("n_merges", 0),
                "merge_precision": mp,
                **headline(scores),
            }
        )
        ckpt.clear()

    CLUSTER_DIR.mkdir(parents=True, exist_ok=True)
    if rounds:
        save_torch(CLUSTER_DIR / "model.pt", model.state_dict())
    else:
        shutil.copyfile(RECOGNIZE_DIR / "model.pt", CLUSTER_DIR / "model.pt")
    save_npy(CLUSTER_DIR / "features.npy", feats)
    write_csv(
        CLUSTER_DIR / "labels.csv",
        ["row", "view5_pred", "pseudo_label"],
        zip(rows, train_views, labels, strict=True),
    )
    final = records[-1]
    metrics = {
        "method": c["method"],
        "tau": float(tau),
        "ti": params["ti"],
        "rounds": rounds,
        "final": {
            **{k: final.get(k) for k in CLUSTER_COLUMNS},
            **{w: {k: sc.get(k) for k in HEADLINE} for w, sc in final_scores.items()},
        },
        "last_round_stats": {k: v for k, v in last_stats.items() if not isinstance(v, dict)},
    }
    write_json(METRICS / "cluster.json", metrics)
    write_csv(
        PLOTS / "rounds.csv",
        ROUND_COLUMNS,
        ([rec.get(k) for k in ROUND_COLUMNS] for rec in records),
    )
    log.info("[cluster] done: %s", metrics["final"])


if __name__ == "__main__":
    main()
