"""vreid.report: mean ± std over seeds per configuration, and bootstrap_ci.

The fixture tests/data/exp_show.json is real `dvc exp show --json` output (DVC 3.67) of a
toy repo: baseline `main` (train.seed=0, ti=1, cluster.eps=0.4), a queued grid
`-S train.seed=0,1,2 -S ti=1,2` run by `dvc queue start`, a failed queued run (ti=99), a
still-queued run, and `dvc exp run -S cluster.eps=0.5 -n eps-half` applied to the workspace.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import stat
import statistics
import subprocess
from pathlib import Path

import numpy as np
import pytest

from vreid import report
from vreid.stats import bootstrap_ci

FIXTURE = Path(__file__).parent / "data" / "exp_show.json"
HEADLINE = ["eval.val.mAP", "eval.val.rank1", "eval.test.mAP", "eval.test.rank1"]


@pytest.fixture
def states() -> list[dict]:
    return json.loads(FIXTURE.read_text())


def _exp(states: list[dict], name: str) -> dict:
    """The state of experiment ``name`` in the fixture (the tip of its range)."""
    for entry in states:
        for exp_range in entry.get("experiments") or []:
            if exp_range["name"] == name:
                return exp_range["revs"][0]
    raise KeyError(name)


def _eval(states: list[dict], name: str) -> dict:
    """The metrics/eval.json data of experiment ``name``."""
    return _exp(states, name)["data"]["metrics"]["metrics/eval.json"]["data"]


def _build(states: list[dict], **kwargs):
    return report.build_report(json.dumps(states), "fixture.json", **kwargs)


def _by_label(rows: list[dict]) -> dict[str, dict]:
    return {row["label"]: row for row in rows}


def _write(tmp_path: Path, states: list[dict], name: str = "exps.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(states))
    return path


# ---- aggregation -------------------------------------------------------------------------


def test_fixture_mean_std_match_hand_computation(states):
    rows, metrics, notes = _build(states)
    assert metrics == HEADLINE  # the headline metrics that exist, in headline order
    row = _by_label(rows)["ti=2"]
    # by hand: the three ti=2 runs, straight from the JSON
    runs = [_eval(states, n) for n in ("legal-joey", "fleet-quey", "unwet-sook")]
    for split, key in (("val", "mAP"), ("val", "rank1"), ("test", "mAP"), ("test", "rank1")):
        values = [r[split][key] for r in runs]
        assert row[f"eval.{split}.{key}_mean"] == pytest.approx(statistics.mean(values))
        assert row[f"eval.{split}.{key}_std"] == pytest.approx(statistics.stdev(values))
        assert row[f"eval.{split}.{key}_std"] == pytest.approx(np.std(values, ddof=1))
    assert row["n"] == 3 and row["seeds"] == [0, 1, 2]
    assert sorted(row["experiments"]) == ["fleet-quey", "legal-joey", "unwet-sook"]


def test_baseline_row_counted_and_duplicates_counted_once(states):
    rows, _, notes = _build(states)
    default = _by_label(rows)["default"]
    # main (seed 0) is a completed row; seely-kick re-ran seed 0 with identical results
    assert default["n"] == 3 and default["seeds"] == [0, 1, 2]
    assert "main" in default["experiments"] and "seely-kick" not in default["experiments"]
    mains = [_eval(states, n)["val"]["mAP"] for n in ("trade-genu", "whity-teds")]
    base = states[1]["data"]["metrics"]["metrics/eval.json"]["data"]["val"]["mAP"]
    assert default["eval.val.mAP_mean"] == pytest.approx(statistics.mean([base, *mains]))
    assert any("seely-kick" in n and "counted once" in n for n in notes)
    # the workspace holds the applied eps-half: counted once, under the experiment's name
    assert _by_label(rows)["cluster.eps=0.5"]["experiments"] == ["eps-half"]


def test_queued_and_failed_skipped_with_note(states):
    rows, _, notes = _build(states)
    every = [name for row in rows for name in row["experiments"]]
    # failing-exp carries the baseline's stale metrics: they must not be counted
    assert "failing-exp" not in every and "still-queued" not in every
    assert "skipped still-queued (queued)" in notes
    assert any(n.startswith("skipped failing-exp (failed") for n in notes)


def test_main_prints_notes_on_stderr_and_table_on_stdout(capsys):
    assert report.main(["--json", str(FIXTURE)]) == 0
    out, err = capsys.readouterr()
    assert "note: skipped still-queued (queued)" in err
    lines = out.splitlines()
    assert lines[0].startswith("| configuration | n | seeds | eval.val.mAP")
    assert "| default | 3 | 0,1,2 | 0.5110 ± 0.0100 |" in out
    assert len(lines) == 2 + 3


# ---- grouping and labels -----------------------------------------------------------------


def test_grouping_ignores_seed_key_but_separates_ti(states):
    groups = report.runs_from_states(states)
    runs, _ = report.completed_runs(report.select_runs(groups))
    configs = report.group_runs(runs, ["train.seed"])
    by_ti = {}
    for config in configs:
        assert "train.seed" not in config.params
        by_ti.setdefault((config.params["ti"], config.params["cluster.eps"]), config.seeds)
    assert by_ti == {(1, 0.4): [0, 1, 2], (2, 0.4): [0, 1, 2], (1, 0.5): [0]}
    # without the seed key, every seed is a configuration of its own
    assert len(report.group_runs(runs, ["no.such.key"])) == len(runs)


def test_several_seed_keys(states):
    rows, _, notes = _build(states, seed_keys=["train.seed", "ti"])
    labels = _by_label(rows)
    assert set(labels) == {"default", "cluster.eps=0.5"}
    assert labels["default"]["n"] == 6
    assert labels["default"]["seeds"][0] == [0, 1]


def _config(**params) -> report.Config:
    return report.Config(params=params, runs=[], seeds=[])


def test_label_lists_params_that_differ_from_baseline():
    base = {"train.seed": 0, "ti": 2400, "cluster.eps": 0.4, "model.arch": "resnet18"}
    configs = [
        _config(ti=1200, **{"cluster.eps": 0.4, "model.arch": "resnet18"}),
        _config(ti=600, **{"cluster.eps": 0.5, "model.arch": "resnet18"}),
        _config(ti=2400, **{"cluster.eps": 0.4, "model.arch": "resnet18"}),
        _config(ti=600, **{"cluster.eps": 0.4, "model.arch": "resnet18"}),
    ]
    out = report.label_configs(configs, base, ["train.seed"])
    assert [c.label for c in out] == ["default", "ti=600", "ti=600 cluster.eps=0.5", "ti=1200"]


def test_label_without_baseline_uses_params_that_differ_between_configs():
    configs = [_config(ti=600, flag=True, k=5), _config(ti=1200, flag=False, k=5)]
    labels = [c.label for c in report.label_configs(configs, None)]
    assert labels == ["ti=600 flag=true", "ti=1200 flag=false"]
    assert [c.label for c in report.label_configs([_config(ti=600)], None)] == ["default"]


def test_label_names_param_missing_from_a_config():
    base = {"ti": 1, "new": 3}
    out = report.label_configs([_config(ti=1)], base)
    assert out[0].label == "new=(absent)"


# ---- missing values ----------------------------------------------------------------------


def test_single_seed_shows_dash_for_std(states):
    rows, metrics, _ = _build(states)
    row = _by_label(rows)["cluster.eps=0.5"]
    assert row["n"] == 1 and row["eval.val.mAP_std"] is None
    table = report.format_markdown(rows, metrics)
    assert "| cluster.eps=0.5 | 1 | 0 | 0.5010 ± – |" in table
    assert report.format_cell(None, None) == "–"
    assert report.format_cell(0.12344, 0.00561) == "0.1234 ± 0.0056"


def test_missing_metric_cell_and_partial_metric(states):
    del _eval(states, "eps-half")["test"]
    del _eval(states, "fleet-quey")["val"]
    states[0]["data"]["metrics"] = {}  # a workspace without metrics is skipped
    rows, metrics, notes = _build(states)
    labels = _by_label(rows)
    assert labels["cluster.eps=0.5"]["eval.test.mAP_mean"] is None
    assert "| cluster.eps=0.5 | 1 | 0 | 0.5010 ± – | 0.6000 ± – | – | – |" in (
        report.format_markdown(rows, metrics)
    )
    vals = [_eval(states, n)["val"]["mAP"] for n in ("legal-joey", "unwet-sook")]
    assert labels["ti=2"]["eval.val.mAP_mean"] == pytest.approx(statistics.mean(vals))
    assert "ti=2: eval.val.mAP missing in 1 of 3 runs" in notes
    assert "skipped workspace (no metrics)" in notes


def test_unreadable_metrics_file_in_workspace_is_skipped(states):
    states[0]["data"]["metrics"] = {
        "metrics/eval.json": {"error": {"type": "FileNotFoundError", "msg": "[Errno 2] ..."}}
    }
    _, _, notes = _build(states)
    assert any(
        n.startswith("skipped workspace (metrics/eval.json: FileNotFoundError") for n in notes
    )


def test_metric_option_and_flattening():
    block = {
        "metrics/eval.json": {"data": {"test": {"mAP": 0.5}, "n": 3}},
        "metrics/cluster.json": {"data": {"final": {"ami": 0.6}}},
    }
    flat, errors = report.flatten_metrics(block)
    assert flat == {"eval.test.mAP": 0.5, "eval.n": 3, "cluster.final.ami": 0.6}
    assert errors == []
    params, _ = report.flatten_params(
        {"params.yaml": {"data": {"cluster": {"eps": 0.5}}}, "extra.yaml": {"data": {"a": 1}}}
    )
    assert params == {"cluster.eps": 0.5, "extra.yaml:a": 1}


def test_metric_option_overrides_headline(states):
    rows, metrics, notes = _build(states, metrics=["eval.test.mAP", "eval.nope"])
    assert metrics == ["eval.test.mAP", "eval.nope"]
    assert _by_label(rows)["default"]["eval.nope_mean"] is None
    assert "--metric eval.nope: in no completed experiment" in notes


# ---- files -------------------------------------------------------------------------------


def test_csv_and_json_written_and_parsed_back(tmp_path, capsys):
    prefix = tmp_path / "out" / "sweep"
    code = report.main(["--json", str(FIXTURE), "--out", str(prefix), "--metric", "eval.val.mAP"])
    assert code == 0
    with open(f"{prefix}.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert list(table[0]) == ["label", "n", "seeds", "eval.val.mAP_mean", "eval.val.mAP_std"]
    by_label = {r["label"]: r for r in table}
    assert by_label["ti=2"]["n"] == "3" and by_label["ti=2"]["seeds"] == "0,1,2"
    assert float(by_label["ti=2"]["eval.val.mAP_mean"]) == pytest.approx(0.512)
    assert float(by_label["ti=2"]["eval.val.mAP_std"]) == pytest.approx(0.01)
    assert by_label["cluster.eps=0.5"]["eval.val.mAP_std"] == ""
    rows = json.loads(Path(f"{prefix}.json").read_text())
    assert [r["label"] for r in rows] == [r["label"] for r in table]
    row = {r["label"]: r for r in rows}["ti=2"]
    assert row["seeds"] == [0, 1, 2] and row["eval.val.mAP_std"] == pytest.approx(0.01)
    assert row["params"] == {"ti": 2, "cluster.eps": 0.4}
    # written whole (no temp file left behind), with the usual file mode
    assert sorted(p.name for p in prefix.parent.iterdir()) == ["sweep.csv", "sweep.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(f"{prefix}.csv").st_mode) == 0o666 & ~umask
    assert "| ti=2 | 3 |" in capsys.readouterr().out


# ---- selection ---------------------------------------------------------------------------


def test_exp_filter_by_name_and_rev(states, capsys):
    rows, _, _ = _build(states, names=["trade-genu", "whity-teds"])
    assert [(r["label"], r["n"], r["seeds"]) for r in rows] == [("default", 2, [1, 2])]
    rev = _exp(states, "unwet-sook")["rev"]
    rows, _, _ = _build(states, names=["main", rev[:7], "eps-half"])
    assert {r["label"]: r["experiments"] for r in rows} == {
        "default": ["main"],
        "ti=2": ["unwet-sook"],
        "cluster.eps=0.5": ["eps-half"],
    }
    assert report.main(["--json", str(FIXTURE), "--exp", "legal-joey", "fleet-quey"]) == 0
    assert "| ti=2 | 2 | 0,1 |" in capsys.readouterr().out


def test_all_commits(states):
    older = copy.deepcopy(states[1])
    older["rev"], older["name"] = "1" * 40, None
    older["experiments"] = None
    older["data"]["params"]["params.yaml"]["data"]["ti"] = 7
    both = [*states, older]
    rows, _, _ = _build(both)
    assert "ti=7" not in _by_label(rows)
    rows, _, _ = _build(both, all_commits=True)
    assert _by_label(rows)["ti=7"]["experiments"] == ["1111111"]


def test_runs_dvc_when_no_json_given(monkeypatch, capsys):
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, stdout=FIXTURE.read_text(), stderr="")

    monkeypatch.setattr(report.subprocess, "run", fake_run)
    assert report.main([]) == 0
    assert report.main(["--all"]) == 0
    assert calls[0][-4:] == ["dvc", "exp", "show", "--json"]
    assert calls[1][-5:] == ["dvc", "exp", "show", "--json", "-A"]
    assert "| default | 3 |" in capsys.readouterr().out


def test_stdin(monkeypatch, capsys):
    import io

    monkeypatch.setattr(report.sys, "stdin", io.StringIO(FIXTURE.read_text()))
    assert report.main(["--json", "-"]) == 0
    assert "| ti=2 | 3 |" in capsys.readouterr().out


# ---- errors ------------------------------------------------------------------------------


def _error_line(capsys) -> str:
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_bad_json_exits_2_naming_the_file(tmp_path, capsys):
    bad = tmp_path / "broken.json"
    bad.write_text('[{"rev": "workspace",')
    assert report.main(["--json", str(bad)]) == 2
    line = _error_line(capsys)
    assert str(bad) in line and "not valid JSON" in line
    bad.write_text('{"rev": "x"}')
    assert report.main(["--json", str(bad)]) == 2
    assert str(bad) in _error_line(capsys)
    assert report.main(["--json", str(tmp_path / "missing.json")]) == 2
    assert "--json" in (line := _error_line(capsys)) and "missing.json" in line


def test_unknown_exp_exits_2(capsys):
    assert report.main(["--json", str(FIXTURE), "--exp", "main", "no-such-exp"]) == 2
    line = _error_line(capsys)
    assert "--exp 'no-such-exp'" in line and str(FIXTURE) in line


def test_no_completed_experiment_exits_2(capsys):
    assert report.main(["--json", str(FIXTURE), "--exp", "still-queued", "failing-exp"]) == 2
    out, err = capsys.readouterr()
    assert (
        err.strip().splitlines()[-1] == f"vreid.report: error: no completed experiment in {FIXTURE}"
    )


def test_dvc_failure_exits_2(monkeypatch, capsys):
    def fake_run(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 255, stdout="", stderr="ERROR: not a dvc repo\n")

    monkeypatch.setattr(report.subprocess, "run", fake_run)
    assert report.main([]) == 2
    assert "dvc exp show --json` failed (exit 255): ERROR: not a dvc repo" in _error_line(capsys)


# ---- bootstrap_ci ------------------------------------------------------------------------


def test_bootstrap_contains_mean_and_is_deterministic():
    values = np.random.default_rng(1).random(200)
    lo, hi = bootstrap_ci(values)
    assert lo < values.mean() < hi
    assert bootstrap_ci(values, seed=5) == bootstrap_ci(list(values), seed=5)
    assert bootstrap_ci(values, seed=5) != bootstrap_ci(values, seed=6)


def test_bootstrap_narrows_with_more_samples():
    rng = np.random.default_rng(2)
    hits_small = (rng.random(50) < 0.3).astype(float)  # 0/1 rank-1 hits
    hits_large = (rng.random(5000) < 0.3).astype(float)
    lo_s, hi_s = bootstrap_ci(hits_small)
    lo_l, hi_l = bootstrap_ci(hits_large)
    assert hi_l - lo_l < (hi_s - lo_s) / 4


def test_bootstrap_constant_input():
    assert bootstrap_ci([0.1] * 37) == (0.1, 0.1)
    assert bootstrap_ci([1.0]) == (1.0, 1.0)


def test_bootstrap_matches_brute_force_loop():
    rng = np.random.default_rng(3)
    values = rng.beta(2, 5, size=1000)  # like per-query AP
    loop_rng = np.random.default_rng(99)
    means = [values[loop_rng.integers(0, values.size, values.size)].mean() for _ in range(200)]
    lo_ref, hi_ref = np.percentile(means, [2.5, 97.5])
    lo, hi = bootstrap_ci(values, n_boot=1000, seed=0)
    assert abs(lo - lo_ref) < 0.02 and abs(hi - hi_ref) < 0.02


def test_bootstrap_chunks_bound_memory_and_stay_valid():
    values = np.random.default_rng(4).random(300)
    small = bootstrap_ci(values, n_boot=500, seed=1, max_chunk_elems=1000)  # 3 rows
    assert small == bootstrap_ci(values, n_boot=500, seed=1, max_chunk_elems=1000)
    assert small[0] < values.mean() < small[1]
    whole = bootstrap_ci(values, n_boot=500, seed=1)
    assert abs(small[0] - whole[0]) < 0.02 and abs(small[1] - whole[1]) < 0.02


def test_bootstrap_rejects_bad_input():
    with pytest.raises(ValueError, match="empty"):
        bootstrap_ci([])
    with pytest.raises(ValueError):
        bootstrap_ci([0.1, float("nan")])
    with pytest.raises(ValueError):
        bootstrap_ci([0.1, 0.2], alpha=1.5)


# ---- --rounds: per-seed trajectories from each run's plots/rounds.csv -----------------------

ROUNDS_HEADER = "round,ami,merge_precision,val_mAP\n"


def _rounds(*rows: str) -> list[dict]:
    return list(csv.DictReader((ROUNDS_HEADER + "\n".join(rows)).splitlines()))


def test_format_rounds_lists_each_seed_and_counts_the_rises():
    files = {
        "r0": _rounds("0,,,0.40", "2,0.7,0.3,0.44", "1,0.6,0.2,0.38"),  # unsorted rows
        "r1": _rounds("0,,,0.42", "1,0.65,,0.41", "2,0.62,,0.41"),
        "r2": _rounds("0,,,0.5"),  # round 0 only: no rounds, left out
    }
    rows = [
        {"label": "default", "seeds": [0, 1], "revs": ["r0", "r1"]},
        {"label": "cluster.method=ctacl", "seeds": [0], "revs": ["r2"]},
        {"label": "no file", "seeds": [3], "revs": ["missing"]},
    ]
    out = report.format_rounds(rows, read=files.get)
    lines = out.splitlines()
    assert lines[2] == "| default | 0 | 0.600 → 0.700 | 0.200 → 0.300 | 0.400 → 0.380 → 0.440 |"
    assert lines[3] == "| default | 1 | 0.650 → 0.620 | – → – | 0.420 → 0.410 → 0.410 |"
    assert "ctacl" not in out and "no file" not in out
    # seed 0: AMI 0.6 -> 0.7 up, mAP 0.40 -> 0.44 up; seed 1: both down
    assert lines[-1] == (
        "- default: AMI rises from round 1 to the last on 1 of 2 seeds; the last round's "
        "val mAP is above round 0's on 1 of 2"
    )
    assert report.format_rounds(rows[1:], read=files.get) == ""


def test_read_rounds_reads_a_committed_revision_and_the_workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q"], check=True)
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "rounds.csv").write_text(ROUNDS_HEADER + "0,,,0.4\n1,0.6,0.2,0.45\n")
    subprocess.run(["git", "add", "plots"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    rev = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    (tmp_path / "plots" / "rounds.csv").write_text(ROUNDS_HEADER + "0,,,0.5\n")
    assert [r["val_mAP"] for r in report.read_rounds(rev)] == ["0.4", "0.45"]
    assert [r["val_mAP"] for r in report.read_rounds("workspace")] == ["0.5"]
    assert report.read_rounds("0" * 40) is None
    assert report.read_rounds(rev, "plots/none.csv") is None


# ---- paired differences --------------------------------------------------------------------


def _seed_values(states: list[dict], names: list[str], metric=("val", "mAP")) -> dict[int, float]:
    """seed -> value of ``metric`` of the experiments ``names`` (the baseline commit: 'main'),
    read straight from the fixture, without the report's grouping."""
    out = {}
    for name in names:
        entry = states[1]["data"] if name == "main" else _exp(states, name)["data"]
        seed = entry["params"]["params.yaml"]["data"]["train"]["seed"]
        split, key = metric
        out[seed] = entry["metrics"]["metrics/eval.json"]["data"][split][key]
    return out


