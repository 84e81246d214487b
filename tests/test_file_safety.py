"""Reliability of files in and out: weights never run code, broken or foreign checkpoints and
models stop with one line naming the file, a diverging loss stops with its epoch and step,
outputs get normal permissions and a killed write leaves nothing behind for long."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
import torch
from PIL import Image

from vreid.io import InputError, atomic_path, load_weights, save_torch, write_json
from vreid.learn import backbone
from vreid.learn.backbone import load_pretrained
from vreid.learn.images import AugmentConfig, ImageSource
from vreid.learn.loop import (
    Checkpoints,
    FitConfig,
    Trainable,
    TrainingDiverged,
    build_optimizer,
    build_scheduler,
    fit,
)
from vreid.stages._common import load_model, run


class _Planted:
    """Unpickling this object would create ``marker`` (stands for any code a file could run)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _planted_file(tmp_path, name="planted.pt"):
    marker = tmp_path / "code-was-run"
    path = tmp_path / name
    torch.save({"model": _Planted(marker)}, path)
    return path, marker


def test_a_planted_pickle_is_refused_and_never_run(tmp_path):
    path, marker = _planted_file(tmp_path)
    with pytest.raises(InputError, match="planted.pt: refused as a thing.*weights_only"):
        load_weights(path, "a thing", "delete it")
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 not really a zip", None])
def test_empty_truncated_and_missing_weights_give_one_line(tmp_path, content):
    path = tmp_path / "w.pt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError) as err:
        load_weights(path, "a model state_dict", "re-run it")
    message = str(err.value)
    assert message.startswith(str(path)) and message.endswith("re-run it")
    assert "\n" not in message


def test_a_truncated_torch_file_is_refused(tmp_path):
    path = tmp_path / "w.pt"
    save_torch(path, {"a": torch.ones(100)})
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputError, match="w.pt: cannot be read as weights"):
        load_weights(path, "weights", "fix")


def test_checkpoint_planted_truncated_or_incomplete_is_refused(tmp_path):
    ckpt = Checkpoints(tmp_path, "run")
    path, marker = _planted_file(tmp_path, "run.pt")
    with pytest.raises(InputError, match="run.pt: refused as a training checkpoint"):
        ckpt.load()
    assert not marker.exists()
    save_torch(ckpt.path, {"epoch": 0, "model": {}})
    with pytest.raises(InputError, match="an incomplete training checkpoint.*delete it"):
        ckpt.load()
    ckpt.path.write_bytes(b"")
    with pytest.raises(InputError, match="delete it to train this stage from the start"):
        ckpt.load()


def test_pretrained_file_planted_or_foreign_is_refused(tmp_path):
    import torchvision

    net = torchvision.models.resnet18()
    path, marker = _planted_file(tmp_path)
    with pytest.raises(InputError, match="refused as model.pretrained weights"):
        load_pretrained(net, "resnet18", str(path))
    assert not marker.exists()
    save_torch(tmp_path / "list.pt", [torch.ones(1)])
    with pytest.raises(InputError, match="holds a list, not a state_dict"):
        load_pretrained(net, "resnet18", str(tmp_path / "list.pt"))
    save_torch(tmp_path / "other.pt", {"conv9.weight": torch.ones(1)})
    with pytest.raises(InputError, match="does not fit resnet18"):
        load_pretrained(net, "resnet18", str(tmp_path / "other.pt"))


def test_a_hub_cache_file_with_the_wrong_hash_is_refused_not_loaded(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(
        torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("must not download")
    )
    import torchvision

    name = torchvision.models.get_model_weights("resnet18").DEFAULT.url.rsplit("/", 1)[-1]
    cached = tmp_path / "checkpoints" / name
    cached.parent.mkdir()
    path, marker = _planted_file(tmp_path)
    cached.write_bytes(path.read_bytes())
    with pytest.raises(InputError, match="does not start with .*planted file; delete it"):
        backbone.hub_weights("resnet18")
    assert not marker.exists()


def test_a_model_of_another_architecture_names_the_file(tmp_path):
    params = {"model": {"arch": "resnet18", "last_stride": 1, "pretrained": "none", "channels": 64}}
    save_torch(tmp_path / "m.pt", {"fc.weight": torch.ones(2, 2)})
    with pytest.raises(InputError, match="m.pt: does not fit model.arch = resnet18"):
        load_model(tmp_path / "m.pt", params)


def test_stage_runner_turns_input_errors_into_one_line():
    def main():
        raise InputError("data/x.txt: line 3 is broken; fix it")

    with pytest.raises(SystemExit) as err:
        run(main, "prepare")
    assert err.value.code == "[prepare] data/x.txt: line 3 is broken; fix it"

    def bug():
        raise KeyError("a programming error keeps its traceback")

    with pytest.raises(KeyError):
        run(bug, "prepare")


def test_a_diverging_loss_stops_with_epoch_and_step(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(8):
        p = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    model = torch.nn.Linear(3, 1)
    opt = build_optimizer(model.parameters(), "sgd", 0.1)
    sched = build_scheduler(opt, "constant", 3)
    ckpt = Checkpoints(tmp_path / "ckpt", "run")

    def step(x, idx, epoch):
        loss = model(x.mean(dim=(2, 3))).sum()
        if epoch == 1 and int(idx[0]) >= 4:
            loss = loss * float("nan")
        return loss, {"loss": loss.item()}, None

    cfg = FitConfig(3, 4, 0, torch.device("cpu"), AugmentConfig(), progress=False, name="demo")
    cfg.order = lambda idx, gen: idx
    src = ImageSource(paths, 8, 8, workers=0)
    with pytest.raises(TrainingDiverged, match=r"demo: the loss is nan at epoch 2, step 2"):
        fit(Trainable(model, opt, sched), src, np.arange(8), cfg, step, checkpoints=ckpt)
    assert (
        torch.load(ckpt.path, weights_only=True)["epoch"] == 0
    )  # the first epoch's checkpoint is kept, nothing of the second


def test_outputs_get_normal_permissions_and_stale_temps_go(tmp_path):
    old = os.umask(0o027)
    try:
        stale = tmp_path / ".m.json.tmp-abc123.json"
        stale.write_text("left by a killed write")
        other = tmp_path / ".n.json.tmp-zzz"  # another output's temp is not touched
        other.write_text("x")
        write_json(tmp_path / "m.json", {"a": 1})
        mode = stat.S_IMODE((tmp_path / "m.json").stat().st_mode)
        assert mode == 0o640
        assert sorted(p.name for p in tmp_path.iterdir()) == [".n.json.tmp-zzz", "m.json"]
    finally:
        os.umask(old)


def test_a_failed_write_leaves_no_temp(tmp_path):
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "out.npy") as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
