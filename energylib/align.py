"""Time zones, grid flooring, resampling, gaps, duplicates and joins.

Everything here works on canonical frames (see :mod:`energylib.schema`) and
changes nothing silently: a gap stays a gap until a named fill policy fills it
(and the filled rows are marked), duplicates need a named policy, and energy is
never upsampled without an explicit method.

:func:`values_at` is the numpy fast path for putting a frame's values on arbitrary
instants (the live agent does it for every decision, within a few milliseconds).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from energylib.schema import (
    TIME,
    DataValidationError,
    FrameMeta,
    Problem,
    _problem,
    column_unit,
    interval_index,
    value_columns,
)

DUPLICATE_POLICIES = ("error", "first", "last", "mean")
FILL_POLICIES = ("none", "interpolate", "zero", "previous_day", "same_weekday_last_year")
#: How far back the copying fill policies look.
FILL_LAGS = {"previous_day": timedelta(days=1), "same_weekday_last_year": timedelta(days=364)}


# --------------------------------------------------------------------------- time zones
def local_to_utc(
    local: pl.Series | pl.Expr,
    timezone: str,
    *,
    ambiguous: str = "infer",
    nonexistent: str = "raise",
) -> pl.Series:
    """Convert naive local wall-clock times at a site to UTC.

    Parameters
    ----------
    local : polars.Series
        Naive datetimes in the site's local time, in chronological order.
    timezone : str
        IANA zone of the site (``Australia/Sydney``, ``Europe/Amsterdam``).
    ambiguous : {'infer', 'earliest', 'latest', 'raise'}
        The repeated hour when clocks go back.  ``infer`` takes the first
        occurrence of a repeated wall time as daylight time and the second as
        standard time, which is right for a chronological series (meter exports).
    nonexistent : {'raise', 'null'}
        The skipped hour when clocks go forward: such a time is an error (naming
        the rows) or becomes null.
    """
    s = local if isinstance(local, pl.Series) else pl.select(local).to_series()
    if s.dtype == pl.Datetime and s.dtype.time_zone is not None:  # type: ignore[union-attr]
        raise ValueError(f"local_to_utc expects naive local times; got zone {s.dtype.time_zone}")  # type: ignore[union-attr]
    frame = pl.DataFrame({"local": s})
    non_existent = "null"
    if ambiguous == "infer":
        early = frame["local"].dt.replace_time_zone(
            timezone, ambiguous="earliest", non_existent=non_existent
        )
        late = frame["local"].dt.replace_time_zone(
            timezone, ambiguous="latest", non_existent=non_existent
        )
        seen_before = frame.select((pl.col("local").cum_count().over("local") > 1).alias("x"))["x"]
        out = pl.select(pl.when(seen_before).then(late).otherwise(early)).to_series()
    else:
        out = frame["local"].dt.replace_time_zone(
            timezone, ambiguous=ambiguous, non_existent=non_existent
        )
    missing = out.is_null() & frame["local"].is_not_null()
    if missing.any() and nonexistent == "raise":
        rows = frame.with_row_index().filter(missing)
        first = rows["local"][0]
        raise DataValidationError(
            [
                Problem(
                    f"{len(rows)} local time(s) do not exist in {timezone} (clocks went forward), first {first}",
                    "local time",
                    tuple((int(i), int(i)) for i in rows["index"]),
                    fix="these rows cannot come from a real clock; use the UTC column if the source has one, or nonexistent='null'",
                )
            ]
        )
    return out.dt.convert_time_zone("UTC").alias(s.name)


def utc_to_local(utc: pl.Series, timezone: str) -> pl.Series:
    """UTC instants to the site's local wall-clock time (zone-aware)."""
    return utc.dt.convert_time_zone(timezone)


# --------------------------------------------------------------------------- the grid
def floor_to_grid(
    data: pl.DataFrame, interval_minutes: int, *, tolerance_seconds: float = 5.0
) -> pl.DataFrame:
    """Floor interval starts that sit a few seconds past the grid onto it.

    Amber's ``startTime`` is the interval start plus one second: ``00:05:01``
    becomes ``00:05:00``.  An offset larger than ``tolerance_seconds`` is an
    error that names the rows, not a silent shift.
    """
    step = interval_minutes * 60_000_000
    epoch = data[TIME].dt.epoch("us")
    offset = epoch % step
    too_far = offset > int(tolerance_seconds * 1_000_000)
    if too_far.any():
        raise DataValidationError(
            [
                _problem(
                    data,
                    too_far,
                    f"interval starts more than {tolerance_seconds:g} s past the {interval_minutes}-min grid",
                    TIME,
                    "check the interval length; pass a larger tolerance_seconds only if the source is known to stamp late",
                )
            ]
        )
    return data.with_columns(pl.col(TIME).dt.truncate(f"{interval_minutes}m"))


