"""The study diagnostics' own measures (studies/da_diagnosis.py, studies/triplet_scale.py,
studies/rounds_oracle.py's oracle labels) against brute-force references."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "studies"))

import da_diagnosis as dd  # noqa: E402


def _toy(seed: int = 0, n_q: int = 12, n_g: int = 40):
    rng = np.random.default_rng(seed)
    n = n_q + n_g
    df = pd.DataFrame(
        {
            "split": ["query"] * n_q + ["gallery"] * n_g,
            "vid": rng.integers(0, 6, n),
            "camid": rng.integers(1, 4, n),
        }
    )
    feats = rng.normal(size=(n, 8)).astype(np.float32)
    return df, feats / np.linalg.norm(feats, axis=1, keepdims=True)


def _impostors_brute_force(df, feats, top):
    q = np.flatnonzero(df["split"] == "query")
    g = np.flatnonzero(df["split"] == "gallery")
    wrong = same = 0
    for i in q:
        kept = [j for j in g if not (df.vid[j] == df.vid[i] and df.camid[j] == df.camid[i])]
        kept.sort(key=lambda j: (-float(feats[i] @ feats[j]), j))
        for j in kept[:top]:
            if df.vid[j] != df.vid[i]:
                wrong += 1
                same += int(df.camid[j] == df.camid[i])
    return same / wrong


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("top", [1, 5, 10])
def test_same_camera_impostor_share_matches_a_loop(seed, top):
    df, feats = _toy(seed)
    got = dd.same_camera_impostor_share(df, feats, "test", top=top)
    assert got == pytest.approx(_impostors_brute_force(df, feats, top), abs=1e-12)


def test_camera_logits_score_each_feature_against_the_normalised_camera_means():
    rng = np.random.default_rng(3)
    z = torch.from_numpy(rng.normal(size=(20, 4)))
    cams = rng.choice([2, 5, 9], size=20)
    logits, own = dd.camera_logits(z, cams)
    for col, c in enumerate((2, 5, 9)):
        mean = z[torch.from_numpy(cams == c)].mean(0)
        ref = z @ (mean / mean.norm())
        torch.testing.assert_close(logits[:, col], ref)
    assert [(2, 5, 9)[k] for k in own.tolist()] == cams.tolist()


def test_compare_refuses_unpaired_lists():
    df, _ = _toy()
    with pytest.raises(SystemExit, match="one file per seed"):
        dd.compare(df, {}, ["a.npy", "b.npy"], ["c.npy"])


def test_triplet_scale_distance_summary_matches_loops():
    import triplet_scale as ts

    rng = np.random.default_rng(4)
    feats = rng.normal(size=(15, 3)) * 3.0
    vid = rng.integers(0, 4, 15)
    vid[14] = 99  # a vehicle with one image: no positive, still a hardest negative
    got = ts.distance_summary(torch.from_numpy(feats), vid)
    d = [[float(np.linalg.norm(a - b)) for b in feats] for a in feats]
    n = len(feats)
    same = [d[i][j] for i in range(n) for j in range(n) if i != j and vid[i] == vid[j]]
    other = [d[i][j] for i in range(n) for j in range(n) if vid[i] != vid[j]]
    hp = [
        max(d[i][j] for j in range(n) if j != i and vid[j] == vid[i])
        for i in range(n)
        if (vid == vid[i]).sum() > 1
    ]
    hn = [min(d[i][j] for j in range(n) if vid[j] != vid[i]) for i in range(n)]
    assert got["norm"] == pytest.approx(np.linalg.norm(feats, axis=1).mean())
    assert got["same vehicle"] == pytest.approx(np.mean(same))
    assert got["other vehicles"] == pytest.approx(np.mean(other))
    assert got["hardest positive"] == pytest.approx(np.mean(hp))
    assert got["hardest negative"] == pytest.approx(np.mean(hn))


@pytest.mark.parametrize("with_split", [False, True])
def test_oracle_labels_are_the_identity_or_identity_split_pairs(with_split):
    """rounds_oracle's `truth` / `truth_by_view` labels against a dict of sorted pairs."""
    import rounds_oracle as ro

    rng = np.random.default_rng(3)
    truth = rng.choice([4, 9, 17, 30], size=40)
    split = rng.integers(0, 5, 40) if with_split else None
    got = ro.oracle_labels(truth, split)
    pairs = [(int(t), int(split[i]) if with_split else 0) for i, t in enumerate(truth)]
    ids = {p: k for k, p in enumerate(sorted(set(pairs)))}
    assert got.tolist() == [ids[p] for p in pairs]
    if not with_split:
        assert got.max() + 1 == 4
