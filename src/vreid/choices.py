"""The values each categorical parameter of ``params.yaml`` accepts.

Kept apart from the modules that implement them (which import torch, torchvision, scipy or
scikit-learn) so that :mod:`vreid.params` — and with it every stage's start, the data stages
and the command line — loads in a fraction of a second."""

from __future__ import annotations

#: ``model.arch``: the torchvision ResNets :class:`vreid.learn.backbone.ReidNet` builds.
ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101")
#: ``<stage>.optimizer`` and ``<stage>.schedule`` of every learning stage.
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("cosine", "step", "constant")
#: ``recognize.loss``.
RECOGNITION_LOSSES = ("ctacl", "ctacl_noda", "vapc", "sscl", "supervised")
#: ``cluster.method``: the rounds' objective with the CTACL terms (combined), without them
#: (vapc), or no rounds at all (ctacl: the recognition model is final).
CLUSTER_METHODS = ("combined", "vapc", "ctacl")
#: ``cluster.noise_mode`` and ``cluster.knn_precision``.
NOISE_MODES = ("singleton", "drop")
KNN_PRECISIONS = ("fp32", "bf16")
#: ``evaluate.feature``: what retrieval ranks by (:meth:`vreid.learn.backbone.ReidNet.features`):
#: the pooled feature before the BN neck, or the BN-neck embedding the losses train.
RETRIEVAL_FEATURES = ("pooled", "embedding")
