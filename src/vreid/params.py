"""Load and validate ``params.yaml`` before any work starts.

Every error names the key, the value and what is allowed, e.g.
``params.yaml: cluster.eps = -1 is out of range; allowed: a number > 0``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .choices import (
    ARCHS,
    CLUSTER_METHODS,
    KNN_PRECISIONS,
    NOISE_MODES,
    OPTIMIZERS,
    RECOGNITION_LOSSES,
    RETRIEVAL_FEATURES,
    SCHEDULES,
)
from .data.readers import DATASET_NAMES
from .io import InputError
from .tracklets import TRACKLET_MODES


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 floats: ``1e-3`` is a number, not a string (YAML 1.1
    wants ``1.0e-3``; DVC, which writes ``-S lambda=1e-3``, reads 1.2)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def safe_load(text: str) -> Any:
    """YAML -> Python with the project's loader (``1e-3`` is a float)."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


class ParamsError(InputError):
    """A parameter in params.yaml is missing, of the wrong type or out of range."""


@dataclass(frozen=True)
class Rule:
    kind: type | tuple[type, ...]
    check: Callable[[Any], bool] | None = None
    allowed: str = ""


def _num(
    lo: float | None = None, hi: float | None = None, lo_open: bool = False, hi_open: bool = False
) -> Rule:
    def check(v: Any) -> bool:
        if not math.isfinite(v):  # NaN passes every comparison test; infinities are no value
            return False
        if lo is not None and (v <= lo if lo_open else v < lo):
            return False
        return hi is None or (v < hi if hi_open else v <= hi)

    lo_txt = "" if lo is None else (f"> {lo}" if lo_open else f">= {lo}")
    hi_txt = "" if hi is None else (f"< {hi}" if hi_open else f"<= {hi}")
    bounds = " and ".join(t for t in (lo_txt, hi_txt) if t)
    return Rule((int, float), check, "a finite number " + bounds if bounds else "a finite number")


def _int(lo: int | None = None, hi: int | None = None) -> Rule:
    def check(v: Any) -> bool:
        return (lo is None or v >= lo) and (hi is None or v <= hi)

    parts = [t for t in ((f">= {lo}" if lo is not None else ""), (f"<= {hi}" if hi else "")) if t]
    return Rule(int, check, "an integer " + " and ".join(parts))


def _choice(*options: str) -> Rule:
    return Rule(str, lambda v: v in options, "one of " + ", ".join(options))


BOOL = Rule(bool, None, "true or false")
STR = Rule(str, lambda v: bool(v), "a non-empty string")
OPTIMIZER = _choice(*OPTIMIZERS)
SCHEDULE = _choice(*SCHEDULES)


def _device(v: Any) -> bool:
    return v in ("auto", "cpu", "cuda") or (
        isinstance(v, str) and v.startswith("cuda:") and v[5:].isdigit()
    )


SCHEMA: dict[str, Any] = {
    "ti": _int(0),
    "k_tilde": _int(1),
    "k": _int(0),
    "gamma": _num(0, 1),
    "lambda": _num(0),
    "data": {
        "dataset": _choice(*DATASET_NAMES),
        "root": STR,
        "veriwild_test_size": _int(1),
        "vehicleid_test_size": _int(1),
        "vehicleid_seed": _int(0),
        # share of train identities held out as val_query/val_gallery (datasets without own val)
        "val_share": _num(0, 1, hi_open=True),
        "val_seed": _int(0),  # seed of the held-out identities and their query/gallery draw
    },
    "tracklets": {"mode": _choice(*TRACKLET_MODES), "frame_gap": _int(1)},
    "train": {
        "seed": _int(0),
        "device": Rule(str, _device, "auto, cpu, cuda or cuda:N"),
        "threads": _int(1),
        "workers": _int(0),
        "batch_size": _int(2),
        "cache_images": BOOL,
        "processes": _int(1),
        "amp": BOOL,
    },
    "model": {
        "arch": _choice(*ARCHS),
        "pretrained": STR,
        "last_stride": _int(1, 2),
        "channels": _int(4),
        "height": _int(16),
        "width": _int(16),
    },
    "augment": {
        "flip": _num(0, 1),
        "pad_crop": _int(0),
        "color_jitter": _num(0, 1),
        "random_erasing": _num(0, 1),
    },
    "pretrain": {
        "seed": _int(0),
        "epochs": _int(1),
        "optimizer": OPTIMIZER,
        "lr": _num(0, lo_open=True),
        "schedule": SCHEDULE,
        "cue_detail_weight": _num(0),
    },
    "viewpoint": {
        "height": _int(16),
        "width": _int(16),
        "labelled_share": _num(0, 1, lo_open=True),
        "epochs": _int(1),
        "optimizer": OPTIMIZER,
        "lr": _num(0, lo_open=True),
        "schedule": SCHEDULE,
        "corrupt_share": _num(0, 1),
        "corrupt_seed": _int(0),
        # a classifier trained elsewhere (VAPC's cross-dataset use): DVC tracks the models/ folder
        "borrow": Rule(
            str,
            lambda v: v == "" or (v.startswith("models/") and v.endswith(".pt")),
            "'' (train the classifier here) or the path of a .pt file inside models/",
        ),
    },
    "recognize": {
        "loss": _choice(*RECOGNITION_LOSSES),
        "label_smoothing": _num(0, 1, hi_open=True),
        "triplet_margin": Rule(
            (int, float, str),
            lambda v: v == "soft" if isinstance(v, str) else math.isfinite(v) and v >= 0,
            "a number >= 0 (0 = no triplet term) or 'soft'",
        ),
        "instances": _int(1),
        "supervised_lr": _num(0, lo_open=True),
        "supervised_weight_decay": _num(0),
        "epochs": _int(1),
        "warmup_epochs": _int(0),
        "memory_reset_every": _int(0),
        "temperature": _num(0, lo_open=True),
        "da_temperature": _num(0, lo_open=True),
        "beta": _num(0, lo_open=True),
        "optimizer": OPTIMIZER,
        "lr": _num(0, lo_open=True),
        "schedule": SCHEDULE,
    },
    "cluster": {
        "method": _choice(*CLUSTER_METHODS),
        "rounds": _int(0),
        "epochs_per_round": _int(1),
        "k1": _int(1),
        "k2": _int(1),
        "eps": _num(0, lo_open=True),
        "min_samples": _int(1),
        "two_period": BOOL,
        "k_reciprocal": BOOL,
        "noise_selection": BOOL,
        "noise_mode": _choice(*NOISE_MODES),
        "per_view_sample": _int(0),
        "knn_precision": _choice(*KNN_PRECISIONS),
        "beta": _num(0, lo_open=True),
        "tracklet_weight": _num(0),
        "cluster_weight": _num(0),
        "optimizer": OPTIMIZER,
        "lr": _num(0, lo_open=True),
        "schedule": SCHEDULE,
    },
    "evaluate": {
        "remove_same_camera": BOOL,
        "rerank": BOOL,
        "feature": _choice(*RETRIEVAL_FEATURES),
        "max_rank": _int(1),
        "block_size": _int(1),
    },
}


