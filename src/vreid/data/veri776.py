"""VeRi-776 reader (also reads the project's synthetic set, written in the same layout).

Layout (every file except the image folders and name lists is optional)::

    image_train/ image_query/ image_test/          JPEG crops named 0001_c001_00016450_0.jpg
    name_train.txt name_query.txt name_test.txt    one file name per line
    train_label.xml test_label.xml                 gb2312-declared <Item imageName= vehicleID=
                                                   cameraID= colorID= typeID= />
    test_track.txt (train_track.txt)               "KEY img1 img2 ... imgN " per line
    gt_index.txt jk_index.txt                      (or gt_image.txt / jk_image.txt) 1-based
                                                   indices into name_test.txt, one line per query
    keypoint_train.txt keypoint_test.txt           Wang et al. key points + orientation 0..7

Optional validation split (identities disjoint from train and test; written by the synthetic
generator, absent from the real VeRi-776)::

    image_val_query/ image_val/                    val queries (copies) and val gallery
    name_val_query.txt name_val.txt                one file name per line
    val_label.xml keypoint_val.txt                 as test_label.xml / keypoint_test.txt
"""

from __future__ import annotations

import os
import re
import warnings
import xml.parsers.expat
from pathlib import Path

import numpy as np
import pandas as pd

from vreid.data._manifest import assemble_manifest, view8_to_view5
from vreid.data._text import (
    DatasetFormatError,
    MissingSideFileWarning,
    match_lines,
    raise_first_bad,
    raise_first_duplicate,
    read_lines,
    require_root,
    warn_missing,
)

__all__ = [
    "VERI_NAME_PATTERN",
    "parse_veri_names",
    "parse_veri_label_xml",
    "parse_veri_tracks",
    "parse_veri_keypoints",
    "parse_veri_index",
    "read_veri776",
    "read_veri776_index",
]

#: A VeRi-776 image file name: vehicle, camera, frame, index.
VERI_NAME_PATTERN = (
    r"(\d{1,18})_[cC](\d{1,18})_(\d{1,18})_(\d{1,18})\.(?:jpg|jpeg|png|JPG|JPEG|PNG)"
)
_NAME_RE = re.compile(VERI_NAME_PATTERN)
_VERI_NAME_EXPECTED = "an image name like 0001_c001_00016450_0.jpg (vehicle_cCAMERA_frame_index)"
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")

# split -> (name list, image folder)
_LAYOUT = {
    "train": ("name_train.txt", "image_train"),
    "query": ("name_query.txt", "image_query"),
    "gallery": ("name_test.txt", "image_test"),
    "val_query": ("name_val_query.txt", "image_val_query"),
    "val_gallery": ("name_val.txt", "image_val"),
}
_REQUIRED_SPLITS = ("train", "query", "gallery")
_VAL_SPLITS = ("val_query", "val_gallery")
_KEYPOINT_PATTERN = r"(\S+)(?:[ \t]+-?\d+){40}[ \t]+(\d{1,18})"
_KEYPOINT_EXPECTED = (
    "'VeRi/image_xxx/<name> x1 y1 ... x20 y20 orientation' "
    "(a path, 40 integer coordinates with -1 for hidden points, orientation 0-7)"
)
_INDEX_ALTERNATIVES = {
    "gt": ("gt_index.txt", "gt_image.txt"),
    "jk": ("jk_index.txt", "jk_image.txt"),
}


# --------------------------------------------------------------------------- names


