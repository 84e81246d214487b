"""The training objectives of the learning stages, assembled from :mod:`vreid.learn.losses`.

An objective is built once, by name, from the validated params and the memories it reads:

    obj = make_objective("ctacl", params, ctam=CameraTrackletMemory(...))
    loss, parts = obj.loss(z, logits, slots, epoch, pooled=pooled)   # parts: floats for logs
    obj.post(z, slots)           # memory updates, after the optimiser step, under no_grad
    obj.memories()               # name -> memory, checkpointed with the model

``slots`` are positions in the train split (0..N_train-1), i.e. memory slot indices.
:data:`OBJECTIVES` is the registry (name -> builder); ``recognize.loss`` chooses among
:data:`vreid.choices.RECOGNITION_LOSSES`, the clustering rounds use ``cluster``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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

Parts = dict[str, torch.Tensor]


@dataclass(frozen=True)
class CtaclTerms:
    """CTACL's loss terms against a camera-tracklet memory (Eq. 4 / Eq. 7, then lambda x DA)."""

    ctam: CameraTrackletMemory
    temperature: float  # recognize.temperature (CTACL tau)
    k: int  # cross-camera positives mined per anchor
    gamma: float  # grey-zone share
    lam: float  # weight of the camera DA loss (0 = none)
    da_temperature: float  # temperature of P(c|z) in the DA loss

    def add(
        self, parts: Parts, z: torch.Tensor, slots: torch.Tensor, *, extended: bool, weight=1.0
    ) -> None:
        """Add ``parts["ctacl"]`` (times ``weight``) and, when ``extended``, ``parts["da"]``."""
        term = ctacl_loss(
            z,
            slots,
            self.ctam,
            temperature=self.temperature,
            extended=extended,
            k=self.k,
            gamma=self.gamma,
        )
        parts["ctacl"] = term if weight == 1.0 else weight * term
        if extended and self.lam > 0:
            parts["da"] = self.lam * camera_da_loss(z, self.ctam, temperature=self.da_temperature)

    @classmethod
    def from_params(cls, params: dict[str, Any], ctam: CameraTrackletMemory, lam: float):
        r = params["recognize"]
        return cls(ctam, r["temperature"], params["k"], params["gamma"], lam, r["da_temperature"])


@dataclass
class Objective:
    """A loss over a batch plus the memories it keeps; subclasses implement :meth:`terms`."""

    name: str
    mems: dict[str, Any] = field(default_factory=dict)

    def terms(self, z, logits, slots, epoch, pooled) -> Parts:  # pragma: no cover - abstract
        raise NotImplementedError

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
        parts = self.terms(z, logits, slots, epoch, pooled)
        total = sum(parts.values())
        out = {name: float(v.detach()) for name, v in parts.items()}
        out["loss"] = float(total.detach())
        return total, out

    @torch.no_grad()
    def post(self, z: torch.Tensor, slots: torch.Tensor) -> None:
        """Memory updates after the optimiser step (CTACL Eq. 3 / VAPC Eq. 3)."""
        z = z.detach()
        for name in ("ctam", "instance"):
            if name in self.mems:
                self.mems[name].update_mean(slots, z)
        if "clusters" in self.mems:
            self.mems["clusters"].update_samples(slots, z)

    def memories(self) -> dict[str, Any]:
        return dict(self.mems)


@dataclass
class CtaclObjective(Objective):
    """CTACL: intra-camera Eq. 4 for ``warmup_epochs``, then Eq. 7 + lambda x DA (Eq. 8-12)."""

    ctacl: CtaclTerms | None = None
    warmup_epochs: int = 0

    def terms(self, z, logits, slots, epoch, pooled) -> Parts:
        parts: Parts = {}
        self.ctacl.add(parts, z, slots, extended=epoch >= self.warmup_epochs)
        return parts


@dataclass
class InstanceObjective(Objective):
    """One instance memory: VAPC's repelled loss (Eq. 2-3) or plain SSCL."""

    beta: float = 0.1
    temperature: float = 0.07

    def terms(self, z, logits, slots, epoch, pooled) -> Parts:
        mem = self.mems["instance"]
        if self.name == "vapc":
            return {"repelled": repelled_loss(z, slots, mem, beta=self.beta)}
        return {"sscl": sscl_loss(z, slots, mem, temperature=self.temperature)}


