"""Peak-memory estimates and the check that refuses a configuration that would not fit."""

from __future__ import annotations

import pytest

from vreid.io import InputError
from vreid.resources import (
    GIB,
    available_bytes,
    cluster_peak_bytes,
    evaluate_peak_bytes,
    require_fits,
)


def test_available_memory_is_known_on_linux():
    free = available_bytes()
    assert free is not None and 0 < free < 1 << 50


def test_cluster_estimate_grows_with_n_and_k1_and_caps_pairs_at_n():
    small = cluster_peak_bytes(5_000, 256, 20, True)
    assert cluster_peak_bytes(10_000, 256, 20, True) > small
    assert cluster_peak_bytes(5_000, 256, 30, True) > small
    assert cluster_peak_bytes(5_000, 256, 20, False) < small
    assert cluster_peak_bytes(10, 4, 100, True) - cluster_peak_bytes(10, 4, 100, False) < 50 << 20


def test_evaluate_estimate_counts_blocks_and_rerank():
    plain = evaluate_peak_bytes(1678, 11579, 2048, 256, False)
    assert evaluate_peak_bytes(1678, 11579, 2048, 64, False) < plain
    assert evaluate_peak_bytes(1678, 11579, 2048, 256, True) > plain + 1678 * 11579 * 4


def test_a_config_that_does_not_fit_is_refused_with_the_parameter_to_change(monkeypatch):
    monkeypatch.delenv("VREID_MEMORY_CHECK", raising=False)
    need = cluster_peak_bytes(277_797, 2048, 30, True)  # VeRi-Wild's train set, k1 = 30
    with pytest.raises(InputError, match=r"clustering .* needs about \d+\.\d GiB, but 8\.0 GiB"):
        require_fits(need, "clustering 277797 train images", "lower cluster.k1", 8 * GIB)
    with pytest.raises(InputError, match="lower cluster.k1 .*VREID_MEMORY_CHECK=0"):
        require_fits(need, "clustering", "lower cluster.k1", 8 * GIB)
    require_fits(need, "clustering", "lower cluster.k1", need)  # fits exactly: no error
    monkeypatch.setenv("VREID_MEMORY_CHECK", "0")
    require_fits(need, "clustering", "lower cluster.k1", 1)  # the user chose to skip it
