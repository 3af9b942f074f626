"""Synthetic electricity prices: a NEM region (5-min, AUD) and the Dutch day-ahead market (EUR).

NEM wholesale model
-------------------
The 5-min spot price is a *body* plus *spike events*:

* body: for each local hour a two-piece distribution around the hour's median
  (:data:`NEM_HOUR_MEDIAN`), its lower scale set so that the hour's negative share
  matches :data:`NEM_HOUR_NEGATIVE_SHARE`; a month level (:data:`NEM_MONTH_SHIFT`,
  calibrated once against the monthly means below); deep negatives are compressed
  (bids cluster between 0 and -60 $/MWh; the -1000 floor is rare).  The standard
  normal driver is a mix of a day factor (sunny days push midday prices down,
  taken from the weather's clearness when given), a 2-hour AR(1) and white noise;
* spikes: Poisson numbers of events per tier (300-1,000, 1,000-10,000 and
  10,000 to the market price cap $/MWh) with geometric durations, placed in peak
  hours, mostly in a winter month (June, as in 2025).

The targets below are AEMO VIC1 2025 (105,120 five-minute intervals, AUD/MWh,
GST excluded), from issue 4; ``tests/simulate/test_prices.py`` checks a generated
year against them within :data:`NEM_BOUNDS`.

Retail: Amber-like all-in price = (spot x loss factor + network time-of-use +
environmental/market charges) x GST; feed-in price = -spot x loss factor
(Amber's sign: negative when exporting earns money).

Dutch model: a day-ahead shape (night, morning and evening peaks, a solar dip
deepening in summer), winter level, AR noise, on a 15-min grid; the hourly
product is the hourly mean.  All-in = (spot + supplier margin + energy tax) x VAT.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtri

from energylib.simulate.weather import ar1, day_codes, rng_stream
from energylib.tariff import Calendar, DynamicEUTariff, MarketPrices, NemRetailTariff

# ---------------------------------------------------------------- NEM targets (VIC1 2025)
NEM_TARGETS = {
    "mean": 77.9,
    "median": 62.4,
    "std": 346.6,
    "negative_share": 0.240,
    "p1": -63.0,
    "p5": -32.0,
    "p25": 0.0,
    "p75": 120.0,
    "p95": 212.0,
    "p99": 300.0,
    "count_above_300": 1031,
    "count_above_1000": 166,
    "count_above_10000": 56,
}
#: Median spot price by local hour of day [AUD/MWh].
NEM_HOUR_MEDIAN = {
    0: 80,
    3: 67,
    6: 78,
    8: 19,
    10: -4,
    12: -9,
    14: 0,
    16: 68,
    17: 119,
    18: 132,
    20: 119,
    22: 97,
}
#: Share of negative intervals by local hour of day.
NEM_HOUR_NEGATIVE_SHARE = {3: 0.16, 9: 0.45, 12: 0.55, 15: 0.41, 18: 0.07, 21: 0.04}
#: Mean spot price by month [AUD/MWh] (June: a winter spike month).
NEM_MONTH_MEAN = {
    1: 48,
    2: 69,
    3: 62,
    4: 75,
    5: 78,
    6: 265,
    7: 82,
    8: 93,
    9: 55,
    10: 51,
    11: 32,
    12: 28,
}
#: Bounds the generated year is tested within.
NEM_BOUNDS = {
    "mean_rel": 0.15,  # mean within +-15 %
    "median_abs": 12.0,  # $/MWh
    "std_rel": 0.30,  # spikes dominate the std: +-30 %
    "negative_share_abs": 0.05,  # +-5 points, overall and by hour
    "percentile_abs": 25.0,  # $/MWh for p1..p99
    "count_rel": 0.40,  # counts above 300 / 1,000 / 10,000: +-40 %
    "hour_median_abs": 25.0,  # $/MWh
    "month_mean_rel": 0.30,  # or month_mean_abs, whichever is larger
    "month_mean_abs": 15.0,
}

# ---------------------------------------------------------------- NEM model parameters
#: Month level added to the body [AUD/MWh]; calibrated against NEM_MONTH_MEAN with the
#: spike months' event energy taken out (June's mean is mostly spikes).
NEM_MONTH_SHIFT = {
    1: -26,
    2: -2,
    3: 2,
    4: 8,
    5: 24,
    6: 26,
    7: 25,
    8: 24,
    9: -12,
    10: -19,
    11: -36,
    12: -38,
}
NEM_UPPER_SCALE = (0.35, 38.0)  # upper scale = a * |median| + b [AUD/MWh]
NEM_UPPER_CURVE = 0.05  # z + c z^2 above the median: a heavier right tail
NEM_NEGATIVE_COMPRESSION = (20.0, 0.35)  # x < 0 -> -c ((1 - x / c)^a - 1) / a
NEM_MIDDAY_LOWER_SCALE = 45.0  # lower scale where the median is <= 0
NEM_LOWER_SCALE_FACTOR = 0.80  # the month levels widen the pooled spread; narrow each month's
NEM_DRIVER_WEIGHTS = (0.35, 0.80, 0.45)  # day factor, 2-h AR(1), white noise
#: Spike tiers: (low, high [AUD/MWh, None = market price cap], events per year, mean duration [intervals]).
NEM_SPIKE_TIERS = (
    (300.0, 1_000.0, 60, 6.0),
    (1_000.0, 10_000.0, 32, 3.0),
    (10_000.0, None, 14, 3.5),
)
#: Share of spike events per month.
NEM_SPIKE_MONTH_WEIGHT = {2: 0.03, 6: 0.92, 8: 0.05}
#: Market price cap [AUD/MWh]: FY2024-25 and from 1 July 2025.
NEM_MARKET_PRICE_CAP = ((pd.Timestamp("2025-07-01", tz="Australia/Brisbane"), 17_500.0, 20_300.0),)

# ---------------------------------------------------------------- retail (Amber-like, NSW network)
#: The default year's retail prices: the library's NEM retail tariff on the model NSW network
#: (peak 16-21, shoulder 07-16 and 21-22, off-peak 22-07), 3.5 c/kWh pass-throughs ex GST.
RETAIL = NemRetailTariff(network="simulated_nsw", pass_through_per_kwh=0.035)
DAILY_SUPPLY_CHARGE_AUD = 1.12  # per day, incl. GST (network + Amber's daily share)
#: Amber descriptor by spot price [AUD/MWh]: upper bounds.
DESCRIPTORS = (
    (0.0, "negative"),
    (30.0, "extremelyLow"),
    (60.0, "veryLow"),
    (90.0, "low"),
    (150.0, "neutral"),
    (300.0, "high"),
    (np.inf, "spike"),
)
SPIKE_THRESHOLD = 300.0  # AUD/MWh
POTENTIAL_SPIKE_THRESHOLD = 250.0

# ---------------------------------------------------------------- Netherlands
#: The Dutch dynamic contract of 2025 (energy tax 0.10154, margin 0.02 EUR/kWh ex VAT, VAT 21 %).
NL_RETAIL = DynamicEUTariff()
NL_QUARTER_HOUR_FROM = pd.Timestamp("2025-09-30T22:00Z")  # 2025-10-01 00:00 Amsterdam


def _periodic_interp(points: dict[int, float], hour: np.ndarray) -> np.ndarray:
    """Interpolate hour-of-day points linearly, wrapping around midnight.

    A point for hour ``h`` describes the bin ``[h, h+1)``, so it sits at ``h + 0.5``.
    """
    keys = sorted(points)
    ys = np.array([points[k] for k in keys], dtype=float)
    xs = np.array(keys, dtype=float) + 0.5
    xs = np.r_[xs - 24, xs, xs + 24]
    ys = np.r_[ys, ys, ys]
    return np.interp(hour, xs, ys)


def network_period(hour: np.ndarray) -> np.ndarray:
    """Network tariff period (``peak``/``shoulder``/``off_peak``) of each local hour."""
    h = np.asarray(hour)
    return np.where(
        (h >= 16) & (h < 21), "peak", np.where((h >= 7) & (h < 22), "shoulder", "off_peak")
    )


def descriptor(spot_mwh: np.ndarray) -> np.ndarray:
    """Amber-style descriptor of each spot price [AUD/MWh]."""
    bounds = np.array([b for b, _ in DESCRIPTORS])
    names = np.array([n for _, n in DESCRIPTORS])
    return names[
        np.searchsorted(bounds, np.asarray(spot_mwh), side="right").clip(0, len(names) - 1)
    ]


def spike_status(spot_mwh: np.ndarray) -> np.ndarray:
    """``spike`` at or above 300 $/MWh, ``potential`` from 250, else ``none``."""
    s = np.asarray(spot_mwh)
    return np.where(
        s >= SPIKE_THRESHOLD, "spike", np.where(s >= POTENTIAL_SPIKE_THRESHOLD, "potential", "none")
    )


def _market_price_cap(index: pd.DatetimeIndex) -> np.ndarray:
    change, before, after = NEM_MARKET_PRICE_CAP[0]
    return np.where(index >= change, after, before)


def nem_spot(
    index: pd.DatetimeIndex,
    interval_minutes: int = 5,
    seed: int = 0,
    *,
    clearness: np.ndarray | None = None,
    spikes: bool = True,
    spike_seed: int | None = None,
) -> np.ndarray:
    """NEM-shaped wholesale price per interval [AUD/MWh, GST excluded].

    Parameters
    ----------
    index : pandas.DatetimeIndex
        Interval starts, tz-aware; local features use the NEM time zone (UTC+10).
    interval_minutes : int
        Interval length [min]; the model is 5-min, longer intervals are the mean of it.
    seed : int
        Random seed.
    clearness : numpy.ndarray, optional
        Clearness index per interval from the weather (0-1.1): sunny days lower the
        midday price.  Without it the day factor is pure noise.
    spikes : bool
        Overlay the spike events; False gives the body alone (what a forecaster could know
        at best if the events are unforeseeable).
    spike_seed : int, optional
        Seed of the spike events (default ``seed``): another draw of the events over the
        same body, as the process could have placed them.

    Returns
    -------
    numpy.ndarray
        Spot price per interval [AUD/MWh].
    """
    if interval_minutes != 5:
        fine = pd.date_range(
            index[0],
            index[-1] + pd.Timedelta(minutes=interval_minutes),
            freq="5min",
            inclusive="left",
        )
        kc = None
        if clearness is not None:
            kc = np.repeat(np.asarray(clearness, dtype=float), interval_minutes // 5)[: len(fine)]
        fine_spot = nem_spot(fine, 5, seed, clearness=kc, spikes=spikes, spike_seed=spike_seed)
        k = interval_minutes // 5
        return fine_spot[: len(index) * k].reshape(len(index), k).mean(axis=1)
    nem_time = index.tz_convert("Australia/Brisbane")  # NEM time: AEST all year
    n = len(index)
    hour = np.asarray(nem_time.hour + nem_time.minute / 60.0, dtype=float) + 2.5 / 60.0
    month = np.asarray(nem_time.month)
    codes, days = day_codes(nem_time)
    rng = rng_stream(seed, 21)

    # Standard-normal driver: day factor (weather), 2-hour AR(1), white noise.
    w_day, w_ar, w_white = NEM_DRIVER_WEIGHTS
    day_noise = ar1(rng, len(days), 0.4)
    if clearness is not None:
        kc = np.asarray(clearness, dtype=float)
        midday = (hour >= 9) & (hour < 16)
        day_kc = np.bincount(codes, kc * midday, minlength=len(days)) / np.maximum(
            np.bincount(codes, midday.astype(float), minlength=len(days)), 1
        )
        sd = day_kc.std() or 1.0
        day_factor = 0.6 * (-(day_kc - day_kc.mean()) / sd) + 0.8 * day_noise
    else:
        day_factor = day_noise
    z = (
        w_day * day_factor[codes]
        + w_ar * ar1(rng, n, float(np.exp(-5.0 / 120.0)))
        + w_white * rng.standard_normal(n)
    )
    z /= np.sqrt(w_day**2 + w_ar**2 + w_white**2)

    med = _periodic_interp(NEM_HOUR_MEDIAN, hour)
    neg = _periodic_interp(NEM_HOUR_NEGATIVE_SHARE, hour)
    upper = NEM_UPPER_SCALE[0] * np.abs(med) + NEM_UPPER_SCALE[1]
    # Lower scale so that P(price < 0) = neg where the median is positive.
    lower = NEM_LOWER_SCALE_FACTOR * np.where(
        med > 0,
        med / np.maximum(ndtri(1.0 - np.clip(neg, 0.01, 0.49)), 0.05),
        NEM_MIDDAY_LOWER_SCALE,
    )
    shift = np.array([NEM_MONTH_SHIFT[m] for m in range(1, 13)], dtype=float)[month - 1]
    body = med + shift + np.where(z > 0, upper * (z + NEM_UPPER_CURVE * z**2), lower * z)
    c, a = NEM_NEGATIVE_COMPRESSION
    body = np.where(body < 0, -c * ((1.0 - np.minimum(body, 0.0) / c) ** a - 1.0) / a, body)

    if not spikes:
        return body
    cap = _market_price_cap(index)
    events = rng_stream(seed if spike_seed is None else spike_seed, 22)
    return _add_spikes(body.copy(), nem_time, hour, month, cap, events)


def _add_spikes(spot, nem_time, hour, month, cap, rng) -> np.ndarray:
    """Overlay spike events: per tier a Poisson number of events, expected count =
    events per year x the covered share of the spike months' weight."""
    n = len(spot)
    peak = ((hour >= 7) & (hour < 9.5)) | ((hour >= 16) & (hour < 21))
    total_weight = sum(NEM_SPIKE_MONTH_WEIGHT.values())
    present, weights = [], []
    for m, wgt in sorted(NEM_SPIKE_MONTH_WEIGHT.items()):
        in_month = np.count_nonzero((month == m) & peak)
        if in_month:
            days_in_month = pd.Period(f"2025-{m:02d}").days_in_month
            covered = min(1.0, np.count_nonzero(month == m) / (days_in_month * 288.0))
            present.append(m)
            weights.append(wgt / total_weight * covered)
    if not present:
        return spot
    share = float(sum(weights))
    p = np.array(weights) / share
    for low, high, per_year, mean_len in NEM_SPIKE_TIERS:
        for _ in range(rng.poisson(per_year * share)):
            m = present[rng.choice(len(present), p=p)]
            start = int(rng.choice(np.flatnonzero((month == m) & peak)))
            stop = min(start + 1 + int(rng.poisson(mean_len - 1.0)), n)
            if high is None:
                level = rng.uniform(low, cap[start:stop])
            else:
                level = np.exp(rng.uniform(np.log(low), np.log(high), stop - start))
            spot[start:stop] = np.maximum(spot[start:stop], level)
    return spot


