"""CTACL virtual tracklets (CTACL §IV-A) and their statistics.

Inside each camera, every image gets a tracklet id that is unique across the whole camera
network. Ids are 0..T-1 in order of first appearance in the table's row order, so they depend
only on which rows are grouped together, never on the values of ``vid``: any bijective
relabelling of the vehicle ids leaves the ids unchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["TRACKLET_MODES", "virtual_tracklets", "tracklet_stats"]

#: ``vehicle_camera``: one tracklet per (vid, camid) (CTACL's own code);
#: ``frame_gap``: a (vid, camid) group split into passes where sorted frames jump by more than
#: ``frame_gap``; ``dataset``: the dataset's own ``tracklet`` column (per camera).
TRACKLET_MODES: tuple[str, ...] = ("vehicle_camera", "frame_gap", "dataset")


def _require(df: pd.DataFrame, columns: tuple[str, ...], mode: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"virtual_tracklets mode {mode!r} needs column(s) {missing} in df")
    for c in columns:
        if c in ("vid", "camid") and df[c].isna().any():
            raise ValueError(f"column {c!r} has missing values; every image needs a {c}")


def _first_appearance(codes: np.ndarray) -> np.ndarray:
    """Relabel arbitrary int64 codes to 0..T-1 in order of first appearance."""
    return pd.factorize(codes, sort=False)[0].astype(np.int64)


def virtual_tracklets(
    df: pd.DataFrame, mode: str = "vehicle_camera", frame_gap: int = 200
) -> np.ndarray:
    """CTACL §IV-A virtual tracklets: one tracklet id per row of ``df``, unique across cameras.

    ``df`` needs ``camid`` and, by mode, ``vid`` (vehicle_camera, frame_gap), ``frame``
    (frame_gap; NA frames allowed) or ``tracklet`` (dataset). Modes:

    - ``vehicle_camera``: one tracklet per (vid, camid) group (CTACL's code).
    - ``frame_gap``: a (vid, camid) group is split into passes: after sorting its frames, a new
      pass starts where consecutive frames differ by more than ``frame_gap`` (a gap of exactly
      ``frame_gap`` stays in the pass). Rows with an NA frame form one extra tracklet of their
      group (the whole group when no row has a frame).
    - ``dataset``: the ``tracklet`` column, kept per camera; empty values are an error.

    Returns an int64 array of shape (len(df),) with ids 0..T-1 numbered in order of first
    appearance in row order.
    """
    if mode not in TRACKLET_MODES:
        raise ValueError(f"unknown tracklet mode {mode!r}; allowed modes: {list(TRACKLET_MODES)}")
    n = len(df) if isinstance(df, pd.DataFrame) else 0
    if mode == "dataset":
        _require(df, ("camid", "tracklet"), mode)
        tr = df["tracklet"]
        empty = (tr.isna() | (tr.astype(str).str.strip() == "")).to_numpy()
        if empty.any():
            raise ValueError(
                f"virtual_tracklets mode 'dataset': {int(empty.sum())} of {n} rows have an empty "
                "'tracklet' (the dataset provides no track for them); use mode 'vehicle_camera' "
                "or 'frame_gap'"
            )
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        cam = df["camid"].to_numpy(dtype=np.int64)
        track_code = pd.factorize(tr.astype(str).to_numpy(dtype=object), sort=False)[0]
        group = pd.factorize(pd.MultiIndex.from_arrays([cam, track_code]), sort=False)[0]
        return group.astype(np.int64)

    _require(df, ("vid", "camid") + (("frame",) if mode == "frame_gap" else ()), mode)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    vid = df["vid"].to_numpy(dtype=np.int64)
    cam = df["camid"].to_numpy(dtype=np.int64)
    group = pd.factorize(pd.MultiIndex.from_arrays([vid, cam]), sort=False)[0].astype(np.int64)
    if mode == "vehicle_camera":
        return _first_appearance(group)

    if isinstance(frame_gap, bool) or not isinstance(frame_gap, int | np.integer) or frame_gap < 0:
        raise ValueError(f"frame_gap must be a non-negative integer, got {frame_gap!r}")
    frame = pd.array(df["frame"], dtype="Int64")
    has = ~np.asarray(frame.isna(), dtype=bool)
    f = np.asarray(frame.fillna(0).to_numpy(dtype=np.int64))
    # Pass segments over rows with a frame: sort by (group, frame), cut at group changes
    # and at gaps > frame_gap; rows without a frame get one segment per group.
    segment = np.empty(n, dtype=np.int64)
    rows = np.flatnonzero(has)
    if len(rows):
        order = rows[np.lexsort((f[rows], group[rows]))]
        g, fr = group[order], f[order]
        new = np.ones(len(order), dtype=bool)
        new[1:] = (g[1:] != g[:-1]) | ((fr[1:] - fr[:-1]) > frame_gap)
        segment[order] = np.cumsum(new) - 1
    segment[~has] = -1 - group[~has]
    return _first_appearance(segment)


def _r(x: float) -> float:
    return round(float(x), 4)


def tracklet_stats(df: pd.DataFrame, tracklet_ids: np.ndarray) -> dict:
    """Summary of a tracklet assignment, JSON-ready (plain ints / floats rounded to 4 places).

    Keys: num_images, num_tracklets, num_cameras, num_identities, tracklets_per_camera
    ({str(camid): count}), images_per_tracklet ({mean, median, min, max}),
    single_image_share (fraction of tracklets with one image), tracklets_per_identity_mean,
    vehicle_camera_groups, split_groups (number of (vid, camid) groups spread over more than
    one tracklet), multi_camera_tracklets (tracklets spanning >1 camera; 0 when valid).
    ``vid`` is read for diagnostics only.
    """
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    ids = np.asarray(tracklet_ids)
    if ids.ndim != 1 or len(ids) != len(df):
        raise ValueError(f"tracklet_ids must have shape ({len(df)},) to match df, got {ids.shape}")
    if len(ids) and not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"tracklet_ids must be integers, got dtype {ids.dtype}")
    for c in ("vid", "camid"):
        if c not in df.columns:
            raise ValueError(f"tracklet_stats needs column {c!r} in df")
    if len(ids) == 0:
        return {
            "num_images": 0,
            "num_tracklets": 0,
            "num_cameras": 0,
            "num_identities": 0,
            "tracklets_per_camera": {},
            "images_per_tracklet": {"mean": 0.0, "median": 0.0, "min": 0, "max": 0},
            "single_image_share": 0.0,
            "tracklets_per_identity_mean": 0.0,
            "vehicle_camera_groups": 0,
            "split_groups": 0,
            "multi_camera_tracklets": 0,
        }
    t = pd.DataFrame(
        {
            "t": ids.astype(np.int64),
            "vid": df["vid"].to_numpy(dtype=np.int64),
            "cam": df["camid"].to_numpy(dtype=np.int64),
        }
    )
    sizes = t.groupby("t").size()
    cams_per_tracklet = t.groupby("t")["cam"].nunique()
    first_cam = t.groupby("t")["cam"].first()
    per_cam = first_cam.value_counts().sort_index()
    per_vid = t.groupby("vid")["t"].nunique()
    per_group = t.groupby(["vid", "cam"])["t"].nunique()
    return {
        "num_images": int(len(t)),
        "num_tracklets": int(len(sizes)),
        "num_cameras": int(t["cam"].nunique()),
        "num_identities": int(t["vid"].nunique()),
        "tracklets_per_camera": {str(int(k)): int(v) for k, v in per_cam.items()},
        "images_per_tracklet": {
            "mean": _r(sizes.mean()),
            "median": _r(sizes.median()),
            "min": int(sizes.min()),
            "max": int(sizes.max()),
        },
        "single_image_share": _r((sizes == 1).mean()),
        "tracklets_per_identity_mean": _r(per_vid.mean()),
        "vehicle_camera_groups": int(len(per_group)),
        "split_groups": int((per_group > 1).sum()),
        "multi_camera_tracklets": int((cams_per_tracklet > 1).sum()),
    }