def parse_veri_names(
    names: pd.Series, source: str | Path, lines: pd.Series | None = None
) -> pd.DataFrame:
    """Parse VeRi file names into ``vid``, ``camid``, ``frame`` (all int64).

    ``names`` is a Series of file names; ``lines`` (defaults to ``names``) supplies the
    1-based line numbers used in the error raised for a name that does not match
    ``0001_c001_00016450_0.jpg``. Returns a DataFrame with columns name, vid, camid, frame.
    """
    names = names.astype(str)
    if lines is None:
        lines = names
    ok = names.str.fullmatch(VERI_NAME_PATTERN).to_numpy(dtype=bool)
    raise_first_bad(lines, ok, Path(source), _VERI_NAME_EXPECTED, "malformed image name")
    parts = names.str.extract(VERI_NAME_PATTERN)
    return pd.DataFrame(
        {
            "name": names.to_numpy(dtype=object),
            "vid": parts[0].to_numpy(dtype=np.int64),
            "camid": parts[1].to_numpy(dtype=np.int64),
            "frame": parts[2].to_numpy(dtype=np.int64),
        }
    )


def _list_images(folder: Path) -> list[str]:
    return sorted(
        e.name
        for e in os.scandir(folder)
        if e.is_file() and not e.name.startswith(".") and e.name.lower().endswith(_IMAGE_EXTENSIONS)
    )


def _split_names(root: Path, split: str, check_files: bool) -> pd.DataFrame:
    """One split's names (list-file order, or sorted folder listing when the list is absent)."""
    list_name, folder_name = _LAYOUT[split]
    list_path, folder = root / list_name, root / folder_name
    if list_path.is_file():
        numbers, groups = match_lines(list_path, f"({VERI_NAME_PATTERN})", _VERI_NAME_EXPECTED)
        if not groups:
            raise DatasetFormatError(
                f"{list_path}: lists no images; expected one {_VERI_NAME_EXPECTED} per line"
            )
        table = pd.DataFrame(
            {
                "name": pd.Series([g[0] for g in groups], dtype=object),
                "vid": np.array([int(g[1]) for g in groups], dtype=np.int64),
                "camid": np.array([int(g[2]) for g in groups], dtype=np.int64),
                "frame": np.array([int(g[3]) for g in groups], dtype=np.int64),
            }
        )
        lines = pd.Series(table["name"].to_numpy(), index=numbers, dtype=object)
        raise_first_duplicate(lines, table["name"].to_numpy(), list_path, "image name")
        if check_files:
            if not folder.is_dir():
                raise FileNotFoundError(
                    f"{list_path} lists {len(lines)} images but the image folder {folder} does "
                    "not exist: place the images there (or pass check_files=False)"
                )
            present = set(os.listdir(folder))
            missing = ~table["name"].isin(present).to_numpy()
            if missing.any():
                pos = int(np.flatnonzero(missing)[0])
                raise FileNotFoundError(
                    f"{list_path}, line {int(lines.index[pos])} names image "
                    f"{table['name'].iloc[pos]!r}, which is missing from {folder} "
                    f"({int(missing.sum())} listed images are missing)"
                )
    else:
        if not folder.is_dir():
            raise FileNotFoundError(
                f"neither the name list {list_path} nor the image folder {folder} exists: "
                f"the {split} split of a VeRi-776-layout dataset needs at least one of them"
            )
        warn_missing(list_path, f"listing {folder} instead (sorted file names)")
        names = _list_images(folder)
        bad = [n for n in names if _NAME_RE.fullmatch(n) is None]
        if bad:
            raise DatasetFormatError(
                f"{folder / bad[0]}: image file name does not follow the VeRi-776 layout "
                f"({len(bad)} such files); expected {_VERI_NAME_EXPECTED}, or a {list_name}"
            )
        table = parse_veri_names(pd.Series(names, dtype=str), folder)
    table["line"] = np.arange(len(table))
    return table


