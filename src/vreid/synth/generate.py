"""Render a synthetic dataset into the complete VeRi-776 layout, and a contact sheet of it."""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import shutil
import sys
import time
import warnings
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from .plan import build_world, plan_frame, plan_rows
from .presets import COLOR_NAMES, TYPE_NAMES, VIEW5_NAMES
from .render import render_image
from .vehicle import Vehicle, build_vehicle

__all__ = ["contact_sheet", "generate", "render_rows"]

_SPLIT_DIR = {
    "train": "image_train",
    "query": "image_query",
    "test": "image_test",
    "val_query": "image_val_query",
    "val": "image_val",
}
#: gallery split -> its query split (queries are copies of gallery images)
_QUERY_OF = {"test": "query", "val": "val_query"}

# --------------------------------------------------------------------------------------------
# Rendering workers (module-level so that they work with the "spawn" start method)

_W_WORLD: dict[str, Any] | None = None
_W_CACHE: dict[int, Vehicle] = {}


def _init_worker(world: dict[str, Any]) -> None:
    global _W_WORLD, _W_CACHE
    _W_WORLD = world
    _W_CACHE = {}


def _vehicle(world: dict[str, Any], cache: dict[int, Vehicle], vid: int) -> Vehicle:
    veh = cache.get(vid)
    if veh is None:
        ident = world["identities"][vid]
        veh = build_vehicle(world["models"][ident["model"]], ident)
        cache[vid] = veh
    return veh


def render_rows(
    world: dict[str, Any], rows: Iterable[dict[str, Any]], cache: dict[int, Vehicle] | None = None
) -> list[tuple[str, bytes, np.ndarray]]:
    """Render plan rows in this process; returns (name, JPEG bytes, keypoints (20, 2)) each."""
    cache = {} if cache is None else cache
    seed = world["spec"]["seed"]
    out = []
    for row in rows:
        data, kp = render_image(world, row, _vehicle(world, cache, row["vid"]), seed)
        out.append((row["name"], data, kp))
    return out


def _spawn_can_import_main() -> bool:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return path is None or os.path.exists(path)


def _render_chunk(args: tuple[list[dict[str, Any]], str]) -> list[tuple[str, list[int]]]:
    rows, root = args
    assert _W_WORLD is not None, "worker not initialised"
    res = []
    for (name, data, kp), row in zip(render_rows(_W_WORLD, rows, _W_CACHE), rows, strict=True):
        path = os.path.join(root, _SPLIT_DIR[row["split"]], name)
        with open(path, "wb") as fh:
            fh.write(data)
        res.append((name, kp.ravel().tolist()))
    return res


# --------------------------------------------------------------------------------------------
# Side files


def _write_text(path: Path, lines: Iterable[str], encoding: str = "utf-8") -> None:
    text = "".join(f"{line}\n" for line in lines)
    path.write_bytes(text.encode(encoding))


def _label_xml(df: pd.DataFrame, root_tag: str) -> str:
    lines = [
        '<?xml version="1.0" encoding="gb2312"?>',
        f'<{root_tag} Version="1.0">',
        f'<Items number="{len(df)}">',
    ]
    for name, vid, cam, color, typ in zip(
        df["name"], df["vid"], df["camid"], df["color"], df["type"], strict=True
    ):
        lines.append(
            f'<Item imageName="{name}" vehicleID="{vid:04d}" cameraID="c{cam:03d}" '
            f'colorID="{color}" typeID="{typ}" />'
        )
    lines += ["</Items>", f"</{root_tag}>"]
    return "\n".join(lines) + "\n"