def test_paired_differences_match_a_seed_by_seed_loop(states):
    rows, metrics, _ = _build(states)
    report.add_paired(rows, "default", metrics)
    by = _by_label(rows)
    assert by["default"]["paired"] is None
    base = _seed_values(states, ["main", "trade-genu", "whity-teds"])
    mine = _seed_values(states, ["legal-joey", "fleet-quey", "unwet-sook"])
    diffs = [mine[s] - base[s] for s in (0, 1, 2)]
    got = by["ti=2"]["paired"]["eval.val.mAP"]
    assert got["n"] == 3 and got["higher"] == sum(d > 0 for d in diffs)
    assert got["mean"] == pytest.approx(statistics.mean(diffs))
    assert got["std"] == pytest.approx(statistics.stdev(diffs))
    # one seed in common (eps-half has seed 0 only): a difference without a spread
    half = by["cluster.eps=0.5"]["paired"]["eval.val.mAP"]
    one = _seed_values(states, ["eps-half"])[0] - base[0]
    assert (half["n"], half["std"]) == (1, None) and half["mean"] == pytest.approx(one)


def test_paired_pairs_by_seed_not_by_position(states):
    """A row whose seeds are 1, 2 is paired with the reference's seeds 1, 2, not 0, 1."""
    rows, metrics, _ = _build(
        states, names=["main", "trade-genu", "whity-teds", "fleet-quey", "unwet-sook"]
    )
    report.add_paired(rows, "default", metrics)
    got = _by_label(rows)["ti=2"]["paired"]["eval.test.mAP"]
    base = _seed_values(states, ["main", "trade-genu", "whity-teds"], ("test", "mAP"))
    mine = _seed_values(states, ["fleet-quey", "unwet-sook"], ("test", "mAP"))
    assert got["n"] == 2
    assert got["mean"] == pytest.approx(statistics.mean([mine[1] - base[1], mine[2] - base[2]]))


