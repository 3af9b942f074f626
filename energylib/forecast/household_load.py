"""Day-ahead load of many homes: the benchmark protocol run per home, and its summary.

Each home's day ``D`` (48 half-hours) is forecast from its meter readings up to the
end of ``D-1`` (:mod:`energylib.forecast.benchmark`'s protocol), over the last part of
its own history.  Models (:func:`household_models`): the seasonal naive forecasts
(same time yesterday, same time last week), a ridge on calendar and recent history
(the last 2 days of readings and the weekday), with ``weather`` the same ridge with the
target day's weather added (a weather-and-calendar ridge: the day's temperature, or any
weather column, read as known the day before, as a forecast would be), and
the median of each half-hour over the last two weeks with its neighbours
(:class:`~energylib.forecast.benchmark.RecentMedian`).  The summary compares each model
with the *better* of the two naive forecasts home by home, as the issue's target does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import polars as pl
from tqdm import tqdm

from energylib.forecast.benchmark import (
    DayAheadModel,
    RecentMedian,
    RidgeDayAhead,
    SeasonalNaive,
    run_protocol,
)
from energylib.forecast.dayahead import DayAheadData
from energylib.schema import TIME, FrameMeta

NAIVE = ("naive day", "naive week")


def household_models(window: int = 364, weather: bool = False) -> list[DayAheadModel]:
    """The household comparison: seasonal naive (day, week), the calendar-and-history
    ridge, with ``weather`` the weather-and-calendar ridge (the same ridge reading the
    data's known-future weather columns), and the 14-day median profile.

    The ridge's history (2 days) and penalty (1,000 on standardised regressors) were chosen
    on the SGSC homes' days before their test quarter (days 50-75 % of each home, scored
    like the test): with the last 7 days and a penalty of 10 its 343 regressors against
    about a year of days overfit (MAE twice the naive forecasts').
    """
    ridge = dict(window=window, alpha=1000.0, lag_days=2)
    with_weather = [RidgeDayAhead(**ridge, name="ridge (weather + calendar + last 2 days)")]
    return [
        SeasonalNaive(1),
        SeasonalNaive(7),
        RidgeDayAhead(**ridge, name="ridge (calendar + last 2 days)", known_future=False),
        *(with_weather if weather else []),
        RecentMedian(days=14, neighbours=1),
    ]


@dataclass
class HouseholdBenchmark:
    """Scores of every model on every home.

    ``per_home``: ``home, model, days, mae, rmse, improvement_pct`` (MAE [kWh per
    interval]; ``improvement_pct``: how much lower the MAE is than the home's better
    naive forecast's).  ``skipped``: homes left out, with the reason.
    """

    per_home: pl.DataFrame
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> pl.DataFrame:
        """Per model: ``homes``, ``mean_mae``, ``mean_improvement_pct`` (the average over
        homes of the improvement on the better naive forecast) and ``homes_better`` (homes
        where it beats the better naive forecast)."""
        return (
            self.per_home.group_by("model")
            .agg(
                pl.len().alias("homes"),
                pl.col("mae").mean().alias("mean_mae"),
                pl.col("improvement_pct").mean().alias("mean_improvement_pct"),
                (pl.col("improvement_pct") > 0).sum().alias("homes_better"),
            )
            .sort("mean_improvement_pct", descending=True)
        )


def household_benchmark(
    homes: Sequence[tuple[pl.DataFrame, FrameMeta]],
    *,
    target: str = "energy_kwh",
    clock: str = "Etc/GMT-10",
    test_fraction: float = 0.25,
    recalibration: str = "weekly",
    models: Callable[[], list[DayAheadModel]] | None = None,
    weather: pl.DataFrame | None = None,
    progress: bool = True,
) -> HouseholdBenchmark:
    """Run the day-ahead protocol on each home over the last ``test_fraction`` of its days.

    Parameters
    ----------
    homes : sequence of (polars.DataFrame, FrameMeta)
        One canonical frame per home (:func:`energylib.ingest.households.read_sgsc_households`).
    target : str
        The load column [kWh per interval].
    clock : str
        IANA zone whose days are the forecast days (the SGSC meters keep fixed UTC+10).
    test_fraction : float
        Share of each home's days, at its end, that is forecast.
    recalibration : str
        ``daily``, ``weekly`` or ``never``.
    models : callable, optional
        Returns fresh models for one home; default :func:`household_models` (with its
        weather ridge where ``weather`` is given).
    weather : polars.DataFrame, optional
        ``interval_start`` (UTC) and weather columns (``temperature_c`` ...) on the homes'
        interval grid, over their days: each home's target day reads them as known the day
        before (measured weather stands in for a day-ahead forecast; say so with the figures).
    progress : bool
        A progress bar over homes.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction {test_fraction} must be between 0 and 1")
    weather_columns = [c for c in (weather.columns if weather is not None else []) if c != TIME]
    if models is None:
        models = partial(household_models, weather=bool(weather_columns))
    rows, skipped = [], []
    for data, meta in tqdm(homes, desc="homes", disable=not progress):
        if weather_columns:
            data = data.join(weather, on=TIME, how="left")
            if data.select(pl.all_horizontal(pl.col(weather_columns).is_null()).all()).item():
                raise ValueError(
                    f"weather covers none of home {meta.site}'s intervals; give weather over "
                    "the homes' period, on their interval grid (interval_start in UTC)"
                )
        days = DayAheadData.from_frame(
            data, target, weather_columns, timezone=clock, interval_minutes=meta.interval_minutes
        )
        first = int(days.n_days * (1 - test_fraction))
        if first < 8:
            skipped.append((meta.site, f"{days.n_days} days: too few for a week of history"))
            continue
        result = run_protocol(
            days,
            models(),
            str(days.days[first]),
            str(days.days[-1]),
            recalibration=recalibration,
            progress=False,
        )
        table = result.table(unit_factor=1.0)
        mae = dict(zip(table["model"], table["mae"], strict=True))
        best = min((mae[n] for n in NAIVE if n in mae), default=np.nan)
        if not best > 0:
            skipped.append(
                (meta.site, "no load in its test period (the naive forecasts are exact)")
            )
            continue
        rows.append(
            table.select("model", "days", "mae", "rmse").with_columns(
                pl.lit(meta.site).alias("home"),
                (100.0 * (1.0 - pl.col("mae") / best)).alias("improvement_pct"),
            )
        )
    if not rows:
        raise ValueError(f"no home could be scored: {skipped}")
    per_home = pl.concat(rows).select("home", "model", "days", "mae", "rmse", "improvement_pct")
    return HouseholdBenchmark(per_home, skipped)
