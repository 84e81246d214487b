"""One clustering round trained on given labels: are the pseudo labels or the objective to blame?

A diagnostic, not a pipeline stage (docs/results.md: "Why the rounds lowered mAP"). From the
`recognize` stage's model and features (the committed default), it runs the `cluster` stage's
first round — the same objective (cluster memory + CTACL tracklet term + DA for ``combined``),
epochs, optimiser and seed — with the labels chosen here, and prints validation and test mAP:

- ``--labels pseudo``: the round's own pseudo labels (the control: the stage's round 1);
- ``--labels truth``: the train split's true identities (an oracle no unsupervised method has);
- ``--labels truth_by_view`` / ``truth_by_camera``: the true identities split by predicted
  viewpoint / by camera — pure clusters, fragmented as a clustering that never merges across
  views (or cameras) would leave them.

``--cluster-weight W`` overrides ``cluster.cluster_weight`` (0: the round without the labels'
loss, the control for both; docs/results.md: "What the pseudo labels add").

    python studies/rounds_oracle.py --labels truth
    python studies/rounds_oracle.py --labels pseudo --cluster-weight 0
"""

import argparse

import numpy as np

from vreid import params as P
from vreid.cluster import tau_from_ti
from vreid.learn.loop import extract_features
from vreid.stages._common import (
    RECOGNIZE_DIR,
    device_and_seed,
    image_source,
    load_model,
    read_manifest,
    read_tracklets,
    read_view_predictions,
    retrieval_by_split,
    views_for_eval,
)
from vreid.stages.cluster import cluster_config, pseudo_labels, train_round


def oracle_labels(truth: np.ndarray, split: np.ndarray | None = None) -> np.ndarray:
    """One cluster per identity, or per (identity, ``split`` value) pair when ``split`` is given
    (e.g. the predicted viewpoint: pure clusters, fragmented by it); ids 0..K-1 in the pairs'
    sorted order."""
    by = np.zeros(len(truth), np.int64) if split is None else np.asarray(split, np.int64)
    keys = np.stack([np.asarray(truth, np.int64), by], axis=1)
    return np.unique(keys, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--labels", choices=("pseudo", "truth", "truth_by_view", "truth_by_camera"), required=True
    )
    ap.add_argument("--cluster-weight", type=float, default=None)
    a = ap.parse_args()
    params = P.load("params.yaml")
    if a.cluster_weight is not None:
        params["cluster"]["cluster_weight"] = a.cluster_weight
        P.validate(params, "--cluster-weight")
    df = read_manifest()
    rows, cams, tracklets = read_tracklets(df)
    device = device_and_seed(params)
    model = load_model(RECOGNIZE_DIR / "model.pt", params).to(device)
    feats = np.load(RECOGNIZE_DIR / "features.npy")
    views = read_view_predictions(len(df))[rows]
    truth = df["vid"].to_numpy()[rows]
    if a.labels.startswith("truth"):
        split = {"truth": None, "truth_by_view": views, "truth_by_camera": cams}[a.labels]
        labels = oracle_labels(truth, split)
    else:
        tau = tau_from_ti(feats[rows], views, params["ti"])
        sample = np.arange(len(rows))
        labels = pseudo_labels(feats[rows], views, truth, tau, cluster_config(params), 1, sample)[0]
    source = image_source(df, params)
    run = ("rounds_oracle", a.labels, params["cluster"]["cluster_weight"])
    train_round(
        model,
        source,
        rows,
        feats[rows],
        labels,
        (cams, tracklets),
        params,
        1,
        run,
        stage="rounds_oracle",
    ).clear()
    scores = retrieval_by_split(
        df,
        extract_features(model, source, device, feature=params["evaluate"]["feature"]),
        params,
        views_for_eval(df),
        device,
    )
    print(
        f"labels {a.labels}, cluster_weight {params['cluster']['cluster_weight']}:",
        f"{len(np.unique(labels[labels >= 0]))} clusters;",
        {w: round(s["mAP"], 4) for w, s in scores.items()},
    )


if __name__ == "__main__":
    main()