def _has_val_split(root: Path) -> bool:
    """True when the optional val split is present (its name list or image folder, for both
    val_query and val_gallery); False when none of them exists. Half present (only the val
    query side or only the val gallery side) raises FileNotFoundError naming what is missing.
    """
    present = {
        split: (root / _LAYOUT[split][0]).is_file() or (root / _LAYOUT[split][1]).is_dir()
        for split in _VAL_SPLITS
    }
    if not any(present.values()):
        return False
    if all(present.values()):
        return True
    have = next(s for s in _VAL_SPLITS if present[s])
    lack = next(s for s in _VAL_SPLITS if not present[s])
    have_list, have_dir = (root / p for p in _LAYOUT[have])
    found = have_list if have_list.is_file() else have_dir
    lack_list, lack_dir = (root / p for p in _LAYOUT[lack])
    raise FileNotFoundError(
        f"{found} exists but {lack_list} (and the image folder {lack_dir}) is missing: a "
        f"validation split needs both {_LAYOUT['val_query'][0]} and {_LAYOUT['val_gallery'][0]} "
        "(or their image folders); add the missing one or remove the val files"
    )


# --------------------------------------------------------------------------- label XML


def _decode_xml(path: Path) -> str:
    raw = path.read_bytes()
    m = re.match(rb"\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9_.:-]+)[\"']", raw)
    enc = m.group(1).decode("ascii").lower() if m else "utf-8"
    if enc in ("gb2312", "gbk", "gb_2312-80", "euc-cn", "cp936", "x-gbk"):
        enc = "gbk"  # gbk is a superset of gb2312
    if enc in ("utf-8", "utf8"):
        enc = "utf-8-sig"
    try:
        text = raw.decode(enc)
    except LookupError as exc:
        raise DatasetFormatError(
            f"{path}, line 1: unknown XML encoding {enc!r}; expected gb2312/gbk or utf-8"
        ) from exc
    except UnicodeDecodeError as exc:
        lineno = raw[: exc.start].count(b"\n") + 1
        raise DatasetFormatError(
            f"{path}, line {lineno}: bytes not decodable as {enc} ({exc.reason}); expected a "
            "label file in its declared encoding (gb2312 for VeRi-776)"
        ) from exc
    # xml parsers refuse a multi-byte declared encoding on text; drop the declaration, keep
    # its line breaks so line numbers stay right.
    return re.sub(
        r"\A\ufeff?\s*<\?xml.*?\?>",
        lambda mm: "\n" * mm.group(0).count("\n"),
        text,
        count=1,
        flags=re.DOTALL,
    )


def _xml_items(text: str, path: Path) -> list[tuple]:
    """(line, imageName, vehicleID, cameraID, colorID, typeID) of every ``<Item>`` (expat)."""
    items: list[tuple] = []
    parser = xml.parsers.expat.ParserCreate()

    def start(tag: str, attrs: dict) -> None:
        if tag == "Item":
            items.append(
                (
                    parser.CurrentLineNumber,
                    attrs.get("imageName"),
                    attrs.get("vehicleID"),
                    attrs.get("cameraID"),
                    attrs.get("colorID"),
                    attrs.get("typeID"),
                )
            )

    parser.StartElementHandler = start
    try:
        parser.Parse(text, True)
    except xml.parsers.expat.ExpatError as exc:
        raise DatasetFormatError(
            f"{path}, line {exc.lineno}: XML syntax error "
            f"({xml.parsers.expat.ErrorString(exc.code)}); expected well-formed XML of "
            "<Item imageName=... vehicleID=... cameraID=... colorID=... typeID=... /> elements"
        ) from exc
    return items