def _write_side_files(root: Path, df: pd.DataFrame, kps: dict[str, list[int]], spec: dict) -> None:
    train = df[df["split"] == "train"].sort_values("name")
    test = df[df["split"] == "test"].sort_values("name")
    query = test[test["is_query"]].sort_values("name")
    _write_text(root / "name_train.txt", train["name"])
    _write_text(root / "name_test.txt", test["name"])
    _write_text(root / "name_query.txt", query["name"])
    (root / "train_label.xml").write_bytes(_label_xml(train, "TrainingImages").encode("gbk"))
    (root / "test_label.xml").write_bytes(_label_xml(test, "TestImages").encode("gbk"))

    # tracks of the test split: one line per (vid, camera, pass)
    tracks = []
    for _key, grp in test.groupby(["vid", "camid", "pass"], sort=True):
        names = sorted(grp["name"])
        tracks.append(names[0] + " " + " ".join(names) + " ")
    _write_text(root / "test_track.txt", sorted(tracks))

    # gt / junk indices (1-based into name_test.txt), one line per query
    test_names = test["name"].tolist()
    t_vid = test["vid"].to_numpy()
    t_cam = test["camid"].to_numpy()
    gt_lines, jk_lines = [], []
    for vid, cam in zip(query["vid"], query["camid"], strict=True):
        same = t_vid == vid
        gt = np.flatnonzero(same & (t_cam != cam)) + 1
        jk = np.flatnonzero(same & (t_cam == cam)) + 1
        gt_lines.append(" ".join(str(i) for i in gt))
        jk_lines.append(" ".join(str(i) for i in jk))
    _write_text(root / "gt_index.txt", gt_lines)
    _write_text(root / "jk_index.txt", jk_lines)
    assert len(test_names) == len(test)

    _write_text(root / "camera_ID.txt", [f"c{c:03d}" for c in range(1, spec["n_cameras"] + 1)])
    _write_text(root / "list_color.txt", [f"{i + 1} {n}" for i, n in enumerate(COLOR_NAMES)])
    _write_text(root / "list_type.txt", [f"{i + 1} {n}" for i, n in enumerate(TYPE_NAMES)])

    def kp_lines(part: pd.DataFrame, folder: str) -> list[str]:
        out = []
        for name, v8 in zip(part["name"], part["view8"], strict=True):
            coords = " ".join(str(int(v)) for v in kps[name])
            out.append(f"VeRi/{folder}/{name} {coords} {int(v8)}")
        return out

    _write_text(root / "keypoint_train.txt", kp_lines(train, "image_train"))
    _write_text(root / "keypoint_test.txt", kp_lines(test, "image_test"))

    # validation split (identities disjoint from train and test), only when there is one
    val = df[df["split"] == "val"].sort_values("name")
    val_query = val[val["is_query"]].sort_values("name")
    if len(val):
        _write_text(root / "name_val.txt", val["name"])
        _write_text(root / "name_val_query.txt", val_query["name"])
        (root / "val_label.xml").write_bytes(_label_xml(val, "ValImages").encode("gbk"))
        _write_text(root / "keypoint_val.txt", kp_lines(val, "image_val"))

    # full truth, one row per image file (queries are listed under split 'query' /
    # 'val_query' too)
    q = query.copy()
    q["split"] = "query"
    vq = val_query.copy()
    vq["split"] = "val_query"
    meta = pd.concat([train, q, test, vq, val], ignore_index=True)
    meta.to_csv(root / "synth_meta.csv", index=False, float_format="%.4f", lineterminator="\n")


# --------------------------------------------------------------------------------------------
# generate


def _render_all(
    world: dict[str, Any], rows: list[dict[str, Any]], tmp: Path, workers: int
) -> dict[str, list[int]]:
    """Render every row into ``tmp`` (in this process or ``workers`` spawned ones); returns
    the keypoints (flat list of 40 ints) per image name."""
    n = len(rows)
    kps: dict[str, list[int]] = {}
    if workers > 1 and not _spawn_can_import_main():
        warnings.warn(
            "the __main__ module is not a file (stdin?), so spawned workers cannot start; "
            "rendering in this process instead",
            RuntimeWarning,
            stacklevel=4,  # the caller of generate()
        )
        workers = 1
    if workers <= 1:
        _init_worker(world)
        for rec in _render_chunk((rows, str(tmp))):
            kps[rec[0]] = rec[1]
    else:
        chunk = max(8, min(128, math.ceil(n / (workers * 6))))
        tasks = [(rows[i : i + chunk], str(tmp)) for i in range(0, n, chunk)]
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(world,)
        ) as pool:
            for res in pool.map(_render_chunk, tasks):
                for name, kp in res:
                    kps[name] = kp
    return kps


def _write_dataset(
    world: dict[str, Any], rows: list[dict[str, Any]], df: pd.DataFrame, tmp: Path, workers: int
) -> None:
    """The whole VeRi layout in ``tmp``: image folders, query copies, side files."""
    # image_train/, image_test/, image_query/ always; the val folders only with val ids
    dirs = ["train", "test", "query"]
    if (df["split"] == "val").any():
        dirs += ["val", "val_query"]
    for split in dirs:
        (tmp / _SPLIT_DIR[split]).mkdir(parents=True)
    kps = _render_all(world, rows, tmp, workers)
    for name, split in zip(
        df.loc[df["is_query"], "name"], df.loc[df["is_query"], "split"], strict=True
    ):
        src, dst = _SPLIT_DIR[split], _SPLIT_DIR[_QUERY_OF[split]]
        shutil.copyfile(tmp / src / name, tmp / dst / name)
    _write_side_files(tmp, df, kps, world["spec"])


def _replace_dir(tmp: Path, out_dir: Path) -> None:
    """Move ``tmp`` to ``out_dir``, replacing an existing ``out_dir``."""
    if out_dir.exists():
        old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
        if old.exists():
            shutil.rmtree(old)
        os.rename(out_dir, old)
        os.rename(tmp, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, out_dir)


