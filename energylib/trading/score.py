"""The profitability score, the power-need signal and the trading decision of a household.

The trading design: every interval each node scores how profitable a trade is for it
(0-100) from its battery state, its forecasts and the market, signals GREEN (energy to
offer) or RED (needs energy), and decides::

    if score > 75 and price_pred < current_price: BUY
    elif score > 75 and price_pred > current_price: SELL
    else: HOLD

Here ``price_pred`` is the price the node expects the local market to settle at this
interval (the coordinator publishes it: see :func:`expected_market_price`) and
``current_price`` is what a kWh is worth to the node itself right now: for a RED node the
value of a stored kWh that will displace a forecast import later (:func:`buy_value`), for a
GREEN node what the same kWh would otherwise earn (:func:`sell_value`).  Read this way the
rule buys when the market is cheaper than the node's own energy and sells when the market
pays more; read with ``current_price`` as the grid price *now* and ``price_pred`` as the
price *later* it would buy before the price falls, which loses money with any battery.

What enters the score (everything vectorised over households, energies in kWh)
-------------------------------------------------------------------------------
``stored_kwh``
    AC energy the battery can still deliver above its floor, ``(soc - soc_min) * eta``.
``room_kwh``
    AC energy it can still take below its ceiling, ``(soc_max - soc) / eta``.
``usable_kwh``
    The AC size of the window, ``(soc_max - soc_min) * capacity * eta`` (0: no battery).
``forecast_deficit_kwh`` / ``forecast_surplus_kwh``
    Forecast load not met by forecast PV, and forecast PV beyond forecast load, summed over
    the node's horizon (24 h by default).
Position
    ``position_kwh = stored_kwh + forecast_surplus_kwh - forecast_deficit_kwh``: RED when
    < 0 (the battery and the sun will not cover the forecast load), GREEN otherwise.
Sell score (GREEN nodes)
    ``100 * (0.4 * min(position / usable, 1) + 0.3 * stored / usable + 0.3 * advantage)``
    with ``advantage = clip((price_pred - sell_value) / |price_pred|, 0, 1)``.
Buy score (RED nodes)
    ``100 * (0.4 * min(-position / usable, 1) + 0.3 * room / usable + 0.3 * advantage)``
    with ``advantage = clip((buy_value - price_pred) / |buy_value|, 0, 1)``.

The node's score is its sell score when GREEN and its buy score when RED.  A home without
a battery has ``usable_kwh = 0``: only the price part remains, at most 30, so it never
passes 75 and never trades its battery (it still trades its surplus and deficit).

Monotone properties (tested): more stored energy never lowers a sell score nor raises a
buy score, and never turns a GREEN node RED; a larger forecast surplus (or smaller forecast
deficit) never lowers a sell score; a higher expected market price never lowers a sell
score nor raises a buy score; a higher value of stored energy never lowers a buy score;
scores stay within 0-100.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCORE_THRESHOLD = 75.0
HOLD, BUY, SELL = 0, 1, 2
DECISIONS = ("HOLD", "BUY", "SELL")
_W_POSITION, _W_BATTERY, _W_PRICE = 0.4, 0.3, 0.3


@dataclass(frozen=True, eq=False)
class Signals:
    """A node's signals for one interval (arrays over households).

    Attributes
    ----------
    position_kwh : numpy.ndarray
        Forecast energy position over the horizon [kWh]: < 0 needs energy.
    red : numpy.ndarray of bool
        Power need: True = RED (needs energy), False = GREEN (energy to offer).
    sell_score, buy_score : numpy.ndarray
        Both scores [0-100].
    """

    position_kwh: np.ndarray
    red: np.ndarray
    sell_score: np.ndarray
    buy_score: np.ndarray

    @property
    def score(self) -> np.ndarray:
        """The profitability score: the buy score of RED nodes, the sell score of GREEN ones [0-100]."""
        return np.where(self.red, self.buy_score, self.sell_score)

    @property
    def power_need(self) -> np.ndarray:
        """``"RED"`` or ``"GREEN"`` per household."""
        return np.where(self.red, "RED", "GREEN")


def _ratio(x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``x / scale`` clipped to [0, 1]; 0 where the scale is (nearly) 0."""
    out = np.zeros(np.broadcast(x, scale).shape)
    np.divide(x, scale, out=out, where=scale > 1e-12)
    return np.clip(out, 0.0, 1.0)