def parse_veri_label_xml(path: str | Path) -> pd.DataFrame:
    """Parse ``train_label.xml`` / ``test_label.xml`` (gb2312 declared, read as gbk).

    Returns one row per ``<Item>``: name (str), vid, camid, color, type (Int64; absent -> NA,
    ``typeID="0"`` / ``colorID="0"`` -> NA), line (1-based line of the element).
    Raises :class:`DatasetFormatError` naming the file and line for XML syntax errors, a
    missing/bad ``imageName`` or a non-integer attribute, and for two different labels of the
    same image.
    """
    path = Path(path)
    text = _decode_xml(path)
    items = _xml_items(text, path)
    cols = ["line", "name", "vehicleID", "cameraID", "colorID", "typeID"]
    raw = pd.DataFrame(items, columns=cols)
    text_lines = text.splitlines()
    lines = pd.Series(
        [text_lines[i - 1].strip() if i <= len(text_lines) else "" for i in raw["line"]],
        index=raw["line"].to_numpy(dtype=np.int64),
        dtype=str,
    )
    expected = '<Item imageName="0001_c001_00016450_0.jpg" vehicleID="0001" cameraID="c001" '
    expected += 'colorID="1" typeID="4" /> (integer IDs)'
    name = raw["name"].astype(object)
    raise_first_bad(lines, name.notna().to_numpy(), path, expected, "Item without imageName")
    checks = {
        "imageName": (name, VERI_NAME_PATTERN),
        "vehicleID": (raw["vehicleID"], r"\d{1,18}"),
        "cameraID": (raw["cameraID"], r"[cC]?\d{1,18}"),
        "colorID": (raw["colorID"], r"\d{1,18}"),
        "typeID": (raw["typeID"], r"\d{1,18}"),
    }
    for attr, (values, pattern) in checks.items():
        s = values.astype(object)
        ok = s.isna().to_numpy() | pd.Series(s.fillna("").astype(str)).str.fullmatch(
            pattern
        ).to_numpy(dtype=bool)
        raise_first_bad(lines, ok, path, expected, f"bad {attr} attribute")

    def to_int(s: pd.Series, zero_is_na: bool = False) -> pd.Series:
        out = pd.to_numeric(s.astype(object).str.lstrip("cC"), errors="coerce").astype("Int64")
        if zero_is_na:
            out = out.mask(out == 0)
        return out.reset_index(drop=True)

    table = pd.DataFrame(
        {
            "name": name.astype(str).to_numpy(dtype=object),
            "vid": to_int(raw["vehicleID"]),
            "camid": to_int(raw["cameraID"]),
            "color": to_int(raw["colorID"], zero_is_na=True),
            "type": to_int(raw["typeID"], zero_is_na=True),
            "line": raw["line"].to_numpy(dtype=np.int64),
        }
    )
    table = table.drop_duplicates(["name", "vid", "camid", "color", "type"])
    raise_first_duplicate(
        lines.iloc[table.index.to_numpy()],
        table["name"].to_numpy(),
        path,
        "imageName with different labels",
    )
    return table.reset_index(drop=True)


# --------------------------------------------------------------------------- tracks


def parse_veri_tracks(path: str | Path) -> pd.DataFrame:
    """Parse ``test_track.txt``: lines ``KEY img1 img2 ... imgN`` (trailing space allowed).

    Returns one row per member image: name (str), tracklet (the line's KEY), line (int64).
    An image listed under two different keys raises :class:`DatasetFormatError`.
    """
    path = Path(path)
    lines = read_lines(path)
    tokens = lines.str.split()
    expected = "'KEY img1 img2 ... imgN' (a track key, then the image names of the track)"
    raise_first_bad(lines, (tokens.str.len() >= 2).to_numpy(), path, expected)
    keys = tokens.str[0]
    members = tokens.str[1:].explode()
    ok_member = members.astype(str).str.fullmatch(VERI_NAME_PATTERN).to_numpy(dtype=bool)
    bad_lines = set(members.index[~ok_member])
    ok_line = ~lines.index.isin(list(bad_lines))
    raise_first_bad(lines, ok_line, path, expected + "; " + _VERI_NAME_EXPECTED, "bad image name")
    table = pd.DataFrame(
        {
            "name": members.to_numpy(dtype=object),
            "tracklet": keys.loc[members.index].to_numpy(dtype=object),
            "line": members.index.to_numpy(dtype=np.int64),
        }
    )
    table = table.drop_duplicates(["name", "tracklet"]).reset_index(drop=True)
    raise_first_duplicate(
        lines.loc[table["line"].to_numpy()],
        table["name"].to_numpy(),
        path,
        "image in two different tracks:",
    )
    return table


# --------------------------------------------------------------------------- key points


