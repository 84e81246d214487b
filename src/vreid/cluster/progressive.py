"""One round of VAPC progressive clustering (Algorithm 1, lines 8-17), with Table II ablations."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..checks import require_int
from ..choices import KNN_PRECISIONS, NOISE_MODES
from .jaccard import dbscan_sparse, jaccard_distance
from .knn import check_features, knn_search, range_search
from .knn_bf16 import knn_search_bf16
from .merge import cross_view_merge_with_stats, relabel_consecutive
from .noise_selection import noise_selection_with_stats
from .tau import _check_views

__all__ = ["ClusterConfig", "cluster_round", "first_period"]


def _int_at_least(value: Any, lo: int, name: str) -> None:
    require_int(f"ClusterConfig.{name}", value, lo)


@dataclass
class ClusterConfig:
    """Parameters of one clustering round (VAPC Sec. III-C; Table II ablation switches).

    Attributes:
        k1: k-reciprocal neighbourhood of the Jaccard distance (paper: 20 on VeRi-776, ~65
            images per identity; 6 on the default synthetic set, ~13 per identity).
        k2: local query expansion of the Jaccard distance (usual re-ranking value: 6).
        eps: DBSCAN radius; Jaccard units (``0 < eps < 1``) when ``k_reciprocal``, else
            Euclidean distance between L2-normalised features.
        min_samples: DBSCAN core-point threshold, the point itself included.
        k_tilde: ``k~`` of noise selection (paper: 2).
        two_period: cluster each predicted viewpoint apart, then merge across views below
            tau (False: one clustering of all samples, no second period).
        k_reciprocal: Jaccard distance of the k-reciprocal encoding (False: plain Euclidean).
        noise_selection: VAPC noise selection (False: noise handled by ``noise_mode``).
        noise_mode: without noise selection, ``"singleton"`` (each noise sample its own
            cluster) or ``"drop"`` (noise keeps label -1 and is ignored by training).
        knn_precision: ``"fp32"`` (faiss float32 GEMM) or ``"bf16"`` (bfloat16 candidates,
            float64 re-scoring, certified exact: :mod:`vreid.cluster.knn_bf16`).
    """

    k1: int = 6
    k2: int = 6
    eps: float = 0.3
    min_samples: int = 4
    k_tilde: int = 2
    two_period: bool = True
    k_reciprocal: bool = True
    noise_selection: bool = True
    noise_mode: str = "singleton"
    knn_precision: str = "fp32"

    def __post_init__(self) -> None:
        _int_at_least(self.k1, 1, "k1")
        _int_at_least(self.k2, 1, "k2")
        _int_at_least(self.min_samples, 1, "min_samples")
        _int_at_least(self.k_tilde, 1, "k_tilde")
        if isinstance(self.eps, bool) or not isinstance(self.eps, int | float | np.floating):
            raise ValueError(f"ClusterConfig.eps must be a number; got {self.eps!r}")
        if not (np.isfinite(self.eps) and self.eps > 0):
            raise ValueError(f"ClusterConfig.eps must be a finite number > 0; got {self.eps}")
        if self.k_reciprocal and self.eps >= 1:
            raise ValueError(
                f"ClusterConfig.eps = {self.eps} must be < 1 with the Jaccard distance "
                "(k_reciprocal = True): every pair is within distance 1"
            )
        for name in ("two_period", "k_reciprocal", "noise_selection"):
            if not isinstance(getattr(self, name), bool | np.bool_):
                raise ValueError(
                    f"ClusterConfig.{name} must be true or false; got {getattr(self, name)!r}"
                )
        if self.noise_mode not in NOISE_MODES:
            raise ValueError(
                f"ClusterConfig.noise_mode must be one of {NOISE_MODES}; got {self.noise_mode!r}"
            )
        if self.knn_precision not in KNN_PRECISIONS:
            raise ValueError(
                f"ClusterConfig.knn_precision must be one of {KNN_PRECISIONS}; "
                f"got {self.knn_precision!r}"
            )
        # plain Python types, so that asdict(cfg) is JSON-ready
        for name in ("k1", "k2", "min_samples", "k_tilde"):
            setattr(self, name, int(getattr(self, name)))
        self.eps = float(self.eps)
        for name in ("two_period", "k_reciprocal", "noise_selection"):
            setattr(self, name, bool(getattr(self, name)))


def _dbscan(x: np.ndarray, cfg: ClusterConfig, knn) -> np.ndarray:
    """DBSCAN labels of one sample set: Jaccard (VAPC Eq. 9) or plain Euclidean radius graph."""
    n = x.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if cfg.k_reciprocal:
        dist = jaccard_distance(x, k1=cfg.k1, k2=cfg.k2, max_dist=cfg.eps, knn=knn)
    else:
        lims, d, idx = range_search(x, cfg.eps, inclusive=True)
        dist = sp.csr_matrix((d, idx, lims), shape=(n, n))
    return dbscan_sparse(dist, cfg.eps, cfg.min_samples)


def first_period(features: np.ndarray, cfg: ClusterConfig) -> tuple[np.ndarray, dict[str, int]]:
    """Cluster one sample set (one viewpoint, or everything without two periods).

    DBSCAN on the Jaccard (VAPC Eq. 8-9) or Euclidean distance, then noise selection
    (Eq. 10) or the ``noise_mode`` fallback.

    Args:
        features: ``(n, d)`` float32, rows L2-normalised.
        cfg: the round's configuration.

    Returns:
        ``(labels, stats)``: ``(n,)`` int64 labels ``0..c-1`` (``-1`` only with
        ``noise_mode = "drop"`` and no noise selection) and plain-int stats ``n_samples``,
        ``n_clusters_dbscan``, ``n_noise``, ``n_p1``, ``n_p2``, ``n_p2_samples``,
        ``n_hard_negative``, ``n_clusters``.
    """
    x = check_features(features)
    n = x.shape[0]
    # one exact k-NN search serves both the Jaccard distance and noise selection
    k = 0
    if cfg.k_reciprocal:
        k = max(min(cfg.k1, n - 1) + 1, min(cfg.k2, n))
    if cfg.noise_selection:
        k = max(k, min(cfg.k_tilde, n - 1) + 1)
    knn = None
    if n > 0 and k > 0:
        knn = knn_search(x, k) if cfg.knn_precision == "fp32" else knn_search_bf16(x, k)[:2]
    labels = _dbscan(x, cfg, knn)
    noise = labels == -1
    stats = {
        "n_samples": int(x.shape[0]),
        "n_clusters_dbscan": int(labels.max()) + 1 if (~noise).any() else 0,
        "n_noise": int(noise.sum()),
        "n_p1": 0,
        "n_p2": 0,
        "n_p2_samples": 0,
        "n_hard_negative": 0,
    }
    if cfg.noise_selection:
        labels, ns = noise_selection_with_stats(x, labels, cfg.k_tilde, knn=knn)
        for key in ("n_p1", "n_p2", "n_p2_samples", "n_hard_negative"):
            stats[key] = int(ns[key])
    elif cfg.noise_mode == "singleton" and noise.any():
        labels = labels.copy()
        labels[noise] = stats["n_clusters_dbscan"] + np.arange(int(noise.sum()))
    labels = relabel_consecutive(labels)
    stats["n_clusters"] = int(labels.max()) + 1 if (labels >= 0).any() else 0
    return labels, stats


def cluster_round(
    features: np.ndarray, views: np.ndarray, tau: float, cfg: ClusterConfig | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """VAPC Algorithm 1, lines 8-17: first period per viewpoint, noise selection, merge.

    With ``cfg.two_period``: every predicted viewpoint is clustered on its own
    (:func:`first_period`; labels offset to be unique across views), then clusters of
    different viewpoints closer than ``tau`` are merged (:func:`cross_view_merge_with_stats`;
    ``tau <= 0``: no merge). Without it: one :func:`first_period` over all samples and no
    second period (``tau`` and ``views`` are then only validated).

    Args:
        features: ``(N, d)`` float32, rows L2-normalised.
        views: ``(N,)`` int predicted viewpoint of every sample.
        tau: cross-view merge threshold (Euclidean distance; from :func:`tau_from_ti`).
        cfg: configuration (default :class:`ClusterConfig()`).

    Returns:
        ``(labels, stats)``: ``(N,)`` int64 pseudo labels ``0..C-1`` (``-1`` = dropped
        noise), and stats of plain ints: ``n_samples``, ``n_clusters``,
        ``n_clusters_first_period``, ``n_noise_before_selection``, ``n_noise_after``,
        ``n_p1``, ``n_p2``, ``n_p2_samples``, ``n_hard_negative``, ``n_merges``,
        ``n_cluster_pairs_below_tau``, ``per_view`` (view id as str -> the per-view
        :func:`first_period` stats), ``config`` (the configuration as a dict), plus
        ``labels_before_merge``: the ``(N,)`` int64 first-period labels, the one entry that is
        an array (pop it before writing the stats as JSON).
    """
    cfg = ClusterConfig() if cfg is None else cfg
    if not isinstance(cfg, ClusterConfig):
        raise ValueError(f"cfg must be a ClusterConfig; got {type(cfg).__name__}")
    x = check_features(features)
    n = x.shape[0]
    v = _check_views(views, n)
    if (
        isinstance(tau, bool)
        or not isinstance(tau, int | float | np.floating)
        or not np.isfinite(tau)
    ):
        raise ValueError(f"tau must be a finite number; got {tau!r}")
    tau = float(tau)

    per_view: dict[str, dict[str, int]] = {}
    if cfg.two_period:
        labels = np.full(n, -1, dtype=np.int64)
        offset = 0
        for u in np.unique(v).tolist():
            idx = np.flatnonzero(v == u)
            lab, st = first_period(x[idx], cfg)
            labels[idx] = np.where(lab >= 0, lab + offset, -1)
            offset += st["n_clusters"]
            per_view[str(u)] = st
        before = labels.copy()
        labels, ms = cross_view_merge_with_stats(x, labels, v, tau)
        n_merges, n_pairs = ms["n_merges"], ms["n_cluster_pairs_below_tau"]
    else:
        labels, st = first_period(x, cfg)
        per_view["all"] = st
        before = labels.copy()
        n_merges = n_pairs = 0

    def total(key: str) -> int:
        return int(sum(s[key] for s in per_view.values()))

    stats: dict[str, Any] = {
        "n_samples": int(n),
        "n_clusters": int(labels.max()) + 1 if (labels >= 0).any() else 0,
        "n_clusters_first_period": total("n_clusters"),
        "n_noise_before_selection": total("n_noise"),
        "n_noise_after": int((labels == -1).sum()),
        "n_p1": total("n_p1"),
        "n_p2": total("n_p2"),
        "n_p2_samples": total("n_p2_samples"),
        "n_hard_negative": total("n_hard_negative"),
        "n_merges": int(n_merges),
        "n_cluster_pairs_below_tau": int(n_pairs),
        "per_view": per_view,
        "config": asdict(cfg),
        "labels_before_merge": before,
    }
    return labels, stats
