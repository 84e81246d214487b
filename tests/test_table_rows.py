"""studies/table.sh: every row's `-S key=value` overrides name a parameter of params.yaml and
give it a value the params check accepts, so no row of a study fails after its first stages
ran (or, worse, sets a key that nothing reads)."""

import copy
import re
import shlex
from pathlib import Path

import pytest
import yaml

from vreid.params import load, validate

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "studies" / "table.sh"


def _rows() -> dict[str, list[str]]:
    """Row name -> its `-S` overrides, with ``$sup`` expanded as the script does."""
    text = TABLE.read_text()
    sup = re.search(r'^sup="([^"]*)"', text, re.M)
    assert sup, "studies/table.sh: no sup= line"
    rows = {}
    for name, args in re.findall(r'^\s+\[([\w-]+)\]="([^"]*)"', text, re.M):
        tokens = shlex.split(args.replace("$sup", sup.group(1)))
        assert all(t == "-S" for t in tokens[::2]), f"row {name}: expected -S key=value pairs"
        rows[name] = tokens[1::2]
    return rows


def _order() -> list[str]:
    m = re.search(r"^ORDER=\(([^)]*)\)", TABLE.read_text(), re.M)
    assert m, "studies/table.sh: no ORDER=(...) line"
    return m.group(1).split()


def _apply(params: dict, override: str) -> dict:
    key, _, value = override.partition("=")
    node = params
    *parents, leaf = key.split(".")
    for p in parents:
        assert p in node, f"{key}: no section {p} in params.yaml"
        node = node[p]
    assert leaf in node, f"{key}: no such parameter in params.yaml"
    node[leaf] = yaml.safe_load(value)
    return params


ROWS = _rows()


def test_the_table_has_its_rows():
    assert {"full", "sup", "vapc", "all-off", "vapc-no-2p", "vapc-all-off"} <= set(ROWS)
    assert set(_order()) <= set(ROWS)
    assert ROWS["full"] == []  # the default itself


@pytest.mark.parametrize("row", sorted(ROWS))
def test_each_rows_overrides_are_valid_params(row):
    params = copy.deepcopy(load(ROOT / "params.yaml"))
    for override in ROWS[row]:
        _apply(params, override)
    validate(params, f"studies/table.sh row {row}")


def test_the_vapc_ablations_are_vapc_alone_plus_the_full_pipelines_ablation():
    vapc = ROWS["vapc"]
    for ablation in ("no-2p", "no-kr", "no-ns", "all-off"):
        assert ROWS[f"vapc-{ablation}"] == vapc + ROWS[ablation]


def test_a_misspelt_key_is_caught():
    with pytest.raises(AssertionError, match="no such parameter"):
        _apply(copy.deepcopy(load(ROOT / "params.yaml")), "cluster.two_periods=false")
