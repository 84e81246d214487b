"""Pin what makes CPU math differ between machines, before torch is imported.

Same seed + same params + same data must give the same metrics on every machine of a kind,
not only on the one that produced them. What varies, and what is pinned here (each only as a
default: a variable already set in the environment wins):

- ``ONEDNN_MAX_CPU_ISA=AVX512_CORE``: oneDNN (torch's CPU convolutions) picks its kernels by
  instruction set; the ceiling keeps CPUs with AMX / AVX512-BF16 / VNNI extensions on the
  same fp32 kernels as plain AVX-512 ones. Measured on the project's machine (AMD EPYC,
  AVX-512 with BF16): bit-identical weights and the same speed as without the ceiling.
- ``MKL_CBWR=AVX512``: MKL's conditional numerical reproducibility (the GEMMs of linear
  layers, losses and memories) on one code path for every AVX-512 CPU.
- ``CUBLAS_WORKSPACE_CONFIG=:4096:8``: what cuBLAS needs for deterministic GEMMs when
  :func:`vreid.learn.loop.seed_everything` turns on ``torch.use_deterministic_algorithms``.

Not pinnable at a small cost, so documented instead (README, "Reproducibility"): a CPU
without AVX-512 runs other kernels (``ONEDNN_MAX_CPU_ISA=AVX2`` would pin those too, at
-25 % to -60 % training speed, measured); oneDNN blocks its loops by cache sizes; GPUs run
other kernels altogether. The thread count is fixed by ``train.threads``.
"""

from __future__ import annotations

import os

CPU_MATH_PINS: dict[str, str] = {
    "ONEDNN_MAX_CPU_ISA": "AVX512_CORE",
    "MKL_CBWR": "AVX512",
    "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
}


#: The pins this process set itself (the others were exported by the user, who wins).
_SET_HERE: set[str] = set()


def pin_math_libraries() -> dict[str, str]:
    """Set :data:`CPU_MATH_PINS` as environment defaults; return the values in effect."""
    for key, value in CPU_MATH_PINS.items():
        if key not in os.environ:
            os.environ[key] = value
            _SET_HERE.add(key)
    return {key: os.environ[key] for key in CPU_MATH_PINS}


def open_bfloat16_units() -> bool:
    """Lift the oneDNN ceiling for ``train.amp`` on the CPU; True when it was lifted.

    The ``AVX512_CORE`` ceiling keeps bfloat16 convolutions off the units made for them (AMX,
    AVX512-BF16): measured on an Intel Xeon with AMX, a ResNet-18 training step at 64 x 64 under
    bfloat16 autocast ran at 90 images/s with the ceiling against 329 without it (fp32: 221).
    Mixed precision gives other numbers than fp32 anyway, so it gets the fast kernels. oneDNN
    reads the variable when it creates its first primitive, so this must run before the
    process's first convolution (the stages call it from ``start``). A ceiling exported by the
    user is left as it is.
    """
    if "ONEDNN_MAX_CPU_ISA" not in _SET_HERE:
        return False
    os.environ["ONEDNN_MAX_CPU_ISA"] = "ALL"
    _SET_HERE.discard("ONEDNN_MAX_CPU_ISA")
    return True
