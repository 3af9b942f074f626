"""Feature specs, feature matrices, sequence windows, splits and scalers, at any interval.

A :class:`FeatureSpec` declares, by name, what the model sees at each interval
and what it forecasts.  It is plain data (``to_dict`` / ``from_dict``), so a
checkpoint or an exported model carries it and the Pi builds exactly the same
inputs from live history.

Any series: :meth:`FeatureSpec.for_series` makes a spec from a frame in one call
(the target, its lags of whole days, time encodings, other inputs, inputs known in
advance, any horizons, any interval length); :meth:`FeatureSpec.at_interval` moves a
spec to another interval length keeping its durations (lags of days stay days).

Inputs known in advance (``future``): day-ahead load and wind forecasts, weather
forecasts, calendar.  The model sees their values at the forecast's own intervals
``i + 1 .. i + H`` beside the history window (see
:mod:`energylib.forecast.transformer`); the baselines take them as regressors.

Two specs ship:

* :data:`TRADING_24`: the trading system's 24 features per half-hour: 9
  appliance channels (misc, lighting and base folded into ``other_kwh`` so the nine
  add up to the total), 4 battery (SoC, state of health, charge or SoC change,
  cycles per interval), 2 weather (air temperature, GHI), 4 cyclical time
  encodings (hour of day and day of week, sin/cos, from the site's local time) and
  5 price features (current price and 4 lags).
* :data:`TOTAL_PRICE_WEATHER_TIME`: what real Amber / ENTSO-E history has:
  total load, price (current and 4 lags), temperature, GHI and 6 time encodings.

Both forecast consumption (``total_kwh``, modelled as ``ln(kWh + 0.01)``) and price
(``price_per_kwh``) at three horizons: day (48), week (336) and month (1440)
half-hours after the anchor.

* :data:`CONSUMPTION_TIME` (and :func:`consumption_spec` for other interval lengths):
  meter data alone (total load, its value 1 and 7 days back, local time) forecasting
  consumption only: what real households without price or weather series have, and
  what the federated forecaster (:mod:`energylib.forecast.federated`) trains on.

Leakage rules, enforced here and proved in ``tests/forecast``: a sample anchored
at row ``i`` takes inputs from rows ``i - L + 1 .. i`` only (lags reach further
back, never forward), known-future inputs from rows ``i + 1 .. i + H`` only, and
targets from rows ``i + 1 .. i + H``; splits are contiguous blocks of time, and a
sample belongs to a split only when all of its input and target rows lie inside
that block; scalers are fitted on the training block's rows only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl

from energylib.align import join
from energylib.schema import LOAD_CHANNELS, TIME, FrameMeta, column_unit, interval_index
from energylib.store import Store

TARGET_TRANSFORMS = ("none", "log")
LOG_OFFSET = 0.01  # added before the log: [kWh per interval] for consumption, keeps 0 finite
TIME_ENCODINGS = ("hour_sin", "hour_cos", "dow_sin", "dow_cos", "doy_sin", "doy_cos")
FEATURE_KINDS = ("column", "sum", "lag", "time")
#: Lags of whole days a spec made by :meth:`FeatureSpec.for_series` gives its target [days].
DAY_LAGS = (1, 2, 3, 7)
#: Time encodings :meth:`FeatureSpec.for_series` adds by default.
DEFAULT_TIME = ("hour_sin", "hour_cos", "dow_sin", "dow_cos")
#: Task kinds: how a task's target is scaled, which loss it trains on, whether it gets a
#: level and profile baseline.  ``price``: heavy-tailed, median/IQR scaling, MAE loss,
#: residual on the recent level plus a time-of-day profile; ``consumption``: standardised, MSE.
TASK_KINDS = ("consumption", "price")


@dataclass(frozen=True)
class Feature:
    """One input feature.

    Parameters
    ----------
    name : str
        Name of the feature (column of the feature matrix).
    kind : str
        ``column``: the first of ``columns`` present in the data; a candidate written
        ``diff:<col>`` is the step difference of ``<col>`` (unit of ``<col>`` per step).
        ``sum``: the sum of all ``columns`` (all required).  ``lag``: ``columns[0]``
        ``lag`` steps earlier.  ``time``: a cyclical encoding of the site's local time,
        ``columns[0]`` one of :data:`TIME_ENCODINGS`.
    columns : tuple of str
        Source columns (see ``kind``).
    lag : int
        Steps back for ``kind='lag'`` [intervals].
    """

    name: str
    kind: str
    columns: tuple[str, ...]
    lag: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FEATURE_KINDS:
            raise ValueError(
                f"feature {self.name!r}: kind {self.kind!r} unknown; use one of {FEATURE_KINDS}"
            )
        if self.kind == "time" and self.columns[0] not in TIME_ENCODINGS:
            raise ValueError(
                f"feature {self.name!r}: time encoding {self.columns[0]!r} unknown; use one of {TIME_ENCODINGS}"
            )
        if self.kind == "lag" and self.lag < 1:
            raise ValueError(f"feature {self.name!r}: lag must be >= 1 step, got {self.lag}")

    @classmethod
    def from_dict(cls, d: Mapping) -> Feature:
        return cls(d["name"], d["kind"], tuple(d["columns"]), int(d.get("lag", 0)))

    def to_dict(self) -> dict:
        return asdict(self) | {"columns": list(self.columns)}


def task_kind(task: str, target: str) -> str:
    """The kind of a task (see :data:`TASK_KINDS`): its name where that is a kind, else
    from its target column's unit (a ``*_per_kwh`` price is ``price``)."""
    if task in TASK_KINDS:
        return task
    return "price" if column_unit(target) == "price" else "consumption"


def _horizon_list(horizons, per_day: int) -> tuple[tuple[str, int], ...]:
    """Named horizons from an int, a mapping or a sequence of ints / (name, steps) pairs."""
    if horizons is None:
        return (("day", per_day),)
    if isinstance(horizons, int):
        horizons = [horizons]
    items = list(horizons.items()) if isinstance(horizons, Mapping) else list(horizons)
    out = []
    for h in items:
        if isinstance(h, int | np.integer):
            name = {per_day: "day", 7 * per_day: "week"}.get(int(h), f"h{int(h)}")
            out.append((name, int(h)))
        else:
            out.append((str(h[0]), int(h[1])))
    return tuple(out)


