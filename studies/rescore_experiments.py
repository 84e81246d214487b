"""Re-score finished DVC experiments' final models on the workspace's current splits.

Training reads only the train split, so a model trained with one validation split is the
model another validation split would get (the synthetic set's ``n_val_ids`` leaves train and
test byte for byte: ``tests/test_synth.py::test_train_and_test_do_not_depend_on_n_val_ids``).
This script takes experiments by name (``dvc exp run -n <name>``), finds each one's final
model (``artifacts/cluster/model.pt``, the model the `evaluate` stage scores) in its
``dvc.lock`` and in the DVC cache, and scores it on the validation and test images of the
workspace's last `dvc repro` (``artifacts/prepare/manifest.csv``), as the `evaluate` stage
does. Run in a workspace whose data has the larger validation split, it re-scores a finished
study on that split without re-training anything (docs/calibration.md, P61).

Each experiment's test mAP must equal the one it recorded (``metrics/eval.json`` in its
commit): test is unchanged, so a mismatch means a wrong model or a changed test split, and
the script stops.

    python studies/rescore_experiments.py p60e28ps0-s0-sup p60e32ps0-s0-sup --out rescored.json
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import torch
import yaml

from vreid.params import load
from vreid.stages._common import read_manifest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from encoder_transfer import direct_transfer  # noqa: E402

MODEL = "artifacts/cluster/model.pt"
_EXPERIMENT_REF = re.compile(r"refs/exps/[0-9a-f]{2}/[0-9a-f]+/[^/]+")


def experiment_refs() -> dict[str, str]:
    """Experiment name -> its git ref (``refs/exps/...``) in this repository."""
    out = subprocess.run(
        ["git", "for-each-ref", "refs/exps", "--format=%(refname)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    refs: dict[str, str] = {}
    for ref in out:
        name = ref.rsplit("/", 1)[1]
        # experiments live under refs/exps/<baseline sha, split 2 + rest>/<name>; DVC's own
        # refs/exps/{apply,exec}/... (ORIG_HEAD, stash, EXEC_HEAD, ...) are not experiments
        if name == "EXEC_HEAD" or not _EXPERIMENT_REF.fullmatch(ref):
            continue
        if name in refs:
            raise SystemExit(
                f"two experiments are named {name} ({refs[name]}, {ref}): "
                "remove one (dvc exp remove) or rename it before re-scoring"
            )
        refs[name] = ref
    return refs


def show(ref: str, path: str) -> str:
    return subprocess.run(
        ["git", "show", f"{ref}:{path}"], capture_output=True, text=True, check=True
    ).stdout


def cache_dir() -> Path:
    """The DVC cache of this workspace (``dvc cache dir``)."""
    out = subprocess.run(["dvc", "cache", "dir"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def cached_out(ref: str, cache: Path, stage: str, out_path: str) -> Path:
    """The DVC cache file of the output ``out_path`` of ``stage`` in the experiment at ``ref``
    (found through the ``dvc.lock`` of its commit)."""
    lock = yaml.safe_load(show(ref, "dvc.lock"))
    if stage not in lock.get("stages", {}):
        raise SystemExit(f"{ref}: its dvc.lock has no stage {stage} (was it run?)")
    for out in lock["stages"][stage].get("outs", []):
        if out["path"] == out_path:
            md5 = out["md5"]
            path = cache / "files" / "md5" / md5[:2] / md5[2:]
            if not path.is_file():
                raise SystemExit(
                    f"{ref}: {out_path} ({md5}) is not in the DVC cache {cache}; "
                    "run this where the experiment ran, or `dvc pull` it"
                )
            return path
    raise SystemExit(f"{ref}: no {out_path} among the {stage} stage's outs in its dvc.lock")


def model_file(ref: str, cache: Path) -> Path:
    """The cached final model of the experiment at ``ref``."""
    return cached_out(ref, cache, "cluster", MODEL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("experiments", nargs="+", help="experiment names (dvc exp run -n)")
    ap.add_argument("--out", required=True, help="JSON file: name -> recorded and re-scored")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    params = load(args.params)
    df = read_manifest()
    refs, cache = experiment_refs(), cache_dir()
    missing = [e for e in args.experiments if e not in refs]
    if missing:
        raise SystemExit(f"no experiment named {', '.join(missing)} here (dvc exp list)")
    results = {}
    for name in args.experiments:
        recorded = json.loads(show(refs[name], "metrics/eval.json"))
        r = direct_transfer(
            df, params, str(model_file(refs[name], cache)), torch.device(args.device), True
        )
        if abs(r["test"]["mAP"] - recorded["test"]["mAP"]) > 1e-4:
            raise SystemExit(
                f"{name}: test mAP {r['test']['mAP']:.4f} here, {recorded['test']['mAP']:.4f} "
                "recorded: not the same model or not the same test split"
            )
        results[name] = {
            "recorded": {w: {k: recorded[w][k] for k in ("mAP", "rank1")} for w in ("val", "test")},
            "rescored": {w: {k: r[w][k] for k in ("mAP", "rank1")} for w in ("val", "test")},
        }
        print(
            f"{name}: val mAP {recorded['val']['mAP']:.4f} -> {r['val']['mAP']:.4f}, "
            f"test {r['test']['mAP']:.4f}",
            flush=True,
        )
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
