"""Household load: eleven channels from routines, appliances and the weather.

Channels (``<name>_kwh`` in the load frame): fridge, washing_machine, dishwasher,
ev_charging, air_conditioning, stove, water_heater, computers, misc, lighting, base.
Appliance runs are discrete events (a wash cycle, a dinner on the stove, the EV
plugging in when it gets home) placed by daily routines that differ on weekdays and
weekends; heating and cooling follow the air temperature; lighting follows darkness.
All channels except EV charging are then scaled together so that the total over the
range equals ``annual_kwh`` pro rata; ``total_kwh`` is the sum of the channels.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from energylib.schema import LOAD_CHANNELS
from energylib.simulate.weather import day_codes, rng_stream

CHANNELS = LOAD_CHANNELS


@dataclass(frozen=True)
class Household:
    """What the household has and how it lives.

    Parameters
    ----------
    annual_kwh : float
        Total consumption per year, EV included [kWh].
    base_kw : float
        Always-on load (standby, network gear) [kW].
    has_ev : bool
        One EV that charges at home.
    ev_charging_kw : float
        Charger power [kW] (a 7 kW wallbox).
    ev_km_per_weekday : float
        Mean distance driven on a weekday [km].
    ev_kwh_per_km : float
        EV consumption at the wheels [kWh/km]; charging losses of 10 % come on top.
    hvac_capacity_kw : float
        Largest electrical input of the air conditioner [kW].
    cooling_setpoint_c, heating_setpoint_c : float
        Outdoor temperature above / below which the AC cools / heats [degC].
    electric_heating : bool
        Heating by the reverse-cycle AC (False: gas heating, as in most Dutch homes).
    water_heater_kw : float
        Electric water heater input [kW] (0: gas hot water).
    ev_in_annual : bool
        Whether ``annual_kwh`` includes the EV (default) or the EV comes on top of it.
    """

    annual_kwh: float = 5_500.0
    base_kw: float = 0.12
    has_ev: bool = True
    ev_charging_kw: float = 7.0
    ev_km_per_weekday: float = 30.0
    ev_kwh_per_km: float = 0.16
    hvac_capacity_kw: float = 2.5
    cooling_setpoint_c: float = 25.0
    heating_setpoint_c: float = 16.0
    electric_heating: bool = True
    water_heater_kw: float = 1.0
    ev_in_annual: bool = True

    def __post_init__(self) -> None:
        for name in (
            "annual_kwh",
            "base_kw",
            "ev_charging_kw",
            "ev_km_per_weekday",
            "ev_kwh_per_km",
            "hvac_capacity_kw",
            "water_heater_kw",
        ):
            if not getattr(self, name) >= 0:
                raise ValueError(f"Household.{name} must be >= 0, got {getattr(self, name)}")
        if self.has_ev and self.ev_charging_kw <= 0:
            raise ValueError("Household.ev_charging_kw must be > 0 when has_ev is True")

    def with_annual_kwh(self, annual_kwh: float | None) -> Household:
        return self if annual_kwh is None else replace(self, annual_kwh=float(annual_kwh))


HOUSEHOLDS = {
    # A typical Sydney household with a Model Y and a 7 kW charger; reverse-cycle AC, heat-pump hot water.
    "nem": Household(),
    # A Dutch household, ~2,800 kWh/yr: gas heating and hot water, no EV.
    "nl": Household(
        annual_kwh=2_800.0,
        base_kw=0.09,
        has_ev=False,
        hvac_capacity_kw=0.6,
        cooling_setpoint_c=25.0,
        electric_heating=False,
        water_heater_kw=0.0,
    ),
}


class _Clock:
    """Index arithmetic for placing events at local clock times."""

    def __init__(self, index: pd.DatetimeIndex, interval_minutes: int):
        self.n = len(index)
        self.minutes = interval_minutes
        self.codes, self.days = day_codes(index)
        self.first = np.searchsorted(self.codes, np.arange(len(self.days)))
        self.day_start_min = np.asarray(
            index[self.first].hour * 60 + index[self.first].minute, dtype=float
        )
        self.hour = (
            np.asarray(index.hour + index.minute / 60.0, dtype=float) + interval_minutes / 120.0
        )
        self.weekend_day = np.asarray(self.days.day_of_week >= 5)
        self.weekend = self.weekend_day[self.codes]

    def position(self, day: np.ndarray, hour: np.ndarray) -> np.ndarray:
        """Interval index of local ``hour`` on ``day`` (may run past the range end)."""
        offset = (hour * 60.0 - self.day_start_min[day]) / self.minutes
        return self.first[day] + np.floor(offset).astype(np.int64)


def _add_events(out: np.ndarray, start: np.ndarray, profiles: list[np.ndarray]) -> None:
    """Add each event's kW profile (one value per interval) at its start index."""
    n = len(out)
    for s, prof in zip(start, profiles, strict=True):
        if s >= n or s + len(prof) <= 0:
            continue
        lo, hi = max(s, 0), min(s + len(prof), n)
        out[lo:hi] += prof[lo - s : hi - s]