def signals(
    stored_kwh: np.ndarray,
    room_kwh: np.ndarray,
    usable_kwh: np.ndarray,
    forecast_deficit_kwh: np.ndarray,
    forecast_surplus_kwh: np.ndarray,
    price_pred_per_kwh: np.ndarray | float,
    buy_value_per_kwh: np.ndarray | float,
    sell_value_per_kwh: np.ndarray | float,
) -> Signals:
    """Profitability scores and power need of each household (see the module docstring).

    Parameters
    ----------
    stored_kwh : numpy.ndarray
        AC energy the battery can deliver above its floor [kWh].
    room_kwh : numpy.ndarray
        AC energy the battery can take below its ceiling [kWh].
    usable_kwh : numpy.ndarray
        AC size of the battery's window [kWh] (0 without a battery).
    forecast_deficit_kwh, forecast_surplus_kwh : numpy.ndarray
        Forecast load beyond PV, and PV beyond load, over the horizon [kWh].
    price_pred_per_kwh : float or numpy.ndarray
        Expected local market price [currency/kWh].
    buy_value_per_kwh, sell_value_per_kwh : float or numpy.ndarray
        The node's own value of a kWh bought / sold now [currency/kWh]
        (:func:`buy_value`, :func:`sell_value`).

    Returns
    -------
    Signals
    """
    stored = np.maximum(np.asarray(stored_kwh, dtype=float), 0.0)
    room = np.maximum(np.asarray(room_kwh, dtype=float), 0.0)
    usable = np.asarray(usable_kwh, dtype=float)
    position = stored + np.asarray(forecast_surplus_kwh) - np.asarray(forecast_deficit_kwh)
    m = np.asarray(price_pred_per_kwh, dtype=float)
    vb = np.asarray(buy_value_per_kwh, dtype=float)
    vs = np.asarray(sell_value_per_kwh, dtype=float)
    sell_adv = _ratio(m - vs, np.abs(m))
    buy_adv = _ratio(vb - m, np.abs(vb))
    sell = 100.0 * (
        _W_POSITION * _ratio(position, usable)
        + _W_BATTERY * _ratio(stored, usable)
        + _W_PRICE * sell_adv
    )
    buy = 100.0 * (
        _W_POSITION * _ratio(-position, usable)
        + _W_BATTERY * _ratio(room, usable)
        + _W_PRICE * buy_adv
    )
    return Signals(position, position < 0.0, sell, buy)


def decide(
    sig: Signals,
    price_pred_per_kwh: np.ndarray | float,
    buy_value_per_kwh: np.ndarray | float,
    sell_value_per_kwh: np.ndarray | float,
    threshold: float = SCORE_THRESHOLD,
) -> np.ndarray:
    """The trading design's rule: :data:`BUY`, :data:`SELL` or :data:`HOLD` per household.

    A RED node buys when its score passes ``threshold`` and the expected market price is
    below its own value of energy; a GREEN node sells when its score passes it and the
    expected price is above.

    Returns
    -------
    numpy.ndarray of int8
        Decision codes (index into :data:`DECISIONS`).
    """
    score = sig.score
    m = np.asarray(price_pred_per_kwh, dtype=float)
    buy = sig.red & (score > threshold) & (m < np.asarray(buy_value_per_kwh))
    sell = ~sig.red & (score > threshold) & (m > np.asarray(sell_value_per_kwh))
    return np.where(buy, BUY, np.where(sell, SELL, HOLD)).astype(np.int8)


def expected_market_price(
    import_per_kwh: np.ndarray | float, export_credit_per_kwh: np.ndarray | float
) -> np.ndarray:
    """The coordinator's expected local price: midway between the grid's import price and
    what an export earns (at least 0, since a seller can always curtail) [currency/kWh]."""
    return 0.5 * (np.asarray(import_per_kwh) + np.maximum(export_credit_per_kwh, 0.0))


def buy_value(
    forecast_import_per_kwh: np.ndarray, round_trip_efficiency: np.ndarray, wear_per_kwh: np.ndarray
) -> np.ndarray:
    """What a kWh bought now into the battery is worth: it comes back as ``eta_rt`` kWh that
    displace imports at the forecast price, less the battery's wear [currency/kWh]."""
    return round_trip_efficiency * (np.asarray(forecast_import_per_kwh) - wear_per_kwh)


def sell_value(
    forecast_credit_per_kwh: np.ndarray, round_trip_efficiency: np.ndarray, wear_per_kwh: np.ndarray
) -> np.ndarray:
    """What a kWh sold now from the battery costs the node: refilling it takes
    ``1 / eta_rt`` kWh of surplus that would have earned the forecast feed-in credit (at
    least 0), plus the battery's wear [currency/kWh]."""
    return np.maximum(forecast_credit_per_kwh, 0.0) / round_trip_efficiency + wear_per_kwh
