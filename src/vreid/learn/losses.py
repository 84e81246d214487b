"""Memory-based losses of VAPC (repelled / cluster softmax) and CTACL (Eq. 4, 7, 8-11).

Conventions for every loss here:

* ``z`` -- ``(B, d)`` model features, L2-normalised, floating (gradients flow into ``z``).
* ``idx`` -- ``(B,)`` integer dataset indices of the batch; for the per-image memories these
  are the memory slot indices.
* The memory is read, never written (update it after the optimiser step with
  :meth:`vreid.learn.memory.FeatureMemory.update_mean`). It must live on ``z``'s device
  (``memory.to(z.device)``); its features are cast to ``z``'s dtype when they differ.
* Every loss returns a scalar: the mean over the batch.

All mining in :func:`ctacl_loss` is vectorised over the batch (one ``B x N`` similarity matrix,
boolean masks, ``topk`` on masked rows); no per-sample Python loop.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..checks import require_index_range, require_int, require_int_tensor, require_positive
from .memory import CameraTrackletMemory, ClusterMemory, FeatureMemory

__all__ = [
    "camera_da_loss",
    "cluster_loss",
    "ctacl_loss",
    "ctacl_masks",
    "repelled_loss",
    "sscl_loss",
    "supervised_ce_loss",
    "triplet_hard_loss",
]

# Tolerance subtracted before the ceiling of the grey-zone size, so that float artefacts such
# as 0.07 * 100 = 7.000000000000001 give 7 and not 8.
_CEIL_TOL = 1e-9


# ---------------------------------------------------------------------------- helpers
def _check_z(z: torch.Tensor, dim: int) -> None:
    if not isinstance(z, torch.Tensor) or z.ndim != 2 or z.shape[0] == 0:
        raise ValueError(
            f"z must be a non-empty (B, d) tensor, got shape {tuple(getattr(z, 'shape', ()))}"
        )
    if not z.is_floating_point():
        raise ValueError(f"z must be floating point, got dtype {z.dtype}")
    if z.shape[1] != dim:
        raise ValueError(f"z has feature dimension {z.shape[1]} but the memory has {dim}")


def _memory_matrix(z: torch.Tensor, memory: FeatureMemory) -> torch.Tensor:
    """The memory features on z's device in z's dtype (no copy when they already match)."""
    if memory.device != z.device:
        raise ValueError(
            f"memory is on {memory.device} but z is on {z.device}; call memory.to(z.device)"
        )
    return memory.features.to(dtype=z.dtype)


def _check_idx(name: str, idx: torch.Tensor, batch: int, upper: int, lower: int = 0):
    require_int_tensor(name, idx, batch)
    require_index_range(name, idx, lower, upper)


def _top_count_mask(
    key: torch.Tensor,
    valid: torch.Tensor,
    counts: torch.Tensor,
    n_valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per row ``b``: mask of the ``counts[b]`` ``valid`` entries with the largest ``key``.

    Ties are broken by the lower column index (deterministic, independent of how
    ``torch.topk`` orders equal values). If a row has fewer valid entries than requested,
    all its valid entries are selected. ``key`` must be finite where ``valid``.

    Args:
        key: ``(B, N)`` floating scores.
        valid: ``(B, N)`` bool, the candidates.
        counts: ``(B,)`` int64, how many to select per row (>= 0).
        n_valid: ``(B,)`` int64 ``valid.sum(1)`` if already known.
    Returns:
        ``(B, N)`` bool mask.
    """
    if n_valid is None:
        n_valid = valid.sum(dim=1)
    cnt = torch.minimum(counts, n_valid)
    kmax = int(cnt.max()) if cnt.numel() else 0
    if kmax == 0:
        return torch.zeros_like(valid)
    masked = torch.where(valid, key, -math.inf)
    top_vals = torch.topk(masked, kmax, dim=1, largest=True, sorted=True).values  # (B, kmax)
    # thr = the cnt-th largest valid value of each row (+inf for rows selecting nothing);
    # it is finite otherwise, so ">= thr" never picks an invalid (-inf) entry.
    thr = top_vals.gather(1, (cnt - 1).clamp_min(0).unsqueeze(1))  # (B, 1)
    thr = torch.where(cnt.unsqueeze(1) > 0, thr, math.inf)
    sel = masked >= thr
    if bool((sel.sum(dim=1) == cnt).all()):  # no tie at the threshold (the usual case)
        return sel
    # Ties at the threshold: keep everything strictly above it, then the lowest-index
    # entries equal to it until cnt are selected.
    above = masked > thr
    equal = masked == thr
    need = (cnt - above.sum(dim=1)).unsqueeze(1)
    return above | (equal & (equal.cumsum(dim=1) <= need))


