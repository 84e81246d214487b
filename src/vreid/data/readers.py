"""Dataset readers: VeRi-776 (and the synthetic set), VeRi-Wild, VVeRI-901, VehicleID.

Each reader turns a dataset in its native layout into one manifest table (pandas DataFrame,
one row per image) with the columns, in order:

=========  ===========  ============================================================
column     dtype        meaning
=========  ===========  ============================================================
key        str          dataset-relative id of the physical image (query == its gallery copy)
path       str          ``os.path.join(root, <relative path>)``, root as given
split      str          "train" | "query" | "gallery" | "val_query" | "val_gallery"
vid        int64        ground-truth vehicle id (evaluation / diagnostics / virtual tracklets)
camid      int64        camera id
frame      Int64        frame index (VeRi, VVeRI-901) or time (VeRi-Wild); NA if unknown
tracklet   str          dataset-provided track key, "" if none
view5      Int64        0 front, 1 front-side, 2 side, 3 rear-side, 4 rear; NA if unknown
view8      Int64        Wang orientation 0 front, 1 rear, 2 left, 3 left-front, 4 left-rear,
                        5 right, 6 right-front, 7 right-rear; NA if unknown
color      Int64        colour code; NA if unknown
type       Int64        body type code; NA if unknown
=========  ===========  ============================================================

Rows: train (sorted by key), then query, then gallery, then val_query, then val_gallery (each
in list-file order). val_query / val_gallery hold validation identities (disjoint from train
and test) for datasets that ship them (the synthetic set's name_val*.txt); for the others the
``prepare`` stage holds some train identities out (:mod:`vreid.data.holdout`).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from vreid.data._manifest import (
    MANIFEST_COLUMNS,
    SPLITS,
    VIEW5_NAMES,
    VIEW8_NAMES,
    VIEW8_TO_VIEW5,
    assemble_manifest,
    validate_manifest,
    view8_to_view5,
)
from vreid.data._text import (
    MAX_DIGITS,
    DatasetFormatError,
    MissingSideFileWarning,
    match_lines,
    raise_first_bad,
    raise_first_duplicate,
    read_lines,
    require_root,
)
from vreid.data.veri776 import (
    parse_veri_index,
    parse_veri_keypoints,
    parse_veri_label_xml,
    parse_veri_names,
    parse_veri_tracks,
    read_veri776,
    read_veri776_index,
)

__all__ = [
    "DATASET_NAMES",
    "MANIFEST_COLUMNS",
    "SPLITS",
    "VIEW5_NAMES",
    "VIEW8_NAMES",
    "VIEW8_TO_VIEW5",
    "DatasetFormatError",
    "MissingSideFileWarning",
    "parse_veri_index",
    "parse_veri_keypoints",
    "parse_veri_label_xml",
    "parse_veri_names",
    "parse_veri_tracks",
    "parse_vehicle_info",
    "read_dataset",
    "read_vehicleid",
    "read_veri776",
    "read_veri776_index",
    "read_veriwild",
    "read_vveri901",
    "validate_manifest",
    "view8_to_view5",
]

_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


def _check_exist(
    dirs: list[str], files: list[str], line_numbers: np.ndarray, list_path: Path, base: Path
) -> None:
    """Raise FileNotFoundError naming the list file, line and image for the first missing image.

    Image i is ``base / dirs[i] / files[i]``. One directory listing per distinct folder, then a
    set lookup per image (fast for hundreds of thousands of images).
    """
    listings: dict[str, set[str]] = {}

    def listing(d: str) -> set[str]:
        if d not in listings:
            folder = base / d
            listings[d] = set(os.listdir(folder)) if folder.is_dir() else set()
        return listings[d]

    ok = [f in listing(d) for d, f in zip(dirs, files, strict=True)]
    if not all(ok):
        pos = ok.index(False)
        raise FileNotFoundError(
            f"{list_path}, line {int(line_numbers[pos])} names image "
            f"{base / dirs[pos] / files[pos]}, which does not exist "
            f"({ok.count(False)} listed images are missing); place the images there or pass "
            "check_files=False"
        )


def _first_duplicate(keys: list[str], line_numbers: np.ndarray, path: Path, what: str) -> None:
    dup = pd.Series(keys, dtype=object).duplicated().to_numpy()
    if dup.any():
        pos = int(np.flatnonzero(dup)[0])
        first = keys.index(keys[pos])
        raise DatasetFormatError(
            f"{path}, line {int(line_numbers[pos])}: duplicate {what} {keys[pos]!r} (first "
            f"listed on line {int(line_numbers[first])}); expected each {what} once"
        )


# --------------------------------------------------------------------------- VeRi-Wild

_VERIWILD_SIZES = (3000, 5000, 10000)
_VERIWILD_KEY = r"(\d{1,18})/(\d{1,18})(?:\.jpg)?"
_VERIWILD_INFO = (
    _VERIWILD_KEY + r"[ \t]*;[ \t]*(\d{1,18})[ \t]*;([^;\n]*);([^;\n]*);([^;\n]*);([^;\n]*)"
)


def _read_veriwild_list(path: Path) -> pd.DataFrame:
    """A VeRi-Wild list (``00001/000001`` per line) -> key (str), vid (int64), line (int64)."""
    if not path.is_file():
        have = sorted(p.name for p in path.parent.glob("*.txt")) if path.parent.is_dir() else []
        raise FileNotFoundError(
            f"VeRi-Wild list {path} not found; it is required (files present: {have or 'none'})"
        )
    numbers, groups = match_lines(path, _VERIWILD_KEY, "'<vid>/<image>' such as 00001/000001")
    keys = [f"{a}/{b}" for a, b in groups]
    _first_duplicate(keys, numbers, path, "image")
    return pd.DataFrame(
        {
            "key": pd.Series(keys, dtype=object),
            "vid": np.array([int(a) for a, _ in groups], dtype=np.int64),
            "line": numbers,
        }
    )


def _codes(values: list[str]) -> tuple[pd.api.extensions.ExtensionArray, list[str]]:
    """Stable integer codes: index into the sorted unique non-empty strings; "" -> NA."""
    names = sorted(set(values) - {""})
    codes = pd.Categorical(values, categories=names).codes.astype(np.int64)
    arr = pd.array(codes, dtype="Int64")
    arr[codes < 0] = pd.NA
    return arr, names


def _time_to_int(values: list[str]) -> pd.api.extensions.ExtensionArray:
    """An integer time if the text is all digits, else seconds since 1970 for
    an ISO 8601 date-time such as 'YYYY-MM-DD HH:MM:SS' (UTC assumed), else NA."""
    n = len(values)
    out = pd.array([pd.NA] * n, dtype="Int64")
    digits = np.array([v.isdigit() for v in values], dtype=bool)
    if digits.any():
        out[digits] = pd.array([int(v) for v, d in zip(values, digits, strict=True) if d])
    rest = np.flatnonzero(~digits & np.array([bool(v) for v in values], dtype=bool))
    if len(rest):
        texts = pd.Series([values[i] for i in rest], dtype=object)
        dt = pd.to_datetime(texts, format="ISO8601", errors="coerce", utc=True)
        good = dt.notna().to_numpy()
        secs = (dt[good] - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(seconds=1)
        out[rest[good]] = pd.array(secs.to_numpy(dtype=np.int64), dtype="Int64")
    return out


def parse_vehicle_info(path: str | Path) -> pd.DataFrame:
    """Parse VeRi-Wild ``vehicle_info.txt``: header, then ``vid/img;camera;time;model;type;color``.

    Returns a DataFrame indexed by key (``00001/000001``) with columns camid (int64), frame
    (Int64: the time as an integer when all digits, seconds since 1970 for a
    ``YYYY-MM-DD HH:MM:SS`` time, else NA), model (str), color and type (Int64 codes: index into
    the sorted unique names, kept in ``attrs["color_names"]`` / ``attrs["type_names"]``), line.
    """
    path = Path(path)
    expected = "'vid/img;camera;time;model;type;color' such as 00001/000001;26;...;sedan;black"
    numbers, groups = match_lines(path, _VERIWILD_INFO, expected, skip_header="auto")
    keys = [f"{g[0]}/{g[1]}" for g in groups]
    _first_duplicate(keys, numbers, path, "image")
    color, color_names = _codes([g[6].strip() for g in groups])
    vtype, type_names = _codes([g[5].strip() for g in groups])
    table = pd.DataFrame(
        {
            "camid": np.array([int(g[2]) for g in groups], dtype=np.int64),
            "frame": _time_to_int([g[3].strip() for g in groups]),
            "model": pd.Series([g[4].strip() for g in groups], dtype=object).to_numpy(),
            "color": color,
            "type": vtype,
            "line": numbers,
        },
        index=pd.Index(keys, name="key", dtype=object),
    )
    table.attrs["color_names"] = color_names
    table.attrs["type_names"] = type_names
    return table


def read_veriwild(
    root: str | Path, test_size: int = 3000, *, check_files: bool = True
) -> pd.DataFrame:
    """Read VeRi-Wild (``images/<vid>/<img>.jpg`` + ``train_test_split/``) into a manifest.

    ``test_size`` picks ``test_{n}.txt`` (gallery, contains the queries) and
    ``test_{n}_query.txt``. Camera, time, type and colour come from ``vehicle_info.txt``
    (required: an image without a camera id is an error). Colour/type codes index the sorted
    unique names, kept in ``df.attrs["color_names"]`` / ``df.attrs["type_names"]``.
    """
    if isinstance(test_size, bool) or test_size not in _VERIWILD_SIZES:
        raise ValueError(f"test_size must be one of {list(_VERIWILD_SIZES)}, got {test_size!r}")
    r = require_root(root, "veriwild")
    root_s = os.fspath(root)
    split_dir = r / "train_test_split"
    info_path = split_dir / "vehicle_info.txt"
    if not info_path.is_file():
        raise FileNotFoundError(
            f"{info_path} not found: VeRi-Wild camera ids come from it, so it is required"
        )
    info = parse_vehicle_info(info_path)
    list_files = {
        "train": split_dir / "train_list.txt",
        "query": split_dir / f"test_{test_size}_query.txt",
        "gallery": split_dir / f"test_{test_size}.txt",
    }
    parts = {}
    for split, list_path in list_files.items():
        table = _read_veriwild_list(list_path)
        keys = table["key"].to_numpy(dtype=object)
        found = pd.Index(keys).isin(info.index)
        if not found.all():
            pos = int(np.flatnonzero(~found)[0])
            raise DatasetFormatError(
                f"{list_path}, line {int(table['line'].iloc[pos])}: image {keys[pos]!r} has no "
                f"entry in {info_path}; every image needs its camera id there "
                f"({int((~found).sum())} images lack one)"
            )
        if check_files:
            _check_exist(
                ["images/" + k.split("/", 1)[0] for k in keys],
                [k.split("/", 1)[1] + ".jpg" for k in keys],
                table["line"].to_numpy(),
                list_path,
                r,
            )
        sub = info.loc[keys]
        prefix = os.path.join(root_s, "images", "")
        parts[split] = pd.DataFrame(
            {
                "key": keys,
                "path": np.array([prefix + k + ".jpg" for k in keys], dtype=object),
                "vid": table["vid"].to_numpy(),
                "camid": sub["camid"].to_numpy(),
                "frame": sub["frame"].array,
                "color": sub["color"].array,
                "type": sub["type"].array,
            }
        )
    df = assemble_manifest(parts)
    df.attrs["color_names"] = info.attrs["color_names"]
    df.attrs["type_names"] = info.attrs["type_names"]
    return df


# --------------------------------------------------------------------------- VVeRI-901

_VVERI_FOLDER = r"[Ll]\d{1,18}_[Cc](\d{1,18})_[Vv]\d{1,18}"


def _find_vveri_list(root: Path, name: str) -> Path:
    for candidate in (root / name, root.parent / name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"VVeRI-901 list {name} not found in {root} (nor in {root.parent}); it lists the "
        "tracklet folders of one split, one per line, e.g. ./VVERI901_V1_Trial/2120/L09_C31_V07"
    )


def read_vveri901(root: str | Path) -> pd.DataFrame:
    """Read the VVeRI-901 trial layout ``<pid>/<Lxx_Cyy_Vzz>/<frame>.png`` into a manifest.

    ``train.txt``, ``query.txt``, ``gallery.txt`` (in ``root``, or beside it) list tracklet
    folders; each is resolved as ``root/<pid>/<folder>`` from its last two path components.
    One row per frame image: camid = ``int(yy)`` of ``Cyy``, tracklet = ``<pid>/<folder>``,
    frame = int(file stem), vid = int(pid); key = ``<pid>/<folder>/<file>``. Query and gallery
    stay image-level (frames in frame order, tracklets in list order).
    """
    r = require_root(root, "vveri901")
    root_s = os.fspath(root)
    expected = "a tracklet folder path ending in <pid>/<Lxx_Cyy_Vzz>, "
    expected += "e.g. ./VVERI901_V1_Trial/2120/L09_C31_V07"
    parts = {}
    for split in ("train", "query", "gallery"):
        list_path = _find_vveri_list(r, f"{split}.txt")
        lines = read_lines(list_path)
        comps = lines.str.replace("\\", "/", regex=False).str.rstrip("/").str.split("/")
        pid = comps.str[-2].fillna("")
        folder = comps.str[-1].fillna("")
        ok = (comps.str.len() >= 2).to_numpy() & pid.str.fullmatch(r"\d{1,18}").to_numpy(dtype=bool)
        ok &= folder.str.fullmatch(_VVERI_FOLDER).to_numpy(dtype=bool)
        raise_first_bad(lines, ok, list_path, expected)
        tracklet = (pid + "/" + folder).to_numpy(dtype=object)
        raise_first_duplicate(lines, tracklet, list_path, "tracklet")
        cams = folder.str.extract(_VVERI_FOLDER, expand=False).astype(np.int64).to_numpy()
        rows: list[tuple] = []
        for lineno, tr, cam in zip(lines.index, tracklet, cams, strict=True):
            d = r / tr
            if not d.is_dir():
                raise FileNotFoundError(
                    f"{list_path}, line {int(lineno)} names tracklet folder {d}, "
                    "which does not exist"
                )
            files = [
                e.name
                for e in os.scandir(d)
                if e.is_file() and e.name.lower().endswith(_IMAGE_EXTENSIONS)
            ]
            if not files:
                raise DatasetFormatError(
                    f"{list_path}, line {int(lineno)}: tracklet folder {d} holds no images; "
                    "expected <frame>.png files"
                )
            frames = []
            for f in files:
                stem = f.rsplit(".", 1)[0]
                if not stem.isdigit() or len(stem) > MAX_DIGITS:
                    raise DatasetFormatError(
                        f"{d / f}: frame file name is not an integer of at most {MAX_DIGITS} "
                        "digits; expected <frame>.png "
                        f"(listed via {list_path}, line {int(lineno)})"
                    )
                frames.append((int(stem), f))
            frames.sort()
            vid = int(tr.split("/", 1)[0])
            for fr, f in frames:
                rows.append((f"{tr}/{f}", vid, int(cam), fr, tr))
        table = pd.DataFrame(rows, columns=["key", "vid", "camid", "frame", "tracklet"])
        table["path"] = os.path.join(root_s, "") + table["key"].astype(str)
        table["frame"] = table["frame"].astype("Int64")
        parts[split] = table
    return assemble_manifest(parts)


# --------------------------------------------------------------------------- VehicleID


def _read_vehicleid_list(path: Path) -> pd.DataFrame:
    """A VehicleID list (``<name> <vid>`` per line) -> key (str), vid (int64), line (int64)."""
    numbers, groups = match_lines(
        path,
        r"(\S+?)(?:\.jpg)?[ \t]+(\d{1,18})",
        "'<image name> <vehicle id>' such as '0001234 56'",
    )
    keys = [g[0] for g in groups]
    _first_duplicate(keys, numbers, path, "image")
    return pd.DataFrame(
        {
            "key": pd.Series(keys, dtype=object),
            "vid": np.array([int(g[1]) for g in groups], dtype=np.int64),
            "line": numbers,
        }
    )


def read_vehicleid(
    root: str | Path, test_size: int = 800, seed: int = 0, *, check_files: bool = True
) -> pd.DataFrame:
    """Read VehicleID (``image/<name>.jpg`` + ``train_test_split/``) into a manifest.

    Query/gallery follow the VehicleID protocol on ``test_list_{test_size}.txt``: one gallery
    image per vehicle drawn at random (``numpy.random.default_rng(seed)``), all other images are
    queries. VehicleID has no cameras: every image gets its own camid (its row number), so the
    same-camera filter of the evaluation removes nothing. frame/tracklet/views/colour/type empty.
    """
    if isinstance(test_size, bool) or not isinstance(test_size, int | np.integer) or test_size <= 0:
        raise ValueError(f"test_size must be a positive integer such as 800, got {test_size!r}")
    r = require_root(root, "vehicleid")
    root_s = os.fspath(root)
    split_dir = r / "train_test_split"
    train_path = split_dir / "train_list.txt"
    test_path = split_dir / f"test_list_{int(test_size)}.txt"
    for p in (train_path, test_path):
        if not p.is_file():
            have = (
                sorted(q.name for q in split_dir.glob("test_list_*.txt"))
                if split_dir.is_dir()
                else []
            )
            raise FileNotFoundError(
                f"VehicleID list {p} not found (available test lists: {have or 'none'})"
            )
    train = _read_vehicleid_list(train_path)
    test = _read_vehicleid_list(test_path)
    if check_files:
        for table, list_path in ((train, train_path), (test, test_path)):
            files = [k + ".jpg" for k in table["key"]]
            _check_exist(["image"] * len(files), files, table["line"].to_numpy(), list_path, r)
    rng = np.random.default_rng(seed)
    vids = test["vid"].to_numpy()
    perm = rng.permutation(len(test))
    _, first = np.unique(vids[perm], return_index=True)
    is_gallery = np.zeros(len(test), dtype=bool)
    is_gallery[perm[first]] = True
    prefix = os.path.join(root_s, "image", "")
    parts = {}
    for split, table in (
        ("train", train),
        ("query", test[~is_gallery]),
        ("gallery", test[is_gallery]),
    ):
        parts[split] = pd.DataFrame(
            {
                "key": table["key"].to_numpy(dtype=object),
                "path": (prefix + table["key"] + ".jpg").to_numpy(dtype=object),
                "vid": table["vid"].to_numpy(),
                "camid": np.zeros(len(table), dtype=np.int64),
            }
        )
    df = assemble_manifest(parts)
    df["camid"] = np.arange(len(df), dtype=np.int64)
    return df


# --------------------------------------------------------------------------- dispatch

_READERS: dict[str, Callable[..., pd.DataFrame]] = {
    "veri776": read_veri776,
    "synthetic": read_veri776,
    "veriwild": read_veriwild,
    "vveri901": read_vveri901,
    "vehicleid": read_vehicleid,
}
DATASET_NAMES: tuple[str, ...] = tuple(_READERS)


def read_dataset(name: str, root: str | Path, **options) -> pd.DataFrame:
    """Read dataset ``name`` from ``root`` in its native layout into a manifest.

    ``name`` is one of "veri776", "synthetic" (VeRi-776 layout), "veriwild", "vveri901",
    "vehicleid"; ``options`` go to the reader (e.g. ``test_size``, ``seed``, ``check_files``).
    """
    if name not in _READERS:
        raise ValueError(f"unknown dataset name {name!r}; allowed names: {list(DATASET_NAMES)}")
    reader = _READERS[name]
    params = inspect.signature(reader).parameters
    allowed = [p for p in params if p != "root"]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for dataset {name!r}; allowed options: {allowed}"
        )
    require_root(root, name)
    return require_splits(reader(root, **options), root, name)


def require_splits(df: pd.DataFrame, root: str | Path, name: str) -> pd.DataFrame:
    """``df`` if its train, query and gallery splits hold images (and validation has both
    sides or neither); else :class:`DatasetFormatError` naming the dataset folder and split."""
    counts = df["split"].value_counts()
    empty = [s for s in ("train", "query", "gallery") if counts.get(s, 0) == 0]
    if empty:
        raise DatasetFormatError(
            f"{root}: dataset {name!r} has no {' / '.join(empty)} images (its list files are "
            "empty or list nothing); every run needs train, query and gallery images: check "
            "the lists against the layout in the README's 'Real datasets' section"
        )
    val = [counts.get(s, 0) for s in ("val_query", "val_gallery")]
    if min(val) == 0 < max(val):
        raise DatasetFormatError(
            f"{root}: dataset {name!r} has {val[0]} val_query and {val[1]} val_gallery images; "
            "a validation split needs both lists non-empty (or neither, to hold one out)"
        )
    return df
