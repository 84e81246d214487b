"""Attribute pretraining: the project's stand-in for the papers' ImageNet initialisation.

Both papers start every method from ImageNet weights, which carry general visual features.
None can be downloaded here, so the `pretrain` stage trains the backbone on a separate pool
of synthetic vehicles (own seed: its vehicle models, identities and cameras are disjoint
from train, validation and test) on a generic task: predict each image's body type, colour,
vehicle model, viewpoint and which kinds of cue the vehicle carries. No identity is ever a
class. The heads are thrown away; only the encoder is kept (:func:`vreid.learn.backbone.
backbone_state_dict`) and read by ``model.pretrained``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ..synth.plan import CUE_POOL

__all__ = [
    "ATTRIBUTES",
    "AttributeTargets",
    "attribute_head",
    "attribute_loss",
    "attribute_targets",
]

#: Single-label attributes: name -> synth_meta column and its offset (1-based VeRi codes).
ATTRIBUTES: dict[str, tuple[str, int]] = {
    "type": ("type", 1),
    "color": ("color", 1),
    "model": ("model", 0),
    "view": ("view5", 0),
}


@dataclass(frozen=True)
class AttributeTargets:
    """Per-image class of every single-label attribute, and the multi-hot cue kinds."""

    classes: dict[str, np.ndarray]  # name -> (N,) int64 in [0, sizes[name])
    sizes: dict[str, int]
    cues: np.ndarray  # (N, len(CUE_POOL)) float32 in {0, 1}

    @property
    def width(self) -> int:
        """Number of logits of a head predicting every attribute."""
        return sum(self.sizes.values()) + self.cues.shape[1]


def attribute_targets(meta: pd.DataFrame, sizes: dict[str, int] | None = None) -> AttributeTargets:
    """Targets from a generated set's ``synth_meta.csv`` rows.

    ``sizes`` fixes the number of classes per attribute (default: the largest code + 1 seen).
    Raises ValueError naming the column when one is missing or holds a code out of range.
    """
    classes: dict[str, np.ndarray] = {}
    out_sizes: dict[str, int] = {}
    for name, (column, offset) in ATTRIBUTES.items():
        if column not in meta.columns:
            raise ValueError(f"synth_meta.csv: column '{column}' missing (re-render the pool)")
        codes = meta[column].to_numpy(dtype=np.int64) - offset
        size = int(codes.max()) + 1 if sizes is None else sizes[name]
        if len(codes) and (codes.min() < 0 or codes.max() >= size):
            raise ValueError(f"synth_meta.csv: column '{column}' has codes outside 0..{size - 1}")
        classes[name], out_sizes[name] = codes, size
    cues = np.zeros((len(meta), len(CUE_POOL)), dtype=np.float32)
    for i, text in enumerate(meta["cues"].fillna("").astype(str)):
        for item in filter(None, text.split(";")):
            name = item.split(":", 1)[0]
            if name in CUE_POOL:
                cues[i, CUE_POOL.index(name)] = 1.0
    return AttributeTargets(classes, out_sizes, cues)


def attribute_head(dim: int, targets: AttributeTargets) -> nn.Linear:
    """One linear layer giving every attribute's logits side by side."""
    return nn.Linear(dim, targets.width)


def attribute_loss(
    logits: torch.Tensor,
    classes: dict[str, torch.Tensor],
    cues: torch.Tensor,
    sizes: dict[str, int],
) -> tuple[torch.Tensor, dict[str, float]]:
    """Sum of one cross-entropy per single-label attribute and the mean binary cross-entropy
    of the cue kinds (times the number of kinds / 2, so that it weighs like one attribute of
    a few classes). ``logits``: ``(B, width)`` in the order of ``sizes``, then the cues.
    Returns the loss and its parts (and the batch accuracy of each attribute)."""
    parts: dict[str, torch.Tensor] = {}
    acc: dict[str, float] = {}
    start = 0
    for name, size in sizes.items():
        block = logits[:, start : start + size]
        parts[name] = F.cross_entropy(block, classes[name])
        acc[f"acc_{name}"] = float((block.argmax(1) == classes[name]).float().mean())
        start += size
    cue_logits = logits[:, start:]
    parts["cues"] = F.binary_cross_entropy_with_logits(cue_logits, cues) * cues.shape[1] / 2
    acc["acc_cues"] = float(((cue_logits > 0) == (cues > 0.5)).float().mean())
    total = sum(parts.values())
    out = {k: float(v.detach()) for k, v in parts.items()}
    return total, {"loss": float(total.detach()), **out, **acc}
