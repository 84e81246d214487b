"""Stage `evaluate`: the final model's features on query x gallery.

CMC rank-1/5/10/20, mAP and mINP under the VeRi protocol (same id AND same camera removed,
the query's own file removed), plus mAP/rank-1 over cross-viewpoint matches only, in query
blocks. Optional k-reciprocal re-ranking. Writes ``metrics/eval.json`` and ``plots/cmc.csv``.
"""

from __future__ import annotations

import numpy as np
import torch

from ..evaluation import evaluate_retrieval, reranking_kreciprocal
from ..io import write_csv, write_json
from ._common import (
    CLUSTER_DIR,
    MANIFEST,
    METRICS,
    PLOTS,
    log,
    query_gallery,
    read_manifest,
    retrieval,
    retrieval_summary,
    start,
    views_for_eval,
)


def main() -> None:
    params = start("evaluate")
    e = params["evaluate"]
    df = read_manifest(MANIFEST)
    feats = np.load(CLUSTER_DIR / "features.npy")
    views = views_for_eval(df)
    if e["rerank"]:
        q, g = query_gallery(df)
        dist = reranking_kreciprocal(torch.from_numpy(feats[q]), torch.from_numpy(feats[g]))
        res = evaluate_retrieval(
            torch.from_numpy(feats[q]),
            torch.from_numpy(feats[g]),
            df["vid"].to_numpy()[q],
            df["vid"].to_numpy()[g],
            df["camid"].to_numpy()[q],
            df["camid"].to_numpy()[g],
            df["key"].to_numpy()[q],
            df["key"].to_numpy()[g],
            max_rank=e["max_rank"],
            remove_same_camera=e["remove_same_camera"],
            q_view=views[q],
            g_view=views[g],
            block_size=e["block_size"],
            dist=dist,
        )
    else:
        res = retrieval(df, feats, params, views)
    metrics = {
        **retrieval_summary(res),
        "n_queries": res["n_queries"],
        "n_skipped": res["n_skipped"],
        "protocol": "veri (same id and camera removed)"
        if e["remove_same_camera"]
        else "self removed only",
        "rerank": e["rerank"],
    }
    write_json(METRICS / "eval.json", metrics)
    write_csv(PLOTS / "cmc.csv", ["rank", "cmc"], ((i + 1, v) for i, v in enumerate(res["cmc"])))
    log.info("[evaluate] mAP %.4f rank-1 %.4f", res["mAP"], res["rank1"])


if __name__ == "__main__":
    main()
