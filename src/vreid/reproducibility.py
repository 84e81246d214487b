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


def pin_math_libraries() -> dict[str, str]:
    """Set :data:`CPU_MATH_PINS` as environment defaults; return the values in effect."""
    for key, value in CPU_MATH_PINS.items():
        os.environ.setdefault(key, value)
    return {key: os.environ[key] for key in CPU_MATH_PINS}
