"""studies/rescore_experiments.py (finding a finished experiment's model, refusing a wrong one),
studies/merge_probe.py (an experiment's inputs from its dvc.lock; the first round on separable
features) and studies/p61_summary.py (its spreads, paired differences and correlations) against
hand-built experiments and brute-force loops."""

import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from vreid.params import load

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "studies"))

import merge_probe as mp  # noqa: E402
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
    with pytest.raises(SystemExit, match="no experiment named nope"):
        _run_main(monkeypatch, repo, 0.6, ["exp-a", "nope"], out)
    # exp-a scores fine, exp-b's model is missing: nothing is written, not even exp-a's part
    with pytest.raises(SystemExit, match="exp-b.*not in the DVC cache"):
        _run_main(monkeypatch, repo, 0.6, ["exp-a", "exp-b"], out)
    assert not out.exists()


def test_two_experiments_of_one_name_are_refused(repo):
    root, cache, md5 = repo
    _git(root, "update-ref", f"refs/exps/cd/{'d' * 40}/exp-a", "HEAD")
    with pytest.raises(SystemExit, match="two experiments are named exp-a"):
        rx.experiment_refs()


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


def _std(xs):
    mean = sum(xs) / len(xs)
    return (sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)) ** 0.5


def _corr(a, b):
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True))
    return cov / (sum((x - ma) ** 2 for x in a) * sum((y - mb) ** 2 for y in b)) ** 0.5


@pytest.mark.parametrize("row", ["sup", "full"])
@pytest.mark.parametrize("which", ["recorded", "rescored"])
def test_p61_summary_matches_loops(row, which):
    runs = _p60_runs()
    s = p61_summary.summary(runs, row, which)

    def m(e, p, t, split):
        return runs[f"p60e{e}ps{p}-s{t}-{row}"][which][split]["mAP"]

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
    t9 = [m(32, p, t, "test") - m(28, p, t, "test") for p in range(3) for t in range(3)]
    assert s["paired_9"][0] == pytest.approx(sum(d9) / 9)
    assert s["paired_9"][1] == pytest.approx(_std(d9))
    assert s["paired_9_higher"] == sum(x > 0 for x in d9)
    assert s["corr_paired"] == pytest.approx(_corr(d9, t9))
    val = [m(e, p, t, "val") for e in (28, 32) for p in range(3) for t in range(3)]
    test = [m(e, p, t, "test") for e in (28, 32) for p in range(3) for t in range(3)]
    assert s["corr_levels"] == pytest.approx(_corr(val, test))
    v28 = [m(28, p, t, "val") for p in range(3) for t in range(3)]
    v32 = [m(32, p, t, "val") for p in range(3) for t in range(3)]
    assert s["val_28"] == pytest.approx((sum(v28) / 9, _std(v28)))
    assert s["val_32"] == pytest.approx((sum(v32) / 9, _std(v32)))


def test_p61_defaults_pairs_each_row_with_its_default(capsys):
    rng = np.random.default_rng(1)
    runs = {
        f"z33p28-s{t}-{row}": {
            w: {sp: {"mAP": float(rng.uniform(0.3, 0.7))} for sp in ("val", "test")}
            for w in ("recorded", "rescored")
        }
        for t in range(3)
        for row in ("full", "ti120", "sup", "sup-tm03")
    }
    p61_summary.defaults(runs)
    lines = {ln.split()[0]: ln for ln in capsys.readouterr().out.splitlines()}
    assert sorted(lines) == ["sup-tm03", "ti120"]  # the default rows are not compared
    p61_summary.defaults(runs, base="sup")
    assert [ln.split(":")[0].split() for ln in capsys.readouterr().out.splitlines()] == [
        ["full", "-", "sup"],
        ["sup-tm03", "-", "sup"],
        ["ti120", "-", "sup"],
    ]
    for row, base in (("ti120", "full"), ("sup-tm03", "sup")):
        assert lines[row].split(":")[0].split() == [row, "-", base]
        for which, split, label in (
            ("recorded", "val", "val 80"),
            ("rescored", "val", "val 240"),
            ("rescored", "test", "test"),
        ):
            d = [
                runs[f"z33p28-s{t}-{row}"][which][split]["mAP"]
                - runs[f"z33p28-s{t}-{base}"][which][split]["mAP"]
                for t in range(3)
            ]
            want = f"{label} {sum(d) / 3:+.4f} ± {_std(d):.4f} ({sum(x > 0 for x in d)}/3)"
            assert want in lines[row]


