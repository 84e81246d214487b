"""Identity-balanced P x K batch order (vreid.learn.sampling)."""

import numpy as np
import pytest
import torch

from vreid.learn.sampling import identity_balanced_order


def _batches(order, batch_size):
    return order.reshape(-1, batch_size)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_batch_holds_p_ids_of_k_images(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 25, size=300)
    labels[:3] = 99  # one identity with fewer than K images is topped up
    order = identity_balanced_order(labels, 4, 32, torch.Generator().manual_seed(seed))
    assert len(order) > 0 and len(order) % 32 == 0
    for batch in _batches(order, 32):
        ids, counts = np.unique(labels[batch], return_counts=True)
        assert len(ids) == 8 and set(counts) == {4}
    # brute force: each identity's images appear at most ceil(n / K) * K times in the epoch
    used, n = np.unique(order, return_counts=True)
    assert (n <= 2).all()  # only topped-up identities (< K images) repeat
    ids, counts = np.unique(labels, return_counts=True)
    assert set(labels[used[n > 1]]) <= set(ids[counts < 4])


def test_same_generator_state_same_order_and_too_few_ids():
    labels = np.repeat(np.arange(10), 6)
    a = identity_balanced_order(labels, 3, 12, torch.Generator().manual_seed(5))
    b = identity_balanced_order(labels, 3, 12, torch.Generator().manual_seed(5))
    np.testing.assert_array_equal(a, b)
    assert len(identity_balanced_order(labels[:6], 3, 12, torch.Generator())) == 0


def test_bad_instances_is_an_error():
    with pytest.raises(ValueError, match="instances"):
        identity_balanced_order(np.zeros(8, int), 3, 8, torch.Generator())
