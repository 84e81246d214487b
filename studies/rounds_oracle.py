"""One clustering round trained on given labels: are the pseudo labels or the objective to blame?

A diagnostic, not a pipeline stage (README, Results: "Why the rounds lower mAP"). From the
`recognize` stage's model and features (the committed default), it runs the `cluster` stage's
first round — the same objective (cluster memory + CTACL tracklet term + DA for ``combined``),
epochs, optimiser and seed — with the labels chosen here, and prints validation and test mAP:

- ``--labels pseudo``: the round's own pseudo labels (the control: the stage's round 1);
- ``--labels truth``: the train split's true identities (an oracle no unsupervised method has).

    python studies/rounds_oracle.py --labels truth
"""

import argparse

import numpy as np
import torch

from vreid import params as P
from vreid.cluster import tau_from_ti
from vreid.learn.loop import Recipe, extract_features, train
from vreid.learn.memory import CameraTrackletMemory, ClusterMemory
from vreid.learn.objectives import make_objective
from vreid.stages._common import (
    RECOGNIZE_DIR,
    device_and_seed,
    image_source,
    load_model,
    read_manifest,
    read_tracklets,
    read_view_predictions,
    retrieval_by_split,
    train_setup,
    views_for_eval,
)
from vreid.stages.cluster import cluster_config, pseudo_labels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", choices=("pseudo", "truth"), required=True)
    a = ap.parse_args()
    params = P.load("params.yaml")
    c, t = params["cluster"], params["train"]
    df = read_manifest()
    rows, cams, tracklets = read_tracklets(df)
    device = device_and_seed(params)
    model = load_model(RECOGNIZE_DIR / "model.pt", params).to(device)
    feats = np.load(RECOGNIZE_DIR / "features.npy")
    views = read_view_predictions(len(df))[rows]
    truth = df["vid"].to_numpy()[rows]
    if a.labels == "truth":
        labels = np.unique(truth, return_inverse=True)[1].astype(np.int64)
    else:
        tau = tau_from_ti(feats[rows], views, params["ti"])
        sample = np.arange(len(rows))
        labels = pseudo_labels(feats[rows], views, truth, tau, cluster_config(params), 1, sample)[0]
    f_t = torch.from_numpy(feats[rows].copy()).to(device)
    clusters = ClusterMemory.from_labels(f_t, torch.from_numpy(labels).to(device)).to(device)
    ctam = None
    if c["method"] == "combined":
        ctam = CameraTrackletMemory(
            f_t, torch.from_numpy(cams.copy()), torch.from_numpy(tracklets.copy())
        ).to(device)
    obj = make_objective("cluster", params, clusters=clusters, ctam=ctam)

    def step(x, idx, epoch):
        z, _ = model(x)
        loss, parts = obj.loss(z, None, idx, epoch)
        return loss, parts, (obj.post, z, idx)

    source = image_source(df, params)
    _, ckpt = train(
        "round 1",
        model,
        source,
        rows,
        step,
        Recipe.of(c, epochs="epochs_per_round"),
        train_setup(params, device, "rounds_oracle"),
        seed=t["seed"] + 1,
        run=("rounds_oracle", a.labels),
        extra=obj.memories(),
    )
    ckpt.clear()
    scores = retrieval_by_split(
        df, extract_features(model, source, device), params, views_for_eval(df), device
    )
    print(
        f"labels {a.labels}: {len(np.unique(labels[labels >= 0]))} clusters;",
        {w: round(s["mAP"], 4) for w, s in scores.items()},
    )


if __name__ == "__main__":
    main()
