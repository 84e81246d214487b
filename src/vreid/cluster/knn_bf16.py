"""Exact k nearest neighbours below the float32 GEMM's cost: bfloat16 candidates, float64
re-scoring, and a per-row certificate (``cluster.knn_precision: bf16``).

1. Candidates: the inner products of all pairs in bfloat16 (one GEMM per block of query rows;
   oneDNN runs it on AMX / AVX-512 BF16 units where the CPU has them, tensor cores on CUDA),
   and each row's ``m = k + margin`` largest.
2. Re-scoring: the candidates' inner products again in float64, from the float32 features.
3. Certificate: bfloat16 keeps 8 significant bits, so for unit rows every bfloat16 score is
   within ``delta(d)`` of the exact one (input rounding ``2u + u^2``, output rounding ``u``,
   ``u = 2^-8``; float32 accumulation ``d * 2^-24``). A row whose ``k``-th exact score beats
   its ``m``-th bfloat16 score by more than ``delta(d)`` has all of its true ``k`` nearest
   neighbours among the candidates: any other row scores at most ``m``-th + ``delta(d)``. Rows
   that fail are searched again exhaustively in float32 and re-scored in float64, so every
   row is exact.

The result has :func:`vreid.cluster.knn.knn_search`'s format (squared distances
``max(2 - 2 ip, 0)`` as float32, rows sorted by (distance, index), the query itself first);
the neighbours are the float64-exact ones, so they can differ from float32 faiss only where two
distances tie within float32 rounding.
"""

from __future__ import annotations

import numpy as np
import torch

from .knn import check_features, self_first

__all__ = ["delta", "knn_search_bf16"]

_U = 2.0**-8


def delta(dim: int) -> float:
    """Bound on ``|bf16 score - exact score|`` for unit rows of ``dim`` dimensions."""
    return 3 * _U + _U * _U + dim * 2.0**-24 + 1e-6


def _rescore(x64: torch.Tensor, rows: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
    """Float64 inner products of query rows ``rows`` (B,) with their candidates (B, m)."""
    out = torch.empty(cand.shape, dtype=torch.float64)
    for s in range(0, len(rows), 256):  # (256, m, d) float64 at most at once
        q = x64[rows[s : s + 256]].unsqueeze(2)  # (b, d, 1)
        out[s : s + 256] = torch.bmm(x64[cand[s : s + 256]], q).squeeze(2)
    return out


def _exact_top(out: torch.Tensor, cand: torch.Tensor, k: int):
    """The ``k`` best of the candidates ``cand`` (B, m) by their exact scores ``out``, ties to
    the smaller index: ``(scores (B, k), idx (B, k), kth (B,))``."""
    # order by (-score, index): sort by index first, then a stable sort by score
    by_idx = torch.argsort(cand, dim=1)
    cand, out = torch.gather(cand, 1, by_idx), torch.gather(out, 1, by_idx)
    order = torch.argsort(-out, dim=1, stable=True)[:, :k]
    top, idx = torch.gather(out, 1, order), torch.gather(cand, 1, order)
    return top, idx, top[:, -1]


def knn_search_bf16(
    x: np.ndarray, k: int, margin: int | None = None, block: int = 2048
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Exact self-search ``k`` nearest neighbours of the L2-normalised rows of ``x``.

    Returns ``(dist, idx, stats)``: as :func:`vreid.cluster.knn.knn_search` ``(x, k)``, and
    ``stats`` with ``rows_refined`` (rows whose certificate failed and were searched again
    exhaustively) and ``candidates`` (``m``). ``margin``: extra candidates per row (default
    ``max(k, 16)``)."""
    x = check_features(x, "x")
    n, d = x.shape
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= n:
        raise ValueError(f"k = {k!r} must be an integer between 1 and the number of rows ({n})")
    k = int(k)
    m = min(n, k + (max(k, 16) if margin is None else int(margin)))
    xt = torch.from_numpy(x)
    xb, x64 = xt.bfloat16(), xt.double()
    bound = delta(d)
    top_idx = torch.empty((n, k), dtype=torch.int64)
    top_ip = torch.empty((n, k), dtype=torch.float64)
    failed: list[torch.Tensor] = []
    for s in range(0, n, block):
        rows = torch.arange(s, min(n, s + block))
        approx, cand = torch.topk(xb[rows] @ xb.T, m, dim=1, sorted=True)
        exact = _rescore(x64, rows, cand)
        worst = float((approx.double() - exact).abs().max())
        if worst > bound:  # the bound assumes float32 accumulation inside the bf16 GEMM
            raise RuntimeError(
                f"bfloat16 scores are off by {worst:.3g} > the bound {bound:.3g}: this torch "
                "build does not accumulate bf16 GEMMs in float32; use knn_precision fp32"
            )
        top, idx, kth = _exact_top(exact, cand, k)
        top_ip[rows], top_idx[rows] = top, idx
        if m < n:
            failed.append(rows[kth <= approx[:, -1].double() + bound])
    redo = torch.cat(failed) if failed else torch.zeros(0, dtype=torch.int64)
    for s in range(0, len(redo), block):  # exhaustive float32 candidates, float64 re-scored
        rows = redo[s : s + block]
        scores = xt[rows] @ xt.T
        top32, cand = torch.topk(scores, m, dim=1, sorted=True)
        top, idx, kth = _exact_top(_rescore(x64, rows, cand), cand, k)
        # float32 scores are within d * 2^-24 of the exact ones: the same certificate, tighter;
        # rows still unsure (ties at float32 resolution) are scored in float64 against all
        unsure = kth <= top32[:, -1].double() + d * 2.0**-23
        if m < n and unsure.any():
            full = x64[rows[unsure]] @ x64.T
            order = torch.argsort(-full, dim=1, stable=True)[:, :k]
            top[unsure], idx[unsure] = torch.gather(full, 1, order), order
        top_ip[rows], top_idx[rows] = top, idx
    return _as_knn(top_ip.numpy(), top_idx.numpy()) + (
        {"rows_refined": int(len(redo)), "candidates": int(m)},
    )


def _as_knn(ip: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """knn_search's convention: float32 squared distances, sorted by (distance, index), the
    query itself first at distance 0."""
    return self_first(np.maximum(2.0 - 2.0 * ip, 0.0).astype(np.float32), idx)
