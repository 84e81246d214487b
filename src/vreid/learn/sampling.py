"""Identity-balanced batch order ("P x K" sampling) for the supervised recipe.

Re-ID trains supervised models on batches of ``P`` identities with ``K`` images each, so that
every anchor of the batch-hard triplet loss has positives and negatives in its batch.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["identity_balanced_order"]


def identity_balanced_order(
    labels: np.ndarray, instances: int, batch_size: int, gen: torch.Generator
) -> np.ndarray:
    """Positions ``0..len(labels)-1`` arranged in batches of ``batch_size // instances`` ids.

    Every identity contributes its images in shuffled groups of ``instances`` (an identity
    with fewer images is topped up by drawing its images again; its leftover images that do
    not fill a group are dropped this epoch); the groups are shuffled and packed so that no
    batch holds two groups of the same identity when this can be avoided. Only whole
    batches are returned. All randomness comes from ``gen``; the same generator state gives
    the same order.

    Args:
        labels: ``(N,)`` integer identity of each position.
        instances: ``K``, images per identity in a batch (>= 1, divides ``batch_size``).
        batch_size: ``P * K``.
        gen: CPU generator.
    Returns:
        int64 positions, a multiple of ``batch_size`` long (empty if fewer than
        ``batch_size // instances`` identities exist).
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError("labels must be a 1-d array")
    if not isinstance(instances, int) or instances < 1 or batch_size % instances:
        raise ValueError(
            f"instances = {instances!r} must be a positive integer dividing batch_size = "
            f"{batch_size}"
        )
    p = batch_size // instances
    ids, inverse = np.unique(labels, return_inverse=True)
    if len(ids) < p:
        return np.zeros(0, dtype=np.int64)
    groups: list[np.ndarray] = []
    owner: list[int] = []
    for c in range(len(ids)):
        pos = np.flatnonzero(inverse == c)
        pos = pos[torch.randperm(len(pos), generator=gen).numpy()]
        if len(pos) < instances:
            extra = torch.randint(0, len(pos), (instances - len(pos),), generator=gen).numpy()
            pos = np.concatenate([pos, pos[extra]])
        for g in range(len(pos) // instances):
            groups.append(pos[g * instances : (g + 1) * instances])
            owner.append(c)
    shuffled = torch.randperm(len(groups), generator=gen).numpy()
    # Greedy packing: each batch takes the next groups whose identity it does not hold yet.
    pending = [int(i) for i in shuffled]
    batches: list[np.ndarray] = []
    while len(pending) >= p:
        taken: list[int] = []
        seen: set[int] = set()
        for j, gi in enumerate(pending):
            if owner[gi] not in seen:
                taken.append(j)
                seen.add(owner[gi])
                if len(taken) == p:
                    break
        if len(taken) < p:
            break
        batches.append(np.concatenate([groups[pending[j]] for j in taken]))
        for j in reversed(taken):
            pending.pop(j)
    if not batches:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate(batches).astype(np.int64)
