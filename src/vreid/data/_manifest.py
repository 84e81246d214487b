"""The manifest table every dataset reader returns: columns, dtypes, viewpoint mapping, checks."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "MANIFEST_COLUMNS",
    "SPLITS",
    "VIEW5_NAMES",
    "VIEW8_NAMES",
    "VIEW8_TO_VIEW5",
    "assemble_manifest",
    "validate_manifest",
    "view8_to_view5",
]

#: Column order of the manifest (one row per image).
MANIFEST_COLUMNS: tuple[str, ...] = (
    "key",
    "path",
    "split",
    "vid",
    "camid",
    "frame",
    "tracklet",
    "view5",
    "view8",
    "color",
    "type",
)
#: Split values in row order. Train rows always come first (stages rely on it); val_query /
#: val_gallery are the validation identities (disjoint from train and test), used for model
#: selection so that nothing is chosen on test scores.
SPLITS: tuple[str, ...] = ("train", "query", "gallery", "val_query", "val_gallery")
_STR_COLUMNS = ("key", "path", "split", "tracklet")
_INT_COLUMNS = ("vid", "camid")
_NULLABLE_COLUMNS = ("frame", "view5", "view8", "color", "type")

#: VAPC's 5 viewpoints.
VIEW5_NAMES: tuple[str, ...] = ("front", "front-side", "side", "rear-side", "rear")
#: Wang et al. (ICCV 2017) 8 orientations, in label order 0..7.
VIEW8_NAMES: tuple[str, ...] = (
    "front",
    "rear",
    "left",
    "left-front",
    "left-rear",
    "right",
    "right-front",
    "right-rear",
)
#: view8 label -> view5 label: front {0}->0, front-side {3,6}->1, side {2,5}->2,
#: rear-side {4,7}->3, rear {1}->4.
VIEW8_TO_VIEW5 = np.array([0, 4, 2, 1, 3, 2, 1, 3], dtype=np.int64)


def view8_to_view5(view8: pd.Series | np.ndarray) -> pd.Series:
    """Map Wang orientations (0..7, NA allowed) to VAPC's 5 viewpoints (0..4, NA kept).

    Returns an ``Int64`` Series of the same length. Values outside 0..7 raise ValueError.
    """
    v8 = pd.Series(view8).reset_index(drop=True).astype("Int64")
    na = v8.isna().to_numpy()
    vals = v8.fillna(0).to_numpy(dtype=np.int64)
    out_of_range = ~na & ((vals < 0) | (vals > 7))
    if out_of_range.any():
        raise ValueError(
            f"view8 label {vals[out_of_range][0]} is outside 0..7 (Wang orientation labels)"
        )
    out = pd.array(VIEW8_TO_VIEW5[vals], dtype="Int64")
    out[na] = pd.NA
    return pd.Series(out)


def _as_int64_nullable(values) -> pd.api.extensions.ExtensionArray:
    if isinstance(values, pd.Series):
        values = values.array
    return pd.array(values, dtype="Int64")


def assemble_manifest(parts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Concatenate per-split tables into a manifest with the exact columns, dtypes and order.

    ``parts`` maps a split name to a DataFrame holding at least ``key``, ``path``, ``vid``,
    ``camid``; absent optional columns become NA (``tracklet`` becomes ""). Splits follow
    :data:`SPLITS` order; train rows are sorted by key; query, gallery, val_query and
    val_gallery rows keep their given order.
    """
    frames = []
    for split in SPLITS:
        part = parts.get(split)
        if part is None:
            continue
        part = part.reset_index(drop=True)
        n = len(part)
        cols = {}
        for col in MANIFEST_COLUMNS:
            if col == "split":
                cols[col] = pd.Series([split] * n, dtype=str)
            elif col in part.columns:
                cols[col] = part[col].reset_index(drop=True)
            elif col == "tracklet":
                cols[col] = pd.Series([""] * n, dtype=str)
            elif col in _NULLABLE_COLUMNS:
                cols[col] = pd.Series(pd.array([pd.NA] * n, dtype="Int64"))
            else:
                raise ValueError(f"internal: split {split!r} lacks required column {col!r}")
        frame = pd.DataFrame(cols)
        if split == "train":
            frame = frame.sort_values("key", kind="stable")
        frames.append(frame)
    if frames:
        df = pd.concat(frames, ignore_index=True)
    else:
        df = pd.DataFrame({c: [] for c in MANIFEST_COLUMNS})
    for col in _STR_COLUMNS:
        df[col] = df[col].astype(str)
    for col in _INT_COLUMNS:
        df[col] = np.asarray(df[col], dtype=np.int64)
    for col in _NULLABLE_COLUMNS:
        df[col] = _as_int64_nullable(df[col])
    df = df[list(MANIFEST_COLUMNS)].reset_index(drop=True)
    validate_manifest(df)
    return df


