"""The CPU math pins, and lifting the oneDNN ceiling for ``train.amp`` (bfloat16) on the CPU."""

import os
import subprocess
import sys

import pytest

from vreid import reproducibility as repro


def test_amp_lifts_only_the_ceiling_this_process_set(monkeypatch):
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.setattr(repro, "_SET_HERE", set())
    assert repro.pin_math_libraries()["ONEDNN_MAX_CPU_ISA"] == "AVX512_CORE"
    assert repro.open_bfloat16_units() is True
    assert os.environ["ONEDNN_MAX_CPU_ISA"] == "ALL"
    assert repro.open_bfloat16_units() is False  # already lifted
    assert os.environ["ONEDNN_MAX_CPU_ISA"] == "ALL"


def test_a_ceiling_exported_by_the_user_wins(monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    monkeypatch.setattr(repro, "_SET_HERE", set())
    assert repro.pin_math_libraries()["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert repro.open_bfloat16_units() is False
    assert os.environ["ONEDNN_MAX_CPU_ISA"] == "AVX2"


_CONV = """
import sys
import vreid
from vreid.reproducibility import open_bfloat16_units
import torch
if sys.argv[1] == "lift":
    open_bfloat16_units()
x = torch.randn(8, 64, 32, 32).to(memory_format=torch.channels_last).bfloat16()
w = torch.randn(64, 64, 3, 3).to(memory_format=torch.channels_last).bfloat16()
torch.nn.functional.conv2d(x, w)
"""


def _onednn_isa(mode: str, exported: str | None) -> str:
    """The instruction set oneDNN reports for a bfloat16 convolution in a fresh process."""
    env = {k: v for k, v in os.environ.items() if k != "ONEDNN_MAX_CPU_ISA"}
    env["ONEDNN_VERBOSE"] = "1"
    if exported:
        env["ONEDNN_MAX_CPU_ISA"] = exported
    out = subprocess.run(
        [sys.executable, "-c", _CONV, mode], env=env, capture_output=True, text=True, check=True
    ).stdout
    lines = [ln for ln in out.splitlines() if ",info,cpu,isa:" in ln]
    if not lines:
        pytest.skip("this torch build's oneDNN prints no ISA line (ONEDNN_VERBOSE)")
    return lines[0].split("isa:", 1)[1]


def test_the_lift_reaches_onednn_when_made_before_the_first_convolution():
    # On every CPU: lifting inside the process gives oneDNN the same instruction set as
    # exporting ONEDNN_MAX_CPU_ISA=ALL before it starts (on an AMX machine: AMX instead of
    # the plain AVX-512 of the pin), and without the lift the pin holds.
    assert _onednn_isa("lift", None) == _onednn_isa("none", "ALL")
    assert _onednn_isa("none", None) == _onednn_isa("none", "AVX512_CORE")
