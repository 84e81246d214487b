"""Cross-view merge precision of the first clustering round, for given train features.

A diagnostic, not a pipeline stage (docs/results.md: "Why most cross-view merges join
look-alikes"; docs/calibration.md, P63). It
runs the `cluster` stage's first round — tau from ``ti``, first period (per predicted
viewpoint: k-reciprocal Jaccard + DBSCAN + noise selection), second period (cross-view merge
below tau) — on each features file given, and prints, per file and ``ti``, how many
cross-view merges were made and the share that join the same vehicle (ground truth read by
this diagnostic only), beside the pseudo labels' AMI and pairwise precision and recall.

Two ways to name the features:

- files (``name=path``): clustered with the workspace's params and viewpoint predictions
  (the committed `viewpoint` stage's), so only the features differ;
- finished experiments (``--exp``): each one's recognition-stage features — the embedding
  ``z`` the clustering reads, and the pooled retrieval feature when its ``evaluate.feature``
  is ``pooled`` — with its own params and viewpoint predictions, all read from its
  ``dvc.lock`` and the DVC cache (nothing is checked out). Its data stages must be the
  workspace's (the manifest's md5 is compared).

    python studies/merge_probe.py ctacl=artifacts/recognize/features.npy \\
        supervised=/path/to/features.npy --ti 120 1200
    python studies/merge_probe.py --exp z37-s0-full z37-s1-full --ti 1200 120 --out probe.json
"""

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from vreid import params as P
from vreid.cluster import tau_from_ti
from vreid.cluster.sampling import sample_per_view
from vreid.stages._common import MANIFEST, read_manifest, read_tracklets, read_view_predictions
from vreid.stages.cluster import cluster_config, pseudo_labels

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rescore_experiments import cache_dir, cached_out, experiment_refs, show  # noqa: E402

#: recognition-stage outputs by feature kind (retrieval.npy holds ``evaluate.feature``'s kind)
FEATURES = {"embedding": "artifacts/recognize/features.npy"}
RETRIEVAL = "artifacts/recognize/retrieval.npy"
VIEWS = "artifacts/viewpoint/predictions.csv"
MANIFEST_OUT = str(MANIFEST)  # the `prepare` stage's output, as its dvc.lock names it


def experiment_inputs(
    name: str, ref: str, cache: Path, manifest_md5: str
) -> tuple[dict, np.ndarray, dict]:
    """``(params, viewpoint predictions, {kind: features})`` of the experiment ``name`` at
    ``ref``; stops with a message if its data are not the workspace's or its params are not
    this checkout's schema."""
    lock = yaml.safe_load(show(ref, "dvc.lock"))
    outs = lock.get("stages", {}).get("prepare", {}).get("outs", [])
    md5 = next((o["md5"] for o in outs if o["path"] == MANIFEST_OUT), None)
    if md5 != manifest_md5:
        raise SystemExit(
            f"{name}: its manifest ({md5 or 'not in its dvc.lock'}) is not the workspace's "
            f"({manifest_md5}): another dataset or split; run the probe in a workspace of the "
            "experiment's data"
        )
    try:
        params = P.validate(P.safe_load(show(ref, "params.yaml")), f"{name}'s params.yaml")
    except P.ParamsError as exc:
        raise SystemExit(
            f"{exc}\n{name} ran with another params schema than this checkout's: run the probe "
            "from a checkout of the experiment's commit"
        ) from None
    views = pd.read_csv(cached_out(ref, cache, "viewpoint", VIEWS), usecols=["row", "view5_pred"])
    if not np.array_equal(views["row"].to_numpy(), np.arange(len(views))):
        raise SystemExit(f"{name}: {VIEWS} is not one row per manifest row, in order")
    feats = {k: np.load(cached_out(ref, cache, "recognize", p)) for k, p in FEATURES.items()}
    if params["evaluate"]["feature"] == "pooled":
        feats["pooled"] = np.load(cached_out(ref, cache, "recognize", RETRIEVAL))
    return params, views["view5_pred"].to_numpy(np.int64), feats


def first_round(feats, views, truth, params, ti) -> dict:
    """Tau from ``ti`` and the first round's pseudo-label quality on train ``feats``, on the
    rows the cluster stage clusters (``cluster.per_view_sample``, seeded by ``train.seed``)."""
    sample = sample_per_view(views, params["cluster"]["per_view_sample"], params["train"]["seed"])
    try:
        tau = tau_from_ti(feats[sample], views[sample], ti)
    except ValueError as exc:
        raise SystemExit(f"--ti {ti}: {exc}") from None
    _, _, q = pseudo_labels(feats, views, truth, tau, cluster_config(params), 1, sample)
    keys = ("n_clusters", "n_merges", "merge_precision", "ami")
    keys += ("pairwise_precision", "pairwise_recall")
    return {"tau": float(tau), **{k: q[k] for k in keys}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("features", nargs="*", help="name=path of an (N images, d) features .npy")
    ap.add_argument(
        "--exp",
        nargs="+",
        default=[],
        help="finished experiments (dvc exp run -n); give name=path files before --exp",
    )
    ap.add_argument("--ti", type=int, nargs="+", default=None, help="default: the params'")
    ap.add_argument("--out", help="also write the results as JSON")
    a = ap.parse_args()
    if not a.features and not a.exp:
        ap.error("give features files (name=path) or --exp experiments")
    df = read_manifest()
    rows, _, _ = read_tracklets(df)
    truth = df["vid"].to_numpy()[rows]
    runs = []  # (name, params, views of every image, {kind: features of every image})
    if a.features:
        params, views = P.load("params.yaml"), read_view_predictions(len(df))
        for item in a.features:
            name, _, path = item.partition("=")
            runs.append((name, params, views, {"": np.load(path)}))
    if a.exp:
        refs, cache = experiment_refs(), cache_dir()
        missing = [e for e in a.exp if e not in refs]
        if missing:
            raise SystemExit(f"no experiment named {', '.join(missing)} here (dvc exp list)")
        md5 = hashlib.md5(MANIFEST.read_bytes()).hexdigest()
        runs += [(e, *experiment_inputs(e, refs[e], cache, md5)) for e in a.exp]
    results = {}
    print("features | ti | tau | clusters | merges | merge precision | AMI | pair prec | pair rec")
    for name, params, views, by_kind in runs:
        for kind, feats in by_kind.items():
            label = f"{name}/{kind}" if kind else name
            if len(feats) != len(df) or len(views) != len(df):
                raise SystemExit(
                    f"{label}: {len(feats)} feature rows and {len(views)} viewpoint rows, "
                    f"the manifest {len(df)}"
                )
            for ti in a.ti or [params["ti"]]:
                q = first_round(feats[rows], views[rows], truth, params, ti)
                results[f"{label}/ti{ti}"] = q
                mp = q["merge_precision"]
                print(
                    f"{label} | {ti} | {q['tau']:.4f} | {q['n_clusters']} | {q['n_merges']} | "
                    f"{'–' if mp is None else f'{mp:.3f}'} | {q['ami']:.3f} | "
                    f"{q['pairwise_precision']:.3f} | {q['pairwise_recall']:.3f}",
                    flush=True,
                )
    if a.out:
        Path(a.out).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
