"""A study's inputs: load, prices, weather and measured PV read from the store onto one grid.

Each input names its own source and site (``inputs:`` in the params), so a Powerpal export
can meet AEMO prices and generated weather.  Every input is read at its stored resolution
and brought to the study's interval length: energy is summed going coarser and split
evenly going finer only where ``inputs.load_upsampling: uniform`` says so; prices and
weather are averaged or repeated.  Each must cover the study period: where one does not,
the error names the months missing and the option that fills them (``inputs.fill``), and
what a fill filled is counted in :attr:`StudyInputs.filled` and said in the report.

Household consumption is read as the store holds it: kind ``load`` (``total_kwh``) as it
is, kind ``usage`` (a meter's channels) through :func:`energylib.consumption.load_from_meter`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from energylib.align import fill_gaps, resample
from energylib.config import load_settings
from energylib.consumption import IMPORT_CHANNELS, load_from_meter
from energylib.scenario import WEATHER_COLUMNS, ScenarioError, ScenarioYear
from energylib.schema import TIME, FrameMeta, interval_index
from energylib.site import SITES, Site
from energylib.store import ParquetStore
from energylib.study.params import Period, SeriesRef, StudyError, StudyParams
from energylib.tariff import AmberTariff, DynamicEUTariff, NemRetailTariff

SOURCE_LABELS = {
    "powerpal": "Powerpal export",
    "amber": "Amber",
    "aemo": "AEMO",
    "entsoe": "ENTSO-E",
    "sgsc": "SGSC trial meter",
    "citylearn": "CityLearn building",
}
FILL_LABELS = {
    "same_weekday_last_year": "the same weekday a year earlier",
    "previous_day": "the day before",
}
WEATHER_SEED = 2025


@dataclass(eq=False)
class StudyInputs:
    """The year a study dispatches, and what it is made of.

    Attributes
    ----------
    year : ScenarioYear
        Load, prices, weather and existing PV on the study's grid.
    period : Period
        The period modelled (resolved from the data for ``last_12_months``).
    description : str
        The data line: what each input is and over which dates.
    filled : dict
        Intervals filled per input (``{"load": 2112}``), by ``inputs.fill``.
    weather : str
        Where the weather came from.
    """

    year: ScenarioYear
    period: Period
    description: str
    filled: dict[str, int] = field(default_factory=dict)
    weather: str = ""


# --------------------------------------------------------------------------- the period
def _utc(day: date, tz: str) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)).astimezone(ZoneInfo("UTC"))


def _local_date(t: datetime, tz: str) -> date:
    return t.astimezone(ZoneInfo(tz)).date()


def _last_12_months(last_start: datetime, tz: str, minutes: int) -> Period:
    """The 12 whole local months ending with the last whole month the data reaches."""
    last_end = (last_start + timedelta(minutes=minutes)).astimezone(ZoneInfo(tz))
    month_end = date(last_end.year, last_end.month, 1)
    return Period(date(month_end.year - 1, month_end.month, 1), month_end)


# --------------------------------------------------------------------------- reading the store
class _Catalog:
    """The store, with what it holds (datasets, series and their spans) read once per study."""

    def __init__(self, store):
        self.store, self.root = store, store.root
        self._series: dict[tuple[str, str], pl.DataFrame] = {}
        self._datasets: set[tuple[str, str]] | None = None

    def read(self, *args, **kwargs):
        return self.store.read(*args, **kwargs)

    def datasets(self) -> set[tuple[str, str]]:
        if self._datasets is None:
            self._datasets = set(self.store.datasets())
        return self._datasets

    def series(self, source: str, kind: str) -> pl.DataFrame:
        if (source, kind) not in self._series:
            self._series[source, kind] = self.store.series(source, kind)
        return self._series[source, kind]


def _pick(store, ref: SeriesRef, kind: str, role: str, where: str) -> pl.DataFrame:
    """The stored series of ``ref`` of one kind (site and channel filled in where unique)."""
    series = store.series(ref.source, kind)
    if ref.site is not None:
        series = series.filter(pl.col("site") == ref.site)
    if series.height == 0:
        have = sorted({r[0] for r in store.series(ref.source, kind).select("site").rows()})
        raise StudyError(
            f"{where}: inputs.{role}: no {ref.source}/{kind} series for site {ref.site!r} in "
            f"{store.root}; sites stored: {have or 'none'} (import the data first, e.g. "
            f"`energy import {ref.source} FILE`)"
        )
    sites = series["site"].unique().to_list()
    if len(sites) > 1:
        raise StudyError(
            f"{where}: inputs.{role}: {ref.source}/{kind} holds several sites {sorted(sites)}; "
            f"name one with inputs.{role}.site"
        )
    return series


def _read(store, ref: SeriesRef, kind: str, channel: str, start, end, minutes: int,
          energy_method: str | None, role: str, where: str) -> tuple[pl.DataFrame, FrameMeta]:  # fmt: skip
    """One stored series over ``[start, end)`` at ``minutes``; every stored resolution read,
    the finest winning where they overlap.  A ref with ``replay_from`` is read that many
    whole weeks earlier and moved onto the requested range."""
    shift = ref.shift
    start, end = start - shift, end - shift
    site = _pick(store, ref, kind, role, where)["site"][0]
    try:
        data, meta = store.read(
            ref.source, kind, start, end, site=site, channel=channel,
            resample_to=minutes, energy_method=energy_method,
        )  # fmt: skip
    except LookupError:  # nothing stored in the range: _cover says what is missing
        return _empty(), FrameMeta(ref.source, kind, minutes, site, channel)
    except ValueError as err:
        if "upsample energy" in str(err):
            stored = store.series(ref.source, kind).filter(pl.col("site") == site)
            raise StudyError(
                f"{where}: inputs.{role} ({ref.source}/{site}) is stored at "
                f"{sorted(set(stored['interval_minutes'].to_list()))} min and the study runs at {minutes} min: "
                "splitting kWh into shorter intervals invents a load shape; say so with "
                "inputs.load_upsampling: uniform, or set interval_minutes to the data's"
            ) from None
        raise
    if shift:
        data = data.with_columns(pl.col(TIME) + shift)
    return data, meta


def _channels(store, ref: SeriesRef, kind: str, role: str, where: str) -> list[str]:
    series = _pick(store, ref, kind, role, where)
    return sorted(series["channel"].unique().to_list())


# --------------------------------------------------------------------------- inputs
def _load(store, params: StudyParams, start, end) -> tuple[pl.DataFrame, FrameMeta]:
    """``load_kwh`` and ``ev_load_kwh`` of the household over ``[start, end)``."""
    ref, where, m = params.inputs.load, params.where, params.interval_minutes
    energy = params.inputs.load_upsampling
    have = store.datasets()
    kind = ref.kind or ("load" if (ref.source, "load") in have else "usage")
    if (ref.source, kind) not in have:
        raise StudyError(
            f"{where}: inputs.load: the store at {store.root} holds no {ref.source} load or usage; "
            f"import it first (`energy import {ref.source} FILE`), or fix inputs.load.source"
        )
    if kind == "load":
        channel = ref.channel or _channels(store, ref, kind, "load", where)[0]
        data, meta = _read(store, ref, "load", channel, start, end, m, energy, "load", where)
        if data.height == 0:
            return _empty("load_kwh", "ev_load_kwh"), meta
        if "total_kwh" not in data.columns:
            raise StudyError(f"{where}: inputs.load: {ref.source}/load has no total_kwh column")
        ev = pl.col("ev_charging_kwh") if "ev_charging_kwh" in data.columns else pl.lit(0.0)
        frame = data.select(
            TIME,
            (pl.col("total_kwh") - ev).clip(lower_bound=0.0).alias("load_kwh"),
            ev.alias("ev_load_kwh"),
        )
        return frame, meta
    channels = [ref.channel] if ref.channel else _channels(store, ref, "usage", "load", where)
    imports = [c for c in channels if c in IMPORT_CHANNELS] or channels[:1]
    parts = [_read(store, ref, "usage", c, start, end, m, energy, "load", where) for c in imports]
    exports = None
    generation = None
    if params.inputs.pv_measured is not None:
        if "feed_in" not in _channels(store, ref, "usage", "load", where):
            raise StudyError(
                f"{where}: inputs.pv_measured needs the meter's exports to know what the home "
                f"used: {ref.source}/{ref.site} has no feed_in channel (a Powerpal sees imports only; "
                "Amber usage has it)"
            )
        exports = _read(store, ref, "usage", "feed_in", start, end, m, energy, "load", where)
        generation = _pv_measured(store, params, start, end)
    parts = [p for p in parts if p[0].height]
    if not parts:
        return _empty("load_kwh"), FrameMeta(ref.source, "load", m, ref.site or "")
    data, meta = load_from_meter(parts, exports, generation)
    return data.select(TIME, pl.col("total_kwh").alias("load_kwh")), meta


def _empty(*columns: str) -> pl.DataFrame:
    return pl.DataFrame(schema={TIME: pl.Datetime("us", "UTC"), **{c: pl.Float64 for c in columns}})


def _pv_measured(store, params: StudyParams, start, end) -> tuple[pl.DataFrame, FrameMeta]:
    ref = params.inputs.pv_measured
    assert ref is not None
    channel = ref.channel or _channels(store, ref, "pv", "pv_measured", params.where)[0]
    return _read(store, ref, "pv", channel, start, end, params.interval_minutes, "uniform",
                 "pv_measured", params.where)  # fmt: skip


def _prices(store, params: StudyParams, start, end) -> tuple[pl.DataFrame, FrameMeta]:
    """``general_per_kwh`` / ``spot_per_kwh`` / ``feed_in_per_kwh`` over ``[start, end)``."""
    ref, where, m = params.inputs.prices, params.where, params.interval_minutes
    if (ref.source, "prices") not in store.datasets():
        raise StudyError(
            f"{where}: inputs.prices: the store at {store.root} holds no {ref.source} prices; "
            f"import them first (`energy import {ref.source} FILE` or `energy backfill {ref.source}`)"
        )
    channels = _channels(store, ref, "prices", "prices", where)
    main = ref.channel or (
        "general" if "general" in channels else next(c for c in channels if c != "feed_in")
    )
    data, meta = _read(store, ref, "prices", main, start, end, m, None, "prices", where)
    cols = [TIME]
    if "price_per_kwh" in data.columns:
        cols.append(pl.col("price_per_kwh").alias("general_per_kwh"))
    if "spot_per_kwh" in data.columns:
        cols.append(pl.col("spot_per_kwh"))
    frame = data.select(cols)
    if "feed_in" in channels and main == "general":
        feed, _ = _read(store, ref, "prices", "feed_in", start, end, m, None, "prices", where)
        if feed.height:
            frame = frame.join(
                feed.select(TIME, pl.col("price_per_kwh").alias("feed_in_per_kwh")),
                on=TIME,
                how="left",
            )
    _check_tariff_prices(params, frame, ref, where)
    return frame, meta


def read_prices(params: StudyParams, store, start: datetime, end: datetime) -> pl.DataFrame:
    """The prices input's channels over ``[start, end)`` at the study's interval, as stored
    (missing intervals absent): what a forecaster fitted before the period reads."""
    data, _ = _prices(_Catalog(study_store(params, store)), params, start, end)
    return data


def _check_tariff_prices(
    params: StudyParams, frame: pl.DataFrame, ref: SeriesRef, where: str
) -> None:
    t = params.tariff
    need = []
    if isinstance(t, AmberTariff):
        need = [
            ("general_per_kwh", "Amber's all-in price"),
            ("feed_in_per_kwh", "Amber's feed-in price"),
        ]
    elif isinstance(t, NemRetailTariff | DynamicEUTariff):
        need = [("spot_per_kwh", "wholesale spot prices")]
    for column, what in need:
        if frame.height and column not in frame.columns:
            hint = ("tariff kind nem_retail (retail built from spot)" if ref.source == "aemo"
                    else "tariff kind eu_dynamic" if ref.source == "entsoe" else "another tariff kind")  # fmt: skip
            raise StudyError(
                f"{where}: tariff {t.name} needs {what}; {ref.source}/{ref.site or ''} prices have "
                f"{[c for c in frame.columns if c != TIME]}: use {hint}"
            )


def _weather(
    store, params: StudyParams, start, end, default_site: bool
) -> tuple[pl.DataFrame, str]:
    """The five weather columns over ``[start, end)``, and where they came from."""
    w, site, m = params.inputs.weather, params.site, params.interval_minutes
    if w.kind == "store" or (w.kind == "default" and default_site):
        ref = SeriesRef(w.source or "simulated", w.site or site.name)
        data, _ = _read(
            store, ref, "weather", "general", start, end, m, None, "weather", params.where
        )
        label = (
            "the default year's weather"
            if w.kind == "default"
            else f"{ref.source}/{ref.site} weather"
        )
        return data, label
    if w.kind == "file":
        return _weather_file(Path(w.file), params, start, end), f"weather file {Path(w.file).name}"
    if w.kind == "open_meteo":
        from energylib.ingest.weather import get_open_meteo_history  # network: only when asked

        data, meta = get_open_meteo_history(
            site.latitude, site.longitude, start, end, timezone=site.timezone
        )
        data, _ = resample(data, meta, m)
        return data, "Open-Meteo history"
    return _generated_weather(
        site, start, end, m
    ), "weather generated for the site (clear sky x a seeded cloud model)"


def _weather_file(path: Path, params: StudyParams, start, end) -> pl.DataFrame:
    from energylib.ingest.weather import read_tmy  # pvlib's iotools: slow to import

    if not path.is_file() and not path.is_absolute():
        from energylib.config import PROJECT_ROOT

        path = PROJECT_ROOT / path
    years = range(
        _local_date(start, params.site.timezone).year,
        _local_date(end, params.site.timezone).year + 1,
    )
    frames = []
    for y in years:
        try:
            data, meta = read_tmy(path, year=y, timezone=params.site.timezone)
        except (FileNotFoundError, ValueError) as err:
            raise StudyError(f"{params.where}: inputs.weather: {err}") from None
        if meta.interval_minutes != params.interval_minutes:
            data, meta = resample(data, meta, params.interval_minutes)
        frames.append(data)
    return pl.concat(frames).unique(TIME, keep="first").sort(TIME)


def _generated_weather(site: Site, start, end, minutes: int) -> pl.DataFrame:
    import pandas as pd

    from energylib.simulate.weather import CLIMATES, generate_weather  # scipy: slow to import

    climate = CLIMATES.get(site.market)
    if climate is None:
        raise StudyError(
            f"no generated weather for market {site.market!r}; give inputs.weather a TMY, EPW or "
            "PVGIS file (e.g. from https://re.jrc.ec.europa.eu/pvg_tools/)"
        )
    w = generate_weather(
        site, pd.Timestamp(start), pd.Timestamp(end), minutes, WEATHER_SEED, climate=climate
    )
    index = pl.from_pandas(pd.Series(w.index.tz_convert("UTC"), name=TIME)).dt.cast_time_unit("us")
    return pl.DataFrame({TIME: index, "ghi_w_m2": w["ghi"].to_numpy(), "dni_w_m2": w["dni"].to_numpy(),
                         "dhi_w_m2": w["dhi"].to_numpy(), "temp_air_c": w["temp_air"].to_numpy(),
                         "wind_speed_m_s": w["wind_speed"].to_numpy()})  # fmt: skip


# --------------------------------------------------------------------------- coverage
def _span_text(data: pl.DataFrame, tz: str) -> str:
    if data.height == 0:
        return "no data"
    first, last = data[TIME].min(), data[TIME].max()
    return f"{_local_date(first, tz)} to {_local_date(last, tz)}"


def _cover(role: str, data: pl.DataFrame, grid: pl.DataFrame, params: StudyParams, period: Period,
           history: pl.DataFrame | None, stored: tuple[datetime, datetime] | None = None,
           ) -> tuple[pl.DataFrame, int]:  # fmt: skip
    """``data`` on every interval of ``grid``, or a StudyError naming what is missing; with a
    fill policy, the missing intervals copied from ``history`` and counted.  ``stored`` is the
    whole stored span (first and last interval start), for the advice."""
    tz = params.site.timezone
    value_cols = [c for c in data.columns if c != TIME]
    on_grid = grid.join(data, on=TIME, how="left")
    missing = (
        on_grid.filter(pl.any_horizontal(pl.col(c).is_null() for c in value_cols))
        if value_cols
        else grid
    )
    if missing.height == 0:
        return on_grid, 0
    fill = params.inputs.fill
    if fill is not None and history is not None and value_cols:
        minutes = params.interval_minutes
        combined = (
            pl.concat([history, data], how="diagonal_relaxed").unique(TIME, keep="last").sort(TIME)
        )
        filled = fill_gaps(combined.drop_nulls(), minutes, fill, start=grid[TIME][0],
                           end=grid[TIME][-1] + timedelta(minutes=minutes))  # fmt: skip
        on_grid = grid.join(filled, on=TIME, how="left")
        missing = on_grid.filter(pl.col(value_cols[0]).is_null())
        if missing.height == 0:
            count = on_grid.filter(pl.col("filled_by").is_not_null()).height
            return on_grid.drop("filled_by"), count
    whole = []
    partly = []
    per_month = missing.group_by(
        pl.col(TIME).dt.convert_time_zone(tz).dt.strftime("%Y-%m").alias("month")
    ).len()
    in_grid = grid.group_by(
        pl.col(TIME).dt.convert_time_zone(tz).dt.strftime("%Y-%m").alias("month")
    ).len()
    for month, n, total in per_month.join(in_grid, on="month").sort("month").rows():
        (whole if n == total else partly).append(
            month if n == total else f"{month} ({n} intervals)"
        )
    what = []
    if whole:
        what.append(f"month{'s' if len(whole) > 1 else ''} {', '.join(whole)} missing")
    if partly:
        what.append(f"gaps in {', '.join(partly)}")
    if stored is None and data.height:
        stored = (data[TIME].min(), data[TIME].max())
    suggestion = ""
    if stored is not None and whole:
        first = _local_date(stored[0], tz)
        start = (
            first
            if first.day == 1
            else date(first.year + first.month // 12, first.month % 12 + 1, 1)
        )
        end = date(start.year + 1, start.month, 1)
        if _local_date(stored[1], tz) >= end - timedelta(days=1):
            suggestion = (
                f"set period: {{start: {start}, end: {end}}} (12 months the data covers), or "
            )
    runs = f"{_local_date(stored[0], tz)} to {_local_date(stored[1], tz)}" if stored else "nowhere"
    fixes = f"{suggestion}fill them with inputs.fill: same_weekday_last_year (or previous_day for short gaps)"
    if fill is not None:
        fixes = (
            f"inputs.fill: {fill} found nothing to copy for them (the data it copies from is "
            f"missing too); import the missing data, or " + (
                suggestion.removesuffix(", or ") if suggestion else "choose a period: the data covers")
        )  # fmt: skip
    raise StudyError(
        f"{params.where}: inputs.{role} does not cover {period.label}: {'; '.join(what)} "
        f"({missing.height} of {grid.height} intervals; the stored data runs {runs}); {fixes}"
    )


# --------------------------------------------------------------------------- the year
def study_store(params: StudyParams, store=None) -> ParquetStore:
    """The store a study reads: ``store`` where given, else ``inputs.store_dir``, else the
    configured data folder."""
    if store is not None:
        return store
    root = params.inputs.store_dir or load_settings().processed_dir
    return ParquetStore(root)


def _default_ref(ref: SeriesRef, site: Site) -> SeriesRef:
    """The default year's series for the params' market (site ``default`` / ``nl-default``)."""
    if not ref.default_year:
        return ref
    default = SITES.get(site.market)
    if default is None:
        raise StudyError(f"the default year has no {site.market!r} market; name your inputs")
    return SeriesRef("simulated", default.name)


def describe_series(role: str, ref: SeriesRef, data: pl.DataFrame, tz: str) -> str:
    """A few words on what one input is, for the report's data line."""
    if ref.source == "simulated":
        return ("a generated household (the default year)" if role == "load"
                else "simulated market prices (the default year)")  # fmt: skip
    label = SOURCE_LABELS.get(ref.source, ref.source)
    if role == "prices":
        kind = {"aemo": "spot", "entsoe": "day-ahead"}.get(ref.source, "prices")
        text = f"{label} {ref.site or ''} {kind}".replace("  ", " ")
    else:
        site = f" {ref.site}" if ref.site and ref.source not in ("powerpal",) else ""
        text = f"{label}{site} {_span_text(data.with_columns(pl.col(TIME) - ref.shift), tz)}"
    if ref.shift:
        text += f" (replayed {ref.shift.days // 7} weeks later)"
    return text


