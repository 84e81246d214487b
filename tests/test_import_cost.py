"""Start-up cost: the data stages, the params schema and `vreid --help` load neither torch,
torchvision nor scikit-learn (each takes ~1-3 s to import here, paid by every stage process
DVC starts), and the learning stages load scikit-learn only in `cluster`."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = {"torch", "torchvision", "sklearn"}


def _loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


@pytest.mark.parametrize(
    "module",
    ["vreid.params", "vreid.stages.synthesize", "vreid.stages.prepare", "vreid.stages.tracklets"],
)
def test_light_modules_load_no_heavy_library(module):
    loaded = _loaded_after(f"import {module}")
    assert not loaded & HEAVY, f"{module} loads {sorted(loaded & HEAVY)}"


def test_cli_help_loads_no_heavy_library():
    code = (
        "import contextlib, io\nfrom vreid import cli\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    cli.main(['embed', '--help'])"
    )
    loaded = _loaded_after(code)
    assert not loaded & HEAVY, sorted(loaded & HEAVY)


def test_learning_stages_other_than_cluster_skip_sklearn():
    """One process (torch's import is the cost): after each stage's import, sklearn is absent."""
    stages = ("pretrain", "viewpoint", "recognize", "evaluate")
    code = "import sys\n" + "".join(
        f"import vreid.stages.{s}\nprint('{s}', 'sklearn' in sys.modules)\n" for s in stages
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    loaded = dict(line.split() for line in out.splitlines() if line.split()[0] in stages)
    assert sorted(loaded) == sorted(stages), out
    assert [s for s in stages if loaded[s] == "True"] == [], out


def test_building_and_seeding_a_model_loads_neither_torchvision_nor_dynamo():
    """Every learning stage builds a ReidNet and seeds itself: that must not import torchvision
    (its models pull in torch._dynamo: 2.6 s per process here) nor torch._inductor (what the
    public `torch.use_deterministic_algorithms` imports: 3.7 s); see vreid.learn.resnet and
    vreid.learn.loop.deterministic_kernels. (torch's optimizers still load torch._dynamo at
    their first parameter group, 1.6 s: not avoidable from here.)"""
    code = (
        "import torch\nfrom vreid.learn.backbone import ReidNet\n"
        "from vreid.learn.loop import seed_everything\nseed_everything(0, 1)\n"
        "ReidNet('resnet50', channels=16)(torch.zeros(2, 3, 32, 32))\n"
        "assert torch.are_deterministic_algorithms_enabled()"
    )
    loaded = _loaded_after(code)
    assert not loaded & {"torchvision", "torch._dynamo", "torch._inductor"}, sorted(
        loaded & {"torchvision", "torch._dynamo", "torch._inductor"}
    )
