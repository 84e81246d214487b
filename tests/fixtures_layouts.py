"""Writers of small dataset trees in the real native layouts (placeholder images only).

Each ``write_*`` function writes one dataset into ``root`` and returns the manifest records the
reader must produce, built plainly from the literal specification below (independent of the
reader code). ``omit`` names files to leave out (to test missing side files).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from PIL import Image

COLUMNS = [
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
]
VIEW8_TO_VIEW5 = {0: 0, 1: 4, 2: 2, 3: 1, 4: 3, 5: 2, 6: 1, 7: 3}

_BYTES: dict[str, bytes] = {}


def placeholder_bytes(fmt: str = "JPEG") -> bytes:
    """A tiny 4x4 image encoded with Pillow (cached)."""
    if fmt not in _BYTES:
        buf = io.BytesIO()
        Image.new("RGB", (4, 4), (120, 60, 30)).save(buf, fmt)
        _BYTES[fmt] = buf.getvalue()
    return _BYTES[fmt]


def write_image(path: Path, fmt: str = "JPEG") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(placeholder_bytes(fmt))


def replace_line(path: Path, lineno: int, text: str, encoding: str = "utf-8") -> None:
    """Replace 1-based line ``lineno`` of a text file by ``text``."""
    lines = Path(path).read_text(encoding=encoding).split("\n")
    lines[lineno - 1] = text
    Path(path).write_text("\n".join(lines), encoding=encoding)


def expected_frame(records: list[dict]) -> pd.DataFrame:
    """Records -> DataFrame with the manifest dtypes (built without the reader code)."""
    cols = {}
    for c in COLUMNS:
        values = [r[c] for r in records]
        if c in ("key", "path", "split", "tracklet"):
            cols[c] = pd.Series(values, dtype=str)
        elif c in ("vid", "camid"):
            cols[c] = pd.Series(values, dtype="int64")
        else:
            cols[c] = pd.Series(pd.array(values, dtype="Int64"))
    return pd.DataFrame(cols)


# --------------------------------------------------------------------------- VeRi-776

# name, color, type (0 = unknown type as in the old release), view8
VERI_TRAIN = [
    ("0002_c003_00002000_0.jpg", 7, 1, 5),
    ("0001_c001_00000105_1.jpg", 10, 0, 3),
    ("0001_c001_00000100_0.jpg", 10, 0, 3),
    ("0002_c001_00001000_0.jpg", 7, 1, 1),
    ("0001_c002_00000500_0.jpg", 10, 0, 6),
]
# name, color, type, view8, track key
VERI_TEST = [
    ("0003_c001_00000010_0.jpg", 4, 2, 0, "0003_c001_00000010_0.jpg"),
    ("0003_c001_00000015_1.jpg", 4, 2, 0, "0003_c001_00000010_0.jpg"),
    ("0003_c002_00000300_0.jpg", 4, 2, 4, "0003_c002_00000300_0.jpg"),
    ("0004_c001_00000700_0.jpg", 1, 9, 7, "0004_c001_00000700_0.jpg"),
    ("0004_c003_00000900_0.jpg", 1, 9, 2, "0004_c003_00000900_0.jpg"),
    ("0004_c003_00000905_1.jpg", 1, 9, 2, "0004_c003_00000900_0.jpg"),
]
VERI_QUERY = ["0004_c003_00000900_0.jpg", "0003_c001_00000010_0.jpg"]
# optional validation split (vehicles 5 and 6, disjoint from train and test): name, color,
# type, view8 (name_val.txt order); the val queries are copies of val gallery images
VERI_VAL = [
    ("0006_c003_00000800_0.jpg", 2, 4, 6),
    ("0005_c001_00000200_0.jpg", 5, 3, 0),
    ("0005_c002_00000400_0.jpg", 5, 3, 1),
    ("0005_c002_00000405_1.jpg", 5, 3, 1),
    ("0006_c001_00000990_0.jpg", 2, 4, 7),
]
VERI_VAL_QUERY = [
    "0005_c002_00000405_1.jpg",
    "0006_c003_00000800_0.jpg",
    "0005_c001_00000200_0.jpg",
]


def _veri_parse(name: str) -> tuple[int, int, int]:
    vid, cam, frame, _ = name[:-4].split("_")
    return int(vid), int(cam[1:]), int(frame)


def _xml_bytes(items: list[tuple]) -> bytes:
    lines = [
        '<?xml version="1.0" encoding="gb2312" ?>',
        '<TrainingImages Version="1.0">',
        "<!-- 车辆标注 (vehicle labels) -->",
        f'<Items number="{len(items)}">',
    ]
    for name, color, vtype in items:
        vid, cam, _ = _veri_parse(name)
        lines.append(
            f'<Item imageName="{name}" vehicleID="{vid:04d}" cameraID="c{cam:03d}" '
            f'colorID="{color}" typeID="{vtype}" />'
        )
    lines += ["</Items>", "</TrainingImages>", ""]
    return "\r\n".join(lines).encode("gbk")


def _keypoint_line(folder: str, name: str, view8: int) -> str:
    coords = " ".join(str(v) for v in ([-1, -1] * 4 + [10, 20] * 16))
    return f"VeRi/{folder}/{name} {coords} {view8}"


def write_veri776(
    root: Path, omit: Iterable[str] = (), images: bool = True, val: bool = False
) -> dict:
    """Write a small VeRi-776 tree; return {"records", "gt", "jk"} (gt/jk 0-based).

    ``val``: also write the optional validation split (name_val_query.txt, name_val.txt,
    image_val_query/, image_val/, val_label.xml, keypoint_val.txt) and its records.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    omit = set(omit)
    test_names = [t[0] for t in VERI_TEST]

    def write(name: str, data: str | bytes) -> None:
        if name in omit:
            return
        p = root / name
        if isinstance(data, bytes):
            p.write_bytes(data)
        else:
            p.write_text(data, encoding="utf-8")

    write("name_train.txt", "\n".join(t[0] for t in VERI_TRAIN) + "\n")
    write("name_test.txt", "\n".join(test_names) + "\n")
    write("name_query.txt", "\n".join(VERI_QUERY) + "\n")
    write("train_label.xml", _xml_bytes([(n, c, t) for n, c, t, _ in VERI_TRAIN]))
    write("test_label.xml", _xml_bytes([(n, c, t) for n, c, t, _, _ in VERI_TEST]))
    tracks: dict[str, list[str]] = {}
    for name, *_, key in VERI_TEST:
        tracks.setdefault(key, []).append(name)
    write("test_track.txt", "".join(f"{k} {' '.join(v)} \n" for k, v in tracks.items()))
    write(
        "keypoint_train.txt",
        "\n".join(_keypoint_line("image_train", n, v) for n, _, _, v in VERI_TRAIN) + "\n",
    )
    kp_test = [_keypoint_line("image_test", n, v) for n, _, _, v, _ in VERI_TEST]
    kp_test.insert(2, kp_test[0])  # a duplicate line, as in the real file
    write("keypoint_test.txt", "\n".join(kp_test) + "\n")

    gt, jk = [], []
    for q in VERI_QUERY:
        qv, qc, _ = _veri_parse(q)
        g = [
            i
            for i, n in enumerate(test_names)
            if _veri_parse(n)[0] == qv and _veri_parse(n)[1] != qc
        ]
        j = [i for i, n in enumerate(test_names) if _veri_parse(n)[:2] == (qv, qc)]
        gt.append(g)
        jk.append(j)
    write("gt_index.txt", "".join(" ".join(str(i + 1) for i in g) + " \n" for g in gt))
    write("jk_index.txt", "".join(" ".join(str(i + 1) for i in j) + "\n" for j in jk))

    if val:
        write("name_val.txt", "\n".join(t[0] for t in VERI_VAL) + "\n")
        write("name_val_query.txt", "\n".join(VERI_VAL_QUERY) + "\n")
        write("val_label.xml", _xml_bytes([(n, c, t) for n, c, t, _ in VERI_VAL]))
        write(
            "keypoint_val.txt",
            "\n".join(_keypoint_line("image_val", n, v) for n, _, _, v in VERI_VAL) + "\n",
        )
        if images:
            for name, *_ in VERI_VAL:
                write_image(root / "image_val" / name)
            for name in VERI_VAL_QUERY:
                write_image(root / "image_val_query" / name)

    if images:
        for name, *_ in VERI_TRAIN:
            write_image(root / "image_train" / name)
        for name in test_names:
            write_image(root / "image_test" / name)
        for name in VERI_QUERY:
            write_image(root / "image_query" / name)

    has_xml_train = "train_label.xml" not in omit
    has_xml_test = "test_label.xml" not in omit
    has_kp_train = "keypoint_train.txt" not in omit
    has_kp_test = "keypoint_test.txt" not in omit
    has_tracks = "test_track.txt" not in omit
    records = []
    for name, color, vtype, view8 in sorted(VERI_TRAIN):
        vid, cam, frame = _veri_parse(name)
        records.append(
            {
                "key": name,
                "path": os.path.join(str(root), "image_train", name),
                "split": "train",
                "vid": vid,
                "camid": cam,
                "frame": frame,
                "tracklet": "",
                "view5": VIEW8_TO_VIEW5[view8] if has_kp_train else None,
                "view8": view8 if has_kp_train else None,
                "color": color if has_xml_train else None,
                "type": (vtype or None) if has_xml_train else None,
            }
        )
    by_name = {t[0]: t for t in VERI_TEST}
    for split, folder, names in (
        ("query", "image_query", VERI_QUERY),
        ("gallery", "image_test", test_names),
    ):
        for name in names:
            _, color, vtype, view8, key = by_name[name]
            vid, cam, frame = _veri_parse(name)
            records.append(
                {
                    "key": name,
                    "path": os.path.join(str(root), folder, name),
                    "split": split,
                    "vid": vid,
                    "camid": cam,
                    "frame": frame,
                    "tracklet": key if has_tracks else "",
                    "view5": VIEW8_TO_VIEW5[view8] if has_kp_test else None,
                    "view8": view8 if has_kp_test else None,
                    "color": color if has_xml_test else None,
                    "type": (vtype or None) if has_xml_test else None,
                }
            )
    if val:
        has_xml_val = "val_label.xml" not in omit
        has_kp_val = "keypoint_val.txt" not in omit
        by_val_name = {t[0]: t for t in VERI_VAL}
        for split, folder, names in (
            ("val_query", "image_val_query", VERI_VAL_QUERY),
            ("val_gallery", "image_val", [t[0] for t in VERI_VAL]),
        ):
            for name in names:
                _, color, vtype, view8 = by_val_name[name]
                vid, cam, frame = _veri_parse(name)
                records.append(
                    {
                        "key": name,
                        "path": os.path.join(str(root), folder, name),
                        "split": split,
                        "vid": vid,
                        "camid": cam,
                        "frame": frame,
                        "tracklet": "",
                        "view5": VIEW8_TO_VIEW5[view8] if has_kp_val else None,
                        "view8": view8 if has_kp_val else None,
                        "color": color if has_xml_val else None,
                        "type": (vtype or None) if has_xml_val else None,
                    }
                )
    return {"records": records, "gt": gt, "jk": jk}


