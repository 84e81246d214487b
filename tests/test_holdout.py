"""Held-out validation split for datasets without their own (vreid.data.holdout)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import yaml
from tests.fixtures_layouts import write_veri776

from vreid import params as P
from vreid.data._manifest import SPLITS, assemble_manifest, validate_manifest
from vreid.data.holdout import hold_out_validation
from vreid.data.readers import read_veri776

SINGLE_CAMERA_IDS = (3, 7, 11, 15)  # train ids seen by one camera only (never held out)


def _rows(vid: int, cams, n_per_cam, prefix: str) -> list[dict]:
    return [
        {
            "key": f"{vid:04d}_c{cam:03d}_{j:02d}.jpg",
            "path": f"/d/{prefix}/{vid:04d}_c{cam:03d}_{j:02d}.jpg",
            "vid": vid,
            "camid": int(cam),
            "frame": 10 * j,
            "view5": j % 5,
        }
        for cam, n in zip(cams, n_per_cam, strict=True)
        for j in range(n)
    ]


def multi_camera_manifest(n_ids: int = 20, seed: int = 0) -> pd.DataFrame:
    """Train ids 1..n_ids over 6 cameras (1..3 images per camera; the ids in
    SINGLE_CAMERA_IDS are seen by one camera), test ids 101..103 in query and gallery."""
    rng = np.random.default_rng(seed)
    train = []
    for vid in range(1, n_ids + 1):
        if vid in SINGLE_CAMERA_IDS:
            cams = [int(rng.integers(1, 7))]
        else:
            cams = sorted(rng.choice(np.arange(1, 7), size=int(rng.integers(2, 5)), replace=False))
        train += _rows(vid, cams, rng.integers(1, 4, size=len(cams)), "image_train")
    gallery = []
    for vid in (101, 102, 103):
        gallery += _rows(vid, [1, 2], [2, 2], "image_test")
    query = [r for r in gallery if r["key"].endswith("_00.jpg")]
    parts = {"train": pd.DataFrame(train), "query": pd.DataFrame(query)}
    parts["gallery"] = pd.DataFrame(gallery)
    for part in parts.values():
        for col in ("frame", "view5"):
            part[col] = part[col].astype("Int64")
    return assemble_manifest(parts)


def no_camera_manifest(distinct_camids: bool) -> pd.DataFrame:
    """VehicleID-like: 10 train ids with 1..4 images each, no camera information (one camid
    for all, or a distinct camid per image as read_vehicleid assigns)."""
    rng = np.random.default_rng(5)
    train = []
    for vid in range(1, 11):
        train += _rows(vid, [0], [int(rng.integers(1, 5))], "image")
    gallery = _rows(50, [0], [1], "image") + _rows(51, [0], [1], "image")
    query = _rows(50, [1], [2], "image") + _rows(51, [1], [1], "image")
    df = assemble_manifest(
        {
            "train": pd.DataFrame(train),
            "query": pd.DataFrame(query),
            "gallery": pd.DataFrame(gallery),
        }
    )
    df["camid"] = np.arange(len(df), dtype=np.int64) if distinct_camids else np.int64(0)
    return df


def _held_ids(out: pd.DataFrame) -> set[int]:
    return set(out.loc[out["split"] == "val_gallery", "vid"])


# --------------------------------------------------------------------------- identities


def test_train_and_val_identities_are_disjoint():
    df = multi_camera_manifest()
    before = df.copy(deep=True)
    out = hold_out_validation(df, 0.25, 0)
    pd.testing.assert_frame_equal(df, before)  # pure: the input is untouched
    validate_manifest(out)
    train_ids = set(out.loc[out["split"] == "train", "vid"])
    val_ids = _held_ids(out)
    assert set(out.loc[out["split"] == "val_query", "vid"]) == val_ids
    assert len(val_ids) == round(0.25 * 20) == 5
    assert not train_ids & val_ids
    assert train_ids | val_ids == set(df.loc[df["split"] == "train", "vid"])
    test_ids = set(df.loc[df["split"].isin(["query", "gallery"]), "vid"])
    assert not val_ids & test_ids
    assert not val_ids & set(SINGLE_CAMERA_IDS)  # only ids seen by >= 2 cameras
    # row order: splits in SPLITS order, remaining train rows in their original order,
    # query and gallery as given
    order = out["split"].map({s: i for i, s in enumerate(SPLITS)}).to_numpy()
    assert (np.diff(order) >= 0).all() and out["split"].iloc[0] == "train"
    kept = df[(df["split"] == "train") & ~df["vid"].isin(val_ids)]
    pd.testing.assert_frame_equal(
        out[out["split"] == "train"].reset_index(drop=True), kept.reset_index(drop=True)
    )
    for split in ("query", "gallery"):
        pd.testing.assert_frame_equal(
            out[out["split"] == split].reset_index(drop=True),
            df[df["split"] == split].reset_index(drop=True),
        )
    # every image of a held-out identity is in val_gallery, nothing lost or duplicated
    n_train = int((df["split"] == "train").sum())
    assert int(out["split"].isin(["train", "val_gallery"]).sum()) == n_train


@pytest.mark.parametrize("share", [0.05, 0.1, 0.3, 0.55])
def test_share_sets_the_number_of_held_out_ids(share):
    out = hold_out_validation(multi_camera_manifest(), share, 3)
    assert len(_held_ids(out)) == round(share * 20)


def test_same_seed_same_split_other_seed_other_split():
    df = multi_camera_manifest()
    a = hold_out_validation(df, 0.3, 0)
    pd.testing.assert_frame_equal(a, hold_out_validation(df.copy(), 0.3, 0))
    b = hold_out_validation(df, 0.3, 1)
    assert _held_ids(a) != _held_ids(b)
    # the query picks depend on the seed too: over seeds, some group picks another image
    picks = set()
    for seed in range(6):
        out = hold_out_validation(df, 0.3, seed)
        picks.add(tuple(sorted(out.loc[out["split"] == "val_query", "key"])))
    assert len(picks) == 6


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_query_gallery_rule_matches_brute_force(seed):
    df = multi_camera_manifest(n_ids=12, seed=seed)
    out = hold_out_validation(df, 0.4, seed)
    held = _held_ids(out)
    train = [r for _, r in df.iterrows() if r["split"] == "train"]
    # brute force: the gallery is every train image of a held-out id, in manifest order
    want_gallery = [r["key"] for r in train if r["vid"] in held]
    gal = out[out["split"] == "val_gallery"]
    assert gal["key"].tolist() == want_gallery
    # one query per (held-out id, camera), an image of that id and camera, in manifest order
    groups: dict[tuple[int, int], list[str]] = {}
    for r in train:
        if r["vid"] in held:
            groups.setdefault((r["vid"], r["camid"]), []).append(r["key"])
    q = out[out["split"] == "val_query"]
    got = {(v, c): k for v, c, k in zip(q["vid"], q["camid"], q["key"], strict=True)}
    assert len(got) == len(q) == len(groups)
    for group, keys in groups.items():
        assert got[group] in keys
    positions = [want_gallery.index(k) for k in q["key"]]
    assert positions == sorted(positions)
    # the query rows are the train rows themselves (same key, path, labels), split renamed
    by_key = df[df["split"] == "train"].set_index("key")
    for split in ("val_query", "val_gallery"):
        part = out[out["split"] == split].set_index("key")
        cols = [c for c in part.columns if c != "split"]
        pd.testing.assert_frame_equal(part[cols], by_key.loc[part.index, cols])


@pytest.mark.parametrize("distinct_camids", [False, True])
def test_single_camera_rule(distinct_camids):
    df = no_camera_manifest(distinct_camids)
    out = hold_out_validation(df, 0.3, 0)
    validate_manifest(out)
    held = _held_ids(out)
    assert len(held) == 3
    gal = out[out["split"] == "val_gallery"]
    q = out[out["split"] == "val_query"]
    # VehicleID protocol: one gallery image per held-out id, all its other images are queries
    assert gal["vid"].value_counts().eq(1).all() and set(gal["vid"]) == held
    assert not set(gal["key"]) & set(q["key"])
    train = df[df["split"] == "train"]
    for vid in held:
        want = set(train.loc[train["vid"] == vid, "key"])
        assert set(gal.loc[gal["vid"] == vid, "key"]) | set(q.loc[q["vid"] == vid, "key"]) == want
    assert not held & set(out.loc[out["split"] == "train", "vid"])
    # seeded: same seed -> same split, other seeds -> other gallery picks
    pd.testing.assert_frame_equal(out, hold_out_validation(df.copy(), 0.3, 0))
    picks = set()
    for seed in range(6):
        other = hold_out_validation(df, 0.3, seed)
        picks.add(tuple(other.loc[other["split"] == "val_gallery", "key"]))
    assert len(picks) > 1


# --------------------------------------------------------------------------- no change


def test_dataset_val_split_is_kept(tmp_path):
    write_veri776(tmp_path, val=True)
    df = read_veri776(tmp_path)
    assert (df["split"] == "val_query").any()
    assert hold_out_validation(df, 0.5, 0) is df


def test_share_zero_returns_the_manifest():
    df = multi_camera_manifest()
    assert hold_out_validation(df, 0, 0) is df
    assert hold_out_validation(df, 0.0, 7) is df


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "share, seed, match",
    [
        (-0.1, 0, r"data\.val_share = -0\.1 is not allowed; allowed: a number >= 0 and < 1"),
        (1.0, 0, r"data\.val_share = 1\.0 is not allowed"),
        (float("nan"), 0, r"data\.val_share = nan"),
        (True, 0, r"data\.val_share = True"),
        ("0.1", 0, r"data\.val_share = '0\.1'"),
        (0.1, -1, r"data\.val_seed = -1 is not allowed; allowed: an integer >= 0"),
        (0.1, 1.5, r"data\.val_seed = 1\.5"),
        (0.1, True, r"data\.val_seed = True"),
        (0.99, 0, r"data\.val_share = 0\.99 holds out all but 0 train identities; use a smaller"),
        (0.01, 0, r"data\.val_share = 0\.01 holds out round\(0\.01 \* 20\) = 0 of the 20"),
        (0.9, 0, r"data\.val_share = 0\.9 holds out 18 .* only 16 of the 20 are seen by >= 2"),
    ],
)
def test_bad_parameters_are_named(share, seed, match):
    with pytest.raises(ValueError, match=match):
        hold_out_validation(multi_camera_manifest(), share, seed)


def test_params_schema_has_val_keys(repo_root):
    good = yaml.safe_load((repo_root / "params.yaml").read_text())
    assert good["data"]["val_share"] == 0.1 and good["data"]["val_seed"] == 0
    P.validate(copy.deepcopy(good))
    for key, value, match in (
        ("val_share", 1, r"data\.val_share = 1 .*>= 0 and < 1"),
        ("val_share", -0.5, r"data\.val_share = -0\.5"),
        ("val_seed", -2, r"data\.val_seed = -2 .*integer >= 0"),
    ):
        bad = copy.deepcopy(good)
        bad["data"][key] = value
        with pytest.raises(P.ParamsError, match=match):
            P.validate(bad)


def test_data_summary_reports_val():
    prepare = pytest.importorskip("vreid.stages.prepare")
    df = multi_camera_manifest()
    none = prepare.data_summary(df)
    assert none["val_source"] == "none" and none["val_gallery"]["images"] == 0
    out = hold_out_validation(df, 0.25, 0)
    s = prepare.data_summary(out, "held out")
    assert s["val_source"] == "held out"
    for split in ("train", "query", "gallery", "val_query", "val_gallery"):
        assert s[split]["images"] == int((out["split"] == split).sum())
    assert s["val_gallery"]["ids"] == 5
    assert prepare.data_summary(out)["val_source"] == "dataset"
