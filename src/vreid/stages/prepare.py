"""Stage `prepare`: read the dataset in its native layout into the manifest.

Writes ``artifacts/prepare/manifest.csv`` (one row per image: key, path, split, vid, camid,
frame, tracklet, view5, view8, color, type) and ``metrics/data.json``.
"""

from __future__ import annotations

import sys
from typing import Any

import pandas as pd

from ..data.readers import read_dataset, validate_manifest
from ..io import write_json
from ._common import MANIFEST, METRICS, log, start, write_manifest

VIEW_NAMES = ["front", "front_side", "side", "rear_side", "rear"]


def data_summary(df: pd.DataFrame) -> dict[str, Any]:
    """Counts per split: images, identities, cameras, and viewpoint label shares."""
    out: dict[str, Any] = {}
    for split in ("train", "query", "gallery"):
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
        df = read_dataset(d["dataset"], d["root"], **options)
        validate_manifest(df)
    except (ValueError, FileNotFoundError) as exc:
        sys.exit(f"[prepare] {exc}")
    write_manifest(df, MANIFEST)
    summary = {"dataset": d["dataset"], **data_summary(df)}
    write_json(METRICS / "data.json", summary)
    log.info("[prepare] %d images -> %s", len(df), MANIFEST)


if __name__ == "__main__":
    main()
