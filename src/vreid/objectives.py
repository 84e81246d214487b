"""The training objectives of the learning stages, assembled from :mod:`vreid.losses`.

Each objective is a callable ``(z, logits, slots) -> (loss, parts)`` plus a ``post(z, slots)``
memory update that the loop runs under ``torch.no_grad()`` after the optimiser step.
``slots`` are positions in the train split (0..N_train-1), i.e. memory slot indices.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .losses import (
    camera_da_loss,
    cluster_loss,
    ctacl_loss,
    repelled_loss,
    sscl_loss,
    supervised_ce_loss,
    triplet_hard_loss,
)
from .memory import CameraTrackletMemory, ClusterMemory, FeatureMemory


@dataclass
class Objective:
    """Weights and memories of one objective; see :func:`make_recognition_objective`."""

    kind: str  # ctacl | ctacl_noda | vapc | sscl | supervised | cluster
    temperature: float = 0.07
    beta: float = 0.1
    k: int = 5
    gamma: float = 0.01
    lam: float = 0.0
    da_temperature: float = 1.0  # CTACL DA: temperature of P(c|z) (1 = the paper's)
    warmup_epochs: int = 0
    tracklet_weight: float = 0.0
    ctam: CameraTrackletMemory | None = None
    instance: FeatureMemory | None = None
    clusters: ClusterMemory | None = None
    targets: torch.Tensor | None = None  # supervised: ground-truth class per slot
    label_smoothing: float = 0.0  # supervised: cross-entropy label smoothing
    triplet_margin: float = 0.0  # supervised: batch-hard triplet margin (0 = no triplet term)

    def loss(
        self,
        z: torch.Tensor,
        logits: torch.Tensor | None,
        slots: torch.Tensor,
        epoch: int,
        pooled: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss of a batch and its parts. ``pooled`` (the feature before the BN neck) is
        read by the supervised recipe's triplet term only."""
        parts: dict[str, torch.Tensor] = {}
        if self.kind in ("ctacl", "ctacl_noda"):
            extended = epoch >= self.warmup_epochs
            parts["ctacl"] = ctacl_loss(
                z,
                slots,
                self.ctam,
                temperature=self.temperature,
                extended=extended,
                k=self.k,
                gamma=self.gamma,
            )
            if self.kind == "ctacl" and extended and self.lam > 0:
                parts["da"] = self.lam * camera_da_loss(
                    z, self.ctam, temperature=self.da_temperature
                )
        elif self.kind == "vapc":
            parts["repelled"] = repelled_loss(z, slots, self.instance, beta=self.beta)
        elif self.kind == "sscl":
            parts["sscl"] = sscl_loss(z, slots, self.instance, temperature=self.temperature)
        elif self.kind == "supervised":
            y = self.targets[slots]
            parts["ce"] = supervised_ce_loss(logits, y, label_smoothing=self.label_smoothing)
            if self.triplet_margin > 0:
                if pooled is None:
                    raise ValueError("the supervised triplet term needs the pooled features")
                parts["triplet"] = triplet_hard_loss(pooled, y, margin=self.triplet_margin)
        elif self.kind == "cluster":
            parts["cluster"] = cluster_loss(
                z, self.clusters.targets(slots), self.clusters, beta=self.beta
            )
            if self.ctam is not None and self.tracklet_weight > 0:
                parts["ctacl"] = self.tracklet_weight * ctacl_loss(
                    z,
                    slots,
                    self.ctam,
                    temperature=self.temperature,
                    extended=True,
                    k=self.k,
                    gamma=self.gamma,
                )
            if self.ctam is not None and self.lam > 0:
                parts["da"] = self.lam * camera_da_loss(
                    z, self.ctam, temperature=self.da_temperature
                )
        else:
            raise ValueError(f"unknown objective {self.kind!r}")
        total = sum(parts.values())
        out = {name: float(v.detach()) for name, v in parts.items()}
        out["loss"] = float(total.detach())
        return total, out

    @torch.no_grad()
    def post(self, z: torch.Tensor, slots: torch.Tensor) -> None:
        """Memory updates after the optimiser step (VAPC Eq. 3 / CTACL Eq. 3)."""
        z = z.detach()
        if self.ctam is not None:
            self.ctam.update_mean(slots, z)
        if self.instance is not None:
            self.instance.update_mean(slots, z)
        if self.clusters is not None:
            self.clusters.update_samples(slots, z)

    def memories(self) -> dict[str, object]:
        found = {"ctam": self.ctam, "instance": self.instance, "clusters": self.clusters}
        return {name: m for name, m in found.items() if m is not None}
