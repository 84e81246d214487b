"""Peak-memory estimates of the clustering and evaluation stages, checked before they start.

A stage that would run out of memory half-way (after minutes of k-NN search or training) is
refused up front instead, with its estimate, what this machine has available and the
parameter to change. The estimates are upper bounds of the large arrays each step holds
(the byte counts of the code's own arrays, with the measured stored-pairs-per-row of the
Jaccard distance, see the README's "Speed and memory"); they ignore the Python process itself
(about 0.8 GiB with torch loaded). Set ``VREID_MEMORY_CHECK=0`` to skip the check (e.g. with
swap you are willing to use).
"""

from __future__ import annotations

import os
from pathlib import Path

from .io import InputError

GIB = 1 << 30
#: Stored Jaccard entries per row are bounded by the pairs that share a k-reciprocal
#: neighbour; measured 982-1,801 per row at k1 = 30 (N = 2,000-10,000): about 2 k1^2.
_JACCARD_PAIRS_PER_K1_SQUARED = 2
#: bytes per stored Jaccard entry over the whole step (accumulation, the CSR result, DBSCAN's
#: neighbourhoods): measured 24 (162 MiB for 5,000 rows x 1,411 pairs, k1 = 30, 256-d,
#: ``python -m benchmarks.bench_memory``)
_BYTES_PER_PAIR = 24


def _jaccard_blocks(n: int) -> int:
    """jaccard.py's per-block temporaries: up to 2^20 expanded triplets (40 B each) and
    2^22 accumulator cells (8 B), fewer when N^2 is smaller."""
    return min(1 << 20, n * n) * 40 + min(1 << 22, n * n) * 8


def available_bytes() -> int | None:
    """Memory this process can still use: ``MemAvailable`` of /proc/meminfo, capped by the
    cgroup (v2) limit minus its current use when one is set; None where neither is known."""
    found: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
            found.append(max(0, int(limit) - used))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def cluster_peak_bytes(n: int, dim: int, k1: int, k_reciprocal: bool) -> int:
    """Upper estimate of the cluster stage's clustering step for ``n`` train images.

    Features (float32, with one working copy), the k-NN table (``k1 + 1`` float32 distances
    and int64 indices per row), and with the Jaccard distance its stored pairs (about
    ``2 k1^2`` per row, at most ``n``) and the accumulation blocks.
    """
    feats = 2 * n * dim * 4
    knn = n * (k1 + 1) * 12
    if not k_reciprocal:
        return feats + knn
    pairs = n * min(n, _JACCARD_PAIRS_PER_K1_SQUARED * k1 * k1) * _BYTES_PER_PAIR
    return feats + knn + pairs + _jaccard_blocks(n)


def evaluate_peak_bytes(
    n_query: int, n_gallery: int, dim: int, block_size: int, rerank: bool, k1: int = 20
) -> int:
    """Upper estimate of scoring one query x gallery split.

    Features (float32); per query block the distances (float32), their ranking (int64) and
    the match masks (about 24 bytes per cell, two blocks alive at once); with re-ranking the
    (Q, G) result, the strips of the distance pass (512 rows x N, float32, three arrays) and
    the neighbour tables and encoding (about 40 bytes per neighbour entry).
    """
    n = n_query + n_gallery
    feats = n * dim * 4
    blocks = 2 * min(block_size, n_query) * n_gallery * 24
    if not rerank:
        return feats + blocks
    k = k1 + 1
    return feats + blocks + n_query * n_gallery * 4 + 3 * 512 * n * 4 + n * k * k * 40


def require_fits(estimate: int, what: str, change: str, available: int | None = None) -> None:
    """Raise :class:`InputError` when ``estimate`` bytes exceed the available memory.

    ``what`` names the step and its size, ``change`` the parameter(s) that lower the estimate.
    ``available`` defaults to :func:`available_bytes`; the check is skipped when that is
    unknown or ``VREID_MEMORY_CHECK=0``.
    """
    if os.environ.get("VREID_MEMORY_CHECK", "1") == "0":
        return
    available = available_bytes() if available is None else available
    if available is None or estimate <= available:
        return
    raise InputError(
        f"{what} needs about {estimate / GIB:.1f} GiB, but {available / GIB:.1f} GiB are "
        f"available on this machine; {change} (or set VREID_MEMORY_CHECK=0 to run anyway)"
    )