@dataclass(frozen=True)
class FeatureSpec:
    """A named set of input features and forecast targets.

    Parameters
    ----------
    name : str
        Spec name, stored in checkpoints.
    features : tuple of Feature
        Inputs per interval of the history window, in model order.
    targets : tuple of str
        Target column per task, in task order (``total_kwh`` [kWh per interval],
        ``price_per_kwh`` [currency/kWh], or any column).
    tasks : tuple of str
        Task names, parallel to ``targets`` (any names; see :func:`task_kind`).
    sequence_length : int
        Input window [intervals] (48 half-hours = 24 h).
    horizons : tuple of (str, int)
        Named forecast horizons [intervals], as many as wanted.
    interval_minutes : int
        Interval length of the data the spec reads [min].
    target_transforms : tuple of str
        Per task, applied before scaling: ``log`` (``ln(y + 0.01)``, y in the target's
        unit: household load is right-skewed, and the consumption task's MSE on the log
        forecasts a typical value rather than one pulled up by rare appliance peaks) or
        ``none``.
    future : tuple of Feature
        Inputs known in advance, read at the forecast's own intervals (kinds
        ``column``, ``sum`` and ``time``; no lags): their values at rows ``i + 1 ..
        i + H`` must be known when forecasting from row ``i``.
    """

    name: str
    features: tuple[Feature, ...]
    targets: tuple[str, ...] = ("total_kwh", "price_per_kwh")
    tasks: tuple[str, ...] = ("consumption", "price")
    sequence_length: int = 48
    horizons: tuple[tuple[str, int], ...] = (("day", 48), ("week", 336), ("month", 1440))
    interval_minutes: int = 30
    target_transforms: tuple[str, ...] = ("log", "none")
    description: str = field(default="", compare=False)
    future: tuple[Feature, ...] = ()

    def __post_init__(self) -> None:
        if len(self.target_transforms) != len(self.targets):
            raise ValueError(
                f"{len(self.target_transforms)} target transforms for {len(self.targets)} targets"
            )
        if len(self.tasks) != len(self.targets):
            raise ValueError(f"{len(self.tasks)} task names for {len(self.targets)} targets")
        if len(set(self.tasks)) != len(self.tasks):
            raise ValueError(f"task names {self.tasks} repeat; name each task once")
        bad = [t for t in self.target_transforms if t not in TARGET_TRANSFORMS]
        if bad:
            raise ValueError(f"target transform(s) {bad} unknown; use one of {TARGET_TRANSFORMS}")
        if not self.horizons or any(h < 1 for _, h in self.horizons):
            raise ValueError(f"horizons {self.horizons}: give at least one, each >= 1 interval")
        if len({n for n, _ in self.horizons}) != len(self.horizons):
            raise ValueError(f"horizon names repeat in {self.horizons}")
        if self.interval_minutes < 1 or 1440 % self.interval_minutes:
            raise ValueError(
                f"interval_minutes {self.interval_minutes} must divide a day (1440 min)"
            )
        lagged = [f.name for f in self.future if f.kind == "lag"]
        if lagged:
            raise ValueError(f"known-future feature(s) {lagged} cannot be lags; use a past input")

    @property
    def n_features(self) -> int:
        return len(self.features)

    @property
    def n_future(self) -> int:
        """Known-future inputs per forecast interval."""
        return len(self.future)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def future_names(self) -> list[str]:
        return [f.name for f in self.future]

    @property
    def per_day(self) -> int:
        """Intervals per day (48 at 30 min, 24 hourly)."""
        return 1440 // self.interval_minutes

    @property
    def horizon_steps(self) -> tuple[int, ...]:
        return tuple(h for _, h in self.horizons)

    @property
    def horizon_names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.horizons)

    @property
    def max_horizon(self) -> int:
        return max(self.horizon_steps)

    @property
    def task_kinds(self) -> tuple[str, ...]:
        """Per task, its kind (see :func:`task_kind`)."""
        return tuple(task_kind(t, c) for t, c in zip(self.tasks, self.targets, strict=True))

    @property
    def lookback(self) -> int:
        """Extra rows before the window that lags and differences need [intervals]."""
        back = [f.lag for f in self.features if f.kind == "lag"]
        back += [
            1
            for f in self.features
            if f.kind == "column" and any(c.startswith("diff:") for c in f.columns)
        ]
        return max(back, default=0)

    @property
    def history_rows(self) -> int:
        """Rows of history :func:`history_window` needs: window plus lookback [intervals]."""
        return self.sequence_length + self.lookback

    def to_dict(self) -> dict:
        d = asdict(self)
        d["features"] = [f.to_dict() for f in self.features]
        d["future"] = [f.to_dict() for f in self.future]
        d["targets"], d["tasks"] = list(self.targets), list(self.tasks)
        d["horizons"] = [[n, h] for n, h in self.horizons]
        d["target_transforms"] = list(self.target_transforms)
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> FeatureSpec:
        return cls(
            name=d["name"],
            features=tuple(Feature.from_dict(f) for f in d["features"]),
            targets=tuple(d["targets"]),
            tasks=tuple(d["tasks"]),
            sequence_length=int(d["sequence_length"]),
            horizons=tuple((str(n), int(h)) for n, h in d["horizons"]),
            interval_minutes=int(d["interval_minutes"]),
            target_transforms=tuple(d.get("target_transforms", ("none",) * len(d["targets"]))),
            description=d.get("description", ""),
            future=tuple(Feature.from_dict(f) for f in d.get("future", ())),
        )

    def at_interval(self, minutes: int) -> FeatureSpec:
        """The same spec for data at another interval length: the window, lags and
        horizons keep their durations (a lag of one day stays one day), rounded to whole
        intervals.  Raises ``ValueError`` where a duration is shorter than one interval."""
        if minutes == self.interval_minutes:
            return self
        if minutes < 1 or 1440 % minutes:
            raise ValueError(f"interval_minutes {minutes} must divide a day (1440 min)")
        ratio = self.interval_minutes / minutes

        def steps(n: int, what: str) -> int:
            out = round(n * ratio)
            if out < 1:
                raise ValueError(
                    f"spec {self.name}: {what} of {n * self.interval_minutes} min is shorter than "
                    f"one {minutes}-min interval"
                )
            return out

        feats = tuple(
            replace(f, lag=steps(f.lag, f"lag {f.name}"), name=_lag_name(f, steps(f.lag, "lag")))
            if f.kind == "lag"
            else f
            for f in self.features
        )
        return replace(
            self,
            name=f"{self.name}@{minutes}min",
            features=feats,
            sequence_length=steps(self.sequence_length, "the window"),
            horizons=tuple((n, steps(h, f"horizon {n}")) for n, h in self.horizons),
            interval_minutes=minutes,
        )

    @classmethod
    def for_series(
        cls,
        frame: pl.DataFrame,
        target: str | Sequence[str],
        *,
        horizons: int | Mapping[str, int] | Sequence | None = None,
        known_future: Sequence[str] = (),
        inputs: Sequence[str] = (),
        interval_minutes: int | None = None,
        sequence_length: int | None = None,
        lag_days: Sequence[int] = DAY_LAGS,
        time_features: Sequence[str] = DEFAULT_TIME,
        tasks: Sequence[str] | None = None,
        target_transforms: Sequence[str] | None = None,
        name: str | None = None,
    ) -> FeatureSpec:
        """A spec for any series in a frame, in one call.

        Parameters
        ----------
        frame : polars.DataFrame
            Canonical frame (``interval_start`` UTC) holding the named columns; its
            interval length is read from it unless given.
        target : str or sequence of str
            Column(s) to forecast, one task each (``spot_per_kwh`` from the AEMO reader,
            ``price_per_kwh``, ``energy_kwh`` ...).
        horizons : int, mapping or sequence, optional
            Forecast lengths [intervals]: ``48``, ``{"day": 24, "week": 168}``,
            ``[24, 168]`` or ``[("day", 24)]``.  Default: one day, named ``day``.
        known_future : sequence of str
            Columns known for the forecast intervals in advance (day-ahead load or wind
            forecasts, weather forecasts): the model reads them at the forecast's
            intervals (and, as history, in the window).
        inputs : sequence of str
            Other columns read in the history window only.
        interval_minutes : int, optional
            The data's interval length [min]; default: read from ``frame``.
        sequence_length : int, optional
            History window [intervals]; default one day.
        lag_days : sequence of int
            Each target's value this many days earlier, as inputs [days].
        time_features : sequence of str
            Local-time encodings (see :data:`TIME_ENCODINGS`), in the window and, where
            there are known-future inputs, at the forecast intervals.
        tasks : sequence of str, optional
            Task names; default: ``price`` for a price column, ``consumption`` for an
            energy column (``*_kwh``), else the column's name.
        target_transforms : sequence of str, optional
            Default ``log`` for energy (``*_kwh``) targets, ``none`` otherwise.
        name : str, optional
            Spec name; default from the targets.
        """
        targets = [target] if isinstance(target, str) else list(target)
        if not targets:
            raise ValueError("for_series needs at least one target column")
        wanted = [*targets, *known_future, *inputs]
        missing = [c for c in wanted if c not in frame.columns]
        if missing:
            raise KeyError(
                f"the frame lacks column(s) {missing}; it has {frame.columns}. "
                "Name columns of the frame as target, known_future and inputs"
            )
        if TIME not in frame.columns:
            raise ValueError(f"the frame has no {TIME!r} column (columns: {frame.columns})")
        minutes = interval_minutes or data_interval_minutes(frame)
        if 1440 % minutes:
            raise ValueError(f"an interval of {minutes} min does not divide a day")
        per_day = 1440 // minutes
        if tasks is None:
            units = [column_unit(c) for c in targets]
            default = {"price": "price", "energy": "consumption"}
            tasks = [default.get(u, c) for u, c in zip(units, targets, strict=True)]
            if len(set(tasks)) < len(tasks):  # two prices, say: name them by column
                tasks = list(targets)
        if target_transforms is None:
            target_transforms = ["log" if column_unit(c) == "energy" else "none" for c in targets]
        bad_time = [t for t in time_features if t not in TIME_ENCODINGS]
        if bad_time:
            raise ValueError(f"time feature(s) {bad_time} unknown; use any of {TIME_ENCODINGS}")
        feats: list[Feature] = []
        for col in targets:
            feats.append(Feature(col, "column", (col,)))
            feats += [
                Feature(f"{col}_lag_{k * per_day}", "lag", (col,), k * per_day) for k in lag_days
            ]
        feats += [Feature(c, "column", (c,)) for c in (*inputs, *known_future)]
        feats += [Feature(t, "time", (t,)) for t in time_features]
        future: tuple[Feature, ...] = ()
        if known_future:
            future = tuple(Feature(c, "column", (c,)) for c in known_future) + tuple(
                Feature(t, "time", (t,)) for t in time_features
            )
        return cls(
            name=name or "+".join(targets),
            features=tuple(feats),
            targets=tuple(targets),
            tasks=tuple(tasks),
            sequence_length=int(sequence_length or per_day),
            horizons=_horizon_list(horizons, per_day),
            interval_minutes=minutes,
            target_transforms=tuple(target_transforms),
            description=(
                f"{', '.join(targets)} at {minutes} min: lags of {list(lag_days)} days, "
                f"{len(time_features)} time encodings"
                + (f", known in advance: {', '.join(known_future)}" if known_future else "")
            ),
            future=future,
        )


