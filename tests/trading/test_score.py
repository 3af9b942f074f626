"""The profitability score, the power-need signal and the trading design's rule."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from energylib.trading.score import (
    BUY,
    HOLD,
    SELL,
    buy_value,
    decide,
    expected_market_price,
    sell_value,
    signals,
)

SETTINGS = settings(max_examples=80, deadline=None)
kwh = st.floats(0.0, 30.0)
price = st.floats(-0.2, 1.0)


@st.composite
def inputs(draw):
    usable = draw(st.floats(0.0, 15.0))
    stored = draw(st.floats(0.0, 1.0)) * usable
    return {
        "stored_kwh": stored,
        "room_kwh": usable - stored,
        "usable_kwh": usable,
        "forecast_deficit_kwh": draw(kwh),
        "forecast_surplus_kwh": draw(kwh),
        "price_pred_per_kwh": draw(price),
        "buy_value_per_kwh": draw(price),
        "sell_value_per_kwh": draw(price),
    }


def sig(**kw):
    return signals(**{k: np.atleast_1d(v) for k, v in kw.items()})


@SETTINGS
@given(inputs(), st.floats(0.0, 1.0))
def test_more_stored_energy_never_lowers_a_sell_score_nor_raises_a_buy_score(x, extra):
    more = dict(x)
    add = extra * x["room_kwh"]
    more["stored_kwh"] = x["stored_kwh"] + add
    more["room_kwh"] = x["room_kwh"] - add
    a, b = sig(**x), sig(**more)
    assert b.sell_score[0] >= a.sell_score[0] - 1e-9
    assert b.buy_score[0] <= a.buy_score[0] + 1e-9
    # and never turns a GREEN node RED
    assert not (b.red[0] and not a.red[0])


@SETTINGS
@given(inputs(), kwh)
def test_a_larger_forecast_surplus_never_lowers_a_sell_score(x, extra):
    a = sig(**x)
    b = sig(**{**x, "forecast_surplus_kwh": x["forecast_surplus_kwh"] + extra})
    c = sig(**{**x, "forecast_deficit_kwh": x["forecast_deficit_kwh"] + extra})
    assert b.sell_score[0] >= a.sell_score[0] - 1e-9
    assert c.sell_score[0] <= a.sell_score[0] + 1e-9
    assert c.buy_score[0] >= a.buy_score[0] - 1e-9


@SETTINGS
@given(inputs(), st.floats(0.0, 0.5))
def test_a_higher_expected_market_price_helps_sellers_and_never_helps_buyers(x, up):
    if (
        x["price_pred_per_kwh"] < 0
    ):  # the advantage is relative to |price|: compare on one side of 0
        return
    a = sig(**x)
    b = sig(**{**x, "price_pred_per_kwh": x["price_pred_per_kwh"] + up})
    assert b.sell_score[0] >= a.sell_score[0] - 1e-9
    assert b.buy_score[0] <= a.buy_score[0] + 1e-9


@SETTINGS
@given(inputs(), st.floats(0.0, 0.5))
def test_a_higher_value_of_stored_energy_never_lowers_a_buy_score(x, up):
    if x["buy_value_per_kwh"] < 0:
        return
    a = sig(**x)
    b = sig(**{**x, "buy_value_per_kwh": x["buy_value_per_kwh"] + up})
    assert b.buy_score[0] >= a.buy_score[0] - 1e-9


@SETTINGS
@given(inputs())
def test_scores_stay_within_0_and_100_and_power_need_follows_the_position(x):
    s = sig(**x)
    for score in (s.sell_score, s.buy_score, s.score):
        assert 0.0 <= score[0] <= 100.0
    position = x["stored_kwh"] + x["forecast_surplus_kwh"] - x["forecast_deficit_kwh"]
    assert s.red[0] == (position < 0)
    assert s.power_need[0] == ("RED" if position < 0 else "GREEN")
    assert s.score[0] == (s.buy_score[0] if s.red[0] else s.sell_score[0])


def test_a_home_without_a_battery_never_passes_the_threshold():
    s = sig(
        stored_kwh=0.0,
        room_kwh=0.0,
        usable_kwh=0.0,
        forecast_deficit_kwh=50.0,
        forecast_surplus_kwh=0.0,
        price_pred_per_kwh=0.01,
        buy_value_per_kwh=1.0,
        sell_value_per_kwh=0.0,
    )
    assert s.score[0] <= 30.0
    assert decide(s, 0.01, 1.0, 0.0)[0] == HOLD


def test_the_design_rule_buys_below_and_sells_above_the_nodes_own_value():
    # a RED node (empty battery, big forecast deficit) and a GREEN one (full, big surplus)
    s = signals(
        stored_kwh=np.array([0.0, 10.0]),
        room_kwh=np.array([10.0, 0.0]),
        usable_kwh=np.array([10.0, 10.0]),
        forecast_deficit_kwh=np.array([20.0, 0.0]),
        forecast_surplus_kwh=np.array([0.0, 20.0]),
        price_pred_per_kwh=0.15,
        buy_value_per_kwh=np.array([0.30, 0.30]),
        sell_value_per_kwh=np.array([0.05, 0.05]),
    )
    assert s.red.tolist() == [True, False]
    assert (s.score > 75).all()
    np.testing.assert_array_equal(
        decide(s, 0.15, np.array([0.30, 0.30]), np.array([0.05, 0.05])), [BUY, SELL]
    )
    # the market expected above the buyer's value and below the seller's: both hold
    np.testing.assert_array_equal(
        decide(s, 0.15, np.array([0.10, 0.10]), np.array([0.20, 0.20])), [HOLD, HOLD]
    )
    # a score of 75 or less holds whatever the prices
    np.testing.assert_array_equal(
        decide(s, 0.15, np.array([0.30, 0.30]), np.array([0.05, 0.05]), threshold=100.0),
        [HOLD, HOLD],
    )


def test_values_of_energy_and_the_expected_price():
    np.testing.assert_allclose(buy_value(np.array([0.30]), 0.9, 0.02), [0.9 * 0.28])
    np.testing.assert_allclose(sell_value(np.array([0.09, -0.05]), 0.9, 0.0), [0.1, 0.0])
    np.testing.assert_allclose(expected_market_price(0.30, np.array([0.10, -0.05])), [0.20, 0.15])
