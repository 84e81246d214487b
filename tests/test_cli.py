"""The `vreid` command: embed, index, search, export on a small random model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from vreid import cli, inference
from vreid.io import InputError, save_torch
from vreid.learn.backbone import ReidNet
from vreid.learn.images import ImageSource
from vreid.learn.loop import extract_features

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["model"].update(arch="resnet18", height=32, width=32, pretrained="none")
    (tmp / "params.yaml").write_text(yaml.safe_dump(params))
    torch.manual_seed(0)
    m = params["model"]
    model = ReidNet("resnet18", m["last_stride"], num_classes=3, channels=m["channels"])
    for module in model.modules():  # non-trivial BN statistics
        if isinstance(module, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    save_torch(tmp / "model.pt", model.state_dict())
    rng = np.random.default_rng(0)
    gallery = tmp / "gallery"
    gallery.mkdir()
    for i in range(6):
        arr = rng.integers(0, 255, (40 + i, 50, 3), dtype=np.uint8)
        Image.fromarray(arr).save(gallery / f"{i:04d}_c{i % 3 + 1:03d}_0000{i}_0.jpg", quality=95)
    return tmp, model


def _args(tmp: Path) -> list[str]:
    return ["--model", str(tmp / "model.pt"), "--params", str(tmp / "params.yaml"), "--quiet"]


@pytest.mark.parametrize("feature", ["pooled", "embedding"])
def test_embed_gives_the_pipelines_features(setup, capsys, feature):
    """`vreid embed` gives the features the pipeline's retrieval ranks by: the kind
    `evaluate.feature` of the params file names."""
    tmp, model = setup
    params = yaml.safe_load((tmp / "params.yaml").read_text())
    params["evaluate"]["feature"] = feature
    (tmp / f"params_{feature}.yaml").write_text(yaml.safe_dump(params))
    args = [*_args(tmp), "--params", str(tmp / f"params_{feature}.yaml")]
    cli.main(["embed", str(tmp / "gallery"), "--out", str(tmp / "f.npz"), *args])
    names, feats, kind = inference.load_features(tmp / "f.npz")
    assert kind == feature
    assert [Path(n).name for n in names] == sorted(p.name for p in (tmp / "gallery").iterdir())
    source = ImageSource(names, 32, 32, workers=0)
    ref = extract_features(model.eval(), source, torch.device("cpu"), feature=feature)
    np.testing.assert_allclose(feats, ref, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-5)
    other = "embedding" if feature == "pooled" else "pooled"
    assert not np.allclose(
        feats, extract_features(model, source, torch.device("cpu"), feature=other)
    )
    assert "6 images" in capsys.readouterr().out


def test_index_and_search_find_each_gallery_image_first(setup, capsys):
    tmp, _ = setup
    stem = tmp / "g"
    cli.main(["index", str(tmp / "gallery"), "--out", str(stem), *_args(tmp)])
    strip, table = tmp / "m.png", tmp / "m.csv"
    cli.main(
        ["search", str(tmp / "gallery"), "--gallery", str(stem), "--top-k", "3"]
        + ["--csv", str(table), "--strip", str(strip), *_args(tmp)]
    )
    import pandas as pd

    df = pd.read_csv(table)
    assert len(df) == 6 * 3 and list(df.columns) == [
        "query", "query_camera", "rank", "match", "match_camera", "distance",
    ]  # fmt: skip
    first = df[df["rank"] == 1]
    assert (first["query"] == first["match"]).all() and (first["distance"] < 1e-5).all()
    assert (first["query_camera"] == first["match_camera"]).all()
    assert set(first["query_camera"]) == {1, 2, 3}
    assert (df.groupby("query")["distance"].apply(lambda d: d.is_monotonic_increasing)).all()
    with Image.open(strip) as im:
        assert im.size[1] == 6 * (96 + 14 + 6)
    # the index from a features file is the same index
    cli.main(["embed", str(tmp / "gallery"), "--out", str(tmp / "f2.npz"), *_args(tmp)])
    cli.main(["index", "--features", str(tmp / "f2.npz"), "--out", str(tmp / "g2"), *_args(tmp)])
    assert (tmp / "g2.csv").read_text() == (tmp / "g.csv").read_text()
    assert "query" in capsys.readouterr().out


def test_search_refuses_a_gallery_of_another_feature_kind(setup, tmp_path):
    """A gallery records which feature it holds (`evaluate.feature`); searching it with a model
    whose params give the other kind stops with a message naming both, instead of ranking
    pooled queries against BN-neck gallery vectors. Features files without the kind (written
    before it was recorded) are refused by `index --features`."""
    tmp, _ = setup
    params = yaml.safe_load((tmp / "params.yaml").read_text())
    params["evaluate"]["feature"] = "embedding"
    other = tmp_path / "params_embedding.yaml"
    other.write_text(yaml.safe_dump(params))
    stem = tmp_path / "g"
    cli.main(
        ["index", str(tmp / "gallery"), "--out", str(stem), *_args(tmp), "--params", str(other)]
    )
    assert inference.Gallery.load(stem).feature == "embedding"
    with pytest.raises(
        InputError, match=r"holds `embedding` features.*evaluate.feature = 'pooled'"
    ):
        cli.cmd_search(
            cli.parser().parse_args(
                ["search", str(tmp / "gallery"), "--gallery", str(stem), *_args(tmp)]
            )
        )
    old = tmp_path / "old.npz"
    np.savez(old, names=np.asarray(["a.jpg"]), features=np.ones((1, 4), np.float32))
    with pytest.raises(InputError, match=r"old.npz: written before .*embed the images again"):
        inference.load_features(old)


def test_export_matches_pytorch_and_takes_any_batch(setup):
    tmp, model = setup
    cli.main(["export", "--out", str(tmp / "exp"), *_args(tmp)])
    enc = inference.load_encoder(
        tmp / "model.pt", yaml.safe_load((tmp / "params.yaml").read_text())
    )
    x = torch.rand((7, 3, 32, 32), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        model = enc.model.to(memory_format=torch.contiguous_format)
        ref = inference.Embedder(model, enc.feature)(x).numpy()
    assert enc.feature == "pooled"  # the committed evaluate.feature: the export ranks as it does
    ts = torch.jit.load(str(tmp / "exp.ts.pt"))
    np.testing.assert_allclose(ts(x).detach().numpy(), ref, atol=1e-5)
    import onnxruntime

    sess = onnxruntime.InferenceSession(str(tmp / "exp.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"images": x.numpy()})[0], ref, atol=1e-4)


def test_every_command_has_help_and_bad_input_is_one_line(setup, tmp_path):
    tmp, _ = setup
    for command in ("embed", "index", "search", "export"):
        out = subprocess.run(
            [sys.executable, "-m", "vreid.cli", command, "--help"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert f"usage: vreid {command}" in out
    with pytest.raises(SystemExit, match=r"vreid embed: .*missing.pt: missing"):
        cli.main(
            ["embed", str(tmp / "gallery"), "--out", str(tmp_path / "x.npz")]
            + ["--model", str(tmp_path / "missing.pt"), "--params", str(tmp / "params.yaml")]
        )
    with pytest.raises(SystemExit, match=r"vreid search: .*nope.faiss: missing"):
        cli.main(["search", str(tmp / "gallery"), "--gallery", str(tmp_path / "nope"), *_args(tmp)])
    with pytest.raises(SystemExit, match=r"nowhere: no such file or folder"):
        cli.main(
            ["embed", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.npz"), *_args(tmp)]
        )
    assert not (tmp_path / "x.npz").exists()