def validate_manifest(df: pd.DataFrame) -> None:
    """Check a manifest's columns, dtypes, split values/order and label ranges.

    Raises ValueError naming the first problem found; returns None when the table is valid.
    """
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"manifest must be a pandas DataFrame, got {type(df).__name__}")
    cols = list(df.columns)
    if cols != list(MANIFEST_COLUMNS):
        missing = [c for c in MANIFEST_COLUMNS if c not in cols]
        extra = [c for c in cols if c not in MANIFEST_COLUMNS]
        raise ValueError(
            f"manifest columns must be {list(MANIFEST_COLUMNS)} in this order; got {cols} "
            f"(missing {missing}, unexpected {extra})"
        )
    for col in _STR_COLUMNS:
        s = df[col]
        if not pd.api.types.is_string_dtype(s.dtype):
            raise ValueError(f"manifest column {col!r} must hold strings, got dtype {s.dtype}")
        if s.isna().any():
            raise ValueError(
                f"manifest column {col!r} has {int(s.isna().sum())} missing values; "
                "use '' for an empty tracklet"
            )
    for col in _INT_COLUMNS:
        if df[col].dtype != np.int64:
            raise ValueError(f"manifest column {col!r} must be int64, got dtype {df[col].dtype}")
    for col in _NULLABLE_COLUMNS:
        if df[col].dtype != pd.Int64Dtype():
            raise ValueError(
                f"manifest column {col!r} must be nullable Int64, got dtype {df[col].dtype}"
            )
    split = df["split"].to_numpy(dtype=object)
    bad = ~np.isin(split, SPLITS)
    if bad.any():
        raise ValueError(
            f"manifest column 'split' has value {split[bad][0]!r}; allowed values {list(SPLITS)}"
        )
    order = pd.Series(split).map({s: i for i, s in enumerate(SPLITS)}).to_numpy()
    if len(order) > 1 and (np.diff(order) < 0).any():
        raise ValueError(
            "manifest rows must be ordered train, then query, then gallery, then val_query, "
            "then val_gallery"
        )
    if (df["key"].str.len() == 0).any():
        raise ValueError("manifest column 'key' has empty values")
    dup = df.duplicated(["split", "key"])
    if dup.any():
        row = df.loc[dup.to_numpy()].iloc[0]
        raise ValueError(f"manifest key {row['key']!r} appears twice in split {row['split']!r}")
    for col, hi in (("view5", 4), ("view8", 7)):
        vals = df[col].dropna()
        if ((vals < 0) | (vals > hi)).any():
            raise ValueError(f"manifest column {col!r} must lie in 0..{hi}")
    both = df["view5"].notna() & df["view8"].notna()
    if both.any():
        v8 = df.loc[both, "view8"].to_numpy(dtype=np.int64)
        v5 = df.loc[both, "view5"].to_numpy(dtype=np.int64)
        if (VIEW8_TO_VIEW5[v8] != v5).any():
            raise ValueError(
                "manifest columns 'view5' and 'view8' disagree with the mapping front {0}->0, "
                "front-side {3,6}->1, side {2,5}->2, rear-side {4,7}->3, rear {1}->4"
            )
