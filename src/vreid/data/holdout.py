"""A validation split held out of the train identities, for datasets without their own.

Nothing may be selected on test scores, so every manifest gets a validation query/gallery
split whose identities are disjoint from train and test. Datasets that ship one (the synthetic
set's ``name_val*.txt``) keep theirs; for the others :func:`hold_out_validation` moves a share
of the train identities out of train:

* multi-camera datasets (VeRi-776, VeRi-Wild, VVeRI-901): the held-out identities are drawn
  among those seen by >= 2 train cameras; all their images become ``val_gallery`` rows and,
  for each of their cameras, one image (seeded choice) also becomes a ``val_query`` row. The
  query's own gallery copy shares its ``key`` and is removed from its ranking by the evaluator,
  exactly as VeRi-776's query images also appear in ``image_test``.
* datasets without camera information (one camid for every train image, or a distinct camid
  per train image as :func:`vreid.data.readers.read_vehicleid` assigns): VehicleID's own test
  protocol, one image per held-out identity (seeded choice) becomes ``val_gallery`` and its
  other images ``val_query``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import pandas as pd

from vreid.data._manifest import SPLITS, validate_manifest

__all__ = ["VAL_SPLITS", "check_holdout_params", "has_val_split", "hold_out_validation"]

#: The validation splits of the manifest.
VAL_SPLITS: tuple[str, ...] = ("val_query", "val_gallery")


def has_val_split(df: pd.DataFrame) -> bool:
    """True when the manifest has at least one val_query or val_gallery row."""
    return bool(df["split"].isin(VAL_SPLITS).any())


def check_holdout_params(share: object, seed: object) -> None:
    """Raise ValueError naming ``data.val_share`` / ``data.val_seed`` when out of range."""
    share_ok = (
        isinstance(share, numbers.Real)
        and not isinstance(share, bool)
        and math.isfinite(float(share))
        and 0.0 <= float(share) < 1.0
    )
    if not share_ok:
        raise ValueError(
            f"data.val_share = {share!r} is not allowed; allowed: a number >= 0 and < 1 "
            "(the share of train identities held out for validation; 0 = none)"
        )
    seed_ok = isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and seed >= 0
    if not seed_ok:
        raise ValueError(f"data.val_seed = {seed!r} is not allowed; allowed: an integer >= 0")


def _without_cameras(camid: np.ndarray) -> bool:
    """One camera for all images, or a distinct camera per image (VehicleID's convention)."""
    n_cams = len(np.unique(camid))
    return n_cams <= 1 or (n_cams == len(camid) and len(camid) > 1)


def _eligible_ids(vids: np.ndarray, cams: np.ndarray, n_hold: int, share: float) -> np.ndarray:
    """Identities seen by >= 2 cameras (a validation query needs a match in another camera);
    raises when fewer than ``n_hold``."""
    pairs = np.unique(np.stack([vids, cams], axis=1), axis=0)
    pair_ids, n_cams = np.unique(pairs[:, 0], return_counts=True)
    eligible = pair_ids[n_cams >= 2]
    if n_hold > len(eligible):
        raise ValueError(
            f"data.val_share = {share!r} holds out {n_hold} train identities but only "
            f"{len(eligible)} of the {len(np.unique(vids))} are seen by >= 2 cameras (a "
            "validation query needs a match in another camera); use a smaller share"
        )
    return eligible


def _pick_one_per_group(
    vids: np.ndarray, cams: np.ndarray, is_held: np.ndarray, single: bool, rng
) -> np.ndarray:
    """One seeded pick per held-out group: rows grouped by vid (no cameras) or by (vid,
    camera), groups in sorted order, members in row order. Returns a mask over the rows."""
    hpos = np.flatnonzero(is_held)
    group_cols = [vids[hpos]] if single else [cams[hpos], vids[hpos]]
    order = np.lexsort(group_cols)  # last key is primary: vid, then camera
    hpos = hpos[order]
    keys = np.stack([c[order] for c in reversed(group_cols)], axis=1)
    starts = np.flatnonzero(np.r_[True, (np.diff(keys, axis=0) != 0).any(axis=1)])
    ends = np.r_[starts[1:], len(hpos)]
    picked = np.zeros(len(vids), dtype=bool)
    for a, b in zip(starts, ends, strict=True):
        picked[hpos[a + int(rng.integers(0, b - a))]] = True
    return picked


def hold_out_validation(df: pd.DataFrame, share: float, seed: int) -> pd.DataFrame:
    """Move ``round(share * n_train_ids)`` train identities into val_query / val_gallery.

    Pure: ``df`` is not modified; a new manifest is returned. ``df`` is returned unchanged when
    it already has val rows (the dataset's own val lists win) or when ``share`` is 0. Which
    identities are held out, and which of their images become queries (gallery images for a
    dataset without cameras), is drawn with ``numpy.random.default_rng(seed)``: same manifest,
    share and seed -> same split. See the module docstring for the query/gallery rules.

    Rows keep the manifest order: the remaining train rows first, in their original relative
    order, then query and gallery as given, then val_query and val_gallery (each in the
    original relative order of the train rows they come from).

    Raises ValueError naming ``data.val_share`` / ``data.val_seed`` when a parameter is out of
    range, or when the share holds out no identity or leaves no train identity, or asks for
    more identities than are seen by >= 2 cameras.
    """
    check_holdout_params(share, seed)
    if has_val_split(df) or float(share) == 0.0:
        return df
    split = df["split"].to_numpy(dtype=object)
    train_pos = np.flatnonzero(split == "train")
    vids = df["vid"].to_numpy(dtype=np.int64)[train_pos]
    cams = df["camid"].to_numpy(dtype=np.int64)[train_pos]
    ids = np.unique(vids)
    n_ids = len(ids)
    n_hold = int(round(float(share) * n_ids))
    if n_hold == 0:
        raise ValueError(
            f"data.val_share = {share!r} holds out round({share!r} * {n_ids}) = 0 of the "
            f"{n_ids} train identities; use a larger share, or 0 for no validation split"
        )
    if n_hold >= n_ids:
        raise ValueError(
            f"data.val_share = {share!r} holds out all but {n_ids - n_hold} train identities; "
            "use a smaller share"
        )
    single = _without_cameras(cams)
    eligible = ids if single else _eligible_ids(vids, cams, n_hold, share)
    rng = np.random.default_rng(int(seed))
    held = np.sort(rng.choice(eligible, size=n_hold, replace=False))
    is_held = np.isin(vids, held)
    picked = _pick_one_per_group(vids, cams, is_held, single, rng)
    if single:
        val_query, val_gallery = is_held & ~picked, picked
    else:
        val_query, val_gallery = picked, is_held

    def rows(mask: np.ndarray, name: str) -> pd.DataFrame:
        part = df.iloc[train_pos[mask]].copy()
        part["split"] = name
        return part

    pieces = [rows(~is_held, "train")]
    pieces += [df[df["split"] == s] for s in SPLITS if s != "train" and s not in VAL_SPLITS]
    pieces += [rows(val_query, "val_query"), rows(val_gallery, "val_gallery")]
    out = pd.concat(pieces, ignore_index=True)
    out.attrs = dict(df.attrs)
    validate_manifest(out)
    return out