def _summary(out_dir: Path, spec: dict[str, Any], df: pd.DataFrame, seconds: float) -> dict:
    def count(split: str) -> int:
        return int((df["split"] == split).sum())

    def ids(split: str) -> int:
        return int(df.loc[df["split"] == split, "vid"].nunique())

    return {
        "out_dir": str(out_dir),
        "preset": spec["preset"],
        "seed": spec["seed"],
        "n_train_images": count("train"),
        "n_query_images": int((df["is_query"] & (df["split"] == "test")).sum()),
        "n_test_images": count("test"),
        "n_val_query_images": int((df["is_query"] & (df["split"] == "val")).sum()),
        "n_val_images": count("val"),
        "n_train_ids": ids("train"),
        "n_test_ids": ids("test"),
        "n_val_ids": ids("val"),
        "n_cameras": int(spec["n_cameras"]),
        "seconds": round(seconds, 3),
        "images_per_second": round(len(df) / max(seconds, 1e-9), 1),
    }


def generate(spec: dict[str, Any], out_dir: Path, workers: int = 2) -> dict[str, Any]:
    """Render the whole synthetic dataset into ``out_dir`` in VeRi-776 layout.

    ``spec`` is merged onto its preset and validated (ValueError on a bad key). Everything is
    written into a sibling temporary directory which then replaces ``out_dir`` (an existing
    ``out_dir`` is replaced; on error nothing is left behind and ``out_dir`` is untouched).
    ``workers`` > 1 renders in that many spawned processes; 0 or 1 renders in this process.
    Output bytes depend only on the spec (not on ``workers``).

    With ``n_val_ids`` > 0 a validation split is written next to the test one:
    ``image_val/`` + ``name_val.txt`` (gallery), ``image_val_query/`` + ``name_val_query.txt``
    (copies of one image per (vid, camera)), ``val_label.xml`` and ``keypoint_val.txt``.

    Returns a summary: image counts per split, id counts, cameras, seconds, images/s.
    """
    t0 = time.perf_counter()
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 0:
        raise ValueError(f"workers must be a non-negative integer, got {workers!r}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"out_dir {out_dir} exists and is not a directory; remove it first")
    world = build_world(spec)
    rows = plan_rows(world)
    df = plan_frame(world, rows)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        _write_dataset(world, rows, df, tmp, workers)
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _summary(out_dir, world["spec"], df, time.perf_counter() - t0)


# --------------------------------------------------------------------------------------------
# contact sheet


def contact_sheet(out_dir: Path, png_path: Path, per_cell: int = 2) -> None:
    """Write a PNG grid of sample images: rows = cameras, columns = the 5 viewpoints.

    Reads ``synth_meta.csv`` of a generated dataset; each cell shows up to ``per_cell`` images
    of different vehicles (deterministic choice), empty cells are grey. Written atomically.
    """
    out_dir, png_path = Path(out_dir), Path(png_path)
    if not isinstance(per_cell, int) or per_cell < 1:
        raise ValueError(f"per_cell must be a positive integer, got {per_cell!r}")
    meta_path = out_dir / "synth_meta.csv"
    if not meta_path.is_file():
        raise ValueError(f"{meta_path} not found: contact_sheet needs a generated synthetic set")
    meta = pd.read_csv(meta_path)
    meta = meta[meta["split"].isin(["train", "test"])]  # val (and query copies) ignored
    if meta.empty:
        raise ValueError(f"{meta_path} lists no images")
    first = meta.iloc[0]
    with Image.open(out_dir / _SPLIT_DIR[first["split"]] / first["name"]) as im:
        tw, th = im.size
    scale = max(1, math.ceil(96 / th))
    tw, th = tw * scale, th * scale
    cams = sorted(meta["camid"].unique())
    pad, left, top = 3, 44, 16
    cell_w = per_cell * (tw + pad) + pad
    W = left + 5 * cell_w
    H = top + len(cams) * (th + 2 * pad)
    sheet = Image.new("RGB", (W, H), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for j, vname in enumerate(VIEW5_NAMES):
        draw.text((left + j * cell_w + pad, 2), vname, fill=(0, 0, 0))
    for i, cam in enumerate(cams):
        y = top + i * (th + 2 * pad) + pad
        night = ""
        if "cam_night" in meta.columns:
            night = " N" if bool(meta.loc[meta["camid"] == cam, "cam_night"].iloc[0]) else ""
        draw.text((2, y + th // 2 - 6), f"c{cam:03d}{night}", fill=(0, 0, 0))
        for j in range(5):
            cell = meta[(meta["camid"] == cam) & (meta["view5"] == j)].sort_values("name")
            cell = cell.drop_duplicates("vid").head(per_cell)
            for k in range(per_cell):
                x = left + j * cell_w + pad + k * (tw + pad)
                if k < len(cell):
                    r = cell.iloc[k]
                    with Image.open(out_dir / _SPLIT_DIR[r["split"]] / r["name"]) as im:
                        sheet.paste(im.convert("RGB").resize((tw, th), Image.NEAREST), (x, y))
                else:
                    draw.rectangle([x, y, x + tw - 1, y + th - 1], fill=(200, 200, 200))
    png_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = png_path.with_name(f".{png_path.name}.tmp-{os.getpid()}")
    try:
        sheet.save(tmp, format="PNG")
        os.replace(tmp, png_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