# --------------------------------------------------------------------------- duplicates
def deduplicate(data: pl.DataFrame, policy: str = "error", *, where: str = "") -> pl.DataFrame:
    """Resolve rows that share an ``interval_start``.

    ``error`` (the default) raises naming the rows; ``first`` / ``last`` keep one
    in the order given; ``mean`` averages numeric columns and keeps the last text.
    The result is sorted by time.
    """
    if policy not in DUPLICATE_POLICIES:
        raise ValueError(f"duplicate policy {policy!r} unknown; use one of {DUPLICATE_POLICIES}")
    dup = data[TIME].is_duplicated()
    if not dup.any():
        return data.sort(TIME)
    if policy == "error":
        n = int(dup.sum())
        raise DataValidationError(
            [
                _problem(
                    data,
                    dup,
                    f"{n} rows share an interval start",
                    TIME,
                    "pass on_duplicate='first', 'last' or 'mean' to choose",
                )
            ],
            where,
        )
    if policy in ("first", "last"):
        return data.unique(subset=[TIME], keep=policy, maintain_order=True).sort(TIME)
    aggs = []
    for c in value_columns(data):
        aggs.append(
            pl.col(c).mean()
            if data.schema[c].is_numeric() and column_unit(c) not in ("bool",)
            else pl.col(c).last()
        )
    return data.group_by(TIME, maintain_order=True).agg(aggs).sort(TIME).select(data.columns)


# --------------------------------------------------------------------------- resampling
def resample(
    data: pl.DataFrame,
    meta: FrameMeta,
    interval_minutes: int,
    *,
    weight: str | None = None,
    partial: str = "drop",
    energy_method: str | None = None,
    text: str = "last",
) -> tuple[pl.DataFrame, FrameMeta]:
    """Change the interval length.

    Downsampling (e.g. 5 -> 30 min) sums energy (``*_kwh``), averages power
    (``*_kw``) and averages prices (``*_per_kwh``), weighting prices by the
    energy column ``weight`` where one is given (a bucket whose weights sum to
    zero falls back to the plain mean).  ``partial`` says what happens to a
    bucket that misses some of its source intervals: ``drop`` leaves it out (it
    becomes a gap at the new resolution), ``keep`` keeps the sums of what is
    there.  Text columns take the ``last`` (or ``first``) value.

    Upsampling (e.g. 60 -> 15 min) repeats prices and power in each finer
    interval; energy must be split explicitly with ``energy_method='uniform'``,
    otherwise it raises: splitting kWh evenly invents a load shape.
    """
    src = meta.interval_minutes
    if interval_minutes == src:
        return data, meta
    new_meta = meta.replace(interval_minutes=interval_minutes)
    if interval_minutes > src:
        if interval_minutes % src:
            raise ValueError(
                f"cannot resample {src}-min to {interval_minutes}-min: not a whole multiple"
            )
        return _downsample(data, src, interval_minutes, weight, partial, text), new_meta
    if src % interval_minutes:
        raise ValueError(
            f"cannot resample {src}-min to {interval_minutes}-min: not a whole divisor"
        )
    return _upsample(data, src, interval_minutes, energy_method), new_meta


def _downsample(data, src, dst, weight, partial, text) -> pl.DataFrame:
    if partial not in ("drop", "keep"):
        raise ValueError(f"partial={partial!r}; use 'drop' or 'keep'")
    per_bucket = dst // src
    if weight is not None and weight not in data.columns:
        raise ValueError(f"weight column {weight!r} not in the frame (columns: {data.columns})")
    aggs = [pl.len().alias("_n")]
    for c in value_columns(data):
        unit = column_unit(c)
        if unit == "energy":
            aggs.append(pl.col(c).sum())
        elif unit == "price" and weight is not None:
            w = pl.col(weight)
            aggs.append(
                pl.when(w.sum() != 0)
                .then((pl.col(c) * w).sum() / w.sum())
                .otherwise(pl.col(c).mean())
                .alias(c)
            )
        elif unit in ("price", "power", "numeric"):
            aggs.append(pl.col(c).mean())
        elif unit == "bool":
            aggs.append(pl.col(c).any())
        else:
            aggs.append(pl.col(c).last() if text == "last" else pl.col(c).first())
    out = (
        data.sort(TIME)
        .group_by(pl.col(TIME).dt.truncate(f"{dst}m"), maintain_order=True)
        .agg(aggs)
        .sort(TIME)
    )
    if partial == "drop":
        out = out.filter(pl.col("_n") == per_bucket)
    return out.drop("_n").select(data.columns)