def test_paired_encoders_means_differences_and_rule():
    import paired_encoders as pe

    rng = np.random.default_rng(2)
    vals = {}
    for e in (28, 32):
        for p in (3, 4, 5):
            for t in (0, 1, 2):
                for row in ("sup", "full"):
                    for split in ("val", "test"):
                        vals[(f"p62e{e}ps{p}-s{t}-{row}", split)] = float(rng.uniform(0.3, 0.7))
    r = pe.compare(
        lambda n, s: vals[(n, s)], "p62", (28, 32), (3, 4, 5), (0, 1, 2), ("sup", "full")
    )
    for row in ("sup", "full"):
        for split in ("val", "test"):
            d = []
            for p in (3, 4, 5):
                m28 = sum(vals[(f"p62e28ps{p}-s{t}-{row}", split)] for t in range(3)) / 3
                m32 = sum(vals[(f"p62e32ps{p}-s{t}-{row}", split)] for t in range(3)) / 3
                d.append(m32 - m28)
            c = r[row][split]
            assert c["differences"] == pytest.approx(d)
            assert (c["mean"], c["std"]) == pytest.approx((sum(d) / 3, _std(d)))
            assert c["higher"] == sum(x > 0 for x in d)
    want = all(r[row]["val"]["mean"] > r[row]["val"]["std"] for row in ("sup", "full"))
    assert r["adopt"] is want

    # the rule: a clear gain on both rows adopts; the same gain on one row only does not
    def shifted(rows):
        return lambda n, s: (
            vals[(n, s)] + (0.5 if "e32" in n and n.rsplit("-", 1)[1] in rows else 0)
        )

    assert pe.compare(
        shifted({"sup", "full"}), "p62", (28, 32), (3, 4, 5), (0, 1, 2), ("sup", "full")
    )["adopt"]
    assert not pe.compare(shifted({"sup"}), "p62", (28, 32), (3, 4, 5), (0, 1, 2), ("sup", "full"))[
        "adopt"
    ]


# ---- studies/merge_probe.py: an experiment's inputs from its dvc.lock and the cache ----------


def _cache_put(cache: Path, data: bytes) -> str:
    md5 = hashlib.md5(data).hexdigest()
    (cache / "files" / "md5" / md5[:2]).mkdir(parents=True, exist_ok=True)
    (cache / "files" / "md5" / md5[:2] / md5[2:]).write_bytes(data)
    return md5


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def _probe_experiment(root: Path, cache: Path, name: str, feature: str, drop: str = "") -> dict:
    """An experiment whose recognition features and viewpoint predictions are in the cache
    (``drop``: a `recognize` key its params lack, as an older experiment's would)."""
    params = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    params["evaluate"]["feature"] = feature
    params["recognize"].pop(drop, None)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    emb, pooled = np.eye(3, dtype=np.float32), np.eye(3, dtype=np.float32)[::-1].copy()
    views = b"row,view5_pred\n0,1\n1,2\n2,4\n"
    outs = {
        "prepare": [(str(mp.MANIFEST), b"manifest")],
        "viewpoint": [(mp.VIEWS, views)],
        "recognize": [(mp.FEATURES["embedding"], _npy(emb)), (mp.RETRIEVAL, _npy(pooled))],
    }
    lock = {"stages": {}}
    for stage, files in outs.items():
        lock["stages"][stage] = {
            "outs": [{"path": p, "md5": _cache_put(cache, data)} for p, data in files]
        }
    (root / "dvc.lock").write_text(yaml.safe_dump(lock))
    _git(root, "add", "params.yaml", "dvc.lock")
    _git(root, "commit", "-q", "-m", name)
    _git(root, "update-ref", f"refs/exps/ab/{'e' * 40}/{name}", "HEAD")
    return {"emb": emb, "pooled": pooled}


def test_cached_out_finds_any_stages_output_and_names_a_missing_one(repo):
    root, cache, md5 = repo
    _probe_experiment(root, cache, "probe-pooled", "pooled")
    ref = rx.experiment_refs()["probe-pooled"]
    lock = yaml.safe_load(rx.show(ref, "dvc.lock"))
    emb_md5 = lock["stages"]["recognize"]["outs"][0]["md5"]
    got = rx.cached_out(ref, cache, "recognize", mp.FEATURES["embedding"])
    assert got == cache / "files" / "md5" / emb_md5[:2] / emb_md5[2:]
    with pytest.raises(SystemExit, match="no artifacts/x.npy among the recognize stage's outs"):
        rx.cached_out(ref, cache, "recognize", "artifacts/x.npy")
    with pytest.raises(SystemExit, match="its dvc.lock has no stage cluster"):
        rx.cached_out(ref, cache, "cluster", rx.MODEL)


def test_dvcs_own_refs_are_not_experiments(repo):
    root, _, _ = repo
    for special in ("apply/ORIG_HEAD", "apply/stash", "exec/EXEC_APPLY"):
        _git(root, "update-ref", f"refs/exps/{special}", "HEAD")
    assert sorted(rx.experiment_refs()) == ["exp-a", "exp-b"]


