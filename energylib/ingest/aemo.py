"""AEMO wholesale prices: the monthly "aggregated price and demand" CSVs.

No token needed: every Australian user gets years of real NEM spot prices.
One file per region and month, at
``{base_url}/PRICE_AND_DEMAND_{YYYYMM}_{REGION}.csv`` (``base_url`` defaults
to AEMO's ``https://aemo.com.au/aemo/data/nem/priceanddemand``).

File format: ``REGION,SETTLEMENTDATE,TOTALDEMAND,RRP,PERIODTYPE`` where
SETTLEMENTDATE is the interval *end* in NEM time (UTC+10 all year) as
``YYYY/MM/DD HH:MM:SS``, TOTALDEMAND is MW and RRP is AUD/MWh excluding GST
(from the market floor, -1,000, to the cap).  Intervals are 5 min since
1 October 2021 and 30 min before.

Canonical frame (kind ``prices``, site = region, channel ``wholesale``):
``spot_per_kwh`` [AUD/kWh excl. GST] = RRP / 1000, ``demand_mw`` [MW] =
TOTALDEMAND, ``interval_type`` = PERIODTYPE (``TRADE``).
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import requests

from energylib.dates import NEM_TZ, as_date, month_windows
from energylib.ingest.backfill import BackfillReport, Frames, resume_start, run_backfill
from energylib.ingest.http import MalformedResponse, RetryPolicy, make_session, request
from energylib.schema import TIME, DataValidationError, FrameMeta, Problem, validate
from energylib.store import Store

SOURCE = "aemo"
AEMO_BASE_URL = "https://aemo.com.au/aemo/data/nem/priceanddemand"
COLUMNS = ("REGION", "SETTLEMENTDATE", "TOTALDEMAND", "RRP", "PERIODTYPE")
REGION_TIMEZONES = {
    "NSW1": "Australia/Sydney",
    "QLD1": "Australia/Brisbane",
    "VIC1": "Australia/Melbourne",
    "SA1": "Australia/Adelaide",
    "TAS1": "Australia/Hobart",
}
CHANNEL = "wholesale"


def normalise_region(region: str) -> str:
    """``nsw`` / ``NSW`` / ``NSW1`` -> ``NSW1``; an unknown region raises naming the valid ones."""
    r = region.strip().upper()
    if not r.endswith("1"):
        r += "1"
    if r not in REGION_TIMEZONES:
        raise ValueError(f"unknown NEM region {region!r}; use one of {sorted(REGION_TIMEZONES)}")
    return r


def aemo_url(region: str, year: int, month: int, base_url: str = AEMO_BASE_URL) -> str:
    """URL of one monthly price-and-demand file."""
    return f"{base_url.rstrip('/')}/PRICE_AND_DEMAND_{year:04d}{month:02d}_{normalise_region(region)}.csv"


def read_aemo_price_csv(
    source: str | Path | bytes, *, where: str = ""
) -> tuple[pl.DataFrame, FrameMeta]:
    """Parse one AEMO price-and-demand CSV (a path or the file's bytes).

    Returns
    -------
    (polars.DataFrame, FrameMeta)
        ``interval_start`` [UTC] = SETTLEMENTDATE (UTC+10) minus the interval length,
        ``spot_per_kwh`` [AUD/kWh excl. GST], ``demand_mw`` [MW], ``interval_type``.
        The interval length (5 or 30 min) is read from the timestamps.

    Raises
    ------
    DataValidationError
        Wrong header, several regions, unreadable dates or numbers; names the file and line.
    """
    if isinstance(source, (str, Path)) and not isinstance(source, bytes):
        label = where or str(source)
        raw_bytes = Path(source).read_bytes()
    else:
        label = where or "AEMO CSV"
        raw_bytes = source
    try:
        raw = pl.read_csv(io.BytesIO(raw_bytes), infer_schema=False, quote_char='"')
    except pl.exceptions.PolarsError as exc:
        raise _error(label, f"not a readable CSV ({exc})", "download the file again") from exc
    raw = raw.rename({c: c.strip().strip('"').upper() for c in raw.columns})
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise _error(
            label,
            f"missing column(s) {missing}; header is {raw.columns}",
            f"expected {','.join(COLUMNS)}",
        )
    if raw.height == 0:
        raise _error(label, "no rows", "check the month and region")
    regions = raw["REGION"].str.strip_chars().unique().to_list()
    if len(regions) != 1:
        raise _error(
            label, f"{len(regions)} regions {regions} in one file", "split the file by REGION"
        )
    region = normalise_region(regions[0])
    text = raw["SETTLEMENTDATE"].str.strip_chars()
    end = text.str.to_datetime("%Y/%m/%d %H:%M:%S", strict=False, time_unit="us")
    end = end.fill_null(text.str.to_datetime("%Y/%m/%d %H:%M", strict=False, time_unit="us"))
    _check(
        end.is_null(),
        raw["SETTLEMENTDATE"],
        label,
        "unreadable SETTLEMENTDATE",
        "expected YYYY/MM/DD HH:MM:SS",
    )
    rrp = raw["RRP"].str.strip_chars().cast(pl.Float64, strict=False)
    _check(rrp.is_null(), raw["RRP"], label, "unreadable RRP", "RRP is a number in AUD/MWh")
    demand = raw["TOTALDEMAND"].str.strip_chars().cast(pl.Float64, strict=False)
    _check(
        demand.is_null(),
        raw["TOTALDEMAND"],
        label,
        "unreadable TOTALDEMAND",
        "TOTALDEMAND is a number in MW",
    )
    end_utc = end.dt.replace_time_zone("Etc/GMT-10").dt.convert_time_zone(
        "UTC"
    )  # Etc/GMT-10 is UTC+10
    minutes = _interval_minutes(end_utc)
    frame = (
        pl.DataFrame(
            {
                TIME: end_utc - timedelta(minutes=minutes),
                "spot_per_kwh": rrp / 1000.0,
                "demand_mw": demand,
                "interval_type": raw["PERIODTYPE"].str.strip_chars(),
            }
        )
        .with_columns(pl.col(TIME).dt.cast_time_unit("us"))
        .sort(TIME)
    )
    meta = FrameMeta(
        source=SOURCE,
        kind="prices",
        interval_minutes=minutes,
        site=region,
        channel=CHANNEL,
        currency="AUD",
        timezone=REGION_TIMEZONES[region],
        extra={"file": label},
    )
    validate(frame, meta, where=label)
    return frame, meta


def _interval_minutes(end_utc: pl.Series) -> int:
    diffs = end_utc.sort().diff().dt.total_minutes().drop_nulls()
    diffs = diffs.filter(diffs > 0)
    if len(diffs):
        return int(diffs.mode().min())
    # One row: AEMO moved to 5-min settlement on 2021-10-01.
    return 5 if end_utc[0].date() >= date(2021, 10, 1) else 30


def _check(bad: pl.Series, values: pl.Series, label: str, what: str, fix: str) -> None:
    if bad.any():
        idx = bad.arg_true().to_list()
        first = idx[0]
        lines = ", ".join(str(i + 2) for i in idx[:5])  # +1 header, +1 one-based
        raise _error(
            label,
            f"{what} on line(s) {lines} ({len(idx)} in all), first value {values[first]!r}",
            fix,
        )


def _error(label: str, what: str, fix: str) -> DataValidationError:
    return DataValidationError([Problem(what, fix=fix)], label)


def fetch_aemo_month(
    region: str,
    year: int,
    month: int,
    *,
    base_url: str = AEMO_BASE_URL,
    session: requests.Session | None = None,
    policy: RetryPolicy | None = None,
) -> tuple[pl.DataFrame, FrameMeta]:
    """Download and parse one monthly file (retries as :mod:`energylib.ingest.http` does)."""
    url = aemo_url(region, year, month, base_url)
    where = f"AEMO {normalise_region(region)} {year:04d}-{month:02d}"
    resp = request(session or make_session(), url, policy=policy, where=where)
    try:
        return read_aemo_price_csv(resp.content, where=f"{where} ({url})")
    except DataValidationError as exc:
        raise MalformedResponse(f"malformed AEMO file for {where}: {exc}", url=url) from exc


def get_aemo_prices(
    region: str,
    start: date | str,
    end: date | str,
    *,
    base_url: str = AEMO_BASE_URL,
    session: requests.Session | None = None,
    policy: RetryPolicy | None = None,
) -> tuple[pl.DataFrame, FrameMeta]:
    """Wholesale prices and demand of a NEM region for NEM days ``start``..``end`` (both included).

    Downloads each monthly file the range touches and keeps the intervals that
    start within the range.  A range across the 2021-10-01 change from 30-min
    to 5-min settlement raises: fetch each side separately (they are two series).
    """
    s, e = as_date(start), as_date(end)
    if e < s:
        raise ValueError(f"end {e} is before start {s}")
    session = session or make_session()
    frames, metas = [], []
    for first, _last in month_windows(s, e):
        data, meta = fetch_aemo_month(
            region, first.year, first.month, base_url=base_url, session=session, policy=policy
        )
        frames.append(data)
        metas.append(meta)
    minutes = {m.interval_minutes for m in metas}
    if len(minutes) > 1:
        raise ValueError(
            f"{s}..{e} mixes {sorted(minutes)}-min AEMO files (5-min settlement began 2021-10-01); "
            "fetch the two periods separately"
        )
    lo = pl.datetime(s.year, s.month, s.day, time_zone="Etc/GMT-10").dt.convert_time_zone("UTC")
    e1 = e + timedelta(days=1)
    hi = pl.datetime(e1.year, e1.month, e1.day, time_zone="Etc/GMT-10").dt.convert_time_zone("UTC")
    data = (
        pl.concat(frames)
        .unique(subset=[TIME], keep="first", maintain_order=True)
        .filter((pl.col(TIME) >= lo) & (pl.col(TIME) < hi))
        .sort(TIME)
    )
    meta = metas[0].replace(extra={"files": [m.extra.get("file") for m in metas]})
    return data, meta


# --------------------------------------------------------------------------- backfill
def backfill_aemo(
    store: Store,
    region: str,
    start: date | str,
    end: date | str,
    *,
    resume: bool = False,
    base_url: str | None = None,
    policy=None,
    progress: bool = True,
) -> BackfillReport:
    """Backfill AEMO wholesale prices and demand for a NEM region, one monthly file per window.

    ``start``..``end`` are NEM days (both included); rows outside them are not stored.
    """
    region = normalise_region(region)
    s, e = as_date(start), as_date(end)
    report = BackfillReport("aemo", "prices", region, s, e)
    if resume:
        s2 = resume_start(store, "aemo", "prices", region, s)
        if s2 > s:
            report.skipped_to = s2
            report.start = s2
    report.resume_command = f"energy backfill aemo --region {region} --start {s} --end {e} --resume"
    session = None

    def fetch(first: date, last: date) -> Frames:
        nonlocal session
        session = session or make_session()
        data, meta = fetch_aemo_month(
            region,
            first.year,
            first.month,
            base_url=base_url or AEMO_BASE_URL,
            session=session,
            policy=policy,
        )
        lo = datetime.combine(first, datetime.min.time(), NEM_TZ).astimezone(UTC)
        hi = datetime.combine(last + timedelta(days=1), datetime.min.time(), NEM_TZ).astimezone(UTC)
        data = data.filter((pl.col(TIME) >= lo) & (pl.col(TIME) < hi))
        return [(data, meta)] if data.height else []

    return run_backfill(
        fetch,
        store,
        report,
        window_days=31,
        min_window_days=31,
        windows=lambda a, b, _d: month_windows(a, b),
        progress=progress,
    )
