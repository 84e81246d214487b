"""Stage `cluster`: VAPC progressive clustering rounds (Algorithm 1, lines 6-18).

tau is computed once from the recognition features (``ti``). Each round: first period
(per predicted viewpoint: k-reciprocal Jaccard + DBSCAN, then noise selection with
``k_tilde``), second period (cross-view merge below tau), then retraining on the pseudo
labels with a cluster memory (``cluster.method = vapc``), plus the CTACL tracklet term and
lambda * camera DA (``combined``, the default). ``ctacl`` runs no rounds: the recognition
model is the final model. Ground truth is read only for diagnostics (AMI, ARI, pairwise
precision/recall, merge correctness), never for training.

Writes ``artifacts/cluster/{model.pt,features.npy,labels.csv}`` (``features.npy``: the final
model's retrieval features, ``evaluate.feature``, which the `evaluate` stage scores),
``metrics/cluster.json`` and ``plots/rounds.csv``.
"""

from __future__ import annotations

import shutil
import sys

import numpy as np
import torch

from ..cluster import ClusterConfig, cluster_round, relabel_consecutive, tau_from_ti
from ..cluster.sampling import assign_to_nearest_cluster, sample_per_view
from ..eval import cluster_quality, merge_precision
from ..io import save_npy, save_torch, write_csv, write_json
from ..learn.distributed import broadcast_from_main, is_main
from ..learn.images import ImageSource
from ..learn.loop import Checkpoints, Recipe, embedding_and_retrieval, file_digest, train
from ..learn.memory import CameraTrackletMemory, ClusterMemory
from ..learn.objectives import make_objective
from ..resources import cluster_peak_bytes, require_fits
from ._common import (
    CLUSTER_DIR,
    MANIFEST,
    METRICS,
    PLOTS,
    RECOGNIZE_DIR,
    TRACKLETS,
    device_and_seed,
    image_source,
    load_model,
    log,
    read_manifest,
    read_tracklets,
    read_view_predictions,
    retrieval_by_split,
    run,
    start,
    train_setup,
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


def cluster_config(params: dict) -> ClusterConfig:
    c = params["cluster"]
    return ClusterConfig(
        k1=c["k1"],
        k2=c["k2"],
        eps=c["eps"],
        min_samples=c["min_samples"],
        k_tilde=params["k_tilde"],
        two_period=c["two_period"],
        k_reciprocal=c["k_reciprocal"],
        noise_selection=c["noise_selection"],
        noise_mode=c["noise_mode"],
        knn_precision=c["knn_precision"],
    )


def pseudo_labels(feats, views, truth, tau, cfg, rnd, sample) -> tuple[np.ndarray, dict, dict]:
    """One round's first and second period (VAPC Algorithm 1, lines 8-15) on the rows
    ``sample`` (every row unless ``cluster.per_view_sample``; the others then join the nearest
    cluster of their viewpoint): labels, the clustering's own stats and the pseudo-label
    quality against the truth (diagnostics; merge precision over the clustered rows)."""
    every = len(sample) == len(feats)
    labels, stats = cluster_round(feats[sample] if not every else feats, views[sample], tau, cfg)
    labels = relabel_consecutive(np.asarray(labels, dtype=np.int64))
    before_merge = stats.pop("labels_before_merge", None)
    if not every:
        labels = assign_to_nearest_cluster(feats, views, sample, labels)
    quality = cluster_quality(labels, truth)
    quality["noise_share"] = stats.get("n_noise_before_selection", 0) / max(len(sample), 1)
    quality["n_merges"] = stats.get("n_merges", 0)
    quality["merge_precision"] = (
        merge_precision(before_merge, labels[sample], truth[sample])
        if before_merge is not None
        else None
    )
    log.info(
        "[cluster] round %d: %d clusters, AMI %.4f, %d merges",
        rnd,
        quality["n_clusters"],
        quality["ami"],
        quality["n_merges"],
    )
    if (labels >= 0).sum() == 0:
        raise RuntimeError(
            "clustering left every sample as noise; lower cluster.min_samples or raise cluster.eps"
        )
    return labels, stats, quality


def train_round(
    model: torch.nn.Module,
    source: ImageSource,
    rows: np.ndarray,
    feats: np.ndarray,
    labels: np.ndarray,
    tracklets: tuple[np.ndarray, np.ndarray],
    params: dict,
    rnd: int,
    run: tuple,
    stage: str = "cluster",
) -> Checkpoints:
    """Algorithm 1, line 17: round ``rnd``'s training of ``model`` on the pseudo ``labels`` of
    the train ``rows`` — a cluster memory initialised from their ``feats``, plus the CTACL
    tracklet term and camera DA on ``tracklets`` = (camera ids, tracklet ids) when
    ``cluster.method`` is ``combined`` — for ``cluster.epochs_per_round`` epochs, seeded by
    ``train.seed + rnd``. Returns the round's checkpoints, which the caller clears once the
    round's outputs are safe; ``run`` identifies the round in them."""
    c = params["cluster"]
    device = next(model.parameters()).device
    f_t = torch.from_numpy(feats).to(device)
    clusters = ClusterMemory.from_labels(f_t, torch.from_numpy(labels).to(device)).to(device)
    ctam = None
    if c["method"] == "combined":
        cams, ids = (torch.from_numpy(a.copy()) for a in tracklets)  # writable copies
        ctam = CameraTrackletMemory(f_t, cams, ids).to(device)
    obj = make_objective("cluster", params, clusters=clusters, ctam=ctam)

    def step(x, idx, epoch):
        z, _ = model(x)
        loss, parts = obj.loss(z, None, idx, epoch)
        return loss, parts, (obj.post, z, idx)

    _, ckpt = train(
        f"round {rnd}",
        model,
        source,
        rows if c["noise_mode"] != "drop" else rows[labels >= 0],
        step,
        Recipe.of(c, epochs="epochs_per_round"),
        train_setup(params, device, stage),
        seed=params["train"]["seed"] + rnd,
        run=run,
        extra=obj.memories(),
    )
    return ckpt


def main() -> None:
    params = start("cluster")
    c, t = params["cluster"], params["train"]
    df = read_manifest(MANIFEST)
    rows, cams, tracklets = read_tracklets(df)
    device = device_and_seed(params)
    model = load_model(RECOGNIZE_DIR / "model.pt", params).to(device)
    feats = np.load(RECOGNIZE_DIR / "features.npy")
    train_views = read_view_predictions(len(df))[rows]
    truth = df["vid"].to_numpy()[rows]  # diagnostics only
    eval_views = views_for_eval(df)
    cfg = cluster_config(params)
    sample = sample_per_view(train_views, c["per_view_sample"], t["seed"])  # 0: every row
    require_fits(
        cluster_peak_bytes(len(sample), feats.shape[1], c["k1"], c["k_reciprocal"])
        + (len(rows) - len(sample)) * feats.shape[1] * 4,  # the rows assigned afterwards
        f"clustering {len(sample)} of {len(rows)} train images ({feats.shape[1]}-d, "
        f"k1 = {c['k1']})",
        "lower cluster.k1 (the Jaccard distance stores about 2 k1^2 pairs per image) or "
        "cluster.per_view_sample",
    )
    try:  # before any round: a ti beyond the cross-view pairs stops here, with its count
        tau = tau_from_ti(feats[rows][sample], train_views[sample], params["ti"])  # ti 0: 0.0
    except ValueError as exc:
        sys.exit(f"[cluster] params.yaml: {exc}")
    log.info("[cluster] tau = %.4f from ti = %d", tau, params["ti"])

    # the clustering reads the embedding (feats); the scores rank by evaluate.feature (ret)
    feature = params["evaluate"]["feature"]
    ret = np.load(RECOGNIZE_DIR / "retrieval.npy")

    def scores_now() -> dict:  # rank 0 only (several processes): the others do not report
        return retrieval_by_split(df, ret, params, eval_views, device) if is_main() else {}

    scores = scores_now()
    records: list[dict] = [{"round": 0, **headline(scores)}]
    rounds = c["rounds"] if c["method"] != "ctacl" else 0
    labels = np.full(len(rows), -1, dtype=np.int64)
    source = image_source(df, params) if rounds else None
    run = (params["model"], params["augment"], c, t, params["ti"], params["k_tilde"])
    run += (params["k"], params["gamma"], params["lambda"], params["recognize"]["da_temperature"])
    run += (file_digest(MANIFEST), file_digest(TRACKLETS), file_digest(RECOGNIZE_DIR / "model.pt"))
    stats: dict = {}
    for rnd in range(1, rounds + 1):
        labels, stats, quality = broadcast_from_main(
            pseudo_labels, feats[rows], train_views, truth, tau, cfg, rnd, sample
        )
        ckpt = train_round(
            model, source, rows, feats[rows], labels, (cams, tracklets), params, rnd, (*run, rnd)
        )
        feats, ret = embedding_and_retrieval(model, source, device, feature)
        scores = scores_now()
        records.append({"round": rnd, **{k: quality[k] for k in CLUSTER_COLUMNS}})
        records[-1].update(headline(scores))
        ckpt.clear()
    if is_main():
        write_outputs(params, model, ret, rows, train_views, labels, tau, records, scores, stats)


def write_outputs(params, model, feats, rows, views, labels, tau, records, scores, stats) -> None:
    """Model, retrieval features, pseudo labels, ``metrics/cluster.json`` and
    ``plots/rounds.csv``."""
    c = params["cluster"]
    rounds = len(records) - 1
    CLUSTER_DIR.mkdir(parents=True, exist_ok=True)
    if rounds:
        save_torch(CLUSTER_DIR / "model.pt", model.state_dict())
    else:
        shutil.copyfile(RECOGNIZE_DIR / "model.pt", CLUSTER_DIR / "model.pt")
    save_npy(CLUSTER_DIR / "features.npy", feats)
    write_csv(
        CLUSTER_DIR / "labels.csv",
        ["row", "view5_pred", "pseudo_label"],
        zip(rows, views, labels, strict=True),
    )
    final = records[-1]
    metrics = {
        "method": c["method"],
        "tau": float(tau),
        "ti": params["ti"],
        "rounds": rounds,
        "final": {
            **{k: final.get(k) for k in CLUSTER_COLUMNS},
            **{w: {k: sc.get(k) for k in HEADLINE} for w, sc in scores.items()},
        },
        "last_round_stats": {k: v for k, v in stats.items() if not isinstance(v, dict)},
    }
    write_json(METRICS / "cluster.json", metrics)
    write_csv(
        PLOTS / "rounds.csv",
        ROUND_COLUMNS,
        ([rec.get(k) for k in ROUND_COLUMNS] for rec in records),
    )
    log.info("[cluster] done: %s", metrics["final"])


if __name__ == "__main__":
    run(main, "cluster")