# --------------------------------------------------------------------------- VeRi-Wild

# key, camera, time text, model, type, color
VERIWILD_INFO = [
    ("00001/000001", 26, "2018-03-11 12:04:32", "Audi A4", "sedan", "black"),
    ("00001/000002", 26, "2018-03-11 12:04:33", "Audi A4", "sedan", "black"),
    ("00001/000003", 30, "1520770000", "Audi A4", "sedan", "black"),
    ("00002/000004", 5, "not a time", "Ford Transit", "van", "white"),
    ("00003/000005", 7, "2018-03-12 00:00:00", "BYD F3", "hatchback", "red"),
    ("00003/000006", 8, "2018-03-12 00:00:10", "BYD F3", "hatchback", "red"),
    ("00004/000007", 7, "", "Geely", "suv", "white"),
    ("00004/000008", 9, "2018-03-13 08:00:00", "Geely", "suv", "white"),
]
VERIWILD_TRAIN = ["00002/000004", "00001/000003", "00001/000001", "00001/000002"]
VERIWILD_QUERY = ["00004/000008", "00003/000005"]
VERIWILD_GALLERY = ["00003/000005", "00003/000006", "00004/000007", "00004/000008"]


def _veriwild_time(text: str):
    if text.isdigit():
        return int(text)
    try:
        return int(pd.Timestamp(text).timestamp()) if text else None
    except ValueError:
        return None


