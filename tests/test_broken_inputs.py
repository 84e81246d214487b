# ruff: noqa: E501  (the corpus below reads best as one case per line)
"""A corpus of broken inputs: each one stops with one line that names the file (and line) and
says what is expected, never a traceback from deep inside; plus a property test that random
list, keypoint and XML content gives a manifest or such a line, never another exception.

Cases that other files already cover (malformed lines of every list, bad params, bad
checkpoints) are in test_readers.py, test_params.py and test_file_safety.py.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.fixtures_layouts import (
    replace_line,
    write_image,
    write_vehicleid,
    write_veri776,
    write_veriwild,
    write_vveri901,
)

from vreid.data.readers import DatasetFormatError, read_dataset
from vreid.io import InputError
from vreid.learn.images import ImageLoadError, ImageSource

ROOT = Path(__file__).resolve().parents[1]
BIG = "9" * 20  # beyond int64


def _blank(path: Path) -> None:
    path.write_text("")


def _veri(tmp_path: Path) -> Path:
    write_veri776(tmp_path / "veri", images=False)
    return tmp_path / "veri"


def _replace(path: Path, old: str, new: str, encoding: str = "utf-8") -> None:
    """Replace ``old`` by ``new`` on the first line that holds it."""
    lines = path.read_text(encoding=encoding).split("\n")
    at = next(i for i, ln in enumerate(lines) if old in ln)
    replace_line(path, at + 1, lines[at].replace(old, new, 1), encoding)


def _veri_case(mutate):
    def setup(tmp_path):
        root = _veri(tmp_path)
        mutate(root)
        return "veri776", root, {"check_files": False}

    return setup


def _other_case(dataset, writer, mutate, **options):
    def setup(tmp_path):
        root = tmp_path / ("VVERI901_V1_Trial" if dataset == "vveri901" else dataset)
        writer(root)
        mutate(root)
        return dataset, root, options

    return setup


def _vveri_long_frame(root: Path) -> None:
    folder = next(p for p in root.glob("*/*") if p.is_dir())
    frame = next(folder.glob("*.png"))
    frame.rename(folder / f"{BIG}.png")


DATA_CORPUS = {
    "empty name_train.txt": (
        _veri_case(lambda r: _blank(r / "name_train.txt")),
        r"name_train\.txt: lists no images; expected one an image name",
    ),
    "empty name_query.txt": (
        _veri_case(lambda r: _blank(r / "name_query.txt")),
        r"name_query\.txt: lists no images",
    ),
    "all lists empty": (
        _veri_case(lambda r: [_blank(r / f) for f in ("name_train.txt", "name_query.txt", "name_test.txt")]),
        r"name_train\.txt: lists no images",
    ),
    "empty VehicleID test list": (
        _other_case("vehicleid", write_vehicleid, lambda r: _blank(r / "train_test_split" / "test_list_800.txt")),
        r"vehicleid: dataset 'vehicleid' has no query / gallery images",
    ),
    "20-digit frame in name_train.txt": (
        _veri_case(lambda r: _replace(r / "name_train.txt", "_00000105_", f"_{BIG}_")),
        r"name_train\.txt, line 2: a number of more than 18 digits",
    ),
    "20-digit orientation in a keypoint file": (
        _veri_case(lambda r: replace_line(r / "keypoint_test.txt", 1, "VeRi/image_test/0003_c001_00000010_0.jpg" + " 1" * 40 + f" {BIG}")),
        r"keypoint_test\.txt, line 1: a number of more than 18 digits",
    ),
    "20-digit vehicleID in the label XML": (
        _veri_case(lambda r: _replace(r / "train_label.xml", 'vehicleID="0002"', f'vehicleID="{BIG}"', "gbk")),
        r"train_label\.xml, line \d+: a number of more than 18 digits",
    ),
    "20-digit index in jk_index.txt": (
        _veri_case(lambda r: replace_line(r / "jk_index.txt", 1, f"1 {BIG}")),
        r"jk_index\.txt, line 1: a number of more than 18 digits",
    ),
    "20-digit id in a VeRi-Wild list": (
        _other_case("veriwild", lambda r: write_veriwild(r, images=False), lambda r: replace_line(r / "train_test_split" / "train_list.txt", 1, f"{BIG}/000001")),
        r"train_list\.txt, line 1: a number of more than 18 digits",
    ),
    "20-digit vehicle id in a VehicleID list": (
        _other_case("vehicleid", write_vehicleid, lambda r: replace_line(r / "train_test_split" / "train_list.txt", 1, f"0000001 {BIG}")),
        r"train_list\.txt, line 1: a number of more than 18 digits",
    ),
    "20-digit frame file in VVeRI-901": (
        _other_case("vveri901", write_vveri901, _vveri_long_frame),
        r"\.png: frame file name is not an integer of at most 18 digits",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(DATA_CORPUS))
def test_broken_dataset_gives_one_line_naming_the_file(tmp_path, case):
    setup, match = DATA_CORPUS[case]
    name, root, options = setup(tmp_path)
    with pytest.raises(InputError, match=match) as err:
        read_dataset(name, root, **options)
    assert "\n" not in str(err.value)


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A 60-byte PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb
    needs no more: the size is refused before any pixel is decoded)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 16)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat))


IMAGE_CORPUS = {
    "not an image": (lambda p: p.write_bytes(b"not a jpeg"), r"cannot read image"),
    "truncated JPEG": (
        lambda p: (write_image(p), p.write_bytes(p.read_bytes()[:40])),
        r"cannot read image",
    ),
    "missing file": (lambda p: None, r"cannot read image .*No such file"),
    "decompression bomb": (
        lambda p: _png_header_only(p, 100_000, 100_000),
        r"refused: .*exceeds limit.*decompression bomb",
    ),
}


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("case", list(IMAGE_CORPUS))
def test_unreadable_image_gives_one_line_with_any_workers(tmp_path, case, workers):
    make, match = IMAGE_CORPUS[case]
    good = [tmp_path / f"ok{i}.jpg" for i in range(3)]
    for p in good:
        write_image(p)
    bad = tmp_path / "bad.jpg"
    make(bad)
    paths = [str(p) for p in good[:2]] + [str(bad)] + [str(good[2])]
    with pytest.raises(ImageLoadError, match=match) as err:
        ImageSource(paths, 8, 8, workers=workers)
    message = str(err.value)
    assert message.startswith(str(bad)) and "\n" not in message


def test_prepare_stage_exits_with_one_line_and_writes_nothing(tmp_path):
    root = _veri(tmp_path)
    for name in ("image_train", "image_query", "image_test"):
        (root / name).mkdir()
    _blank(root / "name_train.txt")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(dataset="veri776", root=str(root))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [sys.executable, "-m", "vreid.stages.prepare"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("[prepare] ") and "name_train.txt: lists no images" in last
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "artifacts").exists() and not (tmp_path / "metrics").exists()


# --------------------------------------------------------------------------- property test

_TEXT = st.text(
    alphabet=st.sampled_from(list("0123456789_cC./ -\t;<>=\"'ajpgxmlItemNae") + ["\n", "\u00e9"]),
    max_size=200,
)
_TARGETS = ("name_train.txt", "name_query.txt", "keypoint_train.txt", "train_label.xml")


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(target=st.sampled_from(_TARGETS), content=_TEXT, keep_lines=st.integers(0, 3))
def test_random_list_content_gives_a_manifest_or_one_line(
    tmp_path_factory, target, content, keep_lines
):
    root = _veri(tmp_path_factory.mktemp("prop"))
    path = root / target
    encoding = "gbk" if target.endswith(".xml") else "utf-8"
    old = path.read_text(encoding=encoding).split("\n")
    path.write_bytes(("\n".join(old[:keep_lines] + [content])).encode(encoding, "replace"))
    try:
        df = read_dataset("veri776", root, check_files=False)
    except (DatasetFormatError, InputError, FileNotFoundError) as exc:
        message = str(exc)
        assert "\n" not in message and target in message
    else:
        assert set(df["split"]) >= {"train", "query", "gallery"}
        assert np.all(df["vid"].to_numpy() >= 0)