def _lag_name(feat: Feature, steps: int) -> str:
    """A lag's name with its new step count where the name carries the old one."""
    old = f"_{feat.lag}"
    return feat.name[: -len(old)] + f"_{steps}" if feat.name.endswith(old) else feat.name


def data_interval_minutes(data: pl.DataFrame) -> int:
    """The interval length of a canonical frame: the most common step between starts [min]."""
    if data.height < 2:
        raise ValueError("one interval alone has no interval length; pass interval_minutes")
    steps = data[TIME].sort().diff().drop_nulls().dt.total_minutes()
    return int(steps.mode().sort()[0])


#: Price lags [half-hours]: the same half-hour 1, 2, 3 and 7 days earlier.
PRICE_LAGS = (48, 96, 144, 336)


def _price_features(
    col: str = "price_per_kwh", lags: Sequence[int] = PRICE_LAGS
) -> tuple[Feature, ...]:
    return (Feature("price", "column", (col,)),) + tuple(
        Feature(f"price_lag_{k}", "lag", (col,), k) for k in lags
    )


# The first eight load channels are features of their own (misc, lighting and base are folded below).
APPLIANCE_FEATURES = LOAD_CHANNELS[:8]

# The ninth appliance channel folds the three small loads together so that the
# nine channels add up to the household total: no consumption is invisible.
TRADING_24 = FeatureSpec(
    name="TRADING_24",
    features=tuple(Feature(f"{a}_kwh", "column", (f"{a}_kwh",)) for a in APPLIANCE_FEATURES)
    + (
        Feature("other_kwh", "sum", ("misc_kwh", "lighting_kwh", "base_kwh")),
        Feature("soc_pct", "column", ("soc_pct",)),
        # State of health as its fade per interval (see the module docstring).
        Feature("soh_change_pct", "column", ("diff:soh_pct",)),
        # Battery charge: a charge column where the battery frame has one, else the
        # change of state of charge per step (percentage points per interval).
        Feature(
            "battery_charge",
            "column",
            (
                "charge_kwh",
                "battery_charge_kwh",
                "net_battery_kwh",
                "charge_kw",
                "power_kw",
                "diff:soc_pct",
            ),
        ),
        Feature("cycles_per_interval", "column", ("diff:cycles_count",)),
        Feature("temp_air_c", "column", ("temp_air_c",)),
        Feature("ghi_w_m2", "column", ("ghi_w_m2",)),
        Feature("hour_sin", "time", ("hour_sin",)),
        Feature("hour_cos", "time", ("hour_cos",)),
        Feature("dow_sin", "time", ("dow_sin",)),
        Feature("dow_cos", "time", ("dow_cos",)),
    )
    + _price_features(),
    description="trading system: 9 appliance, 4 battery, 2 weather, 4 time, 5 price features (price 1, 2, 3, 7 days back)",
)