def load_inputs(params: StudyParams, store=None, *, progress: bool = False) -> StudyInputs:
    """Read a study's inputs from the store (generating the default year where named).

    Parameters
    ----------
    params : StudyParams
        From :func:`energylib.study.load_params`.
    store : ParquetStore, optional
        Default: ``inputs.store_dir``, else the configured data folder.

    Raises
    ------
    StudyError
        An input is missing, does not cover the period, or does not fit the tariff; the
        message names the params key and what to do.
    """
    store = study_store(params, store)
    inputs, site, m = params.inputs, params.site, params.interval_minutes
    uses_default = inputs.load.default_year or inputs.prices.default_year
    default_site = site in SITES.values()
    if uses_default or (inputs.weather.kind == "default" and default_site):
        from energylib.simulate.default_year import ensure_default_year  # the simulator: slow

        ensure_default_year(store, markets=(site.market,), progress=progress)
    store = _Catalog(store)
    load_ref = _default_ref(inputs.load, site)
    price_ref = _default_ref(inputs.prices, site)
    params = _with_refs(params, load_ref, price_ref)

    period = params.period
    if period.last_12_months:
        series = _pick(store, load_ref, _load_kind(store, load_ref), "load", params.where)
        period = _last_12_months(series["last"].max(), site.timezone, m)
    start, end = _utc(period.start, site.timezone), _utc(period.end, site.timezone)
    lookback = (
        timedelta(days=364 if inputs.fill == "same_weekday_last_year" else 1)
        if inputs.fill
        else None
    )
    grid = pl.DataFrame({TIME: interval_index(start, end, m)})

    def read_with_history(reader):
        data, meta = reader(store, params, start - lookback if lookback else start, end)
        history = data.filter(pl.col(TIME) < start) if lookback else None
        return data.filter(pl.col(TIME) >= start), meta, history

    filled: dict[str, int] = {}
    load, _, load_hist = read_with_history(_load)
    frame, filled["load"] = _cover("load", load, grid, params, period, load_hist,
                                   _stored_span(store, load_ref, _load_kind(store, load_ref)))  # fmt: skip
    prices, pmeta, price_hist = read_with_history(_prices)
    on_grid, filled["prices"] = _cover("prices", prices, grid, params, period, price_hist,
                                       _stored_span(store, price_ref, "prices"))  # fmt: skip
    frame = frame.join(on_grid, on=TIME, how="left")
    if inputs.pv_measured is not None:
        pv, _ = _pv_measured(store, params, start, end)
        pv_grid, filled["pv_measured"] = _cover(
            "pv_measured",
            pv.select(TIME, pl.col("pv_kwh").alias("existing_pv_kwh")),
            grid,
            params,
            period,
            None,
        )
        frame = frame.join(pv_grid, on=TIME, how="left")
    weather, weather_label = _weather(store, params, start, end, default_site)
    weather = weather.select(TIME, *[c for c in WEATHER_COLUMNS if c in weather.columns])
    w_grid, filled["weather"] = _cover("weather", weather, grid, params, period, None)
    frame = frame.join(w_grid, on=TIME, how="left")

    description = _description(params, load_ref, price_ref, load, prices, filled, grid.height)
    try:
        year = ScenarioYear.from_frame(
            frame, site, m, currency=pmeta.currency or params.currency, description=description
        )
        year.prices(params.tariff)
    except (ScenarioError, ValueError) as err:
        raise StudyError(f"{params.where}: {err}") from None
    if inputs.max_days:
        year = year.head_days(inputs.max_days)
    return StudyInputs(
        year=year,
        period=period,
        description=description,
        filled={k: v for k, v in filled.items() if v},
        weather=weather_label,
    )


