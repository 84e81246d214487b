"""Feature memories (memory banks) for the recognition and retraining stages.

A memory holds ``S`` L2-normalised feature slots (``S x d``, float32 by default). It is plain
state, not a parameter: no gradient flows into it. The training loop computes a loss against
``memory.features`` (see :mod:`vreid.learn.losses`), steps the optimiser, and then writes the batch
features into the memory with :meth:`FeatureMemory.update_mean`, under ``torch.no_grad()``.

* :class:`FeatureMemory` -- one slot per training image (VAPC recognition stage, Eq. 2-3).
* :class:`CameraTrackletMemory` -- the same plus a camera id and a tracklet id per slot
  (CTACL's camera-tracklet-aware memory, "CTAM", Eq. 2-3) and the camera centroids (Eq. 9).
* :class:`ClusterMemory` -- one slot per pseudo-label cluster (VAPC retraining rounds).

All classes are device-agnostic: ``memory.to("cuda")`` moves every tensor; ``state_dict()``
returns plain tensors, so a checkpoint loads with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

from typing import Self

import torch

from ..checks import require_index_range, require_int_tensor

__all__ = ["CameraTrackletMemory", "ClusterMemory", "FeatureMemory"]

_EPS = 1e-12


def _check_features(name: str, x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} must have shape (S, d) with S, d > 0, got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or inf values")


def _check_ids(name: str, x: torch.Tensor, n: int) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 1 or x.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},), got {tuple(x.shape)}")
    if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
        raise ValueError(f"{name} must be an integer tensor, got dtype {x.dtype}")


def _normalise(x: torch.Tensor) -> torch.Tensor:
    """Row-wise L2 normalisation; raises if a row has (near) zero norm."""
    norms = x.norm(dim=1, keepdim=True)
    if bool((norms <= _EPS).any()):
        bad = int((norms.squeeze(1) <= _EPS).nonzero()[0, 0])
        raise ValueError(f"feature row {bad} has zero norm and cannot be L2-normalised")
    return x / norms


class FeatureMemory:
    """A bank of ``S`` L2-normalised feature slots (VAPC Eq. 2 memory ``M``).

    Attributes:
        features: ``(S, d)`` floating tensor, every row of unit L2 norm; never requires grad.
    """

    def __init__(self, init: torch.Tensor, *, dtype: torch.dtype = torch.float32) -> None:
        """Create the memory from initial features ``init`` (S x d), L2-normalising each row.

        ``dtype`` is the storage dtype (float32 by default; float64 is useful in tests).
        """
        _check_features("init", init)
        if not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating dtype, got {dtype}")
        self.features: torch.Tensor = _normalise(init.detach().to(dtype)).contiguous()

    # ------------------------------------------------------------------ basic properties
    @property
    def num_slots(self) -> int:
        """Number of slots ``S``."""
        return int(self.features.shape[0])

    @property
    def dim(self) -> int:
        """Feature dimension ``d``."""
        return int(self.features.shape[1])

    @property
    def device(self) -> torch.device:
        return self.features.device

    @property
    def dtype(self) -> torch.dtype:
        return self.features.dtype

    def __len__(self) -> int:
        return self.num_slots

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(slots={self.num_slots}, dim={self.dim}, "
            f"dtype={self.dtype}, device={self.device})"
        )

    # ------------------------------------------------------------------ device / state
    def _tensor_names(self) -> tuple[str, ...]:
        """Names of the tensors that make up the state (order = state_dict order)."""
        return ("features",)

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> Self:
        """Move the memory to ``device`` (and cast ``features`` to ``dtype``); returns self."""
        if dtype is not None and not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating dtype, got {dtype}")
        for name in self._tensor_names():
            t = getattr(self, name)
            if name == "features" and dtype is not None:
                t = t.to(device=device, dtype=dtype)
            else:
                t = t.to(device=device)
            setattr(self, name, t)
        self._refresh_derived()
        return self

    def _refresh_derived(self) -> None:
        """Recompute cached tensors derived from the state (subclasses)."""

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Plain-tensor state, loadable with ``torch.load(weights_only=True)``."""
        return {name: getattr(self, name).detach().clone() for name in self._tensor_names()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Replace the state with ``state`` (as produced by :meth:`state_dict`).

        The number of slots may differ from the current one (e.g. a new clustering round);
        tensors are moved to the memory's current device and ``features`` to its dtype.
        """
        names = self._tensor_names()
        missing = [n for n in names if n not in state]
        extra = [n for n in state if n not in names]
        if missing or extra:
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: missing keys {missing}, "
                f"unexpected keys {extra}"
            )
        device, dtype = self.device, self.dtype
        new = {n: state[n] for n in names}
        self._validate_state(new)
        for n in names:
            t = new[n].detach()
            t = t.to(device=device, dtype=dtype) if n == "features" else t.to(device=device)
            setattr(self, n, t.clone().contiguous())
        self._refresh_derived()

    def _validate_state(self, state: dict[str, torch.Tensor]) -> None:
        _check_features("state['features']", state["features"])
        norms = state["features"].double().norm(dim=1)
        if not bool(torch.allclose(norms, torch.ones_like(norms), atol=1e-3)):
            raise ValueError("state['features'] rows are not L2-normalised")

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> Self:
        """Build a memory directly from a :meth:`state_dict` (same class)."""
        obj = cls.__new__(cls)
        feats = state.get("features")
        if not isinstance(feats, torch.Tensor):
            raise ValueError("state has no tensor 'features'")
        obj.features = feats.detach()
        obj.load_state_dict(state)
        return obj

    # ------------------------------------------------------------------ updates
    @torch.no_grad()
    def update_mean(
        self, indices: torch.Tensor, feats: torch.Tensor, *, momentum: float = 0.5
    ) -> None:
        """VAPC Eq. 3 / CTACL Eq. 3: ``M[i] <- normalise(M[i] + f)`` for each (i, f) of a batch.

        Args:
            indices: ``(B,)`` integer slot indices in ``[0, S)``.
            feats: ``(B, d)`` features (normally the L2-normalised model outputs; they are
                used as given, not re-normalised). Detached; cast to the memory's dtype.
            momentum: ``m`` in ``M[i] <- normalise(m * M[i] + (1 - m) * f)``. The default 0.5
                is exactly the papers' rule (VAPC's ``(M[i] + f) / 2`` then renormalised,
                CTACL's ``(M + z) / ||M + z||``).

        Duplicate indices in one batch are applied sequentially in batch order: the second
        occurrence of slot ``i`` updates the slot already updated by the first. (Parallel
        updates are grouped by occurrence number, so the cost is one vectorised step per
        multiplicity level, normally one.) If ``m * M[i] + (1 - m) * f`` is the zero vector
        (``f = -M[i]``), the slot becomes ``normalise(f)``.
        """
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        idx = self._check_indices("indices", indices)
        if not isinstance(feats, torch.Tensor) or feats.ndim != 2:
            raise ValueError(f"feats must be a (B, d) tensor, got {getattr(feats, 'shape', None)}")
        if feats.shape[0] != idx.shape[0] or feats.shape[1] != self.dim:
            raise ValueError(
                f"feats must have shape ({idx.shape[0]}, {self.dim}), got {tuple(feats.shape)}"
            )
        if idx.numel() == 0:
            return
        f = feats.detach().to(device=self.device, dtype=self.dtype)
        rank = _occurrence_rank(idx)
        n_levels = int(rank.max()) + 1
        for level in range(n_levels):
            sel = rank == level if n_levels > 1 else slice(None)
            ii, ff = idx[sel], f[sel]
            mixed = momentum * self.features[ii] + (1.0 - momentum) * ff
            norms = mixed.norm(dim=1, keepdim=True)
            fallback = ff / ff.norm(dim=1, keepdim=True).clamp_min(_EPS)
            self.features[ii] = torch.where(norms > _EPS, mixed / norms.clamp_min(_EPS), fallback)

    @torch.no_grad()
    def reset(self, features: torch.Tensor) -> None:
        """Overwrite every slot with L2-normalised ``features`` (S x d, same shape as now).

        CTACL rebuilds ("completely overhauls") its memory from fresh features every 5 epochs.
        """
        _check_features("features", features)
        if tuple(features.shape) != tuple(self.features.shape):
            raise ValueError(
                f"features must have shape {tuple(self.features.shape)} to reset this memory, "
                f"got {tuple(features.shape)}"
            )
        self.features = _normalise(features.detach().to(device=self.device, dtype=self.dtype))

    def _check_indices(self, name: str, indices: torch.Tensor) -> torch.Tensor:
        require_int_tensor(name, indices)
        idx = indices.to(device=self.device, dtype=torch.long)
        require_index_range(name, idx, 0, self.num_slots)
        return idx


def _occurrence_rank(idx: torch.Tensor) -> torch.Tensor:
    """For each position b, how many earlier positions hold the same value (0 = first)."""
    n = idx.shape[0]
    order = torch.sort(idx, stable=True).indices
    s = idx[order]
    pos = torch.arange(n, device=idx.device)
    starts = torch.ones(n, dtype=torch.bool, device=idx.device)
    starts[1:] = s[1:] != s[:-1]
    group_start = torch.cummax(torch.where(starts, pos, torch.zeros_like(pos)), dim=0).values
    rank = torch.empty_like(pos)
    rank[order] = pos - group_start
    return rank


class CameraTrackletMemory(FeatureMemory):
    """CTACL Eq. 2: camera-tracklet-aware memory (CTAM), one slot per training image.

    Attributes:
        features: ``(S, d)`` L2-normalised slots.
        cams: ``(S,)`` int64 camera id of each slot (any integers).
        tracklets: ``(S,)`` int64 tracklet id of each slot, unique across cameras.
        cam_index: ``(S,)`` int64 dense camera index in ``[0, C)`` (sorted camera ids).
        camera_ids: ``(C,)`` int64 the distinct camera ids, ascending.
        track_index: ``(S,)`` int64 dense tracklet index in ``[0, T)``.
        cam_counts: ``(C,)`` int64 number of slots per camera.
    """

    def __init__(
        self,
        init: torch.Tensor,
        cams: torch.Tensor,
        tracklets: torch.Tensor,
        *,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        """``init`` (S x d) initial features, ``cams`` (S,) and ``tracklets`` (S,) integer ids."""
        super().__init__(init, dtype=dtype)
        state = {"features": self.features, "cams": cams, "tracklets": tracklets}
        self._validate_state(state)
        self.cams = cams.detach().to(device=self.device, dtype=torch.long).clone()
        self.tracklets = tracklets.detach().to(device=self.device, dtype=torch.long).clone()
        self._refresh_derived()

    def _tensor_names(self) -> tuple[str, ...]:
        return ("features", "cams", "tracklets")

    def _validate_state(self, state: dict[str, torch.Tensor]) -> None:
        super()._validate_state(state)
        n = int(state["features"].shape[0])
        _check_ids("cams", state["cams"], n)
        _check_ids("tracklets", state["tracklets"], n)
        cams = state["cams"].detach().cpu().long()
        trk = state["tracklets"].detach().cpu().long()
        # Each tracklet must belong to exactly one camera.
        _, t_inv = torch.unique(trk, return_inverse=True)
        first_cam = torch.full((int(t_inv.max()) + 1,), -1, dtype=torch.long)
        first_cam.scatter_(0, t_inv, cams)  # one of the cameras of each tracklet
        bad = (first_cam[t_inv] != cams).nonzero()
        if bad.numel():
            j = int(bad[0, 0])
            raise ValueError(
                f"tracklets must be unique across cameras: tracklet {int(trk[j])} appears in "
                f"camera {int(cams[j])} and camera {int(first_cam[t_inv[j]])}; "
                "map (camera, tracklet) pairs to globally unique ids first"
            )

    def _refresh_derived(self) -> None:
        self.camera_ids, self.cam_index = torch.unique(self.cams, return_inverse=True)
        _, self.track_index = torch.unique(self.tracklets, return_inverse=True)
        self.cam_counts = torch.bincount(self.cam_index, minlength=self.camera_ids.numel())

    @property
    def num_cameras(self) -> int:
        """Number of distinct cameras ``C``."""
        return int(self.camera_ids.numel())

    @torch.no_grad()
    def camera_centroids(self) -> torch.Tensor:
        """CTACL Eq. 9: ``(C, d)`` mean of each camera's slots, L2-normalised.

        Row ``c`` belongs to camera ``camera_ids[c]``.
        """
        sums = torch.zeros(self.num_cameras, self.dim, dtype=self.dtype, device=self.device)
        sums.index_add_(0, self.cam_index, self.features)
        means = sums / self.cam_counts.to(self.dtype).unsqueeze(1)
        return means / means.norm(dim=1, keepdim=True).clamp_min(_EPS)


class ClusterMemory(FeatureMemory):
    """Cluster memory for VAPC's retraining rounds: one slot per pseudo-label cluster.

    Attributes:
        features: ``(K, d)`` L2-normalised cluster slots.
        labels: ``(N,)`` int64 pseudo label of each training sample, ``-1`` = unclustered.
    """

    def __init__(
        self, init: torch.Tensor, labels: torch.Tensor, *, dtype: torch.dtype = torch.float32
    ) -> None:
        """``init`` (K x d) cluster features; ``labels`` (N,) per-sample labels in [-1, K)."""
        super().__init__(init, dtype=dtype)
        self._validate_state({"features": self.features, "labels": labels})
        self.labels = labels.detach().to(device=self.device, dtype=torch.long).clone()

    def _tensor_names(self) -> tuple[str, ...]:
        return ("features", "labels")

    def _validate_state(self, state: dict[str, torch.Tensor]) -> None:
        super()._validate_state(state)
        labels = state["labels"]
        if not isinstance(labels, torch.Tensor) or labels.ndim != 1:
            raise ValueError("labels must be a 1-D integer tensor")
        _check_ids("labels", labels, int(labels.shape[0]))
        k = int(state["features"].shape[0])
        if labels.numel() and (int(labels.min()) < -1 or int(labels.max()) >= k):
            raise ValueError(f"labels must lie in [-1, {k}) (-1 = unclustered)")

    @property
    def num_clusters(self) -> int:
        return self.num_slots

    @classmethod
    def from_labels(
        cls, features: torch.Tensor, labels: torch.Tensor, *, dtype: torch.dtype = torch.float32
    ) -> ClusterMemory:
        """Slot ``c`` = L2-normalised mean of the features of samples with label ``c``.

        Args:
            features: ``(N, d)`` per-sample features.
            labels: ``(N,)`` integer pseudo labels; ``-1`` marks unclustered samples, which
                get no slot. The other labels must be dense ``0..K-1`` with every cluster
                non-empty (relabel with ``torch.unique(..., return_inverse=True)`` first).
        """
        _check_features("features", features)
        _check_ids("labels", labels, int(features.shape[0]))
        lab = labels.detach().to(device=features.device, dtype=torch.long)
        if int(lab.min()) < -1:
            raise ValueError("labels must be >= -1 (-1 = unclustered)")
        valid = lab >= 0
        if not bool(valid.any()):
            raise ValueError("labels has no clustered sample (all -1): cannot build a memory")
        k = int(lab.max()) + 1
        counts = torch.bincount(lab[valid], minlength=k)
        if bool((counts == 0).any()):
            missing = int((counts == 0).nonzero()[0, 0])
            raise ValueError(
                f"labels must be dense 0..{k - 1}: cluster {missing} has no member; relabel first"
            )
        f = features.detach().to(dtype)
        sums = torch.zeros(k, f.shape[1], dtype=dtype, device=f.device)
        sums.index_add_(0, lab[valid], f[valid])
        return cls(sums / counts.to(dtype).unsqueeze(1), lab, dtype=dtype)

    def targets(self, sample_indices: torch.Tensor) -> torch.Tensor:
        """Pseudo labels (cluster slots) of the given samples, ``(B,)`` int64, -1 = none."""
        require_int_tensor("sample_indices", sample_indices)
        idx = sample_indices.to(device=self.device, dtype=torch.long)
        require_index_range("sample_indices", idx, 0, int(self.labels.numel()))
        return self.labels[idx]

    @torch.no_grad()
    def update_samples(
        self, sample_indices: torch.Tensor, feats: torch.Tensor, *, momentum: float = 0.5
    ) -> None:
        """VAPC Eq. 3 on clusters: each sample's feature updates its cluster's slot.

        ``sample_indices`` (B,) are dataset indices; unclustered samples (label -1) are
        skipped. Several samples of one cluster are applied sequentially in batch order.
        """
        t = self.targets(sample_indices)
        keep = t >= 0
        if feats.ndim != 2 or feats.shape[0] != t.shape[0]:
            raise ValueError(f"feats must have shape ({t.shape[0]}, d), got {tuple(feats.shape)}")
        self.update_mean(t[keep], feats.to(self.device)[keep], momentum=momentum)
