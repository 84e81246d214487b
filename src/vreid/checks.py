"""The argument checks of the public functions and constructors, in one place.

Checks run at the boundaries (params, stage inputs, public constructors and functions), never
as a device-to-host sync per training step: :func:`require_index_range` checks CPU tensors
only (on a GPU an out-of-range index already stops the kernel with a device-side assert).
Every error is a ``ValueError`` naming the argument, the value and what is allowed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch


def resolve_device(name: str | torch.device | None) -> torch.device:
    """``auto`` or None -> the first CUDA device if present, else the CPU; a CUDA device
    asked for on a machine without CUDA is refused (``train.device``, ``vreid --device``)."""
    if name is None or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device = {str(name)!r} but CUDA is not available; use auto or cpu")
    return device


def is_int(value: Any) -> bool:
    """A Python or numpy integer that is not a bool (``True`` is an ``int`` in Python)."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def is_number(value: Any) -> bool:
    """A finite Python or numpy real number that is not a bool."""
    return (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool | np.bool_)
        and math.isfinite(value)
    )


def require_int(name: str, value: Any, lo: int | None = None) -> int:
    """``value`` as an ``int``; raises unless it is an integer (not a bool) ``>= lo``."""
    if not is_int(value) or (lo is not None and value < lo):
        bound = "" if lo is None else f" >= {lo}"
        raise ValueError(f"{name} must be an integer{bound}; got {value!r}")
    return int(value)


def require_positive(name: str, value: Any) -> float:
    """``value`` as a ``float``; raises unless it is a finite number ``> 0``."""
    if not is_number(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number; got {value!r}")
    return float(value)


def require_int_tensor(name: str, t: Any, length: int | None = None) -> torch.Tensor:
    """A 1-D integer tensor (of ``length`` entries when given)."""
    if not isinstance(t, torch.Tensor) or t.ndim != 1 or (length is not None and len(t) != length):
        shape = "(B,)" if length is None else f"({length},)"
        raise ValueError(f"{name} must be a {shape} integer tensor; got {_describe(t)}")
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise ValueError(f"{name} must be an integer tensor; got dtype {t.dtype}")
    return t


def require_index_range(name: str, idx: torch.Tensor, lo: int, hi: int) -> None:
    """Entries of ``idx`` in ``[lo, hi)``; checked on CPU tensors only (no GPU sync)."""
    if idx.numel() == 0 or idx.device.type != "cpu":
        return
    low, high = int(idx.min()), int(idx.max())
    if low < lo or high >= hi:
        raise ValueError(f"{name} must lie in [{lo}, {hi}); got [{low}, {high}]")


def _describe(t: Any) -> str:
    if isinstance(t, torch.Tensor):
        return f"shape {tuple(t.shape)}"
    return type(t).__name__


# Features and labels given to the evaluation functions (numpy or torch).

_NORM_TOL = 1e-3


def as_float_tensor(x: Any, name: str) -> torch.Tensor:
    """A 2-D float tensor (float32, or float64 if given as float64) from numpy or torch."""
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.dim() != 2:
        raise ValueError(f"{name}: expected a 2-D (n, d) array, got shape {tuple(t.shape)}")
    if not t.is_floating_point():
        raise ValueError(f"{name}: expected a float array, got dtype {t.dtype}")
    if t.dtype != torch.float64:
        t = t.float()
    return t.detach()


def as_int_array(x: Any, n: int, name: str) -> np.ndarray:
    """A 1-D int64 array of length ``n`` (integral floats accepted)."""
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError(f"{name}: expected a 1-D array of length {n}, got shape {a.shape}")
    if a.dtype.kind not in "iub":
        if a.dtype.kind == "f" and a.size and np.all(a == np.round(a)):
            a = a.astype(np.int64)
        elif a.size:
            raise ValueError(f"{name}: expected integer labels, got dtype {a.dtype}")
    return a.astype(np.int64, copy=False)


def check_normalised(t: torch.Tensor, name: str) -> None:
    """Refuse rows whose L2 norm is off 1 by more than 1e-3."""
    step = max(1, (1 << 22) // max(1, t.shape[1]))  # chunks: the norm kernel copies its input
    norms = torch.cat(
        [torch.linalg.vector_norm(t[i : i + step], dim=1) for i in range(0, t.shape[0], step)]
        or [torch.zeros(0)]
    )
    bad = (norms - 1).abs() > _NORM_TOL
    if bool(bad.any()):
        i = int(torch.nonzero(bad)[0, 0])
        raise ValueError(
            f"{name}: rows must be L2-normalised (row {i} has norm {float(norms[i]):.6g}); "
            "normalise them first, e.g. torch.nn.functional.normalize(x, dim=1)"
        )
