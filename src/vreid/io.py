"""Files in and out: atomic output writing (every file appears whole: a temp file in the same
folder, then a rename; temp files of a killed write are removed by the next write of the same
output), and the one way weights are read (:func:`load_weights`: never runs code from a file)."""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


def setup_logging() -> None:
    """One log line format for every stage: ``HH:MM:SS message``."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")


class InputError(ValueError):
    """A file or parameter the user gave cannot be used; the message names it and what to do.
    Stages print it as one line and exit non-zero (:func:`vreid.stages._common.run`)."""


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message names the stage, epoch and step. Raised by
    :func:`vreid.learn.loop.train`; stages print it as one line, as :class:`InputError`."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _tmp_prefix(path: Path) -> str:
    return f".{path.name}.tmp-"


@contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path next to ``path``; rename it over ``path`` only if the block succeeds.

    The output gets the permissions of a normally created file (``0666 & ~umask``, not the
    temp file's 0600). Temp files that a killed earlier write of ``path`` left behind
    (``.<name>.tmp-*``) are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(_tmp_prefix(path) + "*"):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(path), suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def round_floats(obj: Any, digits: int = 4) -> Any:
    """Round every float in a nested structure (so `dvc metrics diff` shows clean numbers)."""
    if isinstance(obj, Mapping):
        return {str(k): round_floats(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [round_floats(v, digits) for v in obj]
    if isinstance(obj, (np.floating, float)):
        value = float(obj)
        return None if math.isnan(value) or math.isinf(value) else round(value, digits)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def write_json(path: str | Path, data: Mapping[str, Any], digits: int = 4) -> None:
    """Write ``data`` as sorted, indented JSON with floats rounded to ``digits``."""
    with atomic_path(path, ".json") as tmp:
        tmp.write_text(json.dumps(round_floats(data, digits), indent=2, sort_keys=True) + "\n")


def write_csv(
    path: str | Path, header: Sequence[str], rows: Iterable[Sequence[Any]], digits: int = 4
) -> None:
    """Write a CSV file with a header; floats rounded to ``digits``."""
    with atomic_path(path, ".csv") as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(header)
            for row in rows:
                writer.writerow(round_floats(list(row), digits))


def torch_bytes(obj: Any) -> bytes:
    """``torch.save`` of ``obj`` as bytes that depend only on ``obj``.

    ``torch.save`` writes a random ``.data/serialization_id`` into every archive, so the same
    weights saved twice differ byte for byte (and DVC sees a changed output). The archive is
    rewritten entry by entry, in the same order, uncompressed as torch writes it, with that id
    zeroed and fixed timestamps; ``torch.load`` reads it as before.
    """
    import io
    import zipfile

    import torch

    raw = io.BytesIO()
    torch.save(obj, raw)
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith(".data/serialization_id"):
                data = b"0" * len(data)
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


def save_torch(path: str | Path, obj: Any) -> None:
    """Save ``obj`` (plain tensors/dicts, loadable with ``torch.load(weights_only=True)``)
    atomically, with bytes that depend only on ``obj`` (:func:`torch_bytes`)."""
    with atomic_path(path, ".pt") as tmp:
        tmp.write_bytes(torch_bytes(obj))


def load_weights(path: str | Path, what: str, fix: str) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU: plain tensors and containers only,
    so a file never runs code (a planted pickle is refused, not executed).

    Raises :class:`InputError` naming ``path``, ``what`` it should hold and ``fix`` (what to do)
    when the file is missing, empty, truncated, not a torch file or holds other objects.
    """
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: missing ({what}); {fix}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise InputError(
            f"{path}: refused as {what}: it holds Python objects beyond plain tensors (read with "
            f"weights_only=True, nothing in it was run); {fix}"
        ) from None
    except Exception as exc:  # empty, truncated, not a zip/torch file
        reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else ""
        raise InputError(
            f"{path}: cannot be read as {what} ({type(exc).__name__}: {reason}); {fix}"
        ) from None


def save_npz(path: str | Path, **arrays: np.ndarray) -> None:
    """``np.savez`` atomically (uncompressed, deterministic bytes)."""
    with atomic_path(path, ".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def save_npy(path: str | Path, array: np.ndarray) -> None:
    """``np.save`` atomically."""
    with atomic_path(path, ".npy") as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array)
