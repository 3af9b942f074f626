"""Asset specs for dispatch: home battery, EV and its driving, V2H/V2G, grid limits.

Every spec is a frozen dataclass with units in its field names; each turns itself
into the per-interval numbers the dispatch kernels use (kWh per interval, one-way
efficiencies) through a ``per_interval(...)``/``arrays(...)`` method, so the kernels
in :mod:`energylib.dispatch.rules` and :mod:`energylib.dispatch.optimum` see plain
floats and arrays only.

Conventions
-----------
* Energy in kWh, power in kW, money per kWh in the tariff's currency.
* Round-trip efficiency ``eta_rt`` is split evenly: charge and discharge each
  ``sqrt(eta_rt)``.  AC energy *into* the battery ``c`` raises the stored energy by
  ``sqrt(eta_rt) * c``; taking ``d`` AC *out* lowers it by ``d / sqrt(eta_rt)``.
* State of charge (SoC) is stored energy in kWh; its window is
  ``[soc_min_fraction, soc_max_fraction] * capacity``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import time

import numpy as np

EV_STRATEGIES = ("immediate", "solar_only", "cheapest", "solar_cheapest")


def _check(cond: bool, what: str) -> None:
    if not cond:
        raise ValueError(what)


@dataclass(frozen=True)
class Battery:
    """A stationary home battery (defaults: Tesla Powerwall 2).

    Parameters
    ----------
    capacity_kwh : float
        Nameplate usable energy when new [kWh] (Powerwall: 13.5).
    charge_kw, discharge_kw : float
        AC charge and discharge power limits [kW] (Powerwall: 5).
    round_trip_efficiency : float
        AC-to-AC round-trip efficiency [0-1] (Powerwall: 0.90), split sqrt each way.
    soc_min_fraction, soc_max_fraction : float
        Usable window as fractions of capacity [0-1] (e.g. 0.10-1.00, or the trading
        system's 0.10-0.80).
    initial_soc_fraction : float
        SoC at the first interval [0-1 of capacity]; clipped into the window.
    fade_per_cycle_fraction : float
        Capacity lost per full cycle-equivalent [fraction of nameplate per cycle]
        (e.g. 0.2 / 4000 = 5e-5 for 80 % after 4000 cycles).  0 disables it.
    fade_per_year_fraction : float
        Calendar fade [fraction of nameplate per year].  0 disables it.
    wear_cost_per_kwh : float
        Wear cost charged per kWh discharged [currency/kWh]; used by the optimum and the
        arbitrage policies to skip trades that do not pay for the battery's wear.
    """

    capacity_kwh: float = 13.5
    charge_kw: float = 5.0
    discharge_kw: float = 5.0
    round_trip_efficiency: float = 0.90
    soc_min_fraction: float = 0.10
    soc_max_fraction: float = 1.00
    initial_soc_fraction: float = 0.50
    fade_per_cycle_fraction: float = 0.0
    fade_per_year_fraction: float = 0.0
    wear_cost_per_kwh: float = 0.0

    def __post_init__(self) -> None:
        _check(
            self.capacity_kwh > 0, f"Battery.capacity_kwh must be > 0 kWh, got {self.capacity_kwh}"
        )
        _check(
            self.charge_kw >= 0 and self.discharge_kw >= 0,
            "Battery charge_kw/discharge_kw must be >= 0 kW",
        )
        _check(
            0 < self.round_trip_efficiency <= 1,
            f"Battery.round_trip_efficiency must be in (0, 1], got {self.round_trip_efficiency}",
        )
        _check(
            0 <= self.soc_min_fraction < self.soc_max_fraction <= 1,
            f"Battery SoC window must satisfy 0 <= soc_min_fraction < soc_max_fraction <= 1, "
            f"got {self.soc_min_fraction}-{self.soc_max_fraction}",
        )
        _check(
            self.fade_per_cycle_fraction >= 0 and self.fade_per_year_fraction >= 0,
            "Battery fade must be >= 0",
        )
        _check(self.wear_cost_per_kwh >= 0, "Battery.wear_cost_per_kwh must be >= 0")

    @property
    def eta_one_way(self) -> float:
        """One-way efficiency sqrt(round trip) [0-1]."""
        return math.sqrt(self.round_trip_efficiency)

    def per_interval(self, interval_minutes: int) -> tuple[float, float]:
        """Charge and discharge limits per interval [kWh AC]."""
        h = interval_minutes / 60.0
        return self.charge_kw * h, self.discharge_kw * h

    @property
    def initial_soc_kwh(self) -> float:
        """Stored energy at the first interval, ``initial_soc_fraction`` clipped into the window [kWh]."""
        f = min(max(self.initial_soc_fraction, self.soc_min_fraction), self.soc_max_fraction)
        return f * self.capacity_kwh

    def calendar_capacity_kwh(self, n: int, interval_minutes: int, start: int = 0) -> np.ndarray:
        """Capacity after calendar fade in intervals ``start .. start + n - 1`` [kWh] (never < 0)."""
        years = (start + np.arange(n)) * interval_minutes / 525_600.0
        return self.capacity_kwh * np.maximum(1.0 - self.fade_per_year_fraction * years, 0.0)


POWERWALL_2 = Battery()


@dataclass(frozen=True)
class DrivingProfile:
    """When the car is away and how far it goes.

    Parameters
    ----------
    weekday_km, weekend_km : float
        Distance driven per day [km] on weekdays (Mon-Fri) and weekends.
    weekday_departure, weekday_return : datetime.time
        Local departure and return times on weekdays.
    weekend_departure, weekend_return : datetime.time
        Same on weekends.  A day with 0 km has no trip (the car stays home).
    """

    weekday_km: float = 40.0
    weekend_km: float = 25.0
    weekday_departure: time = time(8, 0)
    weekday_return: time = time(18, 0)
    weekend_departure: time = time(10, 0)
    weekend_return: time = time(15, 0)

    def __post_init__(self) -> None:
        _check(self.weekday_km >= 0 and self.weekend_km >= 0, "DrivingProfile km must be >= 0")
        _check(
            self.weekday_departure < self.weekday_return,
            "weekday departure must be before return (same day)",
        )
        _check(
            self.weekend_departure < self.weekend_return,
            "weekend departure must be before return (same day)",
        )


@dataclass(frozen=True)
class EV:
    """An electric vehicle, its home charger and how it is driven (defaults: Model Y LR).

    Parameters
    ----------
    capacity_kwh : float
        Usable battery energy [kWh] (Model Y Long Range: 75).
    consumption_kwh_per_km : float
        Energy drawn from the battery per km [kWh/km] (Model Y: ~0.15).
    charger_kw : float
        Home charger AC limit [kW] (7 kW single-phase wallbox).
    charge_efficiency : float
        AC-to-battery efficiency of charging [0-1].
    departure_soc_fraction : float
        Required SoC at every departure [0-1 of capacity].
    max_soc_fraction : float
        Charge limit set in the car [0-1]; no strategy charges above it.
    min_soc_fraction : float
        The ``solar_only`` strategy's floor: below it, charge from the grid at once [0-1].
    initial_soc_fraction : float
        SoC at the first interval [0-1].
    driving : DrivingProfile
        Trips.
    bidirectional_kw : float
        V2H/V2G discharge limit of the (bidirectional) charger [kW]; used only when the
        scenario enables V2H or V2G.
    discharge_efficiency : float
        Battery-to-AC efficiency when discharging [0-1].
    reserve_soc_fraction : float
        V2H/V2G never discharge below this [0-1].
    wear_cost_per_kwh : float
        Battery wear per kWh discharged to the home or grid [currency/kWh]; V2G exports
        only when the feed-in credit pays for it and for recharging.
    """

    capacity_kwh: float = 75.0
    consumption_kwh_per_km: float = 0.15
    charger_kw: float = 7.0
    charge_efficiency: float = 0.92
    departure_soc_fraction: float = 0.80
    max_soc_fraction: float = 0.90
    min_soc_fraction: float = 0.30
    initial_soc_fraction: float = 0.60
    driving: DrivingProfile = field(default_factory=DrivingProfile)
    bidirectional_kw: float = 7.0
    discharge_efficiency: float = 0.92
    reserve_soc_fraction: float = 0.50
    wear_cost_per_kwh: float = 0.05

    def __post_init__(self) -> None:
        _check(self.capacity_kwh > 0, f"EV.capacity_kwh must be > 0 kWh, got {self.capacity_kwh}")
        _check(
            self.charger_kw >= 0 and self.bidirectional_kw >= 0, "EV charger limits must be >= 0 kW"
        )
        for name in ("charge_efficiency", "discharge_efficiency"):
            v = getattr(self, name)
            _check(0 < v <= 1, f"EV.{name} must be in (0, 1], got {v}")
        for name in (
            "departure_soc_fraction",
            "max_soc_fraction",
            "min_soc_fraction",
            "initial_soc_fraction",
            "reserve_soc_fraction",
        ):
            v = getattr(self, name)
            _check(0 <= v <= 1, f"EV.{name} must be in [0, 1], got {v}")
        _check(
            self.initial_soc_fraction <= self.max_soc_fraction,
            f"EV.initial_soc_fraction {self.initial_soc_fraction} is above the charge limit "
            f"max_soc_fraction {self.max_soc_fraction}",
        )
        _check(
            self.departure_soc_fraction <= self.max_soc_fraction,
            f"EV.departure_soc_fraction {self.departure_soc_fraction} is above the charge limit "
            f"max_soc_fraction {self.max_soc_fraction}; raise the limit or lower the requirement",
        )

    def arrays(self, local_times: np.ndarray, interval_minutes: int) -> EVArrays:
        """Per-interval driving arrays for local interval starts.

        Parameters
        ----------
        local_times : numpy.ndarray of datetime64
            Naive *local* interval starts (site wall-clock time).
        interval_minutes : int
            Interval length [min].
        """
        return ev_arrays(self, local_times, interval_minutes)


MODEL_Y = EV()


@dataclass(frozen=True)
class EVArrays:
    """An EV's driving turned into arrays (see :func:`ev_arrays`).

    ``home[t]``: parked at home during interval t.  ``trip_kwh[t]``: battery energy used
    by the trip that starts at interval t (the first interval away) [kWh].
    ``required_kwh[t]``: SoC required at the *end* of interval t (the last interval at
    home before a departure) [kWh], else 0.  ``next_departure[t]``: index of the next
    interval whose end must meet a requirement (n when none).
    """

    home: np.ndarray
    trip_kwh: np.ndarray
    required_kwh: np.ndarray
    next_departure: np.ndarray


def ev_arrays(ev: EV, local_times: np.ndarray, interval_minutes: int) -> EVArrays:
    """Build :class:`EVArrays` from a driving profile and local interval starts [min]."""
    lt = np.asarray(local_times).astype("datetime64[m]")
    n = lt.size
    days = lt.astype("datetime64[D]")
    minute_of_day = (lt - days).astype(np.int64)
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    weekend = weekday >= 5
    d = ev.driving

    def minutes(t: time) -> int:
        return t.hour * 60 + t.minute

    dep = np.where(weekend, minutes(d.weekend_departure), minutes(d.weekday_departure))
    ret = np.where(weekend, minutes(d.weekend_return), minutes(d.weekday_return))
    km = np.where(weekend, d.weekend_km, d.weekday_km)
    # An interval is away if it starts in [departure, return) on a day with a trip.
    away = (km > 0) & (minute_of_day >= dep) & (minute_of_day < ret)
    home = ~away
    prev_away = np.concatenate(
        ([True], away[:-1])
    )  # a series starting away: trip already under way
    first_away = away & ~prev_away
    trip = np.where(first_away, km * ev.consumption_kwh_per_km, 0.0)
    required = np.zeros(n)
    idx = np.flatnonzero(first_away)
    req_kwh = ev.departure_soc_fraction * ev.capacity_kwh
    required[idx[idx > 0] - 1] = req_kwh
    # Index of the next interval (at or after t) whose end must meet a departure requirement.
    next_dep = np.full(n, n, dtype=np.int64)
    req_idx = np.flatnonzero(required > 0)
    if req_idx.size:
        pos = np.searchsorted(req_idx, np.arange(n), side="left")
        has = pos < req_idx.size
        next_dep[has] = req_idx[pos[has]]
    return EVArrays(home=home, trip_kwh=trip, required_kwh=required, next_departure=next_dep)


@dataclass(frozen=True)
class GridLimits:
    """Limits of the grid connection.

    Give either kW or kWh per interval (not both) for each direction; ``None`` means
    unlimited.  The trading system's limits are ``GridLimits(import_kwh_per_interval=10,
    export_kwh_per_interval=4, per_interval_minutes=30)``.

    The household's own load is never cut: where load minus PV alone exceeds the import
    limit, import is allowed up to that net load and no flexible charging is added.
    Exports above the export limit are curtailed PV (limits clip exports, not
    generation).

    Parameters
    ----------
    import_kw, export_kw : float or None
        Power limits [kW].
    import_kwh_per_interval, export_kwh_per_interval : float or None
        Energy limits per ``per_interval_minutes`` [kWh].
    per_interval_minutes : int
        The interval the kWh limits refer to [min]; scaled to the scenario's interval.
    """

    import_kw: float | None = None
    export_kw: float | None = None
    import_kwh_per_interval: float | None = None
    export_kwh_per_interval: float | None = None
    per_interval_minutes: int = 30

    def __post_init__(self) -> None:
        _check(
            not (self.import_kw is not None and self.import_kwh_per_interval is not None),
            "GridLimits: give import_kw or import_kwh_per_interval, not both",
        )
        _check(
            not (self.export_kw is not None and self.export_kwh_per_interval is not None),
            "GridLimits: give export_kw or export_kwh_per_interval, not both",
        )
        for name in (
            "import_kw",
            "export_kw",
            "import_kwh_per_interval",
            "export_kwh_per_interval",
        ):
            v = getattr(self, name)
            _check(v is None or v >= 0, f"GridLimits.{name} must be >= 0, got {v}")

    def per_interval(
        self, interval_minutes: int, extra_export_kw: float | None = None
    ) -> tuple[float, float]:
        """Import and export limits per interval [kWh]; ``inf`` where unlimited.

        ``extra_export_kw`` is a further export limit (a PV inverter's export setting).
        """
        h = interval_minutes / 60.0
        scale = interval_minutes / self.per_interval_minutes

        def one(kw: float | None, kwh: float | None) -> float:
            if kw is not None:
                return kw * h
            if kwh is not None:
                return kwh * scale
            return math.inf

        imp = one(self.import_kw, self.import_kwh_per_interval)
        exp = one(self.export_kw, self.export_kwh_per_interval)
        if extra_export_kw is not None:
            exp = min(exp, extra_export_kw * h)
        return imp, exp


UNLIMITED = GridLimits()
TRADING_SYSTEM_LIMITS = GridLimits(
    import_kwh_per_interval=10.0, export_kwh_per_interval=4.0, per_interval_minutes=30
)
