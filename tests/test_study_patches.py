"""The studies' patches (`studies/*.patch`, code of probes that were not adopted) can be re-run:
each applies to the current tree, or its header names the commit it applies to and that commit
is in the history (docs/calibration.md's P37/P45/P46–P47 blocks point at them)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

PATCHES = sorted((Path(__file__).parents[1] / "studies").glob("*.patch"))
NAMED = re.compile(r"applies to commit ([0-9a-f]{7,40})")


def _git(repo_root, *args):
    return subprocess.run(["git", *args], cwd=repo_root, capture_output=True, text=True)


@pytest.fixture()
def checkout(repo_root):
    if shutil.which("git") is None or _git(repo_root, "rev-parse", "HEAD").returncode:
        pytest.skip("not a git checkout")
    return repo_root


def _shallow(repo_root) -> bool:
    return _git(repo_root, "rev-parse", "--is-shallow-repository").stdout.strip() == "true"


def test_there_are_study_patches():
    assert PATCHES, "studies/*.patch not found"


@pytest.mark.parametrize("patch", PATCHES, ids=lambda p: p.name)
def test_study_patch_applies_here_or_to_the_commit_it_names(checkout, patch):
    header = patch.read_text().split("\ndiff --git ", 1)[0]
    named = NAMED.search(" ".join(header.split()))
    if named:
        sha = named.group(1)
        found = _git(checkout, "cat-file", "-e", f"{sha}^{{commit}}")
        if found.returncode and _shallow(checkout):
            pytest.skip(f"{patch.name} names {sha}, which a shallow clone may not have")
        assert found.returncode == 0, f"{patch.name}: its commit {sha} is not in the history"
        return
    check = _git(checkout, "apply", "--check", str(patch))
    assert check.returncode == 0, (
        f"{patch.name} no longer applies to this tree ({check.stderr.strip()[:200]}); refresh "
        "it, or name the commit it applies to in its header ('applies to commit <sha>')"
    )
