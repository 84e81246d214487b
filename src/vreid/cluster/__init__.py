"""VAPC progressive clustering core (pure numpy / scipy / faiss / scikit-learn, no file I/O).

* :func:`knn_search`, :func:`range_search` -- exact faiss neighbour search;
* :func:`jaccard_distance`, :func:`dbscan_sparse` -- sparse k-reciprocal Jaccard distance
  (VAPC Eq. 8-9) and DBSCAN on it;
* :func:`tau_from_ti` -- the cross-view merge threshold (VAPC Eq. 7);
* :func:`noise_selection` -- noise selection inside one viewpoint (VAPC Eq. 10);
* :func:`cross_view_merge` -- second period (VAPC Eq. 5-7);
* :class:`ClusterConfig`, :func:`cluster_round` -- one round of Algorithm 1 (lines 8-17).
"""

from .jaccard import dbscan_sparse, jaccard_distance, k_reciprocal_sets
from .knn import check_features, check_knn, knn_search, pair_distances, range_search
from .merge import cross_view_merge, cross_view_merge_with_stats, relabel_consecutive
from .noise_selection import noise_selection, noise_selection_with_stats
from .progressive import ClusterConfig, cluster_round, first_period
from .tau import count_cross_view_pairs, tau_from_ti

__all__ = [
    "ClusterConfig",
    "check_features",
    "check_knn",
    "cluster_round",
    "count_cross_view_pairs",
    "cross_view_merge",
    "cross_view_merge_with_stats",
    "dbscan_sparse",
    "first_period",
    "jaccard_distance",
    "k_reciprocal_sets",
    "knn_search",
    "noise_selection",
    "noise_selection_with_stats",
    "pair_distances",
    "range_search",
    "relabel_consecutive",
    "tau_from_ti",
]