def _upsample(data, src, dst, energy_method) -> pl.DataFrame:
    energy = value_columns(data, "energy")
    if energy and energy_method != "uniform":
        raise ValueError(
            f"refusing to upsample energy columns {energy} from {src} to {dst} min: splitting kWh invents a "
            "load shape; pass energy_method='uniform' to split evenly, or resample prices only"
        )
    k = src // dst
    offsets = pl.Series("_k", [i * dst for i in range(k)], dtype=pl.Int64)
    out = (
        data.join(pl.DataFrame(offsets), how="cross")
        .with_columns((pl.col(TIME) + pl.duration(minutes=pl.col("_k"))).alias(TIME))
        .drop("_k")
    )
    if energy:
        out = out.with_columns([pl.col(c) / k for c in energy])
    return out.sort(TIME).select(data.columns)


def values_at(
    data: pl.DataFrame,
    interval_minutes: int,
    times_us: np.ndarray,
    columns: Sequence[str],
    *,
    step_minutes: int | None = None,
) -> dict[str, np.ndarray]:
    """The value of the interval that covers each instant (NaN, or None for text, where none does).

    The numpy fast path of resampling onto given instants: a price, power or other
    mean value repeats over every instant its interval covers; with ``step_minutes``,
    energy columns (``*_kwh``) are spread evenly over their interval and given per
    step of that length (kWh per step).

    Parameters
    ----------
    data : polars.DataFrame
        A canonical frame, sorted by ``interval_start``, with no duplicate starts.
    interval_minutes : int
        Its interval length [min].
    times_us : numpy.ndarray of int64
        Instants as microseconds since the epoch (UTC).
    columns : sequence of str
        Value columns wanted; one the frame lacks comes back all missing.
    step_minutes : int, optional
        Length of the steps energy is given per [min].

    Returns
    -------
    dict of str to numpy.ndarray
        One array per column, aligned with ``times_us``: float (NaN where missing) for
        numeric columns, object (None where missing) for text.
    """
    times = np.asarray(times_us, dtype=np.int64)
    # datetime64 -> int64 microseconds without polars' expression engine (a decision's budget)
    starts = data[TIME].to_numpy().astype("datetime64[us]", copy=False).view(np.int64)
    idx = np.searchsorted(starts, times, side="right") - 1
    covered = idx >= 0
    j = np.where(covered, idx, 0)
    if starts.size:
        covered &= times < starts[j] + interval_minutes * 60_000_000
    out: dict[str, np.ndarray] = {}
    for c in columns:
        series = data.get_column(c) if c in data.columns else None
        numeric = series is None or series.dtype.is_numeric()
        res = np.full(times.size, np.nan) if numeric else np.full(times.size, None, dtype=object)
        if series is not None and covered.any():
            values = series.to_numpy()
            if numeric:
                values = values.astype(float, copy=False)
                if step_minutes is not None and column_unit(c) == "energy":
                    values = values * (step_minutes / interval_minutes)
            res[covered] = values[j[covered]]
        out[c] = res
    return out


# --------------------------------------------------------------------------- gaps
def find_gaps(
    data: pl.DataFrame,
    interval_minutes: int,
    start: datetime | None = None,
    end: datetime | None = None,
) -> pl.DataFrame:
    """Missing intervals as runs: ``gap_start``, ``gap_end`` (exclusive), ``missing``.

    Without ``start``/``end`` only gaps between the first and last present
    interval are reported; with them, missing edges count too.
    """
    schema = {
        "gap_start": pl.Datetime("us", "UTC"),
        "gap_end": pl.Datetime("us", "UTC"),
        "missing": pl.Int64,
    }
    times = data[TIME].unique().sort()
    if len(times) == 0 and (start is None or end is None):
        return pl.DataFrame(schema=schema)
    lo = start if start is not None else times.min()
    hi = end if end is not None else times.max() + timedelta(minutes=interval_minutes)
    full = interval_index(lo, hi, interval_minutes)
    missing = pl.DataFrame({TIME: full}).join(pl.DataFrame({TIME: times}), on=TIME, how="anti")
    if missing.height == 0:
        return pl.DataFrame(schema=schema)
    step = pl.duration(minutes=interval_minutes)
    runs = (
        missing.with_columns(
            ((pl.col(TIME).diff() != step).fill_null(True)).cum_sum().alias("_run")
        )
        .group_by("_run", maintain_order=True)
        .agg(
            pl.col(TIME).min().alias("gap_start"),
            pl.col(TIME).max().alias("_last"),
            pl.len().alias("missing"),
        )
        .with_columns((pl.col("_last") + step).alias("gap_end"))
        .select("gap_start", "gap_end", pl.col("missing").cast(pl.Int64))
    )
    return runs