def _calendar(index: pd.DatetimeIndex, timezone: str) -> Calendar:
    minutes = int((index[1] - index[0]).total_seconds() // 60) if len(index) > 1 else 5
    return Calendar.from_utc(
        index.tz_convert("UTC").tz_localize(None).to_numpy(), timezone, minutes
    )


def nem_retail(spot_mwh: np.ndarray, index: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """Amber-like retail prices from spot prices, through :data:`RETAIL` (energylib.tariff).

    Parameters
    ----------
    spot_mwh : numpy.ndarray
        Wholesale price [AUD/MWh, ex GST].
    index : pandas.DatetimeIndex
        Interval starts (tz-aware); the network tariff uses the Sydney clock.

    Returns
    -------
    dict
        ``general_price_per_kwh`` (all-in, GST incl.), ``feed_in_price_per_kwh``
        (negative when exporting earns money), ``spot_per_kwh`` [AUD/kWh ex GST],
        ``descriptor``, ``spike_status``, ``tariff_period``.
    """
    local = index.tz_convert("Australia/Sydney")
    hour = np.asarray(local.hour + local.minute / 60.0, dtype=float)
    spot_kwh = np.asarray(spot_mwh, dtype=float) / 1000.0
    general, credit = RETAIL.interval_prices(
        _calendar(index, "Australia/Sydney"), MarketPrices(spot_per_kwh=spot_kwh)
    )
    return {
        "general_price_per_kwh": general,
        "feed_in_price_per_kwh": -credit,
        "spot_per_kwh": spot_kwh,
        "descriptor": descriptor(spot_mwh),
        "spike_status": spike_status(spot_mwh),
        "tariff_period": network_period(hour),
    }


def nl_spot(
    index: pd.DatetimeIndex, seed: int = 0, *, clearness: np.ndarray | None = None
) -> np.ndarray:
    """Dutch day-ahead-shaped price per 15-min interval [EUR/MWh, VAT excluded].

    Parameters
    ----------
    index : pandas.DatetimeIndex
        15-min interval starts, tz-aware.
    seed : int
        Random seed.
    clearness : numpy.ndarray, optional
        Clearness per interval: sunny days deepen the midday dip.
    """
    local = index.tz_convert("Europe/Amsterdam")
    n = len(index)
    hour = np.asarray(local.hour + local.minute / 60.0, dtype=float) + 7.5 / 60.0
    doy = np.asarray(local.day_of_year, dtype=float)
    weekend = np.asarray(local.day_of_week >= 5)
    codes, days = day_codes(local)
    rng = rng_stream(seed, 31)
    summer = 0.5 + 0.5 * np.cos(2 * np.pi * (doy - 172) / 365.25)  # 1 at midsummer
    level = 95.0 + 25.0 * (1 - summer) - 8.0 * weekend
    shape = (
        -18.0 * np.exp(-((hour - 3.5) ** 2) / 8.0)
        + 22.0 * np.exp(-((hour - 8.0) ** 2) / 2.0)
        + 40.0 * np.exp(-((hour - 19.5) ** 2) / 3.0)
    )
    sun = np.exp(-((hour - 13.5) ** 2) / 7.0)
    if clearness is not None:
        kc = np.asarray(clearness, dtype=float)
        day_kc = np.bincount(codes, kc, minlength=len(days)) / np.maximum(np.bincount(codes), 1)
        sunny = np.clip(day_kc / max(day_kc.mean(), 1e-6), 0.3, 1.8)[codes]
    else:
        sunny = np.exp(ar1(rng, len(days), 0.5, 0.3))[codes]
    dip = (45.0 + 80.0 * summer) * sun * sunny * (1.0 + 0.4 * weekend)
    wind = ar1(rng, len(days), 0.7, 18.0)[codes]
    noise = ar1(rng, n, float(np.exp(-15.0 / 180.0)), 14.0) + rng.standard_normal(n) * 4.0
    spot = level + shape - dip - wind + noise
    # negatives cluster near zero
    spot = np.where(spot < 0, -25.0 * np.log1p(-np.minimum(spot, 0.0) / 25.0), spot)
    spikes = rng.random(n) < 0.0008
    spot[spikes] += rng.exponential(250.0, spikes.sum())
    return spot


def nl_retail(spot_mwh: np.ndarray) -> np.ndarray:
    """All-in Dutch dynamic-contract price [EUR/kWh incl. energy tax and VAT] (:data:`NL_RETAIL`)."""
    return NL_RETAIL.import_per_kwh(np.asarray(spot_mwh, dtype=float) / 1000.0)


def nem_statistics(spot_mwh: np.ndarray, index: pd.DatetimeIndex) -> dict:
    """The statistics of :data:`NEM_TARGETS` (and by hour and month) of a price series [AUD/MWh]."""
    s = np.asarray(spot_mwh, dtype=float)
    nem_time = index.tz_convert("Australia/Brisbane")
    hour = np.asarray(nem_time.hour)
    month = np.asarray(nem_time.month)
    out = {
        "mean": float(s.mean()),
        "median": float(np.median(s)),
        "std": float(s.std()),
        "negative_share": float((s < 0).mean()),
        **{f"p{q}": float(np.percentile(s, q)) for q in (1, 5, 25, 75, 95, 99)},
        "count_above_300": int((s > 300).sum()),
        "count_above_1000": int((s > 1000).sum()),
        "count_above_10000": int((s > 10000).sum()),
        "hour_median": {
            h: float(np.median(s[hour == h])) for h in NEM_HOUR_MEDIAN if np.any(hour == h)
        },
        "hour_negative_share": {
            h: float((s[hour == h] < 0).mean())
            for h in NEM_HOUR_NEGATIVE_SHARE
            if np.any(hour == h)
        },
        "month_mean": {m: float(s[month == m].mean()) for m in range(1, 13) if np.any(month == m)},
    }
    return out
