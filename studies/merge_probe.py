"""Cross-view merge precision of the first clustering round, for given train features.

A diagnostic, not a pipeline stage (docs/results.md: "Why most cross-view merges join
look-alikes"). It
runs the `cluster` stage's first round — tau from ``ti``, first period (per predicted
viewpoint: k-reciprocal Jaccard + DBSCAN + noise selection), second period (cross-view merge
below tau) — with the current params on each features file given, and prints, per file and
``ti``, how many cross-view merges were made and the share that join the same vehicle (ground
truth read by this diagnostic only), beside the pseudo labels' AMI and pairwise precision and
recall. Every file is clustered with the same viewpoint predictions (the committed
`viewpoint` stage's), so only the features differ.

    python studies/merge_probe.py ctacl=artifacts/recognize/features.npy \\
        supervised=/path/to/features.npy --ti 120 1200
"""

import argparse

import numpy as np

from vreid import params as P
from vreid.cluster import tau_from_ti
from vreid.stages._common import read_manifest, read_tracklets, read_view_predictions
from vreid.stages.cluster import cluster_config, pseudo_labels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("features", nargs="+", help="name=path of an (N images, d) features .npy")
    ap.add_argument("--ti", type=int, nargs="+", default=None, help="default: params.yaml's")
    a = ap.parse_args()
    params = P.load("params.yaml")
    df = read_manifest()
    rows, _, _ = read_tracklets(df)
    views = read_view_predictions(len(df))[rows]
    truth = df["vid"].to_numpy()[rows]
    cfg = cluster_config(params)
    sample = np.arange(len(rows))
    print("features | ti | tau | clusters | merges | merge precision | AMI | pair prec | pair rec")
    for item in a.features:
        name, _, path = item.partition("=")
        feats = np.load(path)
        if len(feats) != len(df):
            raise SystemExit(f"{path}: {len(feats)} rows, the manifest {len(df)}")
        f = feats[rows]
        for ti in a.ti or [params["ti"]]:
            tau = tau_from_ti(f, views, ti)
            _, _, q = pseudo_labels(f, views, truth, tau, cfg, 1, sample)
            mp = q["merge_precision"]
            print(
                f"{name} | {ti} | {tau:.4f} | {q['n_clusters']} | {q['n_merges']} | "
                f"{'–' if mp is None else f'{mp:.3f}'} | {q['ami']:.3f} | "
                f"{q['pairwise_precision']:.3f} | {q['pairwise_recall']:.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
