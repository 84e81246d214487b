"""studies/rescore_experiments.py (finding a finished experiment's model, refusing a wrong one)
and studies/p61_summary.py (its spreads, paired differences and correlations) against
hand-built experiments and brute-force loops."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "studies"))

import p61_summary  # noqa: E402
import rescore_experiments as rx  # noqa: E402


def _git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env |= {"GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def _experiment(repo: Path, name: str, md5: str, test_map: float) -> None:
    """A commit holding an experiment's dvc.lock and eval.json, under refs/exps like DVC's."""
    lock = {"stages": {"cluster": {"outs": [{"path": rx.MODEL, "md5": md5}]}}}
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock))
    (repo / "metrics").mkdir(exist_ok=True)
    ev = {w: {"mAP": test_map if w == "test" else 0.5, "rank1": 0.6} for w in ("val", "test")}
    (repo / "metrics" / "eval.json").write_text(json.dumps(ev))
    _git(repo, "add", "dvc.lock", "metrics/eval.json")
    _git(repo, "commit", "-q", "-m", name)
    _git(repo, "update-ref", f"refs/exps/ab/{'c' * 40}/{name}", "HEAD")


@pytest.fixture
def repo(tmp_path, monkeypatch):
    _git(tmp_path, "init", "-q")
    cache = tmp_path / "cache"
    md5 = "0123456789abcdef0123456789abcdef"
    (cache / "files" / "md5" / md5[:2]).mkdir(parents=True)
    (cache / "files" / "md5" / md5[:2] / md5[2:]).write_bytes(b"model")
    _experiment(tmp_path, "exp-a", md5, 0.6)
    _experiment(tmp_path, "exp-b", "f" * 32, 0.4)  # its model is not in the cache
    _git(tmp_path, "update-ref", f"refs/exps/ab/{'c' * 40}/EXEC_HEAD", "HEAD")
    monkeypatch.chdir(tmp_path)
    return tmp_path, cache, md5


def test_the_model_is_found_in_the_experiments_lock_and_the_cache(repo):
    root, cache, md5 = repo
    refs = rx.experiment_refs()
    assert sorted(refs) == ["exp-a", "exp-b"]  # EXEC_HEAD is not an experiment
    assert rx.model_file(refs["exp-a"], cache) == cache / "files" / "md5" / md5[:2] / md5[2:]
    with pytest.raises(SystemExit, match=r"exp-b.*not in the DVC cache"):
        rx.model_file(refs["exp-b"], cache)


def _run_main(monkeypatch, repo, test_map, names, out):
    root, cache, _ = repo
    monkeypatch.setattr(rx, "cache_dir", lambda: cache)
    monkeypatch.setattr(rx, "load", lambda path: {})
    monkeypatch.setattr(rx, "read_manifest", lambda: None)
    scored = {w: {"mAP": m, "rank1": 0.7} for w, m in (("val", 0.3), ("test", test_map))}
    monkeypatch.setattr(rx, "direct_transfer", lambda *a, **k: scored)
    monkeypatch.setattr(sys, "argv", ["rescore", *names, "--out", str(out)])
    rx.main()


def test_a_rescored_experiment_keeps_its_recorded_and_new_numbers(monkeypatch, repo, tmp_path):
    out = tmp_path / "r.json"
    _run_main(monkeypatch, repo, 0.6, ["exp-a"], out)
    r = json.loads(out.read_text())["exp-a"]
    assert r["recorded"]["val"]["mAP"] == 0.5 and r["rescored"]["val"]["mAP"] == 0.3
    assert r["rescored"]["test"]["mAP"] == r["recorded"]["test"]["mAP"] == 0.6


def test_a_model_whose_test_map_differs_from_the_recorded_one_is_refused(monkeypatch, repo):
    out = repo[0] / "r.json"
    with pytest.raises(SystemExit, match=r"exp-a: test mAP 0.6100 here, 0.6000 recorded"):
        _run_main(monkeypatch, repo, 0.61, ["exp-a"], out)
    assert not out.exists()  # nothing half-written
    with pytest.raises(SystemExit, match="no experiment named nope"):
        _run_main(monkeypatch, repo, 0.6, ["exp-a", "nope"], out)


def _p60_runs(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    runs = {}
    for e in (28, 32):
        for p in (0, 1, 2):
            for s in (0, 1, 2):
                for row in ("sup", "full"):
                    runs[f"p60e{e}ps{p}-s{s}-{row}"] = {
                        w: {sp: {"mAP": float(rng.uniform(0.3, 0.7))} for sp in ("val", "test")}
                        for w in ("recorded", "rescored")
                    }
    return runs


def test_p61_summary_matches_loops():
    runs = _p60_runs()
    s = p61_summary.summary(runs, "sup", "rescored")

    def m(e, p, t, split):
        return runs[f"p60e{e}ps{p}-s{t}-sup"]["rescored"][split]["mAP"]

    spreads = []
    for e in (28, 32):
        for p in range(3):
            xs = [m(e, p, t, "val") for t in range(3)]
            mean = sum(xs) / 3
            spreads.append((sum((x - mean) ** 2 for x in xs) / 2) ** 0.5)
    assert s["seed_spread_mean"] == pytest.approx(sum(spreads) / 6)
    d0 = [m(32, p, 0, "val") - m(28, p, 0, "val") for p in range(3)]
    mean0 = sum(d0) / 3
    assert s["paired_by_encoder_s0"][0] == pytest.approx(mean0)
    assert s["paired_by_encoder_s0"][1] == pytest.approx(
        (sum((x - mean0) ** 2 for x in d0) / 2) ** 0.5
    )
    d9 = [m(32, p, t, "val") - m(28, p, t, "val") for p in range(3) for t in range(3)]
    assert s["paired_9"][0] == pytest.approx(sum(d9) / 9)
    assert s["paired_9_higher"] == sum(x > 0 for x in d9)
    val = [m(e, p, t, "val") for e in (28, 32) for p in range(3) for t in range(3)]
    test = [m(e, p, t, "test") for e in (28, 32) for p in range(3) for t in range(3)]
    mv, mt = sum(val) / 18, sum(test) / 18
    cov = sum((a - mv) * (b - mt) for a, b in zip(val, test, strict=True))
    var = (sum((a - mv) ** 2 for a in val) * sum((b - mt) ** 2 for b in test)) ** 0.5
    assert s["corr_levels"] == pytest.approx(cov / var)
