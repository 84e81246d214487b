"""Using a trained model outside the pipeline: embed images, index a gallery, search it, and
export the encoder (the library behind the ``vreid`` command, :mod:`vreid.cli`).

* :func:`load_encoder` -- a pipeline model file + its ``params.yaml`` -> :class:`Encoder`;
* :func:`embed` -- images -> ``(N, D)`` float32 L2-normalised features (as the pipeline's
  evaluation computes them: resize to ``model.height x model.width``, ImageNet normalisation,
  no augmentation, the feature ``evaluate.feature`` of the params given);
* :class:`Gallery` -- features + names in an exact faiss inner-product index (on unit
  vectors the ranking of squared Euclidean distance ``2 - 2 cos``), saved as
  ``<stem>.faiss`` + ``<stem>.csv``; :meth:`Gallery.search` returns the top-k per query;
* :func:`match_strip` -- a PNG of each query and its matches;
* :func:`export` -- TorchScript and ONNX files of :class:`Embedder` (float images in [0, 1],
  ``(B, 3, H, W)`` -> the retrieval features, ``evaluate.feature``), checked against the PyTorch
  model on a random batch; the ONNX output keeps the name ``embeddings``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageDraw
from torch import nn
from tqdm import tqdm

from .checks import resolve_device
from .io import InputError, atomic_path, save_npz
from .learn.backbone import ReidNet, load_state
from .learn.images import MEAN, STD, ImageSource
from .learn.loop import channels_last

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
_CAMERA = re.compile(r"_[cC](\d+)_")  # VeRi-style names: <vid>_c<cam>_<frame>_<n>.jpg


def image_paths(inputs: Sequence[str | Path]) -> list[Path]:
    """Image files named in ``inputs``: files as given, folders searched recursively (sorted).

    Raises :class:`InputError` for a path that does not exist or when nothing is found.
    """
    out: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
            out.extend(found)
        elif item.is_file():
            out.append(item)
        else:
            raise InputError(f"{item}: no such file or folder; give image files or folders")
    if not out:
        raise InputError(
            f"no images in {', '.join(map(str, inputs))} (looked for {', '.join(IMAGE_SUFFIXES)})"
        )
    return out


def camera_of(name: str) -> int | None:
    """The camera id in a VeRi-style file name (``0002_c003_00084310_0.jpg`` -> 3), or None."""
    m = _CAMERA.search(Path(name).name)
    return int(m.group(1)) if m else None


class Embedder(nn.Module):
    """The exported encoder: float images in [0, 1], ``(B, 3, H, W)`` -> L2-normalised
    features ``(B, D)`` of kind ``feature`` (``evaluate.feature``: what the pipeline's
    retrieval ranks by; ImageNet normalisation inside, eval mode)."""

    def __init__(self, model: ReidNet, feature: str) -> None:
        super().__init__()
        self.model = model.eval()
        self.feature = feature
        self.register_buffer("mean", MEAN.clone())
        self.register_buffer("std", STD.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.features((x - self.mean) / self.std, (self.feature,))[0]


@dataclass
class Encoder:
    """A trained model with the image size and device it runs at, and the feature retrieval
    ranks by (``evaluate.feature`` of the params it was trained with)."""

    model: ReidNet
    height: int
    width: int
    device: torch.device
    feature: str

    @property
    def dim(self) -> int:
        return self.model.dim


def load_encoder(model_path: str | Path, params: dict[str, Any], device: str = "auto") -> Encoder:
    """The pipeline's model file (``artifacts/cluster/model.pt`` for the final model) built
    with the ``model`` section of ``params`` (the params.yaml it was trained with)."""
    m = params["model"]
    model = ReidNet(m["arch"], m["last_stride"], pretrained="none", channels=m["channels"])
    about = f"model.arch = {m['arch']}, model.channels = {m['channels']} of the params given"
    fix = (
        "pass the model file of a finished run (e.g. artifacts/cluster/model.pt after dvc "
        "repro) and the params.yaml it was trained with (--params)"
    )
    load_state(model, model_path, about, fix, drop_head=True)
    dev = resolve_device(device)
    model = channels_last(model.to(dev)).eval()
    return Encoder(model, m["height"], m["width"], dev, params["evaluate"]["feature"])


def _batches(
    paths: Sequence[Path], enc: Encoder, batch_size: int, workers: int
) -> Iterator[torch.Tensor]:
    source = ImageSource([str(p) for p in paths], enc.height, enc.width, workers, cache=False)
    for x, _ in source.batches(np.arange(len(paths)), batch_size):
        yield x


@torch.no_grad()
def embed(
    paths: Sequence[Path],
    enc: Encoder,
    batch_size: int = 64,
    workers: int = 0,
    progress: bool = True,
) -> np.ndarray:
    """``(N, D)`` float32 L2-normalised features (``enc.feature``) of the images, in ``paths``
    order."""
    out = np.empty((len(paths), enc.dim), dtype=np.float32)
    done = 0
    bar = tqdm(total=len(paths), unit="img", desc="embed", disable=not progress)
    embedder = Embedder(enc.model, enc.feature).to(enc.device)
    for x in _batches(paths, enc, batch_size, workers):
        z = embedder(channels_last(x.to(enc.device).float().div_(255.0)))
        out[done : done + len(z)] = z.float().cpu().numpy()
        done += len(z)
        bar.update(len(z))
    bar.close()
    return out


def save_features(
    path: str | Path, names: Sequence[str], features: np.ndarray, feature: str
) -> None:
    """``names`` (str), ``features`` (float32) and their kind ``feature`` (``evaluate.feature``)
    in one ``.npz`` (written atomically)."""
    save_npz(
        path,
        names=np.asarray(names, dtype=str),
        features=features.astype(np.float32),
        feature=np.asarray(feature),
    )


def load_features(path: str | Path) -> tuple[list[str], np.ndarray, str]:
    """``(names, features, feature kind)`` from :func:`save_features`'s file."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            names, feats = [str(n) for n in z["names"]], np.asarray(z["features"], np.float32)
            feature = str(z["feature"]) if "feature" in z.files else None
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(
            f"{path}: not a features file of `vreid embed` ({type(exc).__name__}: {exc})"
        ) from None
    if feats.ndim != 2 or len(names) != len(feats):
        raise InputError(f"{path}: {len(names)} names for features of shape {feats.shape}")
    if feature is None:
        raise InputError(
            f"{path}: written before `vreid embed` recorded which feature it holds "
            "(evaluate.feature); embed the images again"
        )
    return names, feats, feature