def _check(tree: dict[str, Any], schema: dict[str, Any], prefix: str, source: str) -> None:
    for key, rule in schema.items():
        name = f"{prefix}{key}"
        if key not in tree:
            raise ParamsError(f"{source}: missing key '{name}'; add it (see README 'Parameters')")
        value = tree[key]
        if isinstance(rule, dict):
            if not isinstance(value, dict):
                raise ParamsError(f"{source}: '{name}' must be a section (a mapping of keys)")
            _check(value, rule, name + ".", source)
            continue
        # bool is a subclass of int in Python: accept it only where a bool is wanted
        kind_ok = isinstance(value, rule.kind) and (
            rule.kind is bool or not isinstance(value, bool)
        )
        if not kind_ok or (rule.check is not None and not rule.check(value)):
            raise ParamsError(
                f"{source}: {name} = {value!r} is not allowed; allowed: {rule.allowed}"
            )
    unknown = sorted(set(tree) - set(schema))
    if unknown:
        names = ", ".join(prefix + u for u in unknown)
        raise ParamsError(f"{source}: unknown key(s) {names}; remove or rename them")


def validate(params: dict[str, Any], source: str = "params.yaml") -> dict[str, Any]:
    """Check ``params`` against :data:`SCHEMA`; return it, or raise :class:`ParamsError`."""
    if not isinstance(params, dict):
        raise ParamsError(f"{source}: expected a mapping of parameters at the top level")
    _check(params, SCHEMA, "", source)
    if params["recognize"]["warmup_epochs"] > params["recognize"]["epochs"]:
        raise ParamsError(
            f"{source}: recognize.warmup_epochs = {params['recognize']['warmup_epochs']} exceeds "
            f"recognize.epochs = {params['recognize']['epochs']}; allowed: <= epochs"
        )
    bs, k = params["train"]["batch_size"], params["recognize"]["instances"]
    if params["recognize"]["loss"] == "supervised" and (bs % k or bs // k < 2):
        raise ParamsError(
            f"{source}: recognize.instances = {k} must divide train.batch_size = {bs} into at "
            "least 2 identities per batch (the supervised recipe's P x K batches)"
        )
    c = params["cluster"]
    trains = c["method"] == "combined" and (c["tracklet_weight"] > 0 or params["lambda"] > 0)
    if c["cluster_weight"] == 0 and c["method"] != "ctacl" and not trains:
        raise ParamsError(
            f"{source}: cluster.cluster_weight = 0 with cluster.method = {c['method']}, "
            f"cluster.tracklet_weight = {c['tracklet_weight']}, lambda = {params['lambda']}: "
            "the rounds would have no loss to train; allowed: cluster_weight > 0, or method "
            "combined with tracklet_weight > 0 or lambda > 0"
        )
    if c["k_reciprocal"] and c["eps"] >= 1:
        raise ParamsError(
            f"{source}: cluster.eps = {c['eps']} with cluster.k_reciprocal = true; allowed: a "
            "number < 1 (every Jaccard distance is <= 1, so DBSCAN would join everything)"
        )
    return params


def load(path: str | Path = "params.yaml") -> dict[str, Any]:
    """Read and validate a params file."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: file not found; run from the repository root")
    try:
        params = safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from exc
    return validate(params, str(path))
