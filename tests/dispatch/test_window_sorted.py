"""The forecast rule's window-sorted prices: each window sorted on its own, remembered by content."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from energylib.dispatch.rules import window_sorted

prices = arrays(np.float64, st.integers(1, 200), elements=st.floats(-1.0, 20.0))


@settings(max_examples=60, deadline=None)
@given(prices, st.integers(1, 60))
def test_each_window_is_sorted_on_its_own(p, window):
    out = window_sorted(p, window)
    assert out.shape == p.shape
    for s in range(0, p.size, window):
        np.testing.assert_array_equal(out[s : s + window], np.sort(p[s : s + window]))


def test_the_same_prices_again_are_not_sorted_again_and_others_are():
    p = np.random.default_rng(1).random(96)
    first = window_sorted(p, 48)
    assert window_sorted(p.copy(), 48) is first  # same content: the remembered array
    assert window_sorted(p, 24) is not first  # another window
    q = p.copy()
    q[5] += 1.0
    assert not np.array_equal(window_sorted(q, 48), first)  # other prices: sorted afresh
