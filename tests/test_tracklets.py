"""CTACL virtual tracklets: brute-force reference, hand-made branches, invariances, real scale."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vreid.data.readers import parse_veri_keypoints, parse_veri_names
from vreid.tracklets import tracklet_stats, virtual_tracklets

REAL_KEYPOINTS = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "veri776-keypoints"
    / "keypoint_test.txt"
)


# --------------------------------------------------------------------------- reference


def _relabel_first_appearance(keys: list) -> np.ndarray:
    seen: dict = {}
    out = []
    for k in keys:
        if k not in seen:
            seen[k] = len(seen)
        out.append(seen[k])
    return np.array(out, dtype=np.int64)


def reference_tracklets(df: pd.DataFrame, mode: str, frame_gap: int = 200) -> np.ndarray:
    """Plain-loop reference of the three modes."""
    n = len(df)
    vids = [int(v) for v in df["vid"]] if "vid" in df else [0] * n
    cams = [int(c) for c in df["camid"]]
    if mode == "vehicle_camera":
        return _relabel_first_appearance(list(zip(vids, cams, strict=True)))
    if mode == "dataset":
        return _relabel_first_appearance(
            [(c, str(t)) for c, t in zip(cams, df["tracklet"], strict=True)]
        )
    frames = [None if pd.isna(f) else int(f) for f in df["frame"]]
    groups: dict[tuple, list[int]] = {}
    for i in range(n):
        groups.setdefault((vids[i], cams[i]), []).append(i)
    key = [None] * n
    for g, rows in groups.items():
        with_frame = sorted((frames[i], i) for i in rows if frames[i] is not None)
        pass_no = 0
        prev = None
        for f, i in with_frame:
            if prev is not None and f - prev > frame_gap:
                pass_no += 1
            key[i] = (g, pass_no)
            prev = f
        for i in rows:
            if frames[i] is None:
                key[i] = (g, "no frame")
    return _relabel_first_appearance(key)


def _random_table(rng: np.random.Generator, n: int, na_share: float = 0.1) -> pd.DataFrame:
    frame = rng.integers(0, 1500, n)
    na = rng.random(n) < na_share
    return pd.DataFrame(
        {
            "vid": rng.integers(0, 6, n) * 7 + 3,
            "camid": rng.integers(0, 4, n),
            "frame": pd.array(
                [None if m else int(f) for f, m in zip(frame, na, strict=True)], dtype="Int64"
            ),
            "tracklet": [f"t{k}" for k in rng.integers(0, 9, n)],
        }
    )


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("mode", ["vehicle_camera", "frame_gap", "dataset"])
def test_matches_reference_on_random_tables(mode):
    rng = np.random.default_rng(123)
    for trial in range(40):
        df = _random_table(rng, int(rng.integers(1, 120)))
        gap = int(rng.integers(0, 400))
        got = virtual_tracklets(df, mode=mode, frame_gap=gap)
        assert got.dtype == np.int64 and got.shape == (len(df),)
        np.testing.assert_array_equal(got, reference_tracklets(df, mode, gap), err_msg=str(trial))


def test_frame_gap_boundary_200_vs_201():
    df = pd.DataFrame(
        {"vid": [5, 5, 5, 5], "camid": [2, 2, 2, 2], "frame": [1000, 1200, 1401, 1405]}
    )
    # 1000 -> 1200 is a gap of exactly 200: same pass; 1200 -> 1401 is 201: new pass
    assert virtual_tracklets(df, "frame_gap", 200).tolist() == [0, 0, 1, 1]
    assert virtual_tracklets(df, "frame_gap", 201).tolist() == [0, 0, 0, 0]
    assert virtual_tracklets(df, "frame_gap", 199).tolist() == [0, 1, 2, 2]
    assert virtual_tracklets(df, "vehicle_camera").tolist() == [0, 0, 0, 0]


def test_frame_gap_unsorted_rows_and_first_appearance_order():
    # rows out of frame order; the later pass appears first in row order and gets id 0
    df = pd.DataFrame(
        {"vid": [1, 1, 1, 1, 2], "camid": [3, 3, 3, 3, 3], "frame": [905, 5, 900, 10, 7]}
    )
    assert virtual_tracklets(df, "frame_gap", 200).tolist() == [0, 1, 0, 1, 2]


def test_frame_gap_na_frames_fall_back_to_group():
    df = pd.DataFrame(
        {
            "vid": [1, 1, 1, 2, 2],
            "camid": [1, 1, 1, 1, 1],
            "frame": pd.array([None, 10, 900, None, None], dtype="Int64"),
        }
    )
    # vid 1: NA row is its own part of the group; vid 2 (no frames) is one tracklet
    assert virtual_tracklets(df, "frame_gap", 200).tolist() == [0, 1, 2, 3, 3]


def test_unique_across_cameras():
    df = pd.DataFrame(
        {
            "vid": [1, 1, 1, 1],
            "camid": [1, 2, 1, 2],
            "frame": [10, 10, 15, 15],
            "tracklet": ["a"] * 4,
        }
    )
    for mode in ("vehicle_camera", "frame_gap", "dataset"):
        assert virtual_tracklets(df, mode).tolist() == [0, 1, 0, 1], mode


def test_invariant_under_vid_relabelling():
    rng = np.random.default_rng(7)
    df = _random_table(rng, 300)
    vids = np.unique(df["vid"])
    for _ in range(5):
        perm = dict(zip(vids, rng.permutation(vids) * 1000 + 17, strict=True))
        relabelled = df.assign(vid=df["vid"].map(perm))
        for mode in ("vehicle_camera", "frame_gap", "dataset"):
            np.testing.assert_array_equal(
                virtual_tracklets(df, mode), virtual_tracklets(relabelled, mode)
            )
    # ... while a non-bijective change (merging two vehicles) does change them
    merged = df.assign(vid=df["vid"].replace({int(vids[1]): int(vids[0])}))
    assert not np.array_equal(virtual_tracklets(df), virtual_tracklets(merged))


def test_ids_are_dense_in_first_appearance_order():
    df = _random_table(np.random.default_rng(3), 200)
    for mode in ("vehicle_camera", "frame_gap", "dataset"):
        ids = virtual_tracklets(df, mode)
        first = pd.unique(ids)
        assert first.tolist() == list(range(len(first)))


def test_dataset_mode_and_errors():
    df = pd.DataFrame({"vid": [1, 1, 2], "camid": [1, 1, 1], "tracklet": ["k2", "k1", "k2"]})
    # the dataset's tracks win over vid (ids follow the tracklet column, not the vehicles)
    assert virtual_tracklets(df, "dataset").tolist() == [0, 1, 0]
    with pytest.raises(ValueError, match=r"1 of 3 rows have an empty 'tracklet'"):
        virtual_tracklets(df.assign(tracklet=["a", "", "b"]), "dataset")
    with pytest.raises(ValueError, match=r"unknown tracklet mode 'track'.*'frame_gap'"):
        virtual_tracklets(df, "track")
    with pytest.raises(ValueError, match=r"needs column\(s\) \['frame'\]"):
        virtual_tracklets(df, "frame_gap")
    with pytest.raises(ValueError, match="frame_gap must be a non-negative integer"):
        virtual_tracklets(df.assign(frame=[1, 2, 3]), "frame_gap", frame_gap=-1)
    with pytest.raises(ValueError, match="column 'vid' has missing values"):
        virtual_tracklets(df.assign(vid=[1, None, 2]), "vehicle_camera")
    empty = df.iloc[:0]
    assert virtual_tracklets(empty).shape == (0,)


def _reference_stats(df: pd.DataFrame, ids: np.ndarray) -> dict:
    members: dict[int, list[int]] = {}
    for i, t in enumerate(ids):
        members.setdefault(int(t), []).append(i)
    sizes = sorted(len(m) for m in members.values())
    per_cam: dict[str, int] = {}
    for m in members.values():
        c = str(int(df["camid"].iloc[m[0]]))
        per_cam[c] = per_cam.get(c, 0) + 1
    groups: dict[tuple, set] = {}
    per_vid: dict[int, set] = {}
    for i, t in enumerate(ids):
        v, c = int(df["vid"].iloc[i]), int(df["camid"].iloc[i])
        groups.setdefault((v, c), set()).add(int(t))
        per_vid.setdefault(v, set()).add(int(t))
    return {
        "num_tracklets": len(members),
        "tracklets_per_camera": dict(sorted(per_cam.items(), key=lambda kv: int(kv[0]))),
        "min": sizes[0],
        "max": sizes[-1],
        "mean": round(sum(sizes) / len(sizes), 4),
        "median": round(float(np.median(sizes)), 4),
        "single": round(sum(s == 1 for s in sizes) / len(sizes), 4),
        "per_vid": round(sum(len(s) for s in per_vid.values()) / len(per_vid), 4),
        "split_groups": sum(len(s) > 1 for s in groups.values()),
        "groups": len(groups),
    }


def test_stats_hand_made_and_json_ready():
    df = pd.DataFrame(
        {"vid": [1, 1, 1, 2, 2], "camid": [1, 1, 2, 1, 1], "frame": [0, 500, 0, 7, 9]}
    )
    ids = virtual_tracklets(df, "frame_gap", 200)
    stats = tracklet_stats(df, ids)
    assert stats == {
        "num_images": 5,
        "num_tracklets": 4,
        "num_cameras": 2,
        "num_identities": 2,
        "tracklets_per_camera": {"1": 3, "2": 1},
        "images_per_tracklet": {"mean": 1.25, "median": 1.0, "min": 1, "max": 2},
        "single_image_share": 0.75,
        "tracklets_per_identity_mean": 2.0,
        "vehicle_camera_groups": 3,
        "split_groups": 1,
        "multi_camera_tracklets": 0,
    }
    json.dumps(stats)
    with pytest.raises(ValueError, match=r"shape \(5,\)"):
        tracklet_stats(df, ids[:3])


def test_stats_match_reference_on_random_tables():
    rng = np.random.default_rng(11)
    for _ in range(10):
        df = _random_table(rng, int(rng.integers(1, 150)))
        ids = virtual_tracklets(df, "frame_gap", int(rng.integers(0, 300)))
        got, ref = tracklet_stats(df, ids), _reference_stats(df, ids)
        assert got["num_tracklets"] == ref["num_tracklets"]
        assert got["tracklets_per_camera"] == ref["tracklets_per_camera"]
        ipt = got["images_per_tracklet"]
        assert (ipt["min"], ipt["max"], ipt["mean"], ipt["median"]) == (
            ref["min"],
            ref["max"],
            ref["mean"],
            ref["median"],
        )
        assert got["single_image_share"] == ref["single"]
        assert got["tracklets_per_identity_mean"] == ref["per_vid"]
        assert got["split_groups"] == ref["split_groups"]
        assert got["vehicle_camera_groups"] == ref["groups"]
        json.dumps(got)


def test_real_veri776_test_names_at_scale():
    if not REAL_KEYPOINTS.is_file():
        pytest.skip(f"real VeRi-776 annotation fixture {REAL_KEYPOINTS} not present")
    names = parse_veri_keypoints(REAL_KEYPOINTS)["name"]
    df = parse_veri_names(names, REAL_KEYPOINTS)
    assert len(df) == 11579
    ids = virtual_tracklets(df, "frame_gap", 200)
    np.testing.assert_array_equal(ids, reference_tracklets(df, "frame_gap", 200))
    stats = tracklet_stats(df, ids)
    n_groups = len(set(zip(df.vid, df.camid, strict=True)))
    assert stats["vehicle_camera_groups"] == n_groups == 1677
    assert stats["num_cameras"] == 19 and stats["num_identities"] == 200
    assert stats["num_tracklets"] > n_groups
    # data.md: ~83% of (vehicle, camera) groups are a single pass of ~6 frames
    single_pass = 1 - stats["split_groups"] / n_groups
    assert 0.80 < single_pass < 0.86
    assert 5.0 < stats["images_per_tracklet"]["median"] <= 7.0
    # the vid-free invariance holds at real scale too
    perm = dict(zip(sorted(set(df.vid)), np.random.default_rng(0).permutation(200), strict=True))
    np.testing.assert_array_equal(
        ids, virtual_tracklets(df.assign(vid=df.vid.map(perm)), "frame_gap")
    )