def fill_gaps(
    data: pl.DataFrame,
    interval_minutes: int,
    policy: str = "none",
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    columns: list[str] | None = None,
) -> pl.DataFrame:
    """Fill missing intervals with a named policy and mark them in ``filled_by``.

    Policies: ``none`` (return the frame unchanged: gaps stay gaps),
    ``interpolate`` (linear in time; prices, power and other non-energy columns
    only — interpolated energy is refused), ``zero`` (every numeric column 0),
    ``previous_day`` (the same interval 24 h earlier; where that is missing too,
    the row stays a gap), ``same_weekday_last_year`` (the same interval 364 days
    earlier: the same weekday, a year back; likewise).  The returned frame has a ``filled_by`` column: null
    for original rows, the policy name for filled ones.
    """
    if policy not in FILL_POLICIES:
        raise ValueError(f"fill policy {policy!r} unknown; use one of {FILL_POLICIES}")
    data = data.sort(TIME)
    if policy == "none":
        return data
    cols = columns or [c for c in value_columns(data) if c != "filled_by"]
    if policy == "interpolate":
        energy = [c for c in cols if column_unit(c) == "energy"]
        if energy:
            raise ValueError(
                f"refusing to interpolate energy columns {energy}: interpolated kWh is invented consumption; "
                "use 'zero', 'previous_day' or pass columns=[price and power columns]"
            )
    lo = start if start is not None else data[TIME].min()
    hi = end if end is not None else data[TIME].max() + timedelta(minutes=interval_minutes)
    grid = pl.DataFrame({TIME: interval_index(lo, hi, interval_minutes)})
    marked = (
        data.with_columns(pl.lit(None, dtype=pl.String).alias("filled_by"))
        if "filled_by" not in data.columns
        else data
    )
    full = grid.join(marked.with_columns(pl.lit(True).alias("_present")), on=TIME, how="left")
    gap = pl.col("_present").is_null()
    if policy == "zero":
        exprs = [
            pl.when(gap).then(pl.lit(0.0)).otherwise(pl.col(c)).alias(c)
            for c in cols
            if data.schema[c].is_numeric()
        ]
        full = full.with_columns(exprs).with_columns(
            pl.when(gap).then(pl.lit("zero")).otherwise(pl.col("filled_by")).alias("filled_by")
        )
    elif policy == "interpolate":
        exprs = [
            pl.col(c).interpolate_by(TIME).alias(c) for c in cols if data.schema[c].is_numeric()
        ]
        full = full.with_columns(exprs)
        filled = gap & pl.all_horizontal(
            [pl.col(c).is_not_null() for c in cols if data.schema[c].is_numeric()]
        )
        full = full.with_columns(
            pl.when(filled)
            .then(pl.lit("interpolate"))
            .otherwise(pl.col("filled_by"))
            .alias("filled_by")
        )
    elif policy in FILL_LAGS:
        lag = FILL_LAGS[policy]
        prev = marked.select([TIME] + cols).with_columns((pl.col(TIME) + lag).alias(TIME))
        prev = prev.rename({c: f"_prev_{c}" for c in cols})
        full = full.join(prev, on=TIME, how="left")
        has_prev = pl.col(f"_prev_{cols[0]}").is_not_null()
        full = (
            full.with_columns(
                [
                    pl.when(gap).then(pl.col(f"_prev_{c}")).otherwise(pl.col(c)).alias(c)
                    for c in cols
                ]
            )
            .with_columns(
                pl.when(gap & has_prev)
                .then(pl.lit(policy))
                .otherwise(pl.col("filled_by"))
                .alias("filled_by")
            )
            .drop([f"_prev_{c}" for c in cols])
        )
    still_missing = pl.col("_present").is_null() & pl.col("filled_by").is_null()
    return full.filter(~still_missing).drop("_present").select(marked.columns)


