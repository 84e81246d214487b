"""params.yaml validation: every error names the key, the value and what is allowed."""

from __future__ import annotations

import copy
import re

import pytest
import yaml

from vreid import params as P


@pytest.fixture()
def good(repo_root):
    return yaml.safe_load((repo_root / "params.yaml").read_text())


def test_committed_params_are_valid(good):
    assert P.validate(copy.deepcopy(good))["ti"] == good["ti"]


@pytest.mark.parametrize("margin", [0, 0.3, 8, "soft"])
def test_triplet_margin_takes_a_number_or_soft(good, margin):
    ok = copy.deepcopy(good)
    ok["recognize"]["triplet_margin"] = margin
    assert P.validate(ok)["recognize"]["triplet_margin"] == margin


@pytest.mark.parametrize(
    "path, value, expect",
    [
        (("ti",), -1, r"ti = -1 .*integer >= 0"),
        (("ti",), True, r"ti = True"),
        (("gamma",), 1.5, r"gamma = 1.5 .*<= 1"),
        (("lambda",), "x", r"lambda = 'x'"),
        (("cluster", "eps"), 0, r"cluster.eps = 0 .*> 0"),
        (("recognize", "loss"), "triplet", r"recognize.loss = 'triplet'.*ctacl"),
        (("train", "device"), "gpu", r"train.device = 'gpu'.*cuda:N"),
        (("model", "arch"), "vgg", r"model.arch = 'vgg'"),
        (("pretrain", "cue_detail_weight"), -0.5, r"pretrain.cue_detail_weight = -0.5 .*>= 0"),
        (("recognize", "triplet_margin"), -1, r"recognize.triplet_margin = -1 .*>= 0.*'soft'"),
        (("recognize", "triplet_margin"), "hard", r"recognize.triplet_margin = 'hard' .*'soft'"),
        (("recognize", "triplet_margin"), float("nan"), r"recognize.triplet_margin = nan"),
        (("recognize", "supervised_lr"), 0, r"recognize.supervised_lr = 0 .*> 0"),
        (("evaluate", "feature"), "neck", r"evaluate.feature = 'neck'.*pooled.*embedding"),
    ],
)
def test_bad_values_are_named(good, path, value, expect):
    bad = copy.deepcopy(good)
    node = bad
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(P.ParamsError, match=expect):
        P.validate(bad)


NUMBERS = [
    ("lambda",),
    ("gamma",),
    ("recognize", "lr"),
    ("recognize", "supervised_lr"),
    ("recognize", "temperature"),
    ("recognize", "da_temperature"),
    ("recognize", "beta"),
    ("cluster", "eps"),
    ("cluster", "beta"),
    ("cluster", "tracklet_weight"),
    ("cluster", "cluster_weight"),
    ("cluster", "lr"),
    ("viewpoint", "lr"),
    ("pretrain", "lr"),
    ("pretrain", "cue_detail_weight"),
    ("augment", "flip"),
    ("data", "val_share"),
]


@pytest.mark.parametrize("text", [".nan", ".inf", "-.inf", ".NaN", ".Inf"])
@pytest.mark.parametrize("path", NUMBERS, ids=".".join)
def test_nan_and_infinities_are_rejected(good, tmp_path, path, text):
    """Written in params.yaml (as a user would), NaN and infinities never pass: `lambda: .nan`
    used to drop the DA term silently and `lr: .nan` to train NaN weights to the end."""
    doc = yaml.safe_dump(good, sort_keys=False)
    node = good
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = "__X__"
    f = tmp_path / "params.yaml"
    f.write_text(re.sub("'?__X__'?", text, yaml.safe_dump(good, sort_keys=False)))
    assert doc != f.read_text() and "__X__" not in f.read_text()
    with pytest.raises(P.ParamsError, match=rf"{'.'.join(path)} = .*finite"):
        P.load(f)