TOTAL_PRICE_WEATHER_TIME = FeatureSpec(
    name="TOTAL_PRICE_WEATHER_TIME",
    features=(
        Feature("total_kwh", "column", ("total_kwh", "energy_kwh")),
        Feature("temp_air_c", "column", ("temp_air_c",)),
        Feature("ghi_w_m2", "column", ("ghi_w_m2",)),
    )
    + tuple(Feature(e, "time", (e,)) for e in TIME_ENCODINGS)
    + _price_features(),
    description="real data (Amber, ENTSO-E): total load, price with lags of 1, 2, 3 and 7 days, weather, local time",
)


def consumption_spec(interval_minutes: int = 30) -> FeatureSpec:
    """Meter data alone: total load, its value 1 and 7 days back, and local time; one task,
    consumption (``total_kwh``, log-transformed) at day, week and month horizons.

    What a household's own meter gives (SGSC, CityLearn, Powerpal, the simulator's load):
    no price and no weather, so it suits federated training across homes whose other
    data differ.  Window, lags and horizons are whole days at ``interval_minutes`` [min]
    (30: 48-step window, lags 48 / 336; 60: 24-step window, lags 24 / 168).
    """
    per_day = 24 * 60 // interval_minutes
    suffix = "" if interval_minutes == 30 else f"_{interval_minutes}MIN"
    return FeatureSpec(
        name=f"CONSUMPTION_TIME{suffix}",
        features=(
            Feature("total_kwh", "column", ("total_kwh",)),
            Feature(f"total_kwh_lag_{per_day}", "lag", ("total_kwh",), per_day),
            Feature(f"total_kwh_lag_{7 * per_day}", "lag", ("total_kwh",), 7 * per_day),
        )
        + tuple(Feature(e, "time", (e,)) for e in TIME_ENCODINGS),
        targets=("total_kwh",),
        tasks=("consumption",),
        sequence_length=per_day,
        horizons=(("day", per_day), ("week", 7 * per_day), ("month", 30 * per_day)),
        interval_minutes=interval_minutes,
        target_transforms=("log",),
        description="meter data alone: total load with its values 1 and 7 days back, local time; consumption only",
    )


CONSUMPTION_TIME = consumption_spec(30)

SPECS: dict[str, FeatureSpec] = {
    s.name: s
    for s in (TRADING_24, TOTAL_PRICE_WEATHER_TIME, CONSUMPTION_TIME, consumption_spec(60))
}


def get_spec(spec: str | FeatureSpec | Mapping) -> FeatureSpec:
    """A spec by name (``TRADING_24``, ``TOTAL_PRICE_WEATHER_TIME``), dict or itself."""
    if isinstance(spec, FeatureSpec):
        return spec
    if isinstance(spec, Mapping):
        return FeatureSpec.from_dict(spec)
    if spec not in SPECS:
        raise KeyError(f"feature spec {spec!r} unknown; use one of {sorted(SPECS)}")
    return SPECS[spec]


# --------------------------------------------------------------------------- assembling the data
def assemble_frame(
    frames: Mapping[str, tuple[pl.DataFrame, FrameMeta]],
    interval_minutes: int = 30,
) -> tuple[pl.DataFrame, str]:
    """Resample several canonical frames to one interval length and join them
    (:func:`energylib.align.join`, inner).

    Parameters
    ----------
    frames : mapping of str to (polars.DataFrame, FrameMeta)
        E.g. the default year's ``{"load": ..., "prices/general": ..., "weather": ...}``.
        Text and boolean columns are dropped; a column name two frames share is kept
        from the first.
    interval_minutes : int
        Target interval length [min].

    Returns
    -------
    (polars.DataFrame, str)
        The joined frame (intervals every input frame has) and the site time zone.
    """
    if not frames:
        raise ValueError("assemble_frame needs at least one frame")
    zones = {meta.timezone for _, meta in frames.values()}
    if len(zones) > 1:
        raise ValueError(
            f"frames come from sites in different time zones {sorted(zones)}; assemble one site at a time"
        )
    numeric = {
        key: (
            data.select(
                TIME,
                *[
                    c
                    for c in data.columns
                    if c != TIME and column_unit(c) not in ("text", "bool", "unknown")
                ],
            ),
            meta,
        )
        for key, (data, meta) in frames.items()
    }
    return join(numeric, interval_minutes, how="inner", clash="first").data, zones.pop()


def default_year_frame(
    market: str = "nem", seed: int = 2025, days: int | None = None
) -> tuple[pl.DataFrame, str]:
    """The simulated default year, half-hourly, as one frame (and its time zone).

    ``days`` keeps only the first so many days [d] (a quick run on a subset).
    """
    # Slow (the simulator imports pvlib): the live agent imports this module and never
    # generates a year.
    from energylib.simulate import default_year

    frames = default_year.generate(market=market, seed=seed)
    # The general channel's price is the one a household pays; feed-in and PV are not inputs.
    wanted = [k for k in ("load", "prices/general", "weather", "battery") if k in frames]
    data, tz = assemble_frame({k: frames[k] for k in wanted}, 30)
    if days is not None:
        data = data.filter(pl.col(TIME) < data[TIME].min() + timedelta(days=days))
    return data, tz


# --------------------------------------------------------------------------- feature matrix
def time_encodings(times: pl.Series, timezone: str) -> dict[str, np.ndarray]:
    """Cyclical encodings of the site's LOCAL time at each interval start.

    Hour of day uses the fractional local hour (period 24 h), day of week Monday=0
    (period 7 d), day of year (period 365.25 d).
    """
    local = times.dt.convert_time_zone(timezone)
    hour = (local.dt.hour().cast(pl.Float64) + local.dt.minute().cast(pl.Float64) / 60.0).to_numpy()
    dow = (local.dt.weekday().cast(pl.Float64) - 1.0).to_numpy()
    doy = (local.dt.ordinal_day().cast(pl.Float64) - 1.0).to_numpy()
    a_h, a_w, a_y = 2 * np.pi * hour / 24.0, 2 * np.pi * dow / 7.0, 2 * np.pi * doy / 365.25
    return {
        "hour_sin": np.sin(a_h),
        "hour_cos": np.cos(a_h),
        "dow_sin": np.sin(a_w),
        "dow_cos": np.cos(a_w),
        "doy_sin": np.sin(a_y),
        "doy_cos": np.cos(a_y),
    }