def write_veriwild(root: Path, test_size: int = 3000, images: bool = True) -> dict:
    """Write a small VeRi-Wild tree; return {"records", "color_names", "type_names"}."""
    root = Path(root)
    sd = root / "train_test_split"
    sd.mkdir(parents=True, exist_ok=True)
    info = ["id/image;Camera ID;Time;Model;Type;Color"]
    info += [f"{k};{c};{t};{m};{ty};{co}" for k, c, t, m, ty, co in VERIWILD_INFO]
    (sd / "vehicle_info.txt").write_text("\n".join(info) + "\n", encoding="utf-8")
    (sd / "train_list.txt").write_text("\n".join(VERIWILD_TRAIN) + "\n", encoding="utf-8")
    (sd / f"test_{test_size}_query.txt").write_text("\n".join(VERIWILD_QUERY) + "\n")
    (sd / f"test_{test_size}.txt").write_text("\n".join(VERIWILD_GALLERY) + "\n")
    if images:
        for k, *_ in VERIWILD_INFO:
            write_image(root / "images" / f"{k}.jpg")
    colors = sorted({r[5] for r in VERIWILD_INFO})
    types = sorted({r[4] for r in VERIWILD_INFO})
    info_by_key = {r[0]: r for r in VERIWILD_INFO}
    records = []
    for split, keys in (
        ("train", sorted(VERIWILD_TRAIN)),
        ("query", VERIWILD_QUERY),
        ("gallery", VERIWILD_GALLERY),
    ):
        for k in keys:
            _, cam, t, _, ty, co = info_by_key[k]
            records.append(
                {
                    "key": k,
                    "path": os.path.join(str(root), "images", k + ".jpg"),
                    "split": split,
                    "vid": int(k.split("/")[0]),
                    "camid": cam,
                    "frame": _veriwild_time(t),
                    "tracklet": "",
                    "view5": None,
                    "view8": None,
                    "color": colors.index(co),
                    "type": types.index(ty),
                }
            )
    return {"records": records, "color_names": colors, "type_names": types}