@pytest.mark.parametrize("text, value", [("1e-3", 1e-3), ("2E-1", 0.2), ("1.0e-3", 1e-3)])
def test_exponent_numbers_are_numbers(good, tmp_path, text, value):
    """`lambda: 1e-3` is a number (YAML 1.2, as DVC writes it), not the string '1e-3'."""
    good["lambda"] = "__X__"
    f = tmp_path / "params.yaml"
    f.write_text(re.sub("'?__X__'?", text, yaml.safe_dump(good, sort_keys=False)))
    assert P.load(f)["lambda"] == pytest.approx(value)


def test_jaccard_eps_must_be_below_one(good):
    bad = copy.deepcopy(good)
    bad["cluster"]["eps"] = 1.5
    with pytest.raises(P.ParamsError, match=r"cluster.eps = 1.5 .*k_reciprocal"):
        P.validate(bad)
    bad["cluster"]["k_reciprocal"] = False  # a Euclidean radius may exceed 1
    P.validate(bad)


@pytest.mark.parametrize(
    "change",
    [
        {"method": "vapc"},  # the rounds' only loss is the cluster memory's
        {"tracklet_weight": 0.0, "lambda": 0.0},  # combined, but nothing besides it
    ],
)
def test_rounds_without_any_loss_are_refused(good, change):
    """cluster.cluster_weight 0 (the rounds without their pseudo labels) needs another term to
    train; without one the error names the keys and what would do."""
    bad = copy.deepcopy(good)
    bad["cluster"]["cluster_weight"] = 0.0
    P.validate(copy.deepcopy(bad))  # combined with the CTACL term: a valid control
    change = dict(change)
    bad["lambda"] = change.pop("lambda", bad["lambda"])
    bad["cluster"].update(change)
    with pytest.raises(P.ParamsError, match=r"cluster.cluster_weight = 0 .*no loss to train"):
        P.validate(bad)
    bad["cluster"]["method"] = "ctacl"  # no rounds at all: nothing to refuse
    P.validate(bad)


@pytest.mark.parametrize("tracklet_weight, lam", [(0.0, 0.2), (4.0, 0.0)])
def test_rounds_without_pseudo_labels_train_either_other_term(good, tracklet_weight, lam):
    """Either the CTACL term or DA alone is enough for cluster.cluster_weight 0."""
    ok = copy.deepcopy(good)
    ok["cluster"].update(cluster_weight=0.0, method="combined", tracklet_weight=tracklet_weight)
    ok["lambda"] = lam
    assert P.validate(ok)["cluster"]["cluster_weight"] == 0.0


def test_missing_and_unknown_keys(good):
    bad = copy.deepcopy(good)
    del bad["cluster"]["k1"]
    with pytest.raises(P.ParamsError, match=r"missing key 'cluster.k1'"):
        P.validate(bad)
    bad = copy.deepcopy(good)
    bad["cluster"]["k3"] = 1
    with pytest.raises(P.ParamsError, match=r"unknown key\(s\) cluster.k3"):
        P.validate(bad)


def test_warmup_longer_than_training(good):
    bad = copy.deepcopy(good)
    bad["recognize"]["warmup_epochs"] = bad["recognize"]["epochs"] + 1
    with pytest.raises(P.ParamsError, match="warmup_epochs"):
        P.validate(bad)


def test_load_reports_file(tmp_path):
    with pytest.raises(P.ParamsError, match="file not found"):
        P.load(tmp_path / "nope.yaml")
    f = tmp_path / "p.yaml"
    f.write_text("ti: [1,\n")
    with pytest.raises(P.ParamsError, match="not valid YAML"):
        P.load(f)


def test_dataclass_defaults_match_params_yaml(good):
    """params.yaml is the one place the pipeline's defaults are set: a dataclass default that
    mirrors a param must equal it."""
    from dataclasses import fields

    from vreid.cluster import ClusterConfig

    c = good["cluster"]
    expected = {f.name: c.get(f.name, good.get(f.name)) for f in fields(ClusterConfig)}
    got = {f.name: f.default for f in fields(ClusterConfig)}
    assert got == expected
