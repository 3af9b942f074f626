"""The ML-ready feature table as a stored dataset: what ``energy features`` writes.

For one site's series in a store (the default year, an import, the gateway's readings
synced from InfluxDB) over the last ``lookback_days`` of its data, the table holds,
half-hourly, every input of a :class:`~energylib.forecast.features.FeatureSpec` (the
same numbers :func:`~energylib.forecast.features.feature_matrix` gives training) plus
rolling means and standard deviations of load and price over ``rolling_window_days``.
It is stored as kind ``features``, channel = the spec's name (lower case), with the
site's currency and time zone, so it reads back like any canonical frame.

Column names carry units as the schema asks: a feature of a stored column keeps its
name, or its source column's where the name has no unit (``price`` -> ``price_per_kwh``);
a lag puts the lag first so the unit stays last (``price_lag_48`` -> ``lag48_price_per_kwh``);
a step difference is ``change_<column>``; a signed energy is ``net_<name>``; a time encoding ends in ``_enc``
(``hour_sin_enc``, unitless, -1..1); rolling statistics are
``roll7d_mean_total_kwh``, ``roll7d_std_price_per_kwh``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
from tqdm.auto import tqdm

from energylib.forecast.features import (
    Feature,
    FeatureSpec,
    feature_matrix,
    get_spec,
    history_from_store,
)
from energylib.schema import TIME, FrameMeta, column_unit
from energylib.store import Store

KIND = "features"
#: The series the rolling statistics are taken of.
ROLLING_COLUMNS = ("total_kwh", "price_per_kwh")


def stored_name(feature: Feature, present: set[str]) -> str:
    """The stored column name of a feature (its unit last), given the data's columns."""
    if feature.kind == "time":
        return f"{feature.name}_enc"
    if feature.kind == "lag":
        return f"lag{feature.lag}_{feature.columns[0]}"
    if column_unit(feature.name) != "unknown":
        return feature.name
    used = next(
        (c for c in feature.columns if c.removeprefix("diff:") in present), feature.columns[0]
    )
    return f"change_{used[5:]}" if used.startswith("diff:") else used


def _end_of_data(store: Store, source: str, site: str) -> datetime:
    series = store.series(source, "load", site=site)
    if series.is_empty():
        raise LookupError(
            f"the store holds no load for source={source!r} site={site!r}; "
            "ingest, simulate or sync first (energy simulate default-year, energy sync --source influxdb)"
        )
    row = series.sort("last").row(-1, named=True)
    return row["last"] + timedelta(minutes=int(row["interval_minutes"]))


def build_feature_table(
    store: Store,
    *,
    source: str = "simulated",
    site: str = "default",
    spec: str | FeatureSpec = "TOTAL_PRICE_WEATHER_TIME",
    lookback_days: float = 30.0,
    rolling_window_days: float = 7.0,
    end: datetime | None = None,
) -> tuple[pl.DataFrame, FrameMeta]:
    """The feature table of a site's last ``lookback_days`` [d] of data.

    Parameters
    ----------
    store : Store
        Where the site's series are.
    source, site : str
        Which series.
    spec : str or FeatureSpec
        Whose inputs (default ``TOTAL_PRICE_WEATHER_TIME``: load, price and its lags,
        weather, local time).
    lookback_days : float
        Days of data the table covers, ending at ``end`` [d].
    rolling_window_days : float
        Window of the rolling statistics [d].
    end : datetime, optional
        End of the table (default: the end of the site's load, or now if earlier),
        floored to the spec's interval.

    Raises
    ------
    LookupError
        The store has no such site, or no data in the lookback window.
    KeyError
        The site's data lacks a column the spec needs (the message names it).
    """
    spec = get_spec(spec)
    if lookback_days <= 0 or rolling_window_days <= 0:
        raise ValueError(
            f"--lookback-days ({lookback_days}) and the rolling window ({rolling_window_days}) must be > 0 days"
        )
    last_end = _end_of_data(store, source, site)
    end = min(end or datetime.now(UTC), last_end)
    step_s = spec.interval_minutes * 60
    end = datetime.fromtimestamp(int(end.timestamp()) // step_s * step_s, UTC)  # whole intervals
    start = end - timedelta(days=lookback_days)
    # the lags and the rolling window reach further back than the table's first row
    reach = (
        max([f.lag for f in spec.features if f.kind == "lag"] + [0])
        * spec.interval_minutes
        / 60
        / 24
    )
    read_from = start - timedelta(days=max(reach, rolling_window_days))
    data, tz = history_from_store(
        store, source, site, read_from, end, interval_minutes=spec.interval_minutes
    )
    if data.is_empty():
        raise LookupError(f"no data for {source}/{site} between {read_from} and {end}")
    fm = feature_matrix(data, spec, tz)
    columns = {TIME: fm.times}
    present = set(data.columns)
    for j, f in enumerate(spec.features):
        values = fm.inputs[:, j].astype(np.float64)
        name = stored_name(f, present)
        if column_unit(name) == "energy" and np.nanmin(values, initial=0.0) < 0:
            name = f"net_{name}"  # a signed flow (battery charge), as the schema names them
        columns[name] = values
    table = pl.DataFrame(columns)
    per_day = 24 * 60 // spec.interval_minutes
    window = max(1, int(round(rolling_window_days * per_day)))
    days = f"{rolling_window_days:g}d"
    full = pl.DataFrame({TIME: fm.times}).join(data, on=TIME, how="left")
    for col in ROLLING_COLUMNS:
        if col in full.columns:
            s = full[col].cast(pl.Float64)
            table = table.with_columns(
                s.rolling_mean(window, min_samples=window // 2).alias(f"roll{days}_mean_{col}"),
                s.rolling_std(window, min_samples=window // 2).alias(f"roll{days}_std_{col}"),
            )
    table = table.filter(pl.col(TIME) >= start).with_columns(pl.col(TIME).dt.cast_time_unit("us"))
    # NaN (a gap in the source) is stored as a missing value
    table = table.with_columns(pl.col(pl.Float64).fill_nan(None))
    try:
        currency = store.series(source, "prices", site=site)["currency"].drop_nulls().first()
    except LookupError:
        currency = None
    meta = FrameMeta(
        source,
        KIND,
        spec.interval_minutes,
        site=site,
        channel=spec.name.lower(),
        currency=currency,
        timezone=tz,
    )
    return table, meta


def write_feature_table(
    stores: list[Store],
    table: pl.DataFrame,
    meta: FrameMeta,
    *,
    batch_rows: int = 1000,
    progress: bool = False,
) -> list[tuple[str, int, int, int]]:
    """Upsert the table into each store in batches of ``batch_rows`` rows (``FE_BATCH_SIZE``),
    oldest first, one upsert (one transaction) per batch, with a progress bar.

    A batch that fails raises; the batches before it stay stored, and a re-run rewrites
    nothing already stored as given.

    Returns
    -------
    list of (store, inserted, updated, batches)
    """
    if batch_rows < 1:
        raise ValueError(f"FE_BATCH_SIZE must be >= 1 row, got {batch_rows}")
    nullable = tuple(c for c in table.columns if c != TIME)
    batches = list(table.sort(TIME).iter_slices(batch_rows))
    out = []
    for store in stores:
        inserted = updated = 0
        for batch in tqdm(batches, desc=f"features to {store!r}", disable=not progress):
            result = store.upsert(batch, meta, nullable=nullable)
            inserted += result.inserted
            updated += result.updated
        out.append((repr(store), inserted, updated, len(batches)))
    return out