def parse_veri_keypoints(path: str | Path) -> pd.DataFrame:
    """Parse a Wang et al. key-point file (``keypoint_train.txt`` / ``keypoint_test.txt``).

    Lines: ``VeRi/image_xxx/<name> x1 y1 ... x20 y20 orientation``. Duplicate lines of one
    image are dropped (the real test file has 500); one image with two different
    orientations raises :class:`DatasetFormatError`. Returns name (str, the file name without
    folders), view8 (int64, 0..7: front, rear, left, left-front, left-rear, right,
    right-front, right-rear), line (int64), one row per distinct name, in file order.
    """
    path = Path(path)
    numbers, groups = match_lines(path, _KEYPOINT_PATTERN, _KEYPOINT_EXPECTED)
    view8 = np.array([int(g[1]) for g in groups], dtype=np.int64)
    if (view8 > 7).any():
        pos = int(np.flatnonzero(view8 > 7)[0])
        raise DatasetFormatError(
            f"{path}, line {int(numbers[pos])}: orientation {int(view8[pos])} outside 0..7 "
            f"(image {groups[pos][0]}); expected {_KEYPOINT_EXPECTED}"
        )
    names = [g[0].replace("\\", "/").rsplit("/", 1)[-1] for g in groups]
    bad = [i for i, n in enumerate(names) if _NAME_RE.fullmatch(n) is None]
    if bad:
        raise DatasetFormatError(
            f"{path}, line {int(numbers[bad[0]])}: malformed line: path {groups[bad[0]][0]!r} "
            f"does not end in a VeRi image name; expected {_KEYPOINT_EXPECTED}"
        )
    table = pd.DataFrame({"name": pd.Series(names, dtype=object), "view8": view8, "line": numbers})
    table = table.drop_duplicates(["name", "view8"]).reset_index(drop=True)
    dup = table["name"].duplicated().to_numpy()
    if dup.any():
        pos = int(np.flatnonzero(dup)[0])
        name = table["name"].iloc[pos]
        first = int(table["line"].iloc[int(np.flatnonzero(table["name"].to_numpy() == name)[0])])
        raise DatasetFormatError(
            f"{path}, line {int(table['line'].iloc[pos])}: image {name!r} has orientation "
            f"{int(table['view8'].iloc[pos])} here but a different one on line {first}; "
            "expected one orientation per image"
        )
    return table


# --------------------------------------------------------------------------- gt / jk index


def parse_veri_index(path: str | Path, n_queries: int, n_test: int) -> list[list[int]]:
    """Parse a ``gt_index.txt`` / ``jk_index.txt``: one line of 1-based test indices per query.

    Returns 0-based index lists, one per query. The file must have ``n_queries`` lines
    (trailing blank lines ignored) and every index must lie in ``1..n_test``.
    """
    path = Path(path)
    raw = path.read_text(encoding="utf-8").splitlines()
    while len(raw) > n_queries and not raw[-1].strip():
        raw.pop()
    if len(raw) != n_queries:
        raise DatasetFormatError(
            f"{path}: has {len(raw)} lines but there are {n_queries} queries; expected one "
            "line of 1-based name_test.txt indices per query (name_query.txt order)"
        )
    lines = pd.Series([s.strip() for s in raw], index=np.arange(1, n_queries + 1), dtype=str)
    expected = f"space-separated 1-based indices into name_test.txt (1..{n_test})"
    tokens = lines.str.split().explode().dropna()
    ok_tok = tokens.astype(str).str.fullmatch(r"\d{1,18}").to_numpy(dtype=bool)
    raise_first_bad(lines, ~lines.index.isin(tokens.index[~ok_tok]), path, expected)
    values = tokens.astype(np.int64)
    in_range = ((values >= 1) & (values <= n_test)).to_numpy()
    raise_first_bad(
        lines, ~lines.index.isin(values.index[~in_range]), path, expected, "index out of range"
    )
    out: list[list[int]] = [[] for _ in range(n_queries)]
    for lineno, v in zip(values.index.to_numpy(), values.to_numpy() - 1, strict=True):
        out[int(lineno) - 1].append(int(v))
    return out