def require_feature(have: str | None, want: str, where: str) -> None:
    """Stop when features of kind ``have`` (a gallery's, a file's) would be compared with
    features of kind ``want`` (the model's ``evaluate.feature``): the distances would mean
    nothing, silently."""
    if have == want:
        return
    held = f"holds `{have}` features" if have else "does not say which feature it holds"
    raise InputError(
        f"{where}: {held}, the params give evaluate.feature = {want!r}; rebuild it with "
        "`vreid index` under these params, or pass the params it was built with (--params)"
    )


@dataclass
class Gallery:
    """Gallery features in an exact inner-product faiss index, with their names and cameras."""

    index: Any  # faiss.IndexFlatIP
    table: pd.DataFrame  # row-aligned: name, camera (nullable), feature (the kind, every row)

    @property
    def feature(self) -> str | None:
        """The kind of the indexed features (``evaluate.feature``); ``None`` for a gallery
        saved before galleries recorded it."""
        if "feature" not in self.table or self.table.empty:
            return None
        return str(self.table["feature"].iloc[0])

    @classmethod
    def build(cls, names: Sequence[str], features: np.ndarray, feature: str) -> Gallery:
        import faiss

        index = faiss.IndexFlatIP(features.shape[1])
        index.add(np.ascontiguousarray(features, dtype=np.float32))
        cams = pd.array([camera_of(n) for n in names], dtype="Int64")
        table = pd.DataFrame({"name": list(names), "camera": cams, "feature": feature})
        return cls(index, table)

    def save(self, stem: str | Path) -> None:
        """``<stem>.faiss`` (the index) and ``<stem>.csv`` (row, name, camera, feature)."""
        import faiss

        stem = Path(stem)
        with atomic_path(stem.with_name(stem.name + ".faiss")) as tmp:
            faiss.write_index(self.index, str(tmp))
        with atomic_path(stem.with_name(stem.name + ".csv")) as tmp:
            self.table.to_csv(tmp, index_label="row", lineterminator="\n")

    @classmethod
    def load(cls, stem: str | Path) -> Gallery:
        import faiss

        stem = Path(stem)
        idx_path, csv_path = (
            stem.with_name(stem.name + ".faiss"),
            stem.with_name(stem.name + ".csv"),
        )
        for p in (idx_path, csv_path):
            if not p.is_file():
                raise InputError(
                    f"{p}: missing; build the gallery with `vreid index ... --out {stem}`"
                )
        index = faiss.read_index(str(idx_path))
        table = pd.read_csv(csv_path, index_col="row", dtype={"name": str})
        table["camera"] = table["camera"].astype("Int64")
        if index.ntotal != len(table):
            raise InputError(f"{csv_path}: {len(table)} rows for an index of {index.ntotal}")
        return cls(index, table)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(dist, rows)``, each ``(Q, min(k, G))``: squared Euclidean distances of unit
        vectors (``2 - 2 cos``, ascending) and gallery rows."""
        k = min(k, self.index.ntotal)
        sim, rows = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return np.maximum(2.0 - 2.0 * sim, 0.0), rows


def matches_table(
    query_names: Sequence[str], dist: np.ndarray, rows: np.ndarray, gallery: Gallery
) -> pd.DataFrame:
    """One row per (query, rank): query, query_camera, rank, match, match_camera, distance."""
    q = np.repeat(np.arange(len(query_names)), rows.shape[1])
    flat = rows.ravel()
    return pd.DataFrame(
        {
            "query": np.asarray(query_names, dtype=object)[q],
            "query_camera": pd.array([camera_of(query_names[i]) for i in q], dtype="Int64"),
            "rank": np.tile(np.arange(1, rows.shape[1] + 1), len(query_names)),
            "match": gallery.table["name"].to_numpy()[flat],
            "match_camera": gallery.table["camera"].array[flat],
            "distance": np.round(dist.ravel(), 6),
        }
    )


def match_strip(table: pd.DataFrame, path: str | Path, tile: tuple[int, int] = (96, 96)) -> None:
    """A PNG with one row per query: the query, then its matches left to right, each with
    its rank and distance underneath (from :func:`matches_table`)."""
    w, h = tile
    label = 14
    queries = list(dict.fromkeys(table["query"]))
    k = int(table["rank"].max())
    sheet = Image.new("RGB", ((k + 1) * (w + 4) + 8, len(queries) * (h + label + 6)), "white")
    draw = ImageDraw.Draw(sheet)

    def paste(name: str, col: int, row: int, text: str) -> None:
        x, y = 4 + col * (w + 4) + (8 if col else 0), row * (h + label + 6) + 3
        with Image.open(name) as im:
            sheet.paste(im.convert("RGB").resize((w, h)), (x, y))
        draw.text((x, y + h), text, fill="black")

    for r, q in enumerate(queries):
        paste(q, 0, r, "query")
        for m in table[table["query"] == q].itertuples():
            paste(m.match, int(m.rank), r, f"#{m.rank}  d={m.distance:.3f}")
    with atomic_path(path, ".png") as tmp:
        sheet.save(tmp, format="PNG")


def export(enc: Encoder, stem: str | Path, formats: Sequence[str]) -> dict[str, float]:
    """Write ``<stem>.ts.pt`` (TorchScript) and/or ``<stem>.onnx``; return, per format, the
    largest absolute difference of its features from the PyTorch model's on a random batch
    of 4 images (the files are removed if it exceeds 1e-4)."""
    stem = Path(stem)
    model = (
        Embedder(enc.model, enc.feature).to("cpu").to(memory_format=torch.contiguous_format).eval()
    )
    gen = torch.Generator().manual_seed(0)
    x = torch.rand((4, 3, enc.height, enc.width), generator=gen)
    with torch.no_grad():
        ref = model(x).numpy()
    diffs: dict[str, float] = {}
    for fmt in formats:
        if fmt == "torchscript":
            out = stem.with_name(stem.name + ".ts.pt")
            with torch.no_grad():
                scripted = torch.jit.trace(model, x[:1])
            with atomic_path(out, ".pt") as tmp:
                scripted.save(str(tmp))
            got = torch.jit.load(str(out))(x).detach().numpy()
        elif fmt == "onnx":
            out = stem.with_name(stem.name + ".onnx")
            got = _export_onnx(model, x, out)
        else:
            raise InputError(f"export format {fmt!r}; allowed: torchscript, onnx")
        diffs[fmt] = float(np.abs(got - ref).max())
        if diffs[fmt] > 1e-4:
            out.unlink(missing_ok=True)
            raise InputError(
                f"{out}: the exported model's features differ from PyTorch's by "
                f"{diffs[fmt]:.2e} (> 1e-4); not kept"
            )
    return diffs


def _export_onnx(model: nn.Module, x: torch.Tensor, out: Path) -> np.ndarray:
    """ONNX export (batch dimension dynamic) and its features of ``x`` by onnxruntime."""
    try:
        import onnxruntime
    except ImportError:
        raise InputError("ONNX export needs the `onnx` extra: pip install -e '.[onnx]'") from None
    batch = torch.export.Dim("batch", min=1, max=1024)
    with atomic_path(out, ".onnx") as tmp:
        torch.onnx.export(
            model,
            (x,),
            str(tmp),
            input_names=["images"],
            output_names=["embeddings"],
            dynamic_shapes={"x": {0: batch}},
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    return session.run(None, {"images": x.numpy()})[0]
