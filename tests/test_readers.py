"""Dataset readers: exact tables from fixture trees in the native layouts, warnings, errors."""

from __future__ import annotations

import shutil
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.fixtures_layouts import (
    VEHICLEID_TEST,
    VEHICLEID_TRAIN,
    VERI_QUERY,
    VERI_TEST,
    VERI_VAL,
    VERI_VAL_QUERY,
    VERIWILD_INFO,
    expected_frame,
    replace_line,
    write_vehicleid,
    write_veri776,
    write_veriwild,
    write_vveri901,
)

from vreid.data.readers import (
    MANIFEST_COLUMNS,
    DatasetFormatError,
    MissingSideFileWarning,
    parse_veri_keypoints,
    parse_veri_label_xml,
    parse_veri_names,
    read_dataset,
    read_vehicleid,
    read_veri776,
    read_veri776_index,
    read_veriwild,
    read_vveri901,
    validate_manifest,
    view8_to_view5,
)
from vreid.data.veri776 import _decode_xml

REAL_KEYPOINTS = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "veri776-keypoints"
    / "keypoint_test.txt"
)


def _read_quietly(reader, *args, **kwargs) -> pd.DataFrame:
    """Read with every MissingSideFileWarning turned into an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", MissingSideFileWarning)
        return reader(*args, **kwargs)


# --------------------------------------------------------------------------- VeRi-776


def test_veri776_exact_table(tmp_path):
    spec = write_veri776(tmp_path / "VeRi")
    df = _read_quietly(read_veri776, tmp_path / "VeRi")
    pd.testing.assert_frame_equal(df, expected_frame(spec["records"]))
    assert list(df.columns) == list(MANIFEST_COLUMNS)
    # a query and its gallery copy share the key (self-match removal uses it)
    q = df[df.split == "query"]
    g = df[df.split == "gallery"]
    assert set(q.key) <= set(g.key)
    # root kept as given (str root)
    df2 = _read_quietly(read_veri776, str(tmp_path / "VeRi"))
    assert df2.path.iloc[0].startswith(str(tmp_path / "VeRi") + "/image_train/")


def test_veri776_without_val_files_has_no_val_split(tmp_path):
    write_veri776(tmp_path)
    df = _read_quietly(read_veri776, tmp_path)
    assert set(df.split) == {"train", "query", "gallery"}


def test_veri776_val_split_exact_table(tmp_path):
    spec = write_veri776(tmp_path, val=True)
    df = _read_quietly(read_veri776, tmp_path)
    pd.testing.assert_frame_equal(df, expected_frame(spec["records"]))
    assert df.split.drop_duplicates().tolist() == [
        "train",
        "query",
        "gallery",
        "val_query",
        "val_gallery",
    ]
    vq = df[df.split == "val_query"]
    vg = df[df.split == "val_gallery"]
    assert vq.key.tolist() == VERI_VAL_QUERY  # list-file order
    assert vg.key.tolist() == [t[0] for t in VERI_VAL]
    assert set(vq.key) <= set(vg.key)  # a val query and its gallery copy share the key
    assert vq.path.str.contains("/image_val_query/").all()
    assert vg.path.str.contains("/image_val/").all()
    val_ids = set(vg.vid)
    assert val_ids == {5, 6}
    assert not val_ids & set(df.loc[df.split.isin(["train", "query", "gallery"]), "vid"])
    validate_manifest(df)


@pytest.mark.parametrize(
    "omitted, lost",
    [("val_label.xml", "colour and type"), ("keypoint_val.txt", "viewpoints")],
)
def test_veri776_val_missing_side_file(tmp_path, omitted, lost):
    spec = write_veri776(tmp_path, omit=[omitted], val=True)
    with pytest.warns(MissingSideFileWarning, match=rf"{omitted}.*{lost}.*val_query"):
        df = read_veri776(tmp_path)
    pd.testing.assert_frame_equal(df, expected_frame(spec["records"]))


def test_veri776_val_lists_absent_lists_folders(tmp_path):
    spec = write_veri776(tmp_path, omit=["name_val.txt", "name_val_query.txt"], val=True)
    with pytest.warns(MissingSideFileWarning, match="name_val"):
        df = read_veri776(tmp_path)
    assert df[df.split == "val_query"].key.tolist() == sorted(VERI_VAL_QUERY)
    assert df[df.split == "val_gallery"].key.tolist() == sorted(t[0] for t in VERI_VAL)
    exp = expected_frame(spec["records"])
    keep = ~df.split.str.startswith("val_")
    pd.testing.assert_frame_equal(
        df[keep].reset_index(drop=True), exp[~exp.split.str.startswith("val_")]
    )


@pytest.mark.parametrize(
    "present, missing",
    [
        (("name_val_query.txt", "image_val_query"), ("name_val.txt", "image_val")),
        (("name_val.txt", "image_val"), ("name_val_query.txt", "image_val_query")),
    ],
)
def test_veri776_half_val_split_names_missing_file(tmp_path, present, missing):
    write_veri776(tmp_path, omit=[missing[0]], val=True)
    shutil.rmtree(tmp_path / missing[1])
    with pytest.raises(FileNotFoundError, match=rf"{present[0]} exists but .*{missing[0]}"):
        read_veri776(tmp_path)
    # the folder alone also counts as present
    (tmp_path / present[0]).unlink()
    with pytest.raises(FileNotFoundError, match=rf"{present[1]} exists but .*{missing[0]}"):
        read_veri776(tmp_path)


def test_veri776_xml_really_is_gbk(tmp_path):
    write_veri776(tmp_path)
    raw = (tmp_path / "train_label.xml").read_bytes()
    assert raw.startswith(b'<?xml version="1.0" encoding="gb2312"')
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # the Chinese comment is gbk bytes
    text = _decode_xml(tmp_path / "train_label.xml")
    assert "车辆标注" in text and not text.startswith("<?xml")  # decoded as gbk, no declaration
    assert text.count("\n") == raw.count(b"\n")  # line numbers preserved
    labels = parse_veri_label_xml(tmp_path / "train_label.xml")
    assert len(labels) == 5
    row = labels.set_index("name").loc["0001_c001_00000100_0.jpg"]
    assert row["vid"] == 1 and row["camid"] == 1 and row["color"] == 10
    assert pd.isna(row["type"])  # typeID="0" -> NA
    assert labels.set_index("name").loc["0002_c003_00002000_0.jpg", "line"] == 5


def test_veri776_chinese_attribute(tmp_path):
    p = tmp_path / "test_label.xml"
    text = (
        '<?xml version="1.0" encoding="gb2312" ?>\n<Items>\n'
        '<Item imageName="0001_c001_00000100_0.jpg" vehicleID="0001" cameraID="c001" '
        'colorID="3" typeID="2" note="黑色轿车" />\n</Items>\n'
    )
    p.write_bytes(text.encode("gbk"))
    labels = parse_veri_label_xml(p)
    assert labels[["vid", "camid", "color", "type", "line"]].iloc[0].tolist() == [1, 1, 3, 2, 3]


def test_veri776_index(tmp_path):
    spec = write_veri776(tmp_path)
    gt, jk = read_veri776_index(tmp_path)
    assert gt == spec["gt"] and jk == spec["jk"]
    # the alternative names of the readme
    (tmp_path / "gt_index.txt").rename(tmp_path / "gt_image.txt")
    (tmp_path / "jk_index.txt").rename(tmp_path / "jk_image.txt")
    assert read_veri776_index(tmp_path) == (spec["gt"], spec["jk"])
    (tmp_path / "jk_image.txt").unlink()
    with pytest.warns(MissingSideFileWarning, match="jk_index.txt"):
        assert read_veri776_index(tmp_path) == (spec["gt"], [[], []])
    (tmp_path / "gt_image.txt").unlink()
    with pytest.warns(MissingSideFileWarning, match="gt_index.txt"):
        assert read_veri776_index(tmp_path) is None


@pytest.mark.parametrize(
    "line, text, match",
    [
        (1, "4 x", r"gt_index\.txt, line 1: malformed line: '4 x'"),
        (2, "1 7", r"gt_index\.txt, line 2: index out of range: '1 7'"),
        # index 4 (0004_c001) has the vehicle of query 1 (0004_c003) but ... is fine; index 5 is
        # the same camera as query 1: not a ground truth
        (1, "4 5", r"gt_index\.txt, line 1: index 5 \(0004_c003_00000900_0\.jpg\) is not a ground"),
        (2, "1", r"gt_index\.txt, line 2: index 1 .* is not a ground truth"),
    ],
)
def test_veri776_index_errors(tmp_path, line, text, match):
    write_veri776(tmp_path)
    replace_line(tmp_path / "gt_index.txt", line, text)
    with pytest.raises(DatasetFormatError, match=match):
        read_veri776_index(tmp_path)
    with pytest.raises(DatasetFormatError, match=match):
        read_veri776(tmp_path)


def test_veri776_index_line_count(tmp_path):
    write_veri776(tmp_path)
    (tmp_path / "jk_index.txt").write_text("5 6\n")
    with pytest.raises(DatasetFormatError, match=r"jk_index\.txt: has 1 lines but there are 2"):
        read_veri776_index(tmp_path)


@pytest.mark.parametrize(
    "omitted, lost",
    [
        ("train_label.xml", "colour and type"),
        ("test_label.xml", "colour and type"),
        ("test_track.txt", "tracklet"),
        ("keypoint_train.txt", "viewpoints"),
        ("keypoint_test.txt", "viewpoints"),
        ("gt_index.txt", "ground-truth"),
        ("jk_index.txt", "junk"),
    ],
)
def test_veri776_missing_side_file(tmp_path, omitted, lost):
    spec = write_veri776(tmp_path, omit=[omitted])
    with pytest.warns(MissingSideFileWarning, match=rf"{omitted}.*{lost}"):
        df = read_veri776(tmp_path)
    pd.testing.assert_frame_equal(df, expected_frame(spec["records"]))


def test_veri776_all_side_files_missing(tmp_path):
    side = ["train_label.xml", "test_label.xml", "test_track.txt", "keypoint_train.txt"]
    side += ["keypoint_test.txt", "gt_index.txt", "jk_index.txt"]
    spec = write_veri776(tmp_path, omit=side)
    with pytest.warns(MissingSideFileWarning) as record:
        df = read_veri776(tmp_path)
    pd.testing.assert_frame_equal(df, expected_frame(spec["records"]))
    assert df[["view5", "view8", "color", "type"]].isna().all().all()
    assert (df.tracklet == "").all()
    assert len(record) >= 6


def test_veri776_partial_annotations_keep_rows(tmp_path):
    spec = write_veri776(tmp_path)
    # drop the key points of one test image (both copies of the duplicated first line)
    kp = (tmp_path / "keypoint_test.txt").read_text().splitlines()
    kp = [ln for ln in kp if "0004_c001_00000700_0.jpg" not in ln]
    (tmp_path / "keypoint_test.txt").write_text("\n".join(kp) + "\n")
    with pytest.warns(MissingSideFileWarning, match=r"keypoint_test\.txt: 1 of 8 images"):
        df = read_veri776(tmp_path)
    assert len(df) == len(spec["records"])
    row = df[df.key == "0004_c001_00000700_0.jpg"].iloc[0]
    assert pd.isna(row.view8) and pd.isna(row.view5) and row.color == 1


def test_veri776_missing_name_list_lists_folder(tmp_path):
    # the official index files follow name_query.txt order, so they go too
    spec = write_veri776(tmp_path, omit=["name_query.txt", "gt_index.txt", "jk_index.txt"])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        df = read_veri776(tmp_path)
    messages = [str(w.message) for w in record]
    assert any("name_query.txt not found" in m and "listing" in m for m in messages), messages
    q = df[df.split == "query"]
    assert q.key.tolist() == sorted(VERI_QUERY)
    exp = expected_frame(spec["records"])
    pd.testing.assert_frame_equal(
        df[df.split != "query"].reset_index(drop=True),
        exp[exp.split != "query"].reset_index(drop=True),
    )


def test_veri776_folder_listing_bad_name(tmp_path):
    write_veri776(tmp_path, omit=["name_train.txt"])
    (tmp_path / "image_train" / "IMG_001.jpg").write_bytes(b"")
    with (
        pytest.warns(MissingSideFileWarning, match="name_train.txt"),
        pytest.raises(DatasetFormatError, match=r"IMG_001\.jpg: image file name does not"),
    ):
        read_veri776(tmp_path)


def test_veri776_no_list_no_folder(tmp_path):
    write_veri776(tmp_path, omit=["name_train.txt"], images=False)
    with pytest.raises(FileNotFoundError, match=r"name_train\.txt.*image_train"):
        read_veri776(tmp_path, check_files=False)


def test_veri776_listed_image_missing(tmp_path):
    write_veri776(tmp_path)
    (tmp_path / "image_test" / "0003_c002_00000300_0.jpg").unlink()
    with pytest.raises(
        FileNotFoundError, match=r"name_test\.txt, line 3 names image '0003_c002_00000300_0\.jpg'"
    ):
        read_veri776(tmp_path)
    df = _read_quietly(read_veri776, tmp_path, check_files=False)
    assert "0003_c002_00000300_0.jpg" in set(df.key)


@pytest.mark.parametrize(
    "file, line, text, match",
    [
        ("name_train.txt", 3, "0001_c001_0100_0.png.bak", r"name_train\.txt, line 3: malformed"),
        ("name_test.txt", 2, "0003-c001-00000015-1.jpg", r"name_test\.txt, line 2: malformed"),
        ("name_query.txt", 2, "0004_c003_00000900_0.jpg", r"name_query\.txt, line 2: duplicate"),
        (
            "train_label.xml",
            5,
            '<Item imageName="0001_c001_00000105_1.jpg" vehicleID="x1" cameraID="c001" />',
            r"train_label\.xml, line 5: bad vehicleID attribute",
        ),
        (
            "train_label.xml",
            6,
            '<Item vehicleID="0001" cameraID="c001" />',
            r"train_label\.xml, line 6: Item without imageName",
        ),
        (
            "test_label.xml",
            7,
            '<Item imageName="0003_c002_00000300_0.jpg" vehicleID="0003" cameraID="c002"',
            r"test_label\.xml, line \d+: XML syntax error",
        ),
        (
            "test_label.xml",
            5,
            '<Item imageName="0003_c001_00000010_0.jpg" vehicleID="0009" cameraID="c001" />',
            r"test_label\.xml, line 5: vid 9 of '0003_c001_00000010_0\.jpg' contradicts",
        ),
        ("test_track.txt", 2, "ONLYKEY ", r"test_track\.txt, line 2: malformed line"),
        ("test_track.txt", 1, "K 0003_c001_x.jpg ", r"test_track\.txt, line 1: bad image name"),
        (
            "test_track.txt",
            3,
            "K2 0003_c001_00000010_0.jpg ",
            r"test_track\.txt, line 3: .*two different tracks",
        ),
        ("keypoint_train.txt", 4, "VeRi/image_train/a.jpg 1 2 3 3", r"keypoint_train\.txt, line 4"),
        (
            "keypoint_train.txt",
            2,
            "VeRi/image_train/a.jpg" + " 1" * 40 + " 3",
            r"keypoint_train\.txt, line 2: malformed line: path 'VeRi/image_train/a\.jpg'",
        ),
        (
            "keypoint_test.txt",
            1,
            "VeRi/image_test/0003_c001_00000010_0.jpg" + " 1" * 40 + " 8",
            r"keypoint_test\.txt, line 1: orientation 8 outside 0\.\.7",
        ),
        (
            "keypoint_test.txt",
            3,
            "VeRi/image_test/0003_c001_00000010_0.jpg" + " 1" * 40 + " 5",
            r"keypoint_test\.txt, line 3: image '0003_c001_00000010_0\.jpg' has orientation 5 .* "
            r"line 1",
        ),
    ],
)
def test_veri776_malformed_lines(tmp_path, file, line, text, match):
    write_veri776(tmp_path)
    enc = "gbk" if file.endswith(".xml") else "utf-8"
    replace_line(tmp_path / file, line, text, encoding=enc)
    with pytest.raises(DatasetFormatError, match=match):
        read_veri776(tmp_path)


def test_veri776_name_parser():
    names = pd.Series(["0001_c001_00016450_0.jpg", "0776_c020_00000005_12.jpg"])
    out = parse_veri_names(names, "x")
    assert out[["vid", "camid", "frame"]].to_numpy().tolist() == [[1, 1, 16450], [776, 20, 5]]
    with pytest.raises(DatasetFormatError, match=r"x, line 2: malformed image name"):
        parse_veri_names(pd.Series(["0001_c001_00016450_0.jpg", "bad.jpg"], index=[1, 2]), "x")


def test_view8_to_view5_mapping():
    ref = {0: 0, 3: 1, 6: 1, 2: 2, 5: 2, 4: 3, 7: 3, 1: 4}
    got = view8_to_view5(pd.Series([0, 1, 2, 3, 4, 5, 6, 7, None], dtype="Int64"))
    assert got.iloc[:8].tolist() == [ref[i] for i in range(8)]
    assert pd.isna(got.iloc[8]) and got.dtype == "Int64"
    with pytest.raises(ValueError, match="outside 0..7"):
        view8_to_view5(np.array([8]))


# --------------------------------------------------------------------------- real annotations


def _real_keypoints() -> Path:
    if not REAL_KEYPOINTS.is_file():
        pytest.skip(f"real VeRi-776 annotation fixture {REAL_KEYPOINTS} not present")
    return REAL_KEYPOINTS


def test_real_keypoint_file_counts():
    kp = parse_veri_keypoints(_real_keypoints())
    n_lines = sum(1 for ln in REAL_KEYPOINTS.read_text().splitlines() if ln.strip())
    assert n_lines == 12079
    assert len(kp) == 11579 and kp.name.is_unique
    counts = Counter(kp.view8.tolist())
    assert [counts[i] for i in range(8)] == [1262, 825, 64, 3021, 3202, 256, 1172, 1777]
    names = parse_veri_names(kp["name"], REAL_KEYPOINTS)
    assert names.vid.nunique() == 200 and names.camid.nunique() == 19


def test_real_names_through_reader_without_images(tmp_path):
    src = _real_keypoints()
    kp = parse_veri_keypoints(src)
    shutil.copy(src, tmp_path / "keypoint_test.txt")
    test_names = kp["name"].tolist()
    (tmp_path / "name_test.txt").write_text("\n".join(test_names) + "\n")
    (tmp_path / "name_train.txt").write_text("9999_c001_00000001_0.jpg\n")  # not empty
    query = test_names[::7]
    (tmp_path / "name_query.txt").write_text("\n".join(query) + "\n")
    with pytest.warns(MissingSideFileWarning):
        df = read_veri776(tmp_path, check_files=False)
    assert (df.split == "gallery").sum() == 11579 and (df.split == "query").sum() == len(query)
    g = df[df.split == "gallery"]
    assert g.key.tolist() == test_names
    v5 = Counter(g.view5.tolist())
    # front 1262; front-side 3021+1172; side 64+256; rear-side 3202+1777; rear 825
    assert [v5[i] for i in range(5)] == [1262, 4193, 320, 4979, 825]
    qv = df[df.split == "query"].set_index("key").view8
    assert (qv == kp.set_index("name").view8.loc[query]).all()


# --------------------------------------------------------------------------- VeRi-Wild


def test_veriwild_exact_table(tmp_path):
    spec = write_veriwild(tmp_path / "wild")
    df = _read_quietly(read_veriwild, tmp_path / "wild")
    pd.testing.assert_frame_equal(df, expected_frame(spec["records"]))
    assert df.attrs["color_names"] == spec["color_names"] == ["black", "red", "white"]
    assert df.attrs["type_names"] == spec["type_names"]
    assert df.frame.isna().sum() == 2  # "not a time" (train) and "" (gallery)


def test_veriwild_other_size_and_errors(tmp_path):
    write_veriwild(tmp_path, test_size=5000)
    assert len(read_veriwild(tmp_path, test_size=5000)) == 10
    with pytest.raises(FileNotFoundError, match=r"test_3000_query\.txt not found"):
        read_veriwild(tmp_path)
    with pytest.raises(ValueError, match=r"test_size must be one of \[3000, 5000, 10000\]"):
        read_veriwild(tmp_path, test_size=800)


def test_veriwild_header_optional(tmp_path):
    spec = write_veriwild(tmp_path)
    info = tmp_path / "train_test_split" / "vehicle_info.txt"
    info.write_text("\n".join(info.read_text().splitlines()[1:]) + "\n")
    pd.testing.assert_frame_equal(read_veriwild(tmp_path), expected_frame(spec["records"]))


@pytest.mark.parametrize(
    "file, line, text, match",
    [
        ("train_list.txt", 2, "00001-000003", r"train_list\.txt, line 2: malformed line"),
        ("test_3000.txt", 4, "00004/000007 x", r"test_3000\.txt, line 4: malformed line"),
        ("test_3000_query.txt", 2, "00004/000008", r"test_3000_query\.txt, line 2: duplicate"),
        ("vehicle_info.txt", 3, "00001/000002;c26;t;m;sedan;black", r"vehicle_info\.txt, line 3"),
        ("vehicle_info.txt", 9, "00004/000008;9;t;m;suv", r"vehicle_info\.txt, line 9: malformed"),
    ],
)
def test_veriwild_malformed_lines(tmp_path, file, line, text, match):
    write_veriwild(tmp_path)
    replace_line(tmp_path / "train_test_split" / file, line, text)
    with pytest.raises(DatasetFormatError, match=match):
        read_veriwild(tmp_path)


def test_veriwild_image_without_info(tmp_path):
    write_veriwild(tmp_path)
    info = tmp_path / "train_test_split" / "vehicle_info.txt"
    info.write_text("\n".join(ln for ln in info.read_text().splitlines() if "000006" not in ln))
    with pytest.raises(DatasetFormatError, match=r"test_3000\.txt, line 2: image '00003/000006'"):
        read_veriwild(tmp_path)
    info.unlink()
    with pytest.raises(FileNotFoundError, match=r"vehicle_info\.txt not found.*camera"):
        read_veriwild(tmp_path)


def test_veriwild_missing_image(tmp_path):
    write_veriwild(tmp_path)
    (tmp_path / "images" / "00004" / "000007.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"test_3000\.txt, line 3 names image .*000007"):
        read_veriwild(tmp_path)
    assert len(read_veriwild(tmp_path, check_files=False)) == 10


def test_veriwild_time_parsing(tmp_path):
    write_veriwild(tmp_path, images=False)
    df = read_veriwild(tmp_path, check_files=False)
    frame = dict(zip(df.key, df.frame, strict=False))
    assert frame["00001/000003"] == 1520770000
    assert frame["00001/000001"] == 1520769872  # 2018-03-11 12:04:32 UTC
    assert frame["00001/000002"] - frame["00001/000001"] == 1
    assert pd.isna(frame["00002/000004"]) and pd.isna(frame["00004/000007"])
    assert len(VERIWILD_INFO) == 8


# --------------------------------------------------------------------------- VVeRI-901


def test_vveri901_exact_table(tmp_path):
    root = tmp_path / "VVERI901_V1_Trial"
    spec = write_vveri901(root)
    df = _read_quietly(read_vveri901, root)
    pd.testing.assert_frame_equal(df, expected_frame(spec["records"]))
    assert df[df.split == "query"].frame.tolist() == [1, 5]


def test_vveri901_lists_beside_root(tmp_path):
    root = tmp_path / "VVERI901_V1_Trial"
    spec = write_vveri901(root, lists_in_parent=True)
    pd.testing.assert_frame_equal(read_vveri901(root), expected_frame(spec["records"]))


@pytest.mark.parametrize(
    "file, line, text, exc, match",
    [
        (
            "train.txt",
            2,
            "./VVERI901_V1_Trial/15/L01C02V01",
            DatasetFormatError,
            r"train\.txt, line 2: malformed line",
        ),
        ("gallery.txt", 1, "L03_C06_V03", DatasetFormatError, r"gallery\.txt, line 1: malformed"),
        (
            "query.txt",
            1,
            "./VVERI901_V1_Trial/3000/L02_C05_V09",
            FileNotFoundError,
            r"query\.txt, line 1 names tracklet folder .*L02_C05_V09",
        ),
        ("train.txt", 2, "./x/2120/L09_C31_V07", DatasetFormatError, r"train\.txt, line 2: dup"),
    ],
)
def test_vveri901_bad_lists(tmp_path, file, line, text, exc, match):
    root = tmp_path / "VVERI901_V1_Trial"
    write_vveri901(root)
    replace_line(root / file, line, text)
    with pytest.raises(exc, match=match):
        read_vveri901(root)


def test_vveri901_bad_frame_name(tmp_path):
    root = tmp_path / "VVERI901_V1_Trial"
    write_vveri901(root)
    (root / "15" / "L01_C02_V01" / "0100.png").rename(root / "15" / "L01_C02_V01" / "f100.png")
    with pytest.raises(DatasetFormatError, match=r"f100\.png: frame file name is not an integer"):
        read_vveri901(root)


# --------------------------------------------------------------------------- VehicleID


def test_vehicleid_protocol(tmp_path):
    write_vehicleid(tmp_path)
    df = _read_quietly(read_vehicleid, tmp_path)
    validate_manifest(df)
    train = df[df.split == "train"]
    assert train.key.tolist() == sorted(n for n, _ in VEHICLEID_TRAIN)
    assert train.vid.tolist() == [1, 1, 2]
    q, g = df[df.split == "query"], df[df.split == "gallery"]
    # one gallery image per vehicle, the rest are queries, nothing lost or duplicated
    assert sorted(g.vid.tolist()) == [7, 9, 11]
    assert sorted(q.key.tolist() + g.key.tolist()) == sorted(n for n, _ in VEHICLEID_TEST)
    order = [n for n, _ in VEHICLEID_TEST]
    assert q.key.tolist() == [n for n in order if n in set(q.key)]  # list-file order
    assert g.key.tolist() == [n for n in order if n in set(g.key)]
    assert df.camid.is_unique
    assert df.path.iloc[0] == str(tmp_path / "image" / "0000002.jpg")
    assert df[["frame", "view5", "view8", "color", "type"]].isna().all().all()
    assert (df.tracklet == "").all()


def test_vehicleid_seeded_draw(tmp_path):
    write_vehicleid(tmp_path, images=False)
    picks = []
    for seed in range(30):
        a = read_vehicleid(tmp_path, seed=seed, check_files=False)
        b = read_vehicleid(tmp_path, seed=seed, check_files=False)
        pd.testing.assert_frame_equal(a, b)  # deterministic
        picks.append(tuple(a[a.split == "gallery"].key))
    chosen_for_7 = {p[0] for p in picks}
    assert chosen_for_7 == {"0000100", "0000101", "0000102"}  # every image can be drawn


def test_vehicleid_errors(tmp_path):
    write_vehicleid(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"test_list_1600\.txt not found.*test_list_800"):
        read_vehicleid(tmp_path, test_size=1600)
    replace_line(tmp_path / "train_test_split" / "train_list.txt", 2, "0000002")
    with pytest.raises(DatasetFormatError, match=r"train_list\.txt, line 2: malformed line"):
        read_vehicleid(tmp_path)
    write_vehicleid(tmp_path)
    replace_line(tmp_path / "train_test_split" / "test_list_800.txt", 4, "0000200 x")
    with pytest.raises(DatasetFormatError, match=r"test_list_800\.txt, line 4: malformed"):
        read_vehicleid(tmp_path)
    write_vehicleid(tmp_path)
    (tmp_path / "image" / "0000301.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"test_list_800\.txt, line 6 names image"):
        read_vehicleid(tmp_path)


# --------------------------------------------------------------------------- dispatch


def test_read_dataset_dispatch(tmp_path):
    write_veri776(tmp_path / "veri")
    a = _read_quietly(read_dataset, "synthetic", tmp_path / "veri")
    b = _read_quietly(read_dataset, "veri776", tmp_path / "veri", check_files=False)
    pd.testing.assert_frame_equal(a, b)
    write_vehicleid(tmp_path / "vid")
    c = read_dataset("vehicleid", tmp_path / "vid", test_size=800, seed=3)
    pd.testing.assert_frame_equal(c, read_vehicleid(tmp_path / "vid", seed=3))
    with pytest.raises(ValueError, match=r"unknown dataset name 'veri'.*'veri776'.*'vehicleid'"):
        read_dataset("veri", tmp_path / "veri")
    with pytest.raises(FileNotFoundError, match=r"nowhere.*dvc add"):
        read_dataset("veriwild", tmp_path / "nowhere")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['seed'\].*'check_files'"):
        read_dataset("veri776", tmp_path / "veri", seed=1)


# --------------------------------------------------------------------------- validation


def test_validate_manifest_catches_problems(tmp_path):
    spec = write_veri776(tmp_path)
    good = expected_frame(spec["records"])
    validate_manifest(good)

    def broken(fn):
        df = good.copy()
        fn(df)
        return df

    cases = [
        (good[list(reversed(MANIFEST_COLUMNS))], "columns must be"),
        (good.drop(columns="view5"), "missing \\['view5'\\]"),
        (broken(lambda d: d.__setitem__("vid", d.vid.astype("float64"))), "'vid' must be int64"),
        (broken(lambda d: d.__setitem__("frame", d.frame.astype("float64"))), "nullable Int64"),
        (broken(lambda d: d.loc.__setitem__((0, "split"), "test")), "value 'test'"),
        (good.iloc[::-1].reset_index(drop=True), "ordered train, then query"),
        (broken(lambda d: d.loc.__setitem__((0, "split"), "val_query")), "ordered train"),
        (broken(lambda d: d.loc.__setitem__((1, "key"), d.key[0])), "appears twice"),
        (broken(lambda d: d.loc.__setitem__((0, "view5"), 2)), "disagree"),
        (broken(lambda d: d.loc.__setitem__((0, "view8"), 9)), "'view8' must lie in 0..7"),
        (broken(lambda d: d.__setitem__("tracklet", None)), "'tracklet'"),
    ]
    for df, match in cases:
        with pytest.raises(ValueError, match=match):
            validate_manifest(df)
    with pytest.raises(ValueError, match="DataFrame"):
        validate_manifest(good.to_dict())
    # the validation splits are accepted after gallery, in SPLITS order
    val = expected_frame(write_veri776(tmp_path / "val", val=True)["records"])
    validate_manifest(val)
    swapped = pd.concat([val[val.split == "val_gallery"], val[val.split != "val_gallery"]])
    with pytest.raises(ValueError, match="then val_query, then val_gallery"):
        validate_manifest(swapped.reset_index(drop=True))
    assert len(VERI_TEST) == 6