def _multi_positive_nll(s: torch.Tensor, pos: torch.Tensor, denom: torch.Tensor) -> torch.Tensor:
    """Mean over rows of ``-(1/|pos|) sum_{p in pos} log(exp(s_p) / sum_{a in denom} exp(s_a))``.

    ``pos`` must be a non-empty subset of ``denom`` in every row.
    """
    lse = torch.logsumexp(torch.where(denom, s, -math.inf), dim=1)  # (B,)
    n_pos = pos.sum(dim=1).to(s.dtype)
    mean_pos = torch.where(pos, s, 0.0).sum(dim=1) / n_pos
    return (lse - mean_pos).mean()


# ---------------------------------------------------------------------------- VAPC
def repelled_loss(
    z: torch.Tensor, idx: torch.Tensor, memory: FeatureMemory, beta: float = 0.1
) -> torch.Tensor:
    """VAPC Eq. 2-3: ``-log softmax_j(M[j] . z / beta)[idx]`` over all slots, batch mean.

    Args:
        z: ``(B, d)`` L2-normalised features.
        idx: ``(B,)`` slot index of each sample (its own slot, "index label").
        memory: the per-image memory ``M`` (S x d).
        beta: softmax temperature (VAPC: 0.1).
    Returns:
        Scalar tensor.
    """
    _check_z(z, memory.dim)
    _check_idx("idx", idx, z.shape[0], memory.num_slots)
    require_positive("beta", beta)
    m = _memory_matrix(z, memory)
    logits = z @ m.T / beta
    return F.cross_entropy(logits, idx.to(device=z.device, dtype=torch.long))


def cluster_loss(
    z: torch.Tensor, targets: torch.Tensor, memory: ClusterMemory, beta: float = 0.1
) -> torch.Tensor:
    """VAPC Eq. 2-3 over cluster slots: ``-log softmax_c(M[c] . z / beta)[target]``.

    Args:
        z: ``(B, d)`` L2-normalised features.
        targets: ``(B,)`` pseudo labels (cluster slot indices); ``-1`` rows are ignored.
        memory: the cluster memory (K x d).
        beta: softmax temperature (VAPC: 0.1).
    Returns:
        Scalar: mean over the non-ignored rows; ``0`` (still attached to ``z``'s graph, with
        zero gradient) when every row is ignored.
    """
    _check_z(z, memory.dim)
    _check_idx("targets", targets, z.shape[0], memory.num_slots, lower=-1)
    require_positive("beta", beta)
    m = _memory_matrix(z, memory)
    t = targets.to(device=z.device, dtype=torch.long)
    valid = t >= 0
    logits = z @ m.T / beta
    per_row = F.cross_entropy(logits, t.clamp_min(0), reduction="none")
    per_row = torch.where(valid, per_row, torch.zeros_like(per_row))
    return per_row.sum() / valid.sum().clamp_min(1).to(z.dtype)


# ---------------------------------------------------------------------------- CTACL
def sscl_loss(
    z: torch.Tensor, idx: torch.Tensor, memory: FeatureMemory, temperature: float = 0.07
) -> torch.Tensor:
    """CTACL Table III "SSCL": instance contrastive loss against the memory (Eq. 1, memory form).

    Eq. 1 with the positive ``z_i^+`` = the sample's own memory slot ``M[idx_i]`` and the
    denominator running over every memory slot (the own slot included), i.e.
    ``-log softmax_j(z_i . M[j] / tau)[idx_i]``. This is the same computation as
    :func:`repelled_loss` with ``beta = temperature``.
    """
    return repelled_loss(z, idx, memory, beta=temperature)