def _find_index_file(root: Path, kind: str) -> Path | None:
    for name in _INDEX_ALTERNATIVES[kind]:
        if (root / name).is_file():
            return root / name
    return None


def _index_for(root: Path, query: pd.DataFrame, test: pd.DataFrame):
    nq, nt = len(query), len(test)
    gt_path = _find_index_file(root, "gt")
    if gt_path is None:
        warn_missing(
            root / "gt_index.txt",
            "the official per-query ground-truth lists cannot be cross-checked",
            ["gt_image.txt"],
        )
        return None
    gt = parse_veri_index(gt_path, nq, nt)
    qv, qc = query["vid"].to_numpy(), query["camid"].to_numpy()
    tv, tc = test["vid"].to_numpy(), test["camid"].to_numpy()
    names = test["name"].to_numpy()
    for qi, idx in enumerate(gt):
        if not idx:
            continue
        ix = np.asarray(idx)
        bad = (tv[ix] != qv[qi]) | (tc[ix] == qc[qi])
        if bad.any():
            j = int(ix[np.flatnonzero(bad)[0]])
            raise DatasetFormatError(
                f"{gt_path}, line {qi + 1}: index {j + 1} ({names[j]}) is not a ground truth "
                f"of query {query['name'].iloc[qi]}; expected images of the same vehicle from "
                "another camera"
            )
    jk_path = _find_index_file(root, "jk")
    if jk_path is None:
        warn_missing(
            root / "jk_index.txt",
            "the official junk lists are replaced by empty lists",
            ["jk_image.txt"],
        )
        jk: list[list[int]] = [[] for _ in range(nq)]
    else:
        jk = parse_veri_index(jk_path, nq, nt)
    return gt, jk


def read_veri776_index(root: str | Path) -> tuple[list[list[int]], list[list[int]]] | None:
    """Read and validate the official VeRi-776 ``gt_index.txt`` / ``jk_index.txt``.

    Also accepts ``gt_image.txt`` / ``jk_image.txt``. Returns ``(gt, jk)``: one list of
    0-based ``name_test.txt`` row indices per query (``name_query.txt`` order); ``None`` (with a
    warning) when the gt file is absent; an absent jk file gives empty junk lists (warning).
    Every gt entry must be the query's vehicle seen by another camera, else
    :class:`DatasetFormatError`.
    """
    r = Path(root)
    if not r.is_dir():
        raise FileNotFoundError(f"dataset folder {r} not found")
    query = _split_names(r, "query", check_files=False)
    test = _split_names(r, "gallery", check_files=False)
    return _index_for(r, query, test)


# --------------------------------------------------------------------------- reader


def _attach(
    frames: list[pd.DataFrame],
    table: pd.DataFrame,
    columns: list[str],
    source: Path,
    what: str,
) -> None:
    """Copy ``columns`` of ``table`` (keyed by name) onto each frame's rows; warn on gaps."""
    lookup = table.set_index("name")
    n_missing = 0
    n_total = 0
    for frame in frames:
        hit = frame["name"].isin(lookup.index).to_numpy()
        n_missing += int((~hit).sum())
        n_total += len(frame)
        for col in columns:
            values = frame["name"].map(lookup[col])
            if col in frame.columns and col in ("vid", "camid"):
                known = values.notna().to_numpy()
                mismatch = known & (
                    values.fillna(-1).to_numpy(dtype=np.int64) != frame[col].to_numpy()
                )
                if mismatch.any():
                    pos = int(np.flatnonzero(mismatch)[0])
                    name = frame["name"].iloc[pos]
                    line = int(lookup.loc[name, "line"])
                    raise DatasetFormatError(
                        f"{source}, line {line}: {col} {int(values.iloc[pos])} of {name!r} "
                        f"contradicts the {col} {int(frame[col].iloc[pos])} in its file name; "
                        "expected labels that agree with the image names"
                    )
                continue
            frame[col] = values.to_numpy() if col == "tracklet" else values.astype("Int64")
    if n_missing:
        warnings.warn(
            f"{source}: {n_missing} of {n_total} images have no entry; their {what} stay empty",
            MissingSideFileWarning,
            stacklevel=3,
        )