# --------------------------------------------------------------------------- joins
JOINS = ("inner", "left")
CLASHES = ("suffix", "first", "error")


@dataclass(frozen=True)
class Joined:
    """Result of :func:`join`: the frames side by side on one grid, and what did not fit.

    Attributes
    ----------
    data : polars.DataFrame
        ``interval_start`` and every frame's value columns, sorted by time.
    interval_minutes : int
        The grid's interval length [min].
    dropped : dict of str to polars.Series
        Per frame, its interval starts that are not in ``data`` (the inner join left them
        out: another frame lacks them).
    missing : dict of str to polars.Series
        Per frame, the interval starts of ``data`` it has no row for (its columns are
        null there: a left join keeps them).
    """

    data: pl.DataFrame
    interval_minutes: int
    dropped: dict[str, pl.Series]
    missing: dict[str, pl.Series]


def join(
    frames: Mapping[str, tuple[pl.DataFrame, FrameMeta]],
    interval_minutes: int | None = None,
    *,
    how: str = "inner",
    clash: str = "suffix",
    energy_method: str | None = None,
) -> Joined:
    """Put canonical frames side by side on one grid of interval starts.

    Parameters
    ----------
    frames : mapping of str to (polars.DataFrame, FrameMeta)
        The frames by name, the first one first (``{"load": ..., "prices/general": ...}``).
    interval_minutes : int, optional
        The grid's interval length [min]: every frame is resampled to it with
        :func:`resample`.  Without it the frames must share one length (the error says
        which to pass): nothing is resampled behind the caller's back.
    how : {'inner', 'left'}
        ``inner``: the intervals every frame has (the rest is reported in
        ``Joined.dropped``); ``left``: the first frame's intervals, the others' columns
        null where they have no row (reported in ``Joined.missing``).
    clash : {'suffix', 'first', 'error'}
        A value column an earlier frame has already: ``suffix`` renames it
        ``<column>_<name>``, ``first`` keeps the earlier frame's, ``error`` refuses.
    energy_method : str, optional
        How energy is split when a frame is resampled to a finer interval
        (``'uniform'``; :func:`resample` refuses otherwise).

    Raises
    ------
    ValueError
        Frames of several interval lengths without ``interval_minutes``, a clash under
        ``clash='error'``, or an inner join left with no interval (naming the frame).
    """
    if not frames:
        raise ValueError("join needs at least one frame")
    if how not in JOINS:
        raise ValueError(f"how={how!r}; use one of {JOINS}")
    if clash not in CLASHES:
        raise ValueError(f"clash={clash!r}; use one of {CLASHES}")
    lengths = {name: meta.interval_minutes for name, (_, meta) in frames.items()}
    if interval_minutes is None:
        if len(set(lengths.values())) > 1:
            raise ValueError(
                f"cannot join frames of {lengths} min: pass interval_minutes= to resample them "
                f"all to one length (e.g. {max(lengths.values())}), or align.resample the finer ones"
            )
        interval_minutes = next(iter(lengths.values()))
    out: pl.DataFrame | None = None
    times: dict[str, pl.Series] = {}
    for name, (data, meta) in frames.items():
        if meta.interval_minutes != interval_minutes:
            data, _ = resample(data, meta, interval_minutes, energy_method=energy_method)
        times[name] = data[TIME]
        if out is None:
            out = data.sort(TIME)
            continue
        have = set(out.columns)
        taken = [c for c in data.columns if c != TIME and c in have]
        if taken and clash == "error":
            raise ValueError(
                f"frame {name!r} has columns {taken} that an earlier frame has; rename them or "
                "pass clash='suffix' or 'first'"
            )
        if clash == "first":
            data = data.drop(taken)
        else:
            data = data.rename({c: f"{c}_{name}" for c in taken})
        out = out.join(data, on=TIME, how=how)
        if how == "inner" and out.height == 0:
            raise ValueError(
                f"frame {name!r} shares no interval with the frames before it; check their "
                "date ranges"
            )
    assert out is not None
    out = out.sort(TIME)
    grid = out[TIME]
    return Joined(
        out,
        interval_minutes,
        dropped={n: t.filter(~t.is_in(grid.implode())).sort() for n, t in times.items()},
        missing={n: grid.filter(~grid.is_in(t.implode())) for n, t in times.items()},
    )
