"""Stage `tracklets`: CTACL virtual tracklets of the train images (CTACL Sec. IV-A).

Writes ``artifacts/tracklets/tracklets.csv`` (row = manifest row of a train image, tracklet
id unique across cameras) and ``metrics/tracklets.json``.
"""

from __future__ import annotations

import sys

from ..io import write_csv, write_json
from ..tracklets import tracklet_stats, virtual_tracklets
from ._common import MANIFEST, METRICS, TRACKLETS, log, read_manifest, run, start, train_rows


def main() -> None:
    params = start("tracklets")
    t = params["tracklets"]
    df = read_manifest(MANIFEST)
    rows = train_rows(df)
    train = df.iloc[rows].reset_index(drop=True)
    try:
        ids = virtual_tracklets(train, mode=t["mode"], frame_gap=t["frame_gap"])
    except ValueError as exc:
        sys.exit(f"[tracklets] {exc}")
    write_csv(TRACKLETS, ["row", "camid", "tracklet"], zip(rows, train["camid"], ids, strict=True))
    stats = {"mode": t["mode"], **tracklet_stats(train, ids)}
    write_json(METRICS / "tracklets.json", stats)
    log.info("[tracklets] %d tracklets over %d train images", len(set(ids.tolist())), len(rows))


if __name__ == "__main__":
    run(main, "tracklets")
