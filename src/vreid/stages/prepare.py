"""Stage `prepare`: read the dataset in its native layout into the manifest.

Writes ``artifacts/prepare/manifest.csv`` (one row per image: key, path, split, vid, camid,
frame, tracklet, view5, view8, color, type) and ``metrics/data.json``. A dataset without its
own validation lists gets one held out of its train identities (``data.val_share``,
``data.val_seed``; see :mod:`vreid.data.holdout`).
"""

from __future__ import annotations

import sys
from typing import Any

import pandas as pd

from ..data.holdout import check_holdout_params, has_val_split, hold_out_validation
from ..data.readers import SPLITS, read_dataset, validate_manifest
from ..io import write_json
from ._common import MANIFEST, METRICS, VIEW_NAMES, log, run, start, write_manifest


def data_summary(df: pd.DataFrame, val_source: str | None = None) -> dict[str, Any]:
    """Counts per split: images, identities, cameras, and viewpoint label shares.

    ``val_source`` ("dataset" | "held out" | "none") says where the val_query/val_gallery rows
    come from; by default "dataset" when the manifest has val rows, else "none".
    """
    out: dict[str, Any] = {}
    for split in SPLITS:
        part = df[df["split"] == split]
        views = part["view5"].dropna().astype(int)
        out[split] = {
            "images": int(len(part)),
            "ids": int(part["vid"].nunique()),
            "cameras": int(part["camid"].nunique()),
            "view_labelled_share": float(len(views) / max(len(part), 1)),
            "views": {
                name: float((views == v).mean()) if len(views) else 0.0
                for v, name in enumerate(VIEW_NAMES)
            },
        }
    out["cameras_total"] = int(df["camid"].nunique())
    if val_source is None:
        val_source = "dataset" if has_val_split(df) else "none"
    out["val_source"] = val_source
    return out


def main() -> None:
    params = start("prepare")
    d = params["data"]
    options: dict[str, Any] = {}
    if d["dataset"] == "veriwild":
        options["test_size"] = d["veriwild_test_size"]
    elif d["dataset"] == "vehicleid":
        options = {"test_size": d["vehicleid_test_size"], "seed": d["vehicleid_seed"]}
    try:
        check_holdout_params(d["val_share"], d["val_seed"])
        df = read_dataset(d["dataset"], d["root"], **options)
        validate_manifest(df)
        if has_val_split(df):
            val_source = "dataset"
            log.info(
                "[prepare] %s ships its own validation lists: using them (data.val_share = %s "
                "is not applied)",
                d["dataset"],
                d["val_share"],
            )
        else:
            df = hold_out_validation(df, d["val_share"], d["val_seed"])
            val_source = "held out" if has_val_split(df) else "none"
            if val_source == "none":
                log.info("[prepare] data.val_share = 0: no validation split")
            else:
                log.info(
                    "[prepare] held out %d of the train identities for validation "
                    "(data.val_share = %s, data.val_seed = %s)",
                    df.loc[df["split"] == "val_gallery", "vid"].nunique(),
                    d["val_share"],
                    d["val_seed"],
                )
    except (ValueError, FileNotFoundError) as exc:
        sys.exit(f"[prepare] {exc}")
    write_manifest(df, MANIFEST)
    summary = {"dataset": d["dataset"], **data_summary(df, val_source)}
    write_json(METRICS / "data.json", summary)
    log.info("[prepare] %d images -> %s", len(df), MANIFEST)


if __name__ == "__main__":
    run(main, "prepare")
