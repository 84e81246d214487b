"""Attribute pretraining: the project's stand-in for the papers' ImageNet initialisation.

Both papers start every method from ImageNet weights, which carry general visual features.
None can be downloaded here, so the `pretrain` stage trains the backbone on a separate pool
of synthetic vehicles (own seed: its vehicle models, identities and cameras are disjoint
from train, validation and test) on a generic task: predict each image's body type, colour,
vehicle model, viewpoint and which kinds of cue the vehicle carries, and (``pretrain.
cue_detail_weight`` > 0) the cues' details read from the pool's plan: sticker corner, count and
colour, each decal's kind and colour, the dent's face and kind, roof item, rims, rear item and
plate backgrounds. No identity is ever a class. The heads are thrown away; only the encoder
is kept (:func:`vreid.learn.backbone.backbone_state_dict`) and read by ``model.pretrained``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ..synth.plan import CUE_DETAIL_SIZES, CUE_POOL, cue_detail_classes

__all__ = [
    "ATTRIBUTES",
    "AttributeTargets",
    "attribute_head",
    "attribute_loss",
    "attribute_targets",
    "with_cue_detail",
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
    weights: dict[str, float] = field(default_factory=dict)  # loss weight per name (default 1)

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


def with_cue_detail(
    targets: AttributeTargets, vids: np.ndarray, identities: dict[int, dict], weight: float
) -> AttributeTargets:
    """``targets`` plus one single-label head ``cue:<name>`` per cue-level attribute of
    :data:`~vreid.synth.plan.CUE_DETAIL_SIZES` (class 0 = cue absent), each weighted
    ``weight`` in the loss. ``vids``: each image's vehicle; ``identities``: the plan's
    identities (``build_world(spec)["identities"]``). Raises ValueError naming a vehicle
    missing from the plan."""
    missing = sorted(set(np.unique(vids).tolist()) - set(identities))
    if missing:
        raise ValueError(
            f"vehicles {missing[:5]} are not in the pool's plan (was the pool rendered from "
            "another spec? re-run `dvc repro pool`)"
        )
    per_vid = {int(v): cue_detail_classes(identities[int(v)]) for v in np.unique(vids)}
    classes, sizes = dict(targets.classes), dict(targets.sizes)
    weights = dict(targets.weights)
    for name, size in CUE_DETAIL_SIZES.items():
        classes[f"cue:{name}"] = np.array([per_vid[int(v)][name] for v in vids], dtype=np.int64)
        sizes[f"cue:{name}"] = size
        weights[f"cue:{name}"] = float(weight)
    return AttributeTargets(classes, sizes, targets.cues, weights)


def attribute_head(dim: int, targets: AttributeTargets) -> nn.Linear:
    """One linear layer giving every attribute's logits side by side."""
    return nn.Linear(dim, targets.width)


def attribute_loss(
    logits: torch.Tensor,
    classes: dict[str, torch.Tensor],
    cues: torch.Tensor,
    sizes: dict[str, int],
    weights: dict[str, float] | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Sum of one cross-entropy per single-label attribute (times its ``weights`` entry,
    default 1) and the mean binary cross-entropy of the cue kinds (times the number of kinds
    / 2, so that it weighs like one attribute of a few classes). ``logits``: ``(B, width)``
    in the order of ``sizes``, then the cues.
    Returns the loss and its parts (and the batch accuracy of each attribute)."""
    weights = weights or {}
    parts: dict[str, torch.Tensor] = {}
    acc: dict[str, float] = {}
    start = 0
    for name, size in sizes.items():
        block = logits[:, start : start + size]
        parts[name] = F.cross_entropy(block, classes[name]) * weights.get(name, 1.0)
        acc[f"acc_{name}"] = float((block.argmax(1) == classes[name]).float().mean())
        start += size
    cue_logits = logits[:, start:]
    parts["cues"] = F.binary_cross_entropy_with_logits(cue_logits, cues) * cues.shape[1] / 2
    acc["acc_cues"] = float(((cue_logits > 0) == (cues > 0.5)).float().mean())
    total = sum(parts.values())
    out = {k: float(v.detach()) for k, v in parts.items()}
    return total, {"loss": float(total.detach()), **out, **acc}