def read_veri776(root: str | Path, *, check_files: bool = True) -> pd.DataFrame:
    """Read a VeRi-776-layout dataset (real VeRi-776 or the synthetic set) into a manifest.

    ``vid``, ``camid`` and ``frame`` come from the file names; colour/type from the label
    XML files; ``tracklet`` (query/gallery) from ``test_track.txt`` (train from an optional
    ``train_track.txt``); ``view8``/``view5`` from the Wang key-point files. Every side file is
    optional (missing -> :class:`MissingSideFileWarning` and empty columns). With
    ``check_files`` every listed image must exist. See :func:`vreid.data.readers.validate_manifest`
    for the columns.

    When ``name_val_query.txt``/``image_val_query`` and ``name_val.txt``/``image_val`` exist,
    they become the splits val_query and val_gallery (same rules as query/gallery; colour/type
    from ``val_label.xml``, viewpoints from ``keypoint_val.txt``); when none of them exists
    there is no val split; only one side of it present is an error.
    """
    r = require_root(root, "veri776")
    root_s = os.fspath(root)
    splits = _REQUIRED_SPLITS + (_VAL_SPLITS if _has_val_split(r) else ())
    parts = {split: _split_names(r, split, check_files) for split in splits}
    test_frames = [parts["query"], parts["gallery"]]
    val_frames = [parts[s] for s in _VAL_SPLITS if s in parts]
    for frame in parts.values():
        frame["tracklet"] = ""

    label_files = [
        ("train_label.xml", [parts["train"]], "train"),
        ("test_label.xml", test_frames, "query and gallery"),
    ]
    keypoint_files = [
        ("keypoint_train.txt", [parts["train"]], "train"),
        ("keypoint_test.txt", test_frames, "query and gallery"),
    ]
    if val_frames:
        label_files.append(("val_label.xml", val_frames, "val_query and val_gallery"))
        keypoint_files.append(("keypoint_val.txt", val_frames, "val_query and val_gallery"))

    for xml_name, frames, who in label_files:
        path = r / xml_name
        if path.is_file():
            labels = parse_veri_label_xml(path)
            _attach(frames, labels, ["vid", "camid", "color", "type"], path, "colour and type")
        else:
            warn_missing(path, f"colour and type of {who} images will be NA")

    track_path = r / "test_track.txt"
    if track_path.is_file():
        _attach(test_frames, parse_veri_tracks(track_path), ["tracklet"], track_path, "tracklet")
        for frame in test_frames:
            frame["tracklet"] = frame["tracklet"].fillna("").astype(str)
    else:
        warn_missing(track_path, "query/gallery images get no dataset tracklet ('')")
    train_track = r / "train_track.txt"
    if train_track.is_file():
        frame = parts["train"]
        _attach([frame], parse_veri_tracks(train_track), ["tracklet"], train_track, "tracklet")
        frame["tracklet"] = frame["tracklet"].fillna("").astype(str)

    for kp_name, frames, who in keypoint_files:
        path = r / kp_name
        if path.is_file():
            _attach(frames, parse_veri_keypoints(path), ["view8"], path, "viewpoints")
            for frame in frames:
                frame["view5"] = view8_to_view5(frame["view8"]).to_numpy()
        else:
            warn_missing(path, f"viewpoints (view8/view5) of {who} images will be NA")

    _index_for(r, parts["query"], parts["gallery"])

    for split, frame in parts.items():
        folder = _LAYOUT[split][1]
        frame["key"] = frame["name"]
        frame["path"] = os.path.join(root_s, folder, "") + frame["name"].astype(str)
    return assemble_manifest(parts)