def test_the_probe_reads_an_experiments_params_views_and_features(repo):
    root, cache, _ = repo
    made = _probe_experiment(root, cache, "probe-pooled", "pooled")
    _probe_experiment(root, cache, "probe-emb", "embedding")
    refs, manifest_md5 = rx.experiment_refs(), hashlib.md5(b"manifest").hexdigest()
    params, views, feats = mp.experiment_inputs(
        "probe-pooled", refs["probe-pooled"], cache, manifest_md5
    )
    assert params["evaluate"]["feature"] == "pooled" and params["ti"] == 1200
    assert views.tolist() == [1, 2, 4]
    assert np.array_equal(feats["embedding"], made["emb"])
    assert np.array_equal(feats["pooled"], made["pooled"])
    # retrieval.npy holds the embedding when evaluate.feature is embedding: not offered twice
    _, _, feats = mp.experiment_inputs("probe-emb", refs["probe-emb"], cache, manifest_md5)
    assert sorted(feats) == ["embedding"]
    with pytest.raises(SystemExit, match="probe-pooled: its manifest .* not the workspace's"):
        mp.experiment_inputs("probe-pooled", refs["probe-pooled"], cache, "0" * 32)


def test_an_experiment_of_another_params_schema_is_refused_with_a_message(repo):
    root, cache, _ = repo
    _probe_experiment(root, cache, "old", "pooled", drop="supervised_lr")
    ref = rx.experiment_refs()["old"]
    with pytest.raises(SystemExit, match=r"(?s)supervised_lr.*old ran with another params schema"):
        mp.experiment_inputs("old", ref, cache, hashlib.md5(b"manifest").hexdigest())


def test_the_probe_runs_each_experiments_kinds_and_tis_and_writes_them(repo, monkeypatch):
    root, cache, _ = repo
    _probe_experiment(root, cache, "probe-pooled", "pooled")
    (root / "manifest.csv").write_bytes(b"manifest")  # the workspace's manifest, same md5
    monkeypatch.setattr(mp, "MANIFEST", root / "manifest.csv")
    monkeypatch.setattr(mp, "cache_dir", lambda: cache)
    monkeypatch.setattr(mp, "read_manifest", lambda: pd.DataFrame({"vid": [7, 8, 9]}))
    monkeypatch.setattr(mp, "read_tracklets", lambda df: (np.array([0, 2]), None, None))
    seen = []

    def fake_round(feats, views, truth, params, ti):
        seen.append((feats.copy(), views.tolist(), truth.tolist(), ti))
        keys = ("n_clusters", "n_merges", "merge_precision", "ami", "pairwise_precision")
        return {"tau": 0.5, "pairwise_recall": 0.1, **dict.fromkeys(keys, len(seen))}

    monkeypatch.setattr(mp, "first_round", fake_round)
    out = root / "probe.json"
    argv = ["merge_probe", "--exp", "probe-pooled", "--ti", "1200", "120", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    mp.main()
    # train rows 0 and 2 of the features, the experiment's views (1, 2, 4) and the truth
    assert [s[1:] for s in seen[:2]] == [([1, 4], [7, 9], 1200), ([1, 4], [7, 9], 120)]
    assert np.array_equal(seen[0][0], np.eye(3, dtype=np.float32)[[0, 2]])  # embedding
    assert np.array_equal(seen[2][0], np.eye(3, dtype=np.float32)[::-1][[0, 2]])  # pooled
    written = json.loads(out.read_text())
    assert list(written) == [
        "probe-pooled/embedding/ti1200",
        "probe-pooled/embedding/ti120",
        "probe-pooled/pooled/ti1200",
        "probe-pooled/pooled/ti120",
    ]
    assert written["probe-pooled/pooled/ti120"]["ami"] == 4


def test_the_first_round_merges_only_one_vehicles_views_when_they_are_far_apart():
    rng = np.random.default_rng(0)
    ids, views_per_id, per_view, d = 10, 2, 6, 32
    centres = rng.normal(size=(ids, d))
    feats, views, truth = [], [], []
    for i in range(ids):
        for v in range(views_per_id):
            x = centres[i] + 0.05 * rng.normal(size=(per_view, d)) + 0.2 * v
            feats.append(x / np.linalg.norm(x, axis=1, keepdims=True))
            views += [v] * per_view
            truth += [i] * per_view
    feats = np.concatenate(feats).astype(np.float32)
    params = load(Path(__file__).resolve().parents[1] / "params.yaml")
    q = mp.first_round(feats, np.array(views), np.array(truth), params, ti=ids * per_view**2)
    assert q["n_clusters"] == ids and q["n_merges"] == ids
    assert q["merge_precision"] == 1.0 and q["ami"] == pytest.approx(1.0)
    q0 = mp.first_round(feats, np.array(views), np.array(truth), params, ti=0)
    assert q0["n_merges"] == 0 and q0["n_clusters"] == 2 * ids
