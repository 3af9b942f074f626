"""Feature specs, half-hourly feature matrices, sequence windows, splits and scalers.

A :class:`FeatureSpec` declares, by name, what the model sees at each
half-hour and what it forecasts.  It is plain data (``to_dict`` /
``from_dict``), so a checkpoint or an exported model carries it and the Pi
builds exactly the same inputs from live history.

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
at row ``i`` takes inputs from rows ``i - 47 .. i`` only (lags reach further
back, never forward) and targets from rows ``i + 1 .. i + H``; splits are
contiguous blocks of time, and a sample belongs to a split only when all of its
input and target rows lie inside that block; scalers are fitted on the training
block's rows only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from energylib.align import join
from energylib.schema import LOAD_CHANNELS, TIME, FrameMeta, column_unit, interval_index
from energylib.store import Store

TARGET_TRANSFORMS = ("none", "log")
LOG_OFFSET = 0.01  # added before the log: [kWh per interval] for consumption, keeps 0 finite
TIME_ENCODINGS = ("hour_sin", "hour_cos", "dow_sin", "dow_cos", "doy_sin", "doy_cos")
FEATURE_KINDS = ("column", "sum", "lag", "time")


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


@dataclass(frozen=True)
class FeatureSpec:
    """A named set of input features and forecast targets.

    Parameters
    ----------
    name : str
        Spec name, stored in checkpoints.
    features : tuple of Feature
        Inputs per interval, in model order.
    targets : tuple of str
        Target column per task, in task order (``total_kwh`` [kWh per interval],
        ``price_per_kwh`` [currency/kWh]).
    tasks : tuple of str
        Task names, parallel to ``targets``.
    sequence_length : int
        Input window [intervals] (48 half-hours = 24 h).
    horizons : tuple of (str, int)
        Named forecast horizons [intervals].
    interval_minutes : int
        Interval length of the data the spec reads [min].
    target_transforms : tuple of str
        Per task, applied before scaling: ``log`` (``ln(y + 0.01)``, y in the target's
        unit: household load is right-skewed, and the consumption task's MSE on the log
        forecasts a typical value rather than one pulled up by rare appliance peaks) or
        ``none``.
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

    def __post_init__(self) -> None:
        if len(self.target_transforms) != len(self.targets):
            raise ValueError(
                f"{len(self.target_transforms)} target transforms for {len(self.targets)} targets"
            )
        bad = [t for t in self.target_transforms if t not in TARGET_TRANSFORMS]
        if bad:
            raise ValueError(f"target transform(s) {bad} unknown; use one of {TARGET_TRANSFORMS}")

    @property
    def n_features(self) -> int:
        return len(self.features)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

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
        d["features"] = [asdict(f) | {"columns": list(f.columns)} for f in self.features]
        d["targets"], d["tasks"] = list(self.targets), list(self.tasks)
        d["horizons"] = [[n, h] for n, h in self.horizons]
        d["target_transforms"] = list(self.target_transforms)
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> FeatureSpec:
        feats = tuple(
            Feature(f["name"], f["kind"], tuple(f["columns"]), int(f.get("lag", 0)))
            for f in d["features"]
        )
        return cls(
            name=d["name"],
            features=feats,
            targets=tuple(d["targets"]),
            tasks=tuple(d["tasks"]),
            sequence_length=int(d["sequence_length"]),
            horizons=tuple((str(n), int(h)) for n, h in d["horizons"]),
            interval_minutes=int(d["interval_minutes"]),
            target_transforms=tuple(d.get("target_transforms", ("none",) * len(d["targets"]))),
            description=d.get("description", ""),
        )


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
    """

    times: pl.Series
    inputs: np.ndarray
    targets: np.ndarray
    spec: FeatureSpec
    timezone: str

    @property
    def n_rows(self) -> int:
        return self.inputs.shape[0]

    @property
    def row_ok(self) -> np.ndarray:
        """Rows with every input and target present."""
        return np.isfinite(self.inputs).all(axis=1) & np.isfinite(self.targets).all(axis=1)


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
    for f in spec.features:
        if f.kind != "time":
            need += [c[5:] if c.startswith("diff:") else c for c in f.columns]
    need += list(spec.targets)
    return [c for c in dict.fromkeys(need) if c in have]


def missing_columns(spec: FeatureSpec, columns: Sequence[str]) -> list[str]:
    """What ``spec`` needs that ``columns`` lacks, one entry per feature or target."""
    have = set(columns)
    out = []
    for f in spec.features:
        if f.kind == "column" and not any(
            (c[5:] if c.startswith("diff:") else c) in have for c in f.columns
        ):
            out.append(f"{f.name} (one of {list(f.columns)})")
        elif f.kind in ("sum", "lag") and not set(f.columns) <= have:
            out.append(f"{f.name} ({sorted(set(f.columns) - have)})")
    out += [f"target {t}" for t in spec.targets if t not in have]
    return out


def feature_matrix(data: pl.DataFrame, spec: FeatureSpec | str, timezone: str) -> FeatureMatrix:
    """Build the feature and target matrices of ``data`` for ``spec``.

    Parameters
    ----------
    data : polars.DataFrame
        Canonical frame at ``spec.interval_minutes`` with the columns the spec names
        (see :func:`assemble_frame`).  Missing intervals are re-inserted as NaN rows so
        that lags and windows stay true to time; windows touching them are never used.
    spec : FeatureSpec or str
    timezone : str
        IANA zone of the site [for local-time features].
    """
    spec = get_spec(spec)
    if data.height == 0:
        raise ValueError("no rows to build features from")
    data = data.sort(TIME)
    if data[TIME].is_duplicated().any():
        raise ValueError(
            "duplicate interval starts; deduplicate with energylib.align.deduplicate first"
        )
    step = timedelta(minutes=spec.interval_minutes)
    grid = interval_index(data[TIME].min(), data[TIME].max() + step, spec.interval_minutes)
    off = data.join(pl.DataFrame({TIME: grid}), on=TIME, how="anti")
    if off.height:
        raise ValueError(
            f"{off.height} interval start(s) off the {spec.interval_minutes}-min grid (first {off[TIME][0]}); "
            f"resample to {spec.interval_minutes} min with energylib.align.resample first"
        )
    missing = missing_columns(spec, data.columns)
    if missing:
        raise KeyError(
            f"spec {spec.name} needs columns the data lacks: {'; '.join(missing)} (the data has {data.columns}); "
            "join the missing series (energylib.forecast.features.assemble_frame) or choose another spec"
        )
    used = _source_columns(spec, data.columns)
    full = pl.DataFrame({TIME: grid}).join(data.select([TIME, *used]), on=TIME, how="left")
    # One conversion to numpy (nulls become NaN), then plain array work per feature.
    matrix = full.select([pl.col(c).cast(pl.Float64) for c in used]).to_numpy()
    values = {c: matrix[:, j] for j, c in enumerate(used)}
    enc = time_encodings(full[TIME], timezone)
    cols = []
    for feat in spec.features:
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
    inputs = np.column_stack(cols).astype(np.float32)
    targets = np.column_stack([values[t] for t in spec.targets]).astype(np.float32)
    return FeatureMatrix(full[TIME], inputs, targets, spec, timezone)


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


def input_windows(inputs: np.ndarray, anchors: np.ndarray, sequence_length: int) -> np.ndarray:
    """``(n, L, F)`` windows of rows ``anchor-L+1 .. anchor``."""
    idx = np.asarray(anchors)[:, None] + np.arange(-sequence_length + 1, 1)[None, :]
    return inputs[idx]


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
    for task, target, how in zip(spec.tasks, spec.targets, spec.target_transforms, strict=True):
        idx = -1
        if how == "none" and TARGET_SCALING.get(task, "standard") == "robust":
            for i, f in enumerate(spec.features):
                if f.kind == "column" and f.columns[0] == target:
                    idx = i
                    break
        out.append(idx)
    return tuple(out)


def level_lag_inputs(spec: FeatureSpec, period: int) -> tuple[tuple[int, ...], ...]:
    """Per task, the lag features of its level input (:func:`level_inputs`) whose lag is
    a whole number of ``period`` steps (days, for a daily profile), or ``()``.

    Such a lag holds the same time-of-day slot as its row, so the profile subtracts
    from it as from the level input itself.
    """
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


@dataclass
class Scalers:
    """Input and target scalers of one model."""

    inputs: Scaler
    targets: Scaler

    @classmethod
    def fit(cls, fm: FeatureMatrix, train_block: tuple[int, int]) -> Scalers:
        """Robust input scaling (clipped at +-10; a lag scaled as the column it lags) and
        per-task target scaling of the transformed targets, on the training block's rows only."""
        a, b = train_block
        methods = [TARGET_SCALING.get(t, "standard") for t in fm.spec.tasks]
        targets = transform_targets(fm.targets[a:b], fm.spec)
        inputs = Scaler.fit(fm.inputs[a:b], "robust", INPUT_CLIP, bound_to_range=True)
        return cls(_share_lag_scaling(inputs, fm.spec), Scaler.fit(targets, methods))

    def to_dict(self) -> dict:
        return {"inputs": self.inputs.to_dict(), "targets": self.targets.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping) -> Scalers:
        return cls(Scaler.from_dict(d["inputs"]), Scaler.from_dict(d["targets"]))


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
    fm = feature_matrix(history, spec, timezone)
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
        Kinds to join; prices are read from the ``general`` channel.  A kind the store
        does not hold is left out (real data has no battery frame); the feature spec
        then says which columns are missing.
    interval_minutes : int
        Target interval length [min].
    """
    frames = {}
    for kind in kinds:
        channel = "general" if kind == "prices" else None
        try:
            frames[kind] = store.read(source, kind, start, end, site=site, channel=channel)
        except LookupError:
            continue
    if not frames:
        raise LookupError(
            f"the store holds none of {list(kinds)} for source={source!r} site={site!r}; ingest or simulate first"
        )
    return assemble_frame(frames, interval_minutes)
