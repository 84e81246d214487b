"""The benchmark table (``make bench``): its children agree with the references, and the README
block is replaced and nothing else. No timing is asserted."""

from __future__ import annotations

import json

import numpy as np
import pytest
from benchmarks import table


def test_tau_case_runs_in_children_and_matches_the_brute_force_reference(tmp_path):
    case = dict(n=300, dim=16, views=3, ti=40, ref=True)
    rows = table.measure_case("tau", case, str(tmp_path), {})
    assert len(rows) == 1
    row = rows[0]
    assert row["same"] is True  # tau from faiss lists == every cross-view pair, to 1e-6
    assert set(row["floors"]) == {"fp32", "bf16"}
    assert row["ours_s"] > 0 and row["ref_s"] > 0
    md = table.markdown({"command": "x", "seconds": 1.0, "machine": table.machine(), "rows": rows})
    assert "| tau from ti = 40 | N = 300, 16-d, 3 views |" in md
    assert "yes |" in md


def test_same_uses_each_kind_of_tolerance():
    a = np.array([1.0, 2.0])
    assert table._same("tau", a, a + 5e-7)
    assert not table._same("tau", a, a + 2e-6)
    assert table._same("dist", a, a + 5e-6)
    assert not table._same("labels", np.array([0, 1]), np.array([0, 2]))
    assert not table._same("metrics", a, np.array([1.0]))  # shapes differ


def test_splice_replaces_only_the_block_and_refuses_a_readme_without_one():
    readme = f"intro\n{table.START}\nold table\n{table.END}\nrest\n"
    out = table.splice(readme, "new table\n")
    assert out == f"intro\n{table.START}\nnew table\n{table.END}\nrest\n"
    assert table.splice(out, "new table\n") == out  # idempotent
    with pytest.raises(ValueError, match="bench:start"):
        table.splice("no markers here", "x")
    with pytest.raises(ValueError, match="bench:start"):
        table.splice(f"{table.END}{table.START}", "x")


def test_from_json_prints_and_flags_a_mismatch(tmp_path, capsys):
    row = {
        "kernel": "k",
        "size": "s",
        "ours_s": 1.0,
        "ours_mib": 3.0,
        "floors": {"fp32": 0.5},
        "ref_s": 2.0,
        "ref_mib": 9.0,
        "same": False,
    }
    machine = {
        "cpu": "c",
        "isa": [],
        "cores": 2,
        "torch_threads": 2,
        "versions": {"numpy": "1", "torch": "2", "faiss": "3"},
        "date": "d",
    }
    src = tmp_path / "r.json"
    src.write_text(json.dumps({"command": "c", "seconds": 60, "machine": machine, "rows": [row]}))
    with pytest.raises(SystemExit, match="differs from its reference"):
        table.main(["--from", str(src)])
    assert "fp32 GEMM 0.50 s (2.00×)" in capsys.readouterr().out


def test_only_selects_cases_by_every_text():
    got = table.select(table.FULL, ["jaccard", "37778"])
    assert [c["dim"] for _, c in got] == [2048, 512]
    assert table.select(table.FULL, None) == table.FULL
    assert [k for k, _ in table.select(table.FULL, ["VeRi-Wild test 10000"])] == ["eval"]
    with pytest.raises(SystemExit, match="no case"):
        table.select(table.FULL, ["nothing like this"])
    with pytest.raises(SystemExit):
        table.main(["--only", "jaccard", "--readme", "README.md"])