def _check_ctacl_args(k: int, gamma: float) -> None:
    require_int("k", k, lo=0)
    if not (isinstance(gamma, int | float) and 0.0 <= gamma <= 1.0):
        raise ValueError(f"gamma must lie in [0, 1], got {gamma!r}")


@torch.no_grad()
def _ctacl_masks_from_sim(
    sim: torch.Tensor,
    m: torch.Tensor,
    idx: torch.Tensor,
    memory: CameraTrackletMemory,
    *,
    extended: bool,
    k: int,
    gamma: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks of Eq. 4 / Eq. 7 from the detached ``(B, N)`` similarities ``sim = z . M^T``."""
    i = idx.to(device=memory.device, dtype=torch.long)
    cam_a = memory.cam_index[i]
    trk_a = memory.track_index[i]
    same_cam = cam_a.unsqueeze(1) == memory.cam_index.unsqueeze(0)  # (B, N)
    own = trk_a.unsqueeze(1) == memory.track_index.unsqueeze(0)  # (B, N), subset of same_cam
    if not extended:
        return own, same_cam

    other = ~same_cam
    n_other = memory.num_slots - memory.cam_counts[cam_a]  # (B,)
    k_vec = torch.full_like(n_other, k)
    if k > 0:
        # Eq. 5: easy positives, the k other-camera slots most similar to the anchor.
        easy = _top_count_mask(sim, other, k_vec, n_other)
        # Eq. 6: z' = the anchor's least similar own-tracklet slot (lowest index on ties);
        # hard positives = the k other-camera slots most similar to z'.
        far = torch.where(own, sim, math.inf).argmin(dim=1)
        hard = _top_count_mask(m[far] @ m.T, other, k_vec, n_other)
        plus = easy | hard
        remaining = other & ~plus
        n_rem = n_other - plus.sum(dim=1)
    else:
        plus = torch.zeros_like(other)
        remaining = other
        n_rem = n_other
    # Grey zone: of the remaining other-camera slots, sorted by similarity to the anchor
    # (descending), the first ceil(gamma * |remaining|) are dropped; the rest are negatives.
    n_grey = torch.ceil(n_rem.to(torch.float64) * float(gamma) - _CEIL_TOL).clamp_min(0)
    grey = _top_count_mask(sim, remaining, n_grey.to(torch.long), n_rem)
    # denominator = same camera ∪ P+ ∪ negatives = every slot except the grey zone
    # (P+, grey zone and negatives partition the other-camera slots).
    return own | plus, ~grey


def ctacl_masks(
    z: torch.Tensor,
    idx: torch.Tensor,
    memory: CameraTrackletMemory,
    *,
    extended: bool,
    k: int = 5,
    gamma: float = 0.01,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Positive and denominator slot masks of CTACL Eq. 4 / Eq. 7, ``(B, N)`` bool each.

    Selection uses the detached similarities ``z_i . M_j`` (no gradient through the mining).
    See :func:`ctacl_loss` for the rules. Ties are broken by the lower slot index.
    """
    _check_z(z, memory.dim)
    _check_idx("idx", idx, z.shape[0], memory.num_slots)
    _check_ctacl_args(k, gamma)
    m = _memory_matrix(z, memory)
    sim = z.detach() @ m.T
    return _ctacl_masks_from_sim(sim, m, idx, memory, extended=extended, k=k, gamma=gamma)


def ctacl_loss(
    z: torch.Tensor,
    idx: torch.Tensor,
    memory: CameraTrackletMemory,
    *,
    temperature: float = 0.07,
    extended: bool,
    k: int = 5,
    gamma: float = 0.01,
) -> torch.Tensor:
    """CTACL Eq. 4 (``extended=False``) or Eq. 7 (``extended=True``), mean over the batch.

    For anchor ``i`` (slot ``idx_i``, camera ``c_i``, tracklet ``t_i``) and
    ``s_ij = z_i . M_j / temperature``:

    * Eq. 4: positives = the slots of tracklet ``t_i`` (own slot included); denominator =
      all slots of camera ``c_i``.
    * Eq. 7: "other" = slots of the other cameras. Easy positives (Eq. 5) = the ``k`` other
      slots most similar to ``z_i``; hard positives (Eq. 6) = the ``k`` other slots most
      similar to ``z'``, the own-tracklet slot least similar to ``z_i``. ``P+`` = easy ∪ hard
      (a set: a slot found by both counts once). The remaining other slots, sorted by
      similarity to ``z_i`` descending, lose their first ``ceil(gamma * |remaining|)`` (the
      grey zone); the rest are the negatives ``N_i``. Positives = own tracklet ∪ ``P+``;
      denominator = camera ``c_i`` ∪ ``P+`` ∪ ``N_i``.

    ``loss_i = -(1/|pos|) sum_{p in pos} log(exp(s_ip) / sum_{a in denom} exp(s_ia))``. The
    paper's normaliser ``|m| + |P+|`` equals ``|pos|`` under the set semantics used here.
    ``k = 0`` mines no positives; ``gamma = 0`` has no grey zone; a camera network with fewer
    than ``k`` other-camera slots yields all of them. Mining uses the detached similarities;
    ties are broken by the lower slot index. The grey-zone size is computed in float64 as
    ``ceil(gamma * n - 1e-9)`` (so that float artefacts do not add a slot).

    Args:
        z: ``(B, d)`` L2-normalised features (gradients flow into ``z`` only).
        idx: ``(B,)`` slot index of each sample in ``memory``.
        memory: the camera-tracklet-aware memory (N slots).
        temperature: ``tau`` (CTACL: 0.07).
        extended: Eq. 7 when True, Eq. 4 when False.
        k: number of easy and of hard positives mined per anchor (CTACL: 5).
        gamma: grey-zone share in ``[0, 1]`` (CTACL: 0.01).
    Returns:
        Scalar tensor.
    """
    _check_z(z, memory.dim)
    _check_idx("idx", idx, z.shape[0], memory.num_slots)
    _check_ctacl_args(k, gamma)
    require_positive("temperature", temperature)
    m = _memory_matrix(z, memory)
    sim = z @ m.T  # (B, N), the only product with the memory that carries a gradient
    pos, denom = _ctacl_masks_from_sim(
        sim.detach(), m, idx, memory, extended=extended, k=k, gamma=gamma
    )
    return _multi_positive_nll(sim / temperature, pos, denom)


def camera_da_loss(
    z: torch.Tensor,
    memory: CameraTrackletMemory,
    *,
    centroids: torch.Tensor | None = None,
    temperature: float = 1.0,
) -> torch.Tensor:
    """CTACL Eq. 8-11: ``KL(U || P(c|z))``, ``P(c|z) = softmax_c(z . zbar_c / T)``, batch mean.

    ``zbar_c`` are the memory's camera centroids (Eq. 9, L2-normalised; pass ``centroids``
    ``(C, d)`` to reuse a precomputed copy). The paper has no temperature (``T = 1``, the
    default); with cosine logits in [-1, 1], P is then nearly uniform and the loss nearly 0
    (``studies/da_diagnosis.py``), so ``temperature`` (``recognize.da_temperature``) can
    sharpen it. ``U`` is uniform over the ``C`` cameras. This is the true KL divergence
    ``sum_c U_c log(U_c / P_c) = -log C - (1/C) sum_c log P_c``; the paper's Eq. 10 prints it
    without the logarithm, which we read as a typo. With a single camera the loss is 0.
    """
    _check_z(z, memory.dim)
    if centroids is None:
        centroids = memory.camera_centroids()
    if centroids.ndim != 2 or tuple(centroids.shape) != (memory.num_cameras, memory.dim):
        raise ValueError(
            f"centroids must have shape ({memory.num_cameras}, {memory.dim}), "
            f"got {tuple(centroids.shape)}"
        )
    if centroids.device != z.device:
        raise ValueError(
            f"centroids/memory are on {centroids.device} but z is on {z.device}; "
            "call memory.to(z.device)"
        )
    require_positive("temperature", temperature)
    c = centroids.shape[0]
    logits = z @ centroids.to(z.dtype).T
    if temperature != 1.0:  # T = 1 keeps the paper's exact arithmetic
        logits = logits / temperature
    log_p = F.log_softmax(logits, dim=1)  # (B, C)
    per_row = -math.log(c) - log_p.mean(dim=1)
    return per_row.mean()


def supervised_ce_loss(
    logits: torch.Tensor, targets: torch.Tensor, *, label_smoothing: float = 0.0
) -> torch.Tensor:
    """Softmax cross-entropy with ground-truth ids (CTACL Table III supervised upper bound).

    Args:
        logits: ``(B, K)`` classifier outputs (the classifier head lives in the model).
        targets: ``(B,)`` integer class indices in ``[0, K)``.
        label_smoothing: passed to :func:`torch.nn.functional.cross_entropy`.
    """
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
        raise ValueError("logits must be a (B, K) tensor")
    _check_idx("targets", targets, logits.shape[0], logits.shape[1])
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    return F.cross_entropy(
        logits,
        targets.to(device=logits.device, dtype=torch.long),
        label_smoothing=label_smoothing,
    )


def triplet_hard_loss(
    feat: torch.Tensor, labels: torch.Tensor, *, margin: float | str = 0.3
) -> torch.Tensor:
    """Batch-hard triplet loss (Hermans et al. 2017) on Euclidean distances.

    For each anchor ``a``: ``max(0, margin + max_{p: y_p = y_a, p != a} d(a, p)
    - min_{n: y_n != y_a} d(a, n))``, averaged over the anchors that have at least one
    positive and one negative in the batch (0 when there is none). With ``margin="soft"``
    the hinge is the same paper's soft margin ``log(1 + exp(d(a, p) - d(a, n)))``, which has
    no margin to set and keeps pushing every triplet apart. Used by the supervised
    upper bound next to the identity cross-entropy (the "BNNeck" recipe: triplet on the
    feature before the BN neck, cross-entropy on the logits after it).

    Args:
        feat: ``(B, d)`` features (not necessarily normalised).
        labels: ``(B,)`` integer identities.
        margin: the triplet margin (> 0), or ``"soft"``.
    """
    if not isinstance(feat, torch.Tensor) or feat.ndim != 2 or not feat.is_floating_point():
        raise ValueError("feat must be a floating (B, d) tensor")
    if not isinstance(labels, torch.Tensor) or labels.shape != feat.shape[:1]:
        raise ValueError(f"labels must be a ({feat.shape[0]},) tensor")
    soft = isinstance(margin, str)
    if soft and margin != "soft":
        raise ValueError(f"margin must be a number > 0 or 'soft', got {margin!r}")
    if not soft:
        require_positive("margin", margin)
    sq = feat.pow(2).sum(dim=1)
    d2 = (sq[:, None] + sq[None, :] - 2.0 * feat @ feat.T).clamp_min(1e-12)
    dist = d2.sqrt()
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=feat.device)
    pos = same & ~eye
    neg = ~same
    usable = pos.any(dim=1) & neg.any(dim=1)
    if not bool(usable.any()):
        return feat.sum() * 0.0
    hardest_pos = torch.where(pos, dist, -math.inf).amax(dim=1)
    hardest_neg = torch.where(neg, dist, math.inf).amin(dim=1)
    if soft:
        per = F.softplus(hardest_pos - hardest_neg)
    else:
        per = F.relu(margin + hardest_pos - hardest_neg)
    return per[usable].mean()