# --------------------------------------------------------------------------- VVeRI-901

# split -> list of (pid, folder, frames)
VVERI = {
    "train": [(2120, "L09_C31_V07", [12, 3, 7]), (15, "L01_C02_V01", [100, 101])],
    "query": [(3000, "L02_C05_V03", [5, 1])],
    "gallery": [(3000, "L03_C06_V03", [9]), (3001, "L02_C05_V04", [2, 10, 4])],
}


def write_vveri901(root: Path, lists_in_parent: bool = False) -> dict:
    """Write a small VVeRI-901 trial tree under ``root`` (named like VVERI901_V1_Trial)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    list_dir = root.parent if lists_in_parent else root
    records = []
    for split, tracks in VVERI.items():
        lines = []
        for pid, folder, frames in tracks:
            lines.append(f"./{root.name}/{pid}/{folder}")
            for fr in frames:
                write_image(root / str(pid) / folder / f"{fr:04d}.png", "PNG")
        (list_dir / f"{split}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for split, tracks in VVERI.items():
        rows = []
        for pid, folder, frames in tracks:
            for fr in sorted(frames):
                key = f"{pid}/{folder}/{fr:04d}.png"
                rows.append(
                    {
                        "key": key,
                        "path": os.path.join(str(root), key),
                        "split": split,
                        "vid": pid,
                        "camid": int(folder.split("_")[1][1:]),
                        "frame": fr,
                        "tracklet": f"{pid}/{folder}",
                        "view5": None,
                        "view8": None,
                        "color": None,
                        "type": None,
                    }
                )
        if split == "train":
            rows.sort(key=lambda r: r["key"])
        records += rows
    return {"records": records}


# --------------------------------------------------------------------------- VehicleID

VEHICLEID_TRAIN = [("0000010", 1), ("0000002", 1), ("0000033", 2)]
VEHICLEID_TEST = [
    ("0000100", 7),
    ("0000101", 7),
    ("0000102", 7),
    ("0000200", 9),
    ("0000300", 11),
    ("0000301", 11),
]


def write_vehicleid(root: Path, test_size: int = 800, images: bool = True) -> dict:
    """Write a small VehicleID tree; return {"train", "test"} (name, vid) lists."""
    root = Path(root)
    sd = root / "train_test_split"
    sd.mkdir(parents=True, exist_ok=True)
    (sd / "train_list.txt").write_text("".join(f"{n} {v}\n" for n, v in VEHICLEID_TRAIN))
    (sd / f"test_list_{test_size}.txt").write_text("".join(f"{n} {v}\n" for n, v in VEHICLEID_TEST))
    if images:
        for n, _ in VEHICLEID_TRAIN + VEHICLEID_TEST:
            write_image(root / "image" / f"{n}.jpg")
    return {"train": VEHICLEID_TRAIN, "test": VEHICLEID_TEST}


# ------------------------------------------------- a rendered set in each real layout


def convert_manifest(manifest: pd.DataFrame, layout: str, root: Path) -> None:
    """Write the images of a prepared manifest (``artifacts/prepare/manifest.csv`` of a
    synthetic run) as a dataset in a real layout: ``veriwild``, ``vveri901`` or
    ``vehicleid``. Train and validation images become the train list (the pipeline holds out
    its own validation identities); query and gallery keep their roles. Images are re-encoded
    in the layout's format; cameras, frames and the vehicle's colour / type go where the
    layout keeps them (VehicleID keeps neither cameras nor frames)."""
    root = Path(root)
    df = manifest.copy()
    df["role"] = (
        df["split"]
        .map({"train": "train", "val_query": "train", "val_gallery": "train"})
        .fillna(df["split"])
    )
    df = df[df["role"].isin(["train", "query", "gallery"])].reset_index(drop=True)
    if layout == "veriwild":
        _to_veriwild(df, root)
    elif layout == "vveri901":
        _to_vveri901(df, root)
    elif layout == "vehicleid":
        _to_vehicleid(df, root)
    else:
        raise ValueError(layout)


def _reencode(src: str, dst: Path, fmt: str) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(src) as im:
        im.convert("RGB").save(dst, fmt)


def _to_veriwild(df: pd.DataFrame, root: Path) -> None:
    sd = root / "train_test_split"
    sd.mkdir(parents=True, exist_ok=True)
    lists: dict[str, list[str]] = {"train": [], "query": [], "gallery": []}
    info = ["id/image;Camera ID;Time;Model;Type;Color"]
    for i, r in enumerate(df.itertuples()):
        key = f"{int(r.vid):05d}/{i:06d}"
        _reencode(r.path, root / "images" / f"{key}.jpg", "JPEG")
        lists[r.role].append(key)
        frame = "" if pd.isna(r.frame) else str(int(r.frame))
        info.append(f"{key};{int(r.camid)};{frame};model;type{r.type};colour{r.color}")
    lists["gallery"] += lists["query"]  # VeRi-Wild: the gallery list holds the queries too
    (sd / "vehicle_info.txt").write_text("\n".join(info) + "\n")
    (sd / "train_list.txt").write_text("\n".join(lists["train"]) + "\n")
    (sd / "test_3000_query.txt").write_text("\n".join(lists["query"]) + "\n")
    (sd / "test_3000.txt").write_text("\n".join(lists["gallery"]) + "\n")


def _to_vveri901(df: pd.DataFrame, root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    lists: dict[str, list[str]] = {"train": [], "query": [], "gallery": []}
    for n, ((role, vid, cam), group) in enumerate(df.groupby(["role", "vid", "camid"])):
        folder = f"{int(vid)}/L01_C{int(cam):02d}_V{n:04d}"
        lists[role].append(f"./{root.name}/{folder}")
        for j, r in enumerate(group.itertuples()):
            frame = j if pd.isna(r.frame) else int(r.frame)
            _reencode(r.path, root / folder / f"{frame:06d}.png", "PNG")
    for role, lines in lists.items():
        (root / f"{role}.txt").write_text("\n".join(lines) + "\n")


def _to_vehicleid(df: pd.DataFrame, root: Path) -> None:
    sd = root / "train_test_split"
    sd.mkdir(parents=True, exist_ok=True)
    lines: dict[str, list[str]] = {"train": [], "test": []}
    for i, r in enumerate(df.itertuples()):
        name = f"{i:07d}"
        _reencode(r.path, root / "image" / f"{name}.jpg", "JPEG")
        lines["train" if r.role == "train" else "test"].append(f"{name} {int(r.vid)}")
    (sd / "train_list.txt").write_text("\n".join(lines["train"]) + "\n")
    (sd / "test_list_800.txt").write_text("\n".join(lines["test"]) + "\n")