def _stored_span(store, ref: SeriesRef, kind: str) -> tuple[datetime, datetime] | None:
    """First and last stored interval of a ref's series, on the study's clock (shifted)."""
    series = store.series(ref.source, kind)
    if ref.site is not None:
        series = series.filter(pl.col("site") == ref.site)
    if series.height == 0:
        return None
    return series["first"].min() + ref.shift, series["last"].max() + ref.shift


def _load_kind(store, ref: SeriesRef) -> str:
    return ref.kind or ("load" if (ref.source, "load") in store.datasets() else "usage")


def _with_refs(params: StudyParams, load: SeriesRef, prices: SeriesRef) -> StudyParams:
    from dataclasses import replace

    return replace(params, inputs=replace(params.inputs, load=load, prices=prices))


def _description(params, load_ref, price_ref, load, prices, filled, n) -> str:
    tz = params.site.timezone
    tariff = params.tariff.name
    if isinstance(params.tariff, NemRetailTariff):
        tariff = f"{tariff} ({params.tariff.network} network)"
    text = (f"{describe_series('load', load_ref, load, tz)}, "
            f"{describe_series('prices', price_ref, prices, tz)} with {tariff}")  # fmt: skip
    for role, count in filled.items():
        if count:
            text += (f"; {role}: {count:,} of {n:,} intervals ({count / n:.0%}) filled with "
                     f"{FILL_LABELS[params.inputs.fill]}")  # fmt: skip
    return text


__all__ = ["StudyInputs", "describe_series", "load_inputs"]