def test_paired_option_prints_table_and_writes_columns(tmp_path, capsys):
    prefix = tmp_path / "p"
    code = report.main(
        [
            "--json",
            str(FIXTURE),
            "--metric",
            "eval.val.mAP",
            "--paired",
            "default",
            "--out",
            str(prefix),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "Paired by seed against 'default'" in out
    line = next(x for x in out.splitlines() if x.startswith("| ti=2 |") and "higher" in x)
    assert "/3 higher)" in line
    with open(f"{prefix}.csv", newline="") as fh:
        table = {r["label"]: r for r in csv.DictReader(fh)}
    assert table["default"]["eval.val.mAP_paired_mean"] == ""
    assert table["ti=2"]["eval.val.mAP_paired_higher"].endswith("/3")
    rows = {r["label"]: r for r in json.loads(Path(f"{prefix}.json").read_text())}
    assert rows["ti=2"]["paired"]["eval.val.mAP"]["n"] == 3
    assert rows["ti=2"]["values"]["eval.val.mAP"][0] == pytest.approx(
        _seed_values(json.loads(FIXTURE.read_text()), ["legal-joey"])[0]
    )


def test_paired_with_an_unknown_label_names_the_labels(capsys):
    code = report.main(["--json", str(FIXTURE), "--paired", "nope"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--paired 'nope'" in err and "'default'" in err and "'ti=2'" in err


def test_paired_with_several_seed_keys_pairs_on_the_whole_seed(states):
    """With two seed keys a seed is a (train.seed, ti) pair; eps-half (seed 0, ti 1) pairs with
    the default's run of exactly that pair (the baseline commit 'main')."""
    rows, metrics, _ = _build(states, seed_keys=["train.seed", "ti"])
    report.add_paired(rows, "default", metrics)
    got = _by_label(rows)["cluster.eps=0.5"]["paired"]["eval.val.mAP"]
    want = _seed_values(states, ["eps-half"])[0] - _seed_values(states, ["main"])[0]
    assert got["n"] == 1 and got["mean"] == pytest.approx(want)