@dataclass
class FeatureMatrix:
    """Features and targets on a gap-free interval grid.

    Attributes
    ----------
    times : polars.Series
        Interval starts, UTC, one per row, every interval from first to last.
    inputs : numpy.ndarray
        ``(n_rows, n_features)`` float32, NaN where a value is missing.
    targets : numpy.ndarray
        ``(n_rows, n_tasks)`` float32 in physical units, NaN where missing.
    spec : FeatureSpec
    timezone : str
    future : numpy.ndarray
        ``(n_rows, n_future)`` float32: each known-future input's value at the row (a
        forecast from row ``i`` reads rows ``i + 1 .. i + H``).
    """

    times: pl.Series
    inputs: np.ndarray
    targets: np.ndarray
    spec: FeatureSpec
    timezone: str
    future: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.future is None:
            self.future = np.zeros((self.inputs.shape[0], 0), dtype=np.float32)

    @property
    def n_rows(self) -> int:
        return self.inputs.shape[0]

    @property
    def row_ok(self) -> np.ndarray:
        """Rows with every input, known-future input and target present."""
        return (
            np.isfinite(self.inputs).all(axis=1)
            & np.isfinite(self.targets).all(axis=1)
            & np.isfinite(self.future).all(axis=1)
        )


def _resolve_column(values: Mapping[str, np.ndarray], feat: Feature) -> np.ndarray:
    for cand in feat.columns:
        if cand.startswith("diff:"):
            col = cand[5:]
            if col in values:
                v = values[col]
                return np.concatenate([[np.nan], np.diff(v)])
        elif cand in values:
            return values[cand]
    raise KeyError(
        f"feature {feat.name!r} needs one of the columns {list(feat.columns)}; the data has {list(values)}. "
        "Join the missing series (energylib.forecast.features.assemble_frame) or choose another spec"
    )


def _source_columns(spec: FeatureSpec, columns: Sequence[str]) -> list[str]:
    """Every data column the spec reads (present ones only), targets included."""
    have, need = set(columns), []
    for f in (*spec.features, *spec.future):
        if f.kind != "time":
            need += [c[5:] if c.startswith("diff:") else c for c in f.columns]
    need += list(spec.targets)
    return [c for c in dict.fromkeys(need) if c in have]


def missing_columns(spec: FeatureSpec, columns: Sequence[str]) -> list[str]:
    """What ``spec`` needs that ``columns`` lacks, one entry per feature or target."""
    have = set(columns)
    out = []
    for f in (*spec.features, *spec.future):
        if f.kind == "column" and not any(
            (c[5:] if c.startswith("diff:") else c) in have for c in f.columns
        ):
            out.append(f"{f.name} (one of {list(f.columns)})")
        elif f.kind in ("sum", "lag") and not set(f.columns) <= have:
            out.append(f"{f.name} ({sorted(set(f.columns) - have)})")
    out += [f"target {t}" for t in spec.targets if t not in have]
    return out


def feature_matrix(
    data: pl.DataFrame, spec: FeatureSpec | str, timezone: str, *, with_future: bool = True
) -> FeatureMatrix:
    """Build the feature, known-future and target matrices of ``data`` for ``spec``.

    Parameters
    ----------
    data : polars.DataFrame
        Canonical frame at ``spec.interval_minutes`` with the columns the spec names
        (see :func:`assemble_frame`).  Missing intervals are re-inserted as NaN rows so
        that lags and windows stay true to time; windows touching them are never used.
    spec : FeatureSpec or str
    timezone : str
        IANA zone of the site [for local-time features].
    with_future : bool
        Build the known-future matrix too (its columns are then required); False for a
        history window, whose forecast intervals are not in ``data``.
    """
    spec = get_spec(spec)
    if data.height == 0:
        raise ValueError("no rows to build features from")
    data = data.sort(TIME)
    if data[TIME].is_duplicated().any():
        raise ValueError(
            "duplicate interval starts; deduplicate with energylib.align.deduplicate first"
        )
    check_resolution(data, spec)
    step = timedelta(minutes=spec.interval_minutes)
    grid = interval_index(data[TIME].min(), data[TIME].max() + step, spec.interval_minutes)
    off = data.join(pl.DataFrame({TIME: grid}), on=TIME, how="anti")
    if off.height:
        raise ValueError(
            f"{off.height} interval start(s) off the {spec.interval_minutes}-min grid (first {off[TIME][0]}); "
            f"resample to {spec.interval_minutes} min with energylib.align.resample first"
        )
    missing = missing_columns(spec if with_future else replace(spec, future=()), data.columns)
    if missing:
        raise KeyError(
            f"spec {spec.name} needs columns the data lacks: {'; '.join(missing)} (the data has {data.columns}); "
            "join the missing series (energylib.forecast.features.assemble_frame), choose another spec, "
            "or make one for these columns with FeatureSpec.for_series(frame, target=...)"
        )
    used = _source_columns(spec, data.columns)
    full = pl.DataFrame({TIME: grid}).join(data.select([TIME, *used]), on=TIME, how="left")
    # One conversion to numpy (nulls become NaN), then plain array work per feature.
    matrix = full.select([pl.col(c).cast(pl.Float64) for c in used]).to_numpy()
    values = {c: matrix[:, j] for j, c in enumerate(used)}
    enc = time_encodings(full[TIME], timezone)
    inputs = _columns(spec.features, values, enc, full.height)
    future = _columns(spec.future if with_future else (), values, enc, full.height)
    targets = np.column_stack([values[t] for t in spec.targets]).astype(np.float32)
    return FeatureMatrix(full[TIME], inputs, targets, spec, timezone, future)


def _columns(
    features: Sequence[Feature], values: Mapping[str, np.ndarray], enc: Mapping, n: int
) -> np.ndarray:
    """``(n, len(features))`` float32 of each feature on the grid."""
    cols = []
    for feat in features:
        if feat.kind == "column":
            v = _resolve_column(values, feat)
        elif feat.kind == "sum":
            v = np.column_stack([values[c] for c in feat.columns]).sum(axis=1)  # NaN if any part is
        elif feat.kind == "lag":
            base = values[feat.columns[0]]
            v = np.full_like(base, np.nan)
            v[feat.lag :] = base[: -feat.lag]
        else:
            v = enc[feat.columns[0]]
        cols.append(np.asarray(v, dtype=np.float64))
    if not cols:
        return np.zeros((n, 0), dtype=np.float32)
    return np.column_stack(cols).astype(np.float32)


def _interval_words(minutes: int) -> str:
    named = {5: "5-min", 15: "quarter-hourly", 30: "half-hourly", 60: "hourly", 1440: "daily"}
    return f"{named.get(minutes, f'{minutes}-min')} ({minutes}-min intervals)"