def _profile(segments: list[tuple[float, float]], minutes: int) -> np.ndarray:
    """Average kW per interval of a run made of (duration [min], kW) segments."""
    per_min = np.concatenate([np.full(int(round(d)), kw) for d, kw in segments])
    steps = int(np.ceil(len(per_min) / minutes))
    padded = np.zeros(steps * minutes)
    padded[: len(per_min)] = per_min
    return padded.reshape(steps, minutes).mean(axis=1)


def _routine_events(clock, rng, per_day_weekday, per_day_weekend, hours_wd, hours_we, make_profile):
    days = np.arange(len(clock.days))
    lam = np.where(clock.weekend_day, per_day_weekend, per_day_weekday)
    counts = rng.poisson(lam)
    day = np.repeat(days, counts)
    we = clock.weekend_day[day]
    mu = np.where(we, hours_we[0], hours_wd[0])
    sd = np.where(we, hours_we[1], hours_wd[1])
    hour = np.clip(mu + sd * rng.standard_normal(len(day)), 0.0, 23.5)
    return clock.position(day, hour), [make_profile(rng) for _ in range(len(day))]


def generate_load(
    index: pd.DatetimeIndex,
    temp_air_c: np.ndarray,
    ghi_w_m2: np.ndarray,
    interval_minutes: int,
    seed: int = 0,
    household: Household | None = None,
) -> dict[str, np.ndarray]:
    """Household load per channel over ``index`` [kWh per interval].

    Parameters
    ----------
    index : pandas.DatetimeIndex
        Interval starts in the site's time zone.
    temp_air_c : numpy.ndarray
        Air temperature per interval [degC].
    ghi_w_m2 : numpy.ndarray
        Global horizontal irradiance per interval [W/m2] (lights go on in the dark).
    interval_minutes : int
        Interval length [min].
    seed : int
        Random seed.
    household : Household
        The household (default: the Sydney one).

    Returns
    -------
    dict
        ``<channel>_kwh`` for each of :data:`CHANNELS` and ``total_kwh`` (their sum),
        each a float array [kWh per interval].
    """
    hh = household or HOUSEHOLDS["nem"]
    n = len(index)
    m = interval_minutes
    clock = _Clock(index, m)
    h = clock.hour
    we = clock.weekend
    temp = np.asarray(temp_air_c, dtype=float)
    kw: dict[str, np.ndarray] = {c: np.zeros(n) for c in CHANNELS}
    t_min = np.asarray(
        (index - pd.Timestamp("2000-01-01", tz="UTC")) / pd.Timedelta(minutes=1), dtype=float
    )

    # Fridge: a compressor cycling 45 min periods; duty rises with the kitchen (air) temperature.
    r = rng_stream(seed, 11)
    duty = np.clip(0.30 + 0.012 * (temp - 20.0), 0.15, 0.6)
    phase = (t_min + r.uniform(0, 45)) % 45.0 / 45.0
    on_share = np.clip((duty - phase) * 45.0 / m, 0.0, 1.0) + np.clip(
        (phase + m / 45.0 - 1.0) * 45.0 / m, 0.0, duty * 45.0 / m
    )
    kw["fridge"] = 0.16 * np.clip(on_share, 0.0, 1.0) + 0.005

    # Washing machine: ~6 loads a week, weekend mornings and weekday evenings.
    r = rng_stream(seed, 12)
    starts, profs = _routine_events(
        clock,
        r,
        0.7,
        1.4,
        (18.5, 1.5),
        (10.0, 2.0),
        lambda g: _profile([(g.uniform(12, 25), 2.0), (g.uniform(40, 70), 0.25), (12, 0.5)], m),
    )
    _add_events(kw["washing_machine"], starts, profs)

    # Dishwasher: most evenings after dinner.
    r = rng_stream(seed, 13)
    starts, profs = _routine_events(
        clock,
        r,
        0.75,
        0.9,
        (20.5, 0.8),
        (20.0, 1.2),
        lambda g: _profile([(g.uniform(20, 30), 1.8), (60, 0.12), (20, 1.6), (30, 0.05)], m),
    )
    _add_events(kw["dishwasher"], starts, profs)

    # Stove/oven and kettle: breakfast, weekend lunch, dinner.
    r = rng_stream(seed, 14)
    for lam_wd, lam_we, hwd, hwe, seg in (
        (0.8, 0.9, (7.0, 0.5), (8.5, 1.0), lambda g: [(g.uniform(5, 15), 1.8)]),
        (0.1, 0.6, (12.5, 0.5), (12.5, 0.7), lambda g: [(g.uniform(10, 25), 1.6)]),
        (
            0.85,
            0.8,
            (18.0, 0.6),
            (18.2, 0.8),
            lambda g: [(g.uniform(20, 50), g.uniform(1.2, 2.4)), (g.uniform(0, 30), 0.8)],
        ),
    ):
        starts, profs = _routine_events(
            clock, r, lam_wd, lam_we, hwd, hwe, lambda g, seg=seg: _profile(seg(g), m)
        )
        _add_events(kw["stove"], starts, profs)

    # Water heater (heat pump): runs after the morning and evening showers, longer when cold.
    if hh.water_heater_kw > 0:
        r = rng_stream(seed, 15)
        day_temp = np.bincount(clock.codes, temp) / np.maximum(np.bincount(clock.codes), 1)
        days = np.arange(len(clock.days))
        for mu, sd, share in ((7.5, 0.7, 0.55), (20.0, 1.0, 0.45)):
            run_min = (150.0 + 6.0 * np.clip(20.0 - day_temp, -5, 15)) * share * 1.6
            hour = mu + sd * r.standard_normal(len(days)) + np.where(clock.weekend_day, 1.0, 0.0)
            starts = clock.position(days, np.clip(hour, 0, 23.5))
            profs = [_profile([(max(d, 10.0), hh.water_heater_kw)], m) for d in run_min]
            _add_events(kw["water_heater"], starts, profs)

    # Air conditioning: cooling above the setpoint when someone is home, heating below it
    # in the morning and evening; electrical input capped by the unit's capacity.
    home = np.where(
        we, (h >= 8) & (h < 23), ((h >= 6) & (h < 8.5)) | ((h >= 15.5) & (h < 23))
    ).astype(float)
    home = np.maximum(
        home, 0.25 * ((h >= 8.5) & (h < 15.5)) * (~we)
    )  # some days someone works from home
    cooling = np.clip(temp - hh.cooling_setpoint_c, 0, None) * 0.5
    heating = np.clip(hh.heating_setpoint_c - temp, 0, None) * 0.35 if hh.electric_heating else 0.0
    kw["air_conditioning"] = np.minimum((cooling + heating) * home, hh.hvac_capacity_kw)

    # Computers: standby, working hours on weekdays, evenings.
    r = rng_stream(seed, 16)
    wfh = (r.random(len(clock.days)) < 0.4)[clock.codes] & ~we
    kw["computers"] = 0.04 + 0.18 * wfh * ((h >= 8.5) & (h < 17)) + 0.12 * ((h >= 19) & (h < 23.5))

    # Lighting: when it is dark and people are awake.
    dark = np.clip(1.0 - np.asarray(ghi_w_m2, dtype=float) / 80.0, 0.0, 1.0)
    awake = ((h >= 6.0) & (h < 8.5)) | ((h >= 16.0) & (h < 23.5))
    kw["lighting"] = 0.02 + 0.22 * dark * awake

    # Misc (TV, small appliances): evening bump and noise; base: always on.
    r = rng_stream(seed, 17)
    kw["misc"] = (
        0.05 + 0.18 * np.exp(-((h - 20.0) ** 2) / 4.0) + 0.08 * we * ((h > 9) & (h < 22))
    ) * r.lognormal(0, 0.3, n)
    kw["base"] = np.full(n, hh.base_kw) * r.lognormal(0, 0.05, n)

    # EV: plugs in on getting home and charges the day's driving at full power.
    if hh.has_ev:
        r = rng_stream(seed, 18)
        days = np.arange(len(clock.days))
        wkd = ~clock.weekend_day
        km = np.where(
            wkd, r.gamma(9.0, hh.ev_km_per_weekday / 9.0, len(days)), r.gamma(1.2, 30.0, len(days))
        )
        km = np.where(r.random(len(days)) < 0.06, 0.0, km)  # days the car stays home
        need_kwh = km * hh.ev_kwh_per_km / 0.9
        arrive = np.where(
            wkd,
            17.8 + 0.7 * r.standard_normal(len(days)),
            13.0 + 3.0 * r.standard_normal(len(days)),
        )
        starts = clock.position(days, np.clip(arrive, 9.0, 23.0))
        profs = [
            _profile([(e / hh.ev_charging_kw * 60.0, hh.ev_charging_kw)], m)
            if e > 0.05
            else np.zeros(0)
            for e in need_kwh
        ]
        _add_events(kw["ev_charging"], starts, profs)

    hours = m / 60.0
    kwh = {c: v * hours for c, v in kw.items()}
    target = hh.annual_kwh * n * m / (365.0 * 1440.0)
    ev = float(kwh["ev_charging"].sum())
    rest = sum(float(v.sum()) for c, v in kwh.items() if c != "ev_charging")
    if not hh.ev_in_annual:
        target += ev
    if ev > 0 and ev >= target:
        raise ValueError(
            f"EV charging alone ({ev:.0f} kWh) exceeds the household's consumption over the range "
            f"({target:.0f} kWh from annual_kwh={hh.annual_kwh}); raise annual_kwh or lower ev_km_per_weekday"
        )
    scale = (target - ev) / rest if rest > 0 else 0.0
    out = {f"{c}_kwh": (v if c == "ev_charging" else v * scale) for c, v in kwh.items()}
    total = np.zeros(n)
    for c in CHANNELS:
        total += out[f"{c}_kwh"]
    out["total_kwh"] = total
    return out
