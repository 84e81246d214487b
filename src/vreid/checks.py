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
