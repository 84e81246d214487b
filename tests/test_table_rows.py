"""studies/table.sh: every row's `-S key=value` overrides name a parameter of params.yaml and
give it a value the params check accepts (types, ranges, the checks across keys), so no row of a
study stops at its first stage. (DVC refuses an unknown key itself, before any stage runs.)"""

import copy
import re
from pathlib import Path

import pytest

from vreid.params import load, safe_load, validate

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "studies" / "table.sh"


def _rows() -> dict[str, list[str]]:
    """Row name -> its `-S` overrides, split as bash splits the script's unquoted
    ``${ROWS[$row]}`` (on whitespace, quotes kept), with ``$sup`` expanded."""
    text = TABLE.read_text()
    sup = re.search(r'^sup="([^"$`\\]*)"', text, re.M)
    assert sup, 'studies/table.sh: no sup="..." line (plain words only)'
    entries = re.findall(r"^\s+\[[\w-]+\]=", text, re.M)
    rows = {}
    for name, args in re.findall(r'^\s+\[([\w-]+)\]="([^"]*)"', text, re.M):
        assert not re.search(r"[`\\]|\$(?!sup\b)|\$\{", args), f"row {name}: only $sup is expanded"
        tokens = args.replace("$sup", sup.group(1)).split()
        assert all(t == "-S" for t in tokens[::2]), f"row {name}: expected -S key=value pairs"
        rows[name] = tokens[1::2]
    assert len(rows) == len(entries), 'a row of ROWS is not of the form [name]="-S key=value ..."'
    return rows


def _order() -> list[str]:
    m = re.search(r"^ORDER=\(([^)#]*)\)", TABLE.read_text(), re.M)
    assert m, "studies/table.sh: no one-line ORDER=(...) without comments"
    return m.group(1).split()


def _apply(params: dict, override: str) -> dict:
    key, _, value = override.partition("=")
    node = params
    *parents, leaf = key.split(".")
    for p in parents:
        assert p in node, f"{key}: no section {p} in params.yaml"
        node = node[p]
    assert leaf in node, f"{key}: no such parameter in params.yaml"
    node[leaf] = safe_load(value)  # the project's YAML reading (1e-3 is a number)
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
