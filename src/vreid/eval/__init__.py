"""Evaluation: retrieval metrics, test-time re-ranking and clustering diagnostics.

* :mod:`.retrieval` -- :func:`evaluate_retrieval` (CMC, mAP, mINP, VeRi protocol with
  same-camera removal, cross-view scores, block-wise distances) over one
  :class:`RetrievalSet` per side, and :func:`pairwise_distance`;
* :mod:`.rerank` -- :func:`reranking_kreciprocal`, k-reciprocal re-ranking of query x gallery
  on the sparse encoding of :mod:`vreid.cluster.jaccard`;
* :mod:`.cluster_quality` -- :func:`cluster_quality`, :func:`merge_precision`.

Pure functions over numpy arrays / torch tensors, no file I/O.
"""

from .cluster_quality import cluster_quality, merge_precision
from .rerank import RERANK_MAX_SAMPLES, reranking_kreciprocal
from .retrieval import RetrievalSet, evaluate_retrieval, pairwise_distance

__all__ = [
    "RERANK_MAX_SAMPLES",
    "RetrievalSet",
    "cluster_quality",
    "evaluate_retrieval",
    "merge_precision",
    "pairwise_distance",
    "reranking_kreciprocal",
]
