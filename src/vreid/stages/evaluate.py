"""Stage `evaluate`: the final model's features on query x gallery, validation and test.

CMC rank-1/5/10/20, mAP and mINP under the VeRi protocol (same id AND same camera removed,
the query's own file removed), plus mAP/rank-1 over cross-viewpoint matches only, in query
blocks, and a bootstrap 95% interval over queries for mAP and rank-1 (one run's query
sampling uncertainty; the seed spread comes from ``python -m vreid.report``). Optional
k-reciprocal re-ranking. The features are the final model's ``evaluate.feature`` (the pooled
feature before the BN neck by default), written by the `cluster` stage. Validation and test
are scored apart: ``val`` is what parameters are chosen on, ``test`` is reported only.
Writes ``metrics/eval.json`` and ``plots/cmc.csv``.
"""

from __future__ import annotations

import numpy as np
import torch

from ..eval import reranking_kreciprocal
from ..io import write_csv, write_json
from ..resources import evaluate_peak_bytes, require_fits
from ..stats import bootstrap_ci
from ._common import (
    CLUSTER_DIR,
    MANIFEST,
    METRICS,
    PLOTS,
    eval_splits,
    log,
    query_gallery,
    read_manifest,
    retrieval,
    retrieval_summary,
    run,
    start,
    views_for_eval,
)

BOOTSTRAP_SAMPLES = 1000


def interval(values: np.ndarray) -> dict[str, float]:
    lo, hi = bootstrap_ci(values, n_boot=BOOTSTRAP_SAMPLES, seed=0)
    return {"lo": lo, "hi": hi}


def score_split(df, feats: np.ndarray, params: dict, views: np.ndarray, which: str) -> dict:
    """Retrieval scores of one split, with bootstrap intervals; ``cmc`` kept for the plot."""
    dist = None
    if params["evaluate"]["rerank"]:
        q, g = query_gallery(df, which)
        dist = reranking_kreciprocal(torch.from_numpy(feats[q]), torch.from_numpy(feats[g]))
    res = retrieval(df, feats, params, views, which=which, dist=dist, per_query=True)
    pq = res["per_query"]
    return {
        **retrieval_summary(res),
        "mAP_ci95": interval(pq["ap"]),
        "rank1_ci95": interval(pq["rank1_hit"]),
        "n_queries": res["n_queries"],
        "n_skipped": res["n_skipped"],
        "cmc": res["cmc"],
    }


def main() -> None:
    params = start("evaluate")
    e = params["evaluate"]
    df = read_manifest(MANIFEST)
    feats = np.load(CLUSTER_DIR / "features.npy")
    views = views_for_eval(df)
    for which in eval_splits(df):
        q, g = query_gallery(df, which)
        require_fits(
            evaluate_peak_bytes(len(q), len(g), feats.shape[1], e["block_size"], e["rerank"]),
            f"scoring {which}: {len(q)} queries x {len(g)} gallery images",
            "lower evaluate.block_size" + (" or set evaluate.rerank: false" * e["rerank"]),
        )
    scores = {w: score_split(df, feats, params, views, w) for w in eval_splits(df)}
    cmc = {w: sc.pop("cmc") for w, sc in scores.items()}
    metrics = {
        **scores,
        "protocol": "veri (same id and camera removed)"
        if e["remove_same_camera"]
        else "self removed only",
        "rerank": e["rerank"],
        "feature": e["feature"],  # what the cluster stage's features.npy holds
    }
    write_json(METRICS / "eval.json", metrics)
    names = list(cmc)
    write_csv(
        PLOTS / "cmc.csv",
        ["rank", *[f"{w}_cmc" for w in names]],
        ((i + 1, *[cmc[w][i] for w in names]) for i in range(e["max_rank"])),
    )
    for w, sc in scores.items():
        log.info("[evaluate] %s mAP %.4f rank-1 %.4f", w, sc["mAP"], sc["rank1"])


if __name__ == "__main__":
    run(main, "evaluate")