@dataclass
class SupervisedObjective(Objective):
    """The labelled upper bound: label-smoothed identity CE + batch-hard triplet (pre-neck)."""

    targets: torch.Tensor | None = None  # ground-truth class per slot
    label_smoothing: float = 0.0
    triplet_margin: float | str = 0.0  # 0 = no triplet term; "soft" = the soft-margin form

    def terms(self, z, logits, slots, epoch, pooled) -> Parts:
        y = self.targets[slots]
        parts = {"ce": supervised_ce_loss(logits, y, label_smoothing=self.label_smoothing)}
        if self.triplet_margin == "soft" or self.triplet_margin > 0:
            if pooled is None:
                raise ValueError("the supervised triplet term needs the pooled features")
            parts["triplet"] = triplet_hard_loss(pooled, y, margin=self.triplet_margin)
        return parts


@dataclass
class ClusterObjective(Objective):
    """A clustering round: the cluster-memory loss on pseudo labels (VAPC Eq. 11, times
    ``cluster_weight``), plus, with ``cluster.method = combined``, the CTACL tracklet term
    (weighted) and lambda x DA. ``cluster_weight`` 0 leaves the pseudo labels out of the loss:
    the control that measures what they add to the rounds' other terms."""

    beta: float = 0.1
    ctacl: CtaclTerms | None = None
    tracklet_weight: float = 0.0
    cluster_weight: float = 1.0

    def terms(self, z, logits, slots, epoch, pooled) -> Parts:
        clusters = self.mems["clusters"]
        parts: Parts = {}
        if self.cluster_weight > 0:
            loss = cluster_loss(z, clusters.targets(slots), clusters, beta=self.beta)
            parts["cluster"] = loss if self.cluster_weight == 1 else self.cluster_weight * loss
        if self.ctacl is not None:
            if self.tracklet_weight > 0:
                self.ctacl.add(parts, z, slots, extended=True, weight=self.tracklet_weight)
            elif self.ctacl.lam > 0:  # DA without the tracklet term
                da = camera_da_loss(z, self.ctacl.ctam, temperature=self.ctacl.da_temperature)
                parts["da"] = self.ctacl.lam * da
        return parts


def _ctacl(params, ctam, **_):
    r = params["recognize"]
    lam = params["lambda"] if r["loss"] == "ctacl" else 0.0
    return CtaclObjective(
        r["loss"], {"ctam": ctam}, CtaclTerms.from_params(params, ctam, lam), r["warmup_epochs"]
    )


def _instance(params, instance, **_):
    r = params["recognize"]
    return InstanceObjective(r["loss"], {"instance": instance}, r["beta"], r["temperature"])


def _supervised(params, targets, **_):
    r = params["recognize"]
    return SupervisedObjective("supervised", {}, targets, r["label_smoothing"], r["triplet_margin"])


def _cluster(params, clusters, ctam=None, **_):
    c = params["cluster"]
    mems: dict[str, Any] = {"clusters": clusters}
    terms = None
    if c["method"] == "combined":
        mems["ctam"] = ctam
        terms = CtaclTerms.from_params(params, ctam, params["lambda"])
    return ClusterObjective(
        "cluster", mems, c["beta"], terms, c["tracklet_weight"], c["cluster_weight"]
    )


#: name -> builder(params, **memories). ``ctacl_noda`` is CTACL with lambda = 0.
OBJECTIVES: dict[str, Callable[..., Objective]] = {
    "ctacl": _ctacl,
    "ctacl_noda": _ctacl,
    "vapc": _instance,
    "sscl": _instance,
    "supervised": _supervised,
    "cluster": _cluster,
}
#: What each objective needs besides params (the stage builds these and passes them in).
NEEDS = {
    "ctacl": ("ctam",),
    "ctacl_noda": ("ctam",),
    "vapc": ("instance",),
    "sscl": ("instance",),
    "supervised": ("targets",),
    "cluster": ("clusters",),
}


def make_objective(
    kind: str,
    params: dict[str, Any],
    *,
    ctam: CameraTrackletMemory | None = None,
    instance: FeatureMemory | None = None,
    clusters: ClusterMemory | None = None,
    targets: torch.Tensor | None = None,
) -> Objective:
    """The objective ``kind`` (a key of :data:`OBJECTIVES`) configured from validated params.

    Raises ValueError for an unknown ``kind`` or a missing memory/target it needs.
    """
    if kind not in OBJECTIVES:
        raise ValueError(f"unknown objective {kind!r}; choose one of {', '.join(OBJECTIVES)}")
    given = {"ctam": ctam, "instance": instance, "clusters": clusters, "targets": targets}
    needs = NEEDS[kind] + (
        ("ctam",) if kind == "cluster" and params["cluster"]["method"] == "combined" else ()
    )
    if missing := [n for n in needs if given[n] is None]:
        raise ValueError(f"objective {kind!r} needs {', '.join(missing)}")
    return OBJECTIVES[kind](params, **given)