def check_resolution(data: pl.DataFrame, spec: FeatureSpec) -> None:
    """Raise ``ValueError`` saying both when the data's interval length is not the spec's."""
    if data.height < 2:
        return
    have = data_interval_minutes(data)
    if have != spec.interval_minutes:
        fix = (
            f"spec.at_interval({have}) keeps its durations at {have} min"
            if 1440 % have == 0
            else "resample the data"
        )
        raise ValueError(
            f"the data is {_interval_words(have)} and spec {spec.name} is "
            f"{_interval_words(spec.interval_minutes)}; resample the data to {spec.interval_minutes} min "
            f"(energylib.align.resample) or move the spec to the data: {fix}"
        )


# --------------------------------------------------------------------------- splits and windows
def chronological_split(
    n_rows: int, fractions: Sequence[float] = (0.7, 0.15, 0.15)
) -> dict[str, tuple[int, int]]:
    """Contiguous row blocks ``[start, stop)`` for train, validation and test, in time order.

    Never shuffled: every training row comes before every validation row, which
    comes before every test row.
    """
    if len(fractions) != 3 or any(f <= 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(
            f"split fractions {tuple(fractions)} must be three positive numbers summing to 1"
        )
    a = int(round(n_rows * fractions[0]))
    b = int(round(n_rows * (fractions[0] + fractions[1])))
    return {"train": (0, a), "val": (a, b), "test": (b, n_rows)}


def date_split(times: pl.Series, boundaries: Sequence) -> dict[str, tuple[int, int]]:
    """Row blocks cut at dates: ``[val_start, test_start]`` or ``[val_start, test_start, end]``.

    Each boundary is a date or datetime (a string ``YYYY-MM-DD`` or ISO time; a date
    means its midnight UTC); rows before ``val_start`` train, rows from ``val_start`` to
    ``test_start`` validate, the rest (up to ``end``, exclusive) test.
    """
    if len(boundaries) not in (2, 3):
        raise ValueError(
            f"date split {list(boundaries)} needs [val_start, test_start] or [val_start, test_start, end]"
        )
    cuts = [_as_utc(b) for b in boundaries]
    if any(b <= a for a, b in zip(cuts, cuts[1:], strict=False)):
        raise ValueError(f"date split {list(boundaries)} must be in increasing order")
    t = times.dt.convert_time_zone("UTC").to_numpy() if times.dtype.time_zone else times.to_numpy()
    rows = [int(np.searchsorted(t, np.datetime64(c.replace(tzinfo=None), "us"))) for c in cuts]
    stop = rows[2] if len(rows) == 3 else len(t)
    blocks = {"train": (0, rows[0]), "val": (rows[0], rows[1]), "test": (rows[1], stop)}
    empty = [k for k, (a, b) in blocks.items() if b <= a]
    if empty:
        raise ValueError(
            f"date split {list(boundaries)} leaves the {', '.join(empty)} block(s) empty; the data runs "
            f"{times.min()} to {times.max()}"
        )
    return blocks


def split_blocks(times: pl.Series, split: Sequence) -> dict[str, tuple[int, int]]:
    """Train / validation / test row blocks from fractions (three numbers summing to 1)
    or dates (see :func:`date_split`)."""
    split = list(split)
    if split and all(isinstance(x, int | float) and not isinstance(x, bool) for x in split):
        return chronological_split(len(times), [float(x) for x in split])
    return date_split(times, split)


def _as_utc(t: date | datetime | str) -> datetime:
    if isinstance(t, str):
        t = datetime.fromisoformat(t)
    if isinstance(t, date) and not isinstance(t, datetime):
        t = datetime(t.year, t.month, t.day)
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def window_anchors(
    fm: FeatureMatrix, block: tuple[int, int], horizon: int | None = None
) -> np.ndarray:
    """Anchor rows ``i`` whose input rows ``i-L+1 .. i`` and target rows ``i+1 .. i+H``
    lie inside ``block`` and are all present (H: ``horizon``, default the longest)."""
    L, H = fm.spec.sequence_length, horizon or fm.spec.max_horizon
    start, stop = block
    bad = np.concatenate([[0], np.cumsum(~fm.row_ok)])
    i = np.arange(max(start + L - 1, 0), stop - H)
    if len(i) == 0:
        return i.astype(np.int64)
    ok = (bad[i + H + 1] - bad[i - L + 1]) == 0
    return i[ok].astype(np.int64)


def daily_origins(fm: FeatureMatrix, anchors: np.ndarray) -> np.ndarray:
    """The anchors whose next interval starts a local day (day-ahead forecast origins:
    the forecast covers the next day from its midnight)."""
    anchors = np.asarray(anchors, dtype=np.int64)
    if len(anchors) == 0:
        return anchors
    local = fm.times.dt.convert_time_zone(fm.timezone)
    midnight = ((local.dt.hour() == 0) & (local.dt.minute() == 0)).to_numpy()
    nxt = np.minimum(anchors + 1, fm.n_rows - 1)
    return anchors[midnight[nxt] & (anchors + 1 < fm.n_rows)]


def input_windows(inputs: np.ndarray, anchors: np.ndarray, sequence_length: int) -> np.ndarray:
    """``(n, L, F)`` windows of rows ``anchor-L+1 .. anchor``."""
    idx = np.asarray(anchors)[:, None] + np.arange(-sequence_length + 1, 1)[None, :]
    return inputs[idx]


def future_windows(future: np.ndarray, anchors: np.ndarray, horizon: int) -> np.ndarray:
    """``(n, H, n_future)`` known-future inputs at rows ``anchor+1 .. anchor+H``."""
    idx = np.asarray(anchors)[:, None] + np.arange(1, horizon + 1)[None, :]
    return future[idx]


def target_windows(targets: np.ndarray, anchors: np.ndarray, horizon: int) -> np.ndarray:
    """``(n, H, n_tasks)`` targets at rows ``anchor+1 .. anchor+H``."""
    idx = np.asarray(anchors)[:, None] + np.arange(1, horizon + 1)[None, :]
    return targets[idx]


# --------------------------------------------------------------------------- scaling
def transform_targets(targets: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """Apply the spec's per-task target transforms to ``(n, n_tasks)`` or ``(..., n_tasks)``."""
    out = np.array(targets, dtype=np.float64, copy=True)
    for t, how in enumerate(spec.target_transforms):
        if how == "log":
            out[..., t] = np.log(np.maximum(out[..., t], 0.0) + LOG_OFFSET)
    return out.astype(np.float32)


def inverse_target(values: np.ndarray, spec: FeatureSpec, task: int) -> np.ndarray:
    """Undo the transform of task ``task`` (values in transformed units, any shape)."""
    if spec.target_transforms[task] == "log":
        return (np.exp(np.asarray(values, dtype=np.float64)) - LOG_OFFSET).astype(np.float32)
    return np.asarray(values, dtype=np.float32)


@dataclass
class Scaler:
    """Per-column ``(x - center) / scale``, fitted on training rows only.

    ``standard``: mean and standard deviation.  ``robust``: median and the
    interquartile range / 1.349 (the standard deviation of a normal distribution with
    that IQR), falling back to the standard deviation where the IQR is zero (a mostly
    idle appliance): price spikes then do not squash the everyday price range.
    ``clip`` bounds the scaled values (inputs only), so a spike cannot swamp a window;
    ``low`` / ``high`` (inputs only) hold later values inside the training range, so a
    drifting input (state of health keeps falling) is not extrapolated.
    """

    center: np.ndarray
    scale: np.ndarray
    clip: float | None = None
    low: np.ndarray | None = None
    high: np.ndarray | None = None

    @classmethod
    def fit(
        cls,
        values: np.ndarray,
        methods: Sequence[str] | str = "standard",
        clip: float | None = None,
        bound_to_range: bool = False,
    ) -> Scaler:
        v = np.asarray(values, dtype=np.float64)
        ncol = v.shape[1]
        methods = [methods] * ncol if isinstance(methods, str) else list(methods)
        center, scale = np.empty(ncol), np.empty(ncol)
        lo, hi = np.zeros(ncol), np.zeros(ncol)
        for j, how in enumerate(methods):
            col = v[:, j][np.isfinite(v[:, j])]
            std = col.std() if col.size else 1.0
            lo[j], hi[j] = (col.min(), col.max()) if col.size else (0.0, 0.0)
            if how == "robust":
                q1, med, q3 = np.percentile(col, [25, 50, 75]) if col.size else (0.0, 0.0, 0.0)
                center[j], iqr = med, (q3 - q1) / 1.349
                scale[j] = iqr if iqr > 1e-8 else std
            elif how == "standard":
                center[j], scale[j] = (col.mean() if col.size else 0.0), std
            else:
                raise ValueError(f"scaling method {how!r} unknown; use 'standard' or 'robust'")
        scale = np.where(scale > 1e-8, scale, 1.0)  # a constant column stays as is
        low = ((lo - center) / scale).astype(np.float32) if bound_to_range else None
        high = ((hi - center) / scale).astype(np.float32) if bound_to_range else None
        return cls(center.astype(np.float32), scale.astype(np.float32), clip, low, high)

    def transform(self, x: np.ndarray) -> np.ndarray:
        z = ((x - self.center) / self.scale).astype(np.float32)
        if self.low is not None:
            z = np.clip(z, self.low, self.high)
        return np.clip(z, -self.clip, self.clip) if self.clip else z

    def inverse(self, x: np.ndarray) -> np.ndarray:
        return (x * self.scale + self.center).astype(np.float32)

    def to_dict(self) -> dict:
        d = {"center": self.center.tolist(), "scale": self.scale.tolist(), "clip": self.clip}
        if self.low is not None:
            d |= {"low": self.low.tolist(), "high": self.high.tolist()}
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> Scaler:
        def arr(key: str) -> np.ndarray | None:
            return np.asarray(d[key], dtype=np.float32) if d.get(key) is not None else None

        return cls(arr("center"), arr("scale"), d.get("clip"), arr("low"), arr("high"))


#: Target scaling per task: consumption is fitted by MSE (standardise), price by MAE on a
#: heavy-tailed series (median / IQR, so the everyday range is not squashed by spikes).
TARGET_SCALING = {"consumption": "standard", "price": "robust"}
INPUT_CLIP = 10.0


def level_inputs(spec: FeatureSpec) -> tuple[int, ...]:
    """Per task, the input feature that is the target's own current value in the same
    scaled units (untransformed target, robust scaling on both sides), or -1.

    For ``TRADING_24`` that is the price feature for the price task; consumption has no
    such input (its target is log-transformed).
    """
    out = []
    for kind, target, how in zip(
        spec.task_kinds, spec.targets, spec.target_transforms, strict=True
    ):
        idx = -1
        if how == "none" and TARGET_SCALING[kind] == "robust":
            for i, f in enumerate(spec.features):
                if f.kind == "column" and f.columns[0] == target:
                    idx = i
                    break
        out.append(idx)
    return tuple(out)


def level_lag_inputs(spec: FeatureSpec, period: int | None = None) -> tuple[tuple[int, ...], ...]:
    """Per task, the lag features of its level input (:func:`level_inputs`) whose lag is
    a whole number of ``period`` steps (default one day at the spec's interval), or ``()``.

    Such a lag holds the same time-of-day slot as its row, so the profile subtracts
    from it as from the level input itself.
    """
    period = period or spec.per_day
    out = []
    for col in level_inputs(spec):
        lags: tuple[int, ...] = ()
        if col >= 0:
            source = spec.features[col].columns[0]
            lags = tuple(
                i
                for i, f in enumerate(spec.features)
                if f.kind == "lag" and f.columns[0] == source and f.lag % period == 0
            )
        out.append(lags)
    return tuple(out)


def _share_lag_scaling(scaler: Scaler, spec: FeatureSpec) -> Scaler:
    """Scale each lag feature exactly as the column it lags, where the spec has that column
    as a feature: one quantity, one set of units (the price baseline mixes them)."""
    own = {f.columns[0]: i for i, f in enumerate(spec.features) if f.kind == "column"}
    for i, f in enumerate(spec.features):
        j = own.get(f.columns[0]) if f.kind == "lag" else None
        if j is not None:
            for arr in (scaler.center, scaler.scale, scaler.low, scaler.high):
                if arr is not None:
                    arr[i] = arr[j]
    return scaler


def _share_future_scaling(future: Scaler, inputs: Scaler, spec: FeatureSpec) -> Scaler:
    """Scale each known-future input as the history input reading the same column (or
    time encoding), where there is one: a load forecast has one set of units."""
    past = {(f.kind, f.columns): i for i, f in enumerate(spec.features) if f.kind != "lag"}
    for i, f in enumerate(spec.future):
        j = past.get((f.kind, f.columns))
        if j is not None:
            for dst, src in (
                (future.center, inputs.center),
                (future.scale, inputs.scale),
                (future.low, inputs.low),
                (future.high, inputs.high),
            ):
                if dst is not None and src is not None:
                    dst[i] = src[j]
    return future


@dataclass
class Scalers:
    """Input, target and (where the spec has them) known-future input scalers of one model."""

    inputs: Scaler
    targets: Scaler
    future: Scaler | None = None

    @classmethod
    def fit(cls, fm: FeatureMatrix, train_block: tuple[int, int]) -> Scalers:
        """Robust input scaling (clipped at +-10; a lag scaled as the column it lags, a
        known-future input as its history input) and per-task target scaling of the
        transformed targets, on the training block's rows only."""
        a, b = train_block
        methods = [TARGET_SCALING[k] for k in fm.spec.task_kinds]
        targets = transform_targets(fm.targets[a:b], fm.spec)
        inputs = Scaler.fit(fm.inputs[a:b], "robust", INPUT_CLIP, bound_to_range=True)
        inputs = _share_lag_scaling(inputs, fm.spec)
        future = None
        if fm.spec.n_future:
            future = Scaler.fit(fm.future[a:b], "robust", INPUT_CLIP, bound_to_range=True)
            future = _share_future_scaling(future, inputs, fm.spec)
        return cls(inputs, Scaler.fit(targets, methods), future)

    def to_dict(self) -> dict:
        d = {"inputs": self.inputs.to_dict(), "targets": self.targets.to_dict()}
        return d | ({"future": self.future.to_dict()} if self.future is not None else {})

    @classmethod
    def from_dict(cls, d: Mapping) -> Scalers:
        future = Scaler.from_dict(d["future"]) if d.get("future") else None
        return cls(Scaler.from_dict(d["inputs"]), Scaler.from_dict(d["targets"]), future)


# --------------------------------------------------------------------------- live history -> one window
def history_window(
    history: pl.DataFrame, spec: FeatureSpec, timezone: str
) -> tuple[np.ndarray, datetime]:
    """The latest input window of ``history``: ``(1, L, F)`` float32 (unscaled) and its
    anchor (the last interval start, UTC).

    Raises ``ValueError`` saying what is missing when the last ``spec.history_rows``
    intervals are not all present.
    """
    if TIME not in history.columns:
        raise ValueError(f"history has no {TIME!r} column (columns: {history.columns})")
    need = spec.history_rows
    history = history.sort(TIME).tail(need)
    fm = feature_matrix(history, spec, timezone, with_future=False)
    if fm.n_rows < spec.sequence_length:
        raise ValueError(
            f"history holds {fm.n_rows} interval(s) of {spec.interval_minutes} min; the model needs the latest "
            f"{need} ({spec.sequence_length} in the window plus {spec.lookback} for lags)"
        )
    window = fm.inputs[-spec.sequence_length :]
    bad = ~np.isfinite(window).all(axis=1)
    if bad.any():
        times = fm.times[-spec.sequence_length :].filter(pl.Series(bad))
        raise ValueError(
            f"the latest {spec.sequence_length} intervals have {int(bad.sum())} incomplete row(s) "
            f"(first at {times[0]}; missing intervals or values, or fewer than {need} rows for lags); "
            "fill the gaps (energylib.align.fill_gaps) or wait for more data"
        )
    return window[None, :, :], fm.times[-1]


def future_window(
    future: pl.DataFrame, spec: FeatureSpec, timezone: str, anchor: datetime
) -> np.ndarray:
    """The known-future inputs of the forecast from ``anchor``: ``(1, H, n_future)``
    float32 (unscaled) at the intervals ``anchor + 1 .. anchor + H`` (H the longest horizon).

    ``future`` holds the known-future columns (day-ahead forecasts ...) for those
    intervals; raises ``ValueError`` naming the first missing interval.
    """
    step = timedelta(minutes=spec.interval_minutes)
    H = spec.max_horizon
    times = interval_index(anchor + step, anchor + step * (H + 1), spec.interval_minutes)
    wanted = [
        c[5:] if c.startswith("diff:") else c
        for f in spec.future
        if f.kind != "time"
        for c in f.columns
    ]
    cols = [c for c in dict.fromkeys(wanted) if c in future.columns]
    grid = pl.DataFrame({TIME: times}).join(
        future.select([TIME, *cols]).unique(TIME, keep="last"), on=TIME, how="left"
    )
    values = {c: grid[c].cast(pl.Float64).to_numpy() for c in cols}
    missing = [f.name for f in spec.future if f.kind != "time" and not set(f.columns) & set(values)]
    if missing:
        raise KeyError(
            f"known-future input(s) {missing} are not in the future frame (columns {future.columns}); "
            "pass the forecast intervals' values of every known-future column"
        )
    out = _columns(spec.future, values, time_encodings(grid[TIME], timezone), H)
    bad = ~np.isfinite(out).all(axis=1)
    if bad.any():
        first = times[int(np.flatnonzero(bad)[0])]
        raise ValueError(
            f"known-future inputs are missing for {int(bad.sum())} of the next {H} intervals "
            f"(first at {first}); the model needs {spec.future_names} for every forecast interval"
        )
    return out[None, :, :]


def forecast_frames(
    anchor: datetime, outputs: Mapping[str, np.ndarray], spec: FeatureSpec
) -> dict[str, pl.DataFrame]:
    """Turn per-(task, horizon) forecasts of one anchor into canonical frames.

    ``outputs`` maps ``"<task>_<horizon>"`` to a 1-D array in physical units.
    Returns ``{horizon_name: frame}`` with ``interval_start`` (UTC, the next
    intervals after ``anchor``) and one column per target (``total_kwh``,
    ``price_per_kwh``).
    """
    step = timedelta(minutes=spec.interval_minutes)
    out = {}
    for hname, h in spec.horizons:
        times = interval_index(anchor + step, anchor + step * (h + 1), spec.interval_minutes)
        cols = {TIME: times}
        for task, target in zip(spec.tasks, spec.targets, strict=True):
            cols[target] = np.asarray(outputs[f"{task}_{hname}"], dtype=np.float64).reshape(-1)
        out[hname] = pl.DataFrame(cols)
    return out


def history_from_store(
    store: Store,
    source: str = "simulated",
    site: str = "default",
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    kinds: Sequence[str] = ("load", "prices", "weather", "battery"),
    interval_minutes: int = 30,
    price_channel: str | None = "general",
) -> tuple[pl.DataFrame, str]:
    """Read a site's series from a store and assemble them half-hourly.

    Parameters
    ----------
    store : energylib.store.Store
    source, site : str
        Which series (``simulated`` / ``default`` is the default year).
    start, end : datetime or str, optional
        UTC range.
    kinds : sequence of str
        Kinds to join; prices are read from ``price_channel``.  A kind the store
        does not hold is left out (real data has no battery frame); the feature spec
        then says which columns are missing.
    interval_minutes : int
        Target interval length [min].
    price_channel : str or None
        The prices' channel: ``general`` (Amber's import price), ``wholesale`` (AEMO's
        spot price), ``day_ahead`` (ENTSO-E); None: the store's only one.
    """
    frames = {}
    for kind in kinds:
        channel = price_channel if kind == "prices" else None
        try:
            frames[kind] = store.read(source, kind, start, end, site=site, channel=channel)
        except LookupError:
            continue
    if not frames:
        where = (
            f" (prices read from channel {price_channel!r}; price_channel picks another: "
            "general for Amber, wholesale for AEMO, day_ahead for ENTSO-E)"
        )
        raise LookupError(
            f"the store holds none of {list(kinds)} for source={source!r} site={site!r}"
            f"{where if 'prices' in kinds else ''}; ingest or simulate first"
        )
    return assemble_frame(frames, interval_minutes)
