"""ENTSO-E Transparency Platform: day-ahead and imbalance prices via entsoe-py.

Fetching goes through entsoe-py's :class:`entsoe.EntsoePandasClient` and parsing
through entsoe-py's own parsers, so this module only adds what energylib needs on
top: the canonical frame (UTC interval starts, EUR/MWh converted to EUR/kWh), the
metadata (bidding zone, its time zone, channel, resolution), store backfills and
clear errors.

Resolution.  The single day-ahead coupling (SDAC) cleared hourly until delivery
day 2025-09-30 and in 15-minute periods from delivery day 2025-10-01 (midnight
Europe/Amsterdam, 2025-09-30 22:00 UTC).  A range across that day yields two
frames, one per resolution; each is stored at its own resolution (the store keys
on ``interval_minutes``) and :meth:`ParquetStore.read` resamples explicitly when
asked (``resample_to=``).

Curve type A03.  In an A03 series a position is left out when its price equals
the previous position's.  entsoe-py's ``_parse_timeseries_generic`` reindexes each
period on its full grid and forward-fills, which is exactly the A03 rule, so
omitted positions carry the previous price.  A03 periods whose first position is
missing cannot be filled and raise :class:`EntsoeDocumentError`.

Base URL.  entsoe-py 0.8 reads its endpoint once, at import, from the module
constant ``entsoe.entsoe.URL`` (``ENTSOE_ENDPOINT_URL``).  To point one client at
another server (a mirror, or a test server on loopback) without touching that
global, the client is given a ``requests.Session`` that sends every request to
``base_url`` instead.
"""

from __future__ import annotations

import contextlib
import io
import warnings
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import polars as pl
import requests
from entsoe import EntsoePandasClient
from entsoe.exceptions import NoMatchingDataError
from entsoe.mappings import Area, lookup_area
from entsoe.series_parsers import _extract_timeseries, _parse_timeseries_generic
from requests.adapters import HTTPAdapter
from tqdm.auto import tqdm
from urllib3.util.retry import Retry

from energylib.config import load_settings, secret
from energylib.dates import as_utc
from energylib.schema import TIME, FrameMeta, validate
from energylib.store import Store

SOURCE = "entsoe"
KIND = "prices"
DAY_AHEAD = "day_ahead"
IMBALANCE = "imbalance"
#: First delivery interval of the 15-minute SDAC day-ahead market.
QUARTER_HOUR_GOLIVE = datetime(2025, 9, 30, 22, 0, tzinfo=UTC)
_RESOLUTION_MINUTES = {"15min": 15, "30min": 30, "60min": 60}
# entsoe-py knows PT60M but not the equivalent ISO 8601 spelling PT1H.
_RESOLUTION_ALIASES = {b"<resolution>PT1H</resolution>": b"<resolution>PT60M</resolution>"}


class EntsoeError(RuntimeError):
    """A request to ENTSO-E failed; the message says what to do."""


class EntsoeDocumentError(ValueError):
    """An ENTSO-E XML document cannot be turned into canonical prices."""


@contextlib.contextmanager
def _quiet_entsoe():
    """Silence the deprecation and parser warnings entsoe-py's internals raise (not ours to fix)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"entsoe(\.|$)")
        yield


# --------------------------------------------------------------------------- zones
def zone_area(zone: str | Area) -> Area:
    """The entsoe-py :class:`Area` for a bidding-zone name (``NL``, ``DE_LU``, ``DE-LU``) or EIC code."""
    if isinstance(zone, Area):
        return zone
    text = str(zone).strip()
    for candidate in (text, text.upper().replace("-", "_")):
        try:
            return lookup_area(candidate)
        except (KeyError, ValueError):
            continue
    for area in Area:
        if area.code == text:
            return area
    raise ValueError(
        f"unknown ENTSO-E bidding zone {zone!r}; use a name like 'NL', 'DE_LU', 'BE' or an EIC code"
    )


def zone_timezone(zone: str | Area) -> str:
    """IANA time zone of a bidding zone (``NL`` -> ``Europe/Amsterdam``)."""
    return zone_area(zone).tz


def zone_days(zone: str | Area, first_day: date, last_day: date) -> tuple[datetime, datetime]:
    """``[start, end)`` of the zone's local days ``first_day``..``last_day`` (both included):
    local midnight of ``first_day`` to local midnight after ``last_day``."""
    tz = ZoneInfo(zone_timezone(zone))
    return (
        datetime.combine(first_day, time(0), tz),
        datetime.combine(last_day + timedelta(days=1), time(0), tz),
    )


# --------------------------------------------------------------------------- parsing
def _series_to_frame(series: pd.Series, column: str) -> pl.DataFrame:
    """A pandas Series of EUR/MWh indexed by tz-aware time -> canonical EUR/kWh frame."""
    series = series.dropna().sort_index()
    index = pd.DatetimeIndex(series.index).tz_convert("UTC")
    return pl.DataFrame(
        {
            TIME: _utc_series(index),
            column: pl.Series(
                column, eur_per_mwh_to_per_kwh(series.to_numpy(dtype="float64")), dtype=pl.Float64
            ),
        }
    )


def _utc_series(index: pd.DatetimeIndex) -> pl.Series:
    micros = pd.DatetimeIndex(index).tz_convert("UTC").as_unit("us").asi8
    return pl.from_epoch(pl.Series(TIME, micros), time_unit="us").dt.replace_time_zone("UTC")


def eur_per_mwh_to_per_kwh(values: np.ndarray) -> np.ndarray:
    """Convert a price in currency/MWh to currency/kWh (divide by 1000)."""
    return values / 1000.0


def _xml_bytes(source: str | bytes | Path) -> bytes:
    if isinstance(source, bytes):
        return source
    if isinstance(source, Path) or (
        isinstance(source, str) and not source.lstrip().startswith("<")
    ):
        return Path(source).read_bytes()
    return source.encode("utf-8")


def _text(tag, name: str) -> str | None:
    found = tag.find(name)
    return found.text.strip() if found is not None and found.text else None


def read_entsoe_xml(
    source: str | bytes | Path,
    *,
    zone: str | None = None,
    channel: str = DAY_AHEAD,
    sequence: int | None = None,
) -> list[tuple[pl.DataFrame, FrameMeta]]:
    """Read a saved day-ahead price document (ENTSO-E document type A44).

    Each ``TimeSeries`` is parsed by entsoe-py's own ``_parse_timeseries_generic``
    (the parser behind ``entsoe.parsers.parse_prices``), which fills the positions
    an A03 curve omits with the previous price.  Series are then grouped by
    classification sequence and resolution: one frame per group.

    Parameters
    ----------
    source : path, str or bytes
        A file path, or the XML text itself.
    zone : str, optional
        Bidding zone to name the site; defaults to the document's ``in_Domain``.
    channel : str
        Channel of sequence 1 (or of documents without a sequence), ``day_ahead``
        by default; another sequence ``n`` becomes ``f"{channel}_seq{n}"`` (in
        DE-LU documents sequence 2 is a second, 15-minute auction).
    sequence : int, optional
        Keep only this classification sequence.

    Returns
    -------
    list of (polars.DataFrame, FrameMeta)
        ``interval_start`` (UTC) and ``spot_per_kwh`` [EUR/kWh], one pair per
        (sequence, resolution), ordered by sequence then interval length.

    Raises
    ------
    EntsoeDocumentError
        The document is an acknowledgement ("No matching data"), holds no price
        series, is priced per a unit other than MWh, or an A03 period misses
        its first position.
    """
    raw = _xml_bytes(source)
    is_path = isinstance(source, Path) or (
        isinstance(source, str) and not source.lstrip().startswith("<")
    )
    where = str(source) if is_path else "ENTSO-E document"
    for alias, canonical in _RESOLUTION_ALIASES.items():
        raw = raw.replace(alias, canonical)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = ""
    if not text.lstrip().startswith("<"):
        raise EntsoeDocumentError(
            f"{where}: not an XML document (it starts with {raw[:24]!r}); ENTSO-E's API answers in "
            "XML. For a CSV saved from entsoe-py (a time column and a price column), use "
            "read_entsoe_csv or `energy import entsoe FILE.csv`"
        )
    if "Acknowledgement_MarketDocument" in text:
        reason = (
            "No matching data found"
            if "No matching data found" in text
            else "the server's acknowledgement"
        )
        raise EntsoeDocumentError(
            f"{where}: not a price document but an acknowledgement ({reason})"
        )
    groups: dict[tuple[int, int], list[pd.Series]] = {}
    zone_code = currency = None
    n_series = 0
    with _quiet_entsoe():
        timeseries = list(_extract_timeseries(text))
    for ts in timeseries:
        n_series += 1
        seq_text = _text(ts, "classificationsequence_attributeinstancecomponent.position")
        seq = int(seq_text) if seq_text else 1
        if sequence is not None and seq != sequence:
            continue
        unit = _text(ts, "price_measure_unit.name")
        if unit is not None and unit.upper() != "MWH":
            raise EntsoeDocumentError(
                f"{where}: TimeSeries {_text(ts, 'mrid')} is priced per {unit!r}, not per MWh; "
                "read_entsoe_xml reads day-ahead energy prices (document A44)"
            )
        zone_code = zone_code or _text(ts, "in_domain.mrid")
        currency = currency or _text(ts, "currency_unit.name")
        with _quiet_entsoe():
            by_resolution = _parse_timeseries_generic(ts, "price.amount")
        for key, series in by_resolution.items():
            if series is None or len(series) == 0:
                continue
            if series.isna().any():
                first_missing = series.index[series.isna()][0]
                raise EntsoeDocumentError(
                    f"{where}: TimeSeries {_text(ts, 'mrid')} has no price at {first_missing} "
                    "(an A03 period must start with position 1); the document is incomplete, fetch it again"
                )
            groups.setdefault((seq, _RESOLUTION_MINUTES[key]), []).append(series)
    if not n_series:
        raise EntsoeDocumentError(f"{where}: no TimeSeries in the document")
    if not groups:
        raise EntsoeDocumentError(f"{where}: no price series for sequence {sequence}")
    area = zone_area(zone) if zone else zone_area(zone_code) if zone_code else None
    if area is None:
        raise EntsoeDocumentError(f"{where}: no in_Domain in the document; pass zone=")
    frames = []
    for (seq, minutes), parts in sorted(
        groups.items(), key=lambda kv: (kv[0][0], min(p.index.min() for p in kv[1]))
    ):
        series = pd.concat(parts).sort_index()
        series = series[~series.index.duplicated(keep="last")]
        data = _series_to_frame(series, "spot_per_kwh")
        meta = FrameMeta(
            source=SOURCE,
            kind=KIND,
            interval_minutes=minutes,
            site=area.name,
            channel=channel if seq == 1 else f"{channel}_seq{seq}",
            currency=currency or "EUR",
            timezone=area.tz,
            extra={"sequence": seq, "document": where},
        )
        frames.append((validate(data, meta, where=where), meta))
    return frames


def read_entsoe_csv(
    path: str | Path, *, zone: str, channel: str = DAY_AHEAD
) -> list[tuple[pl.DataFrame, FrameMeta]]:
    """Read day-ahead prices saved from entsoe-py's pandas output (``series.to_csv(path)``).

    The file has a header row and two columns: the index (interval starts in the zone's
    local time *with* their UTC offset, e.g. ``2025-01-01 00:00:00+01:00``, as entsoe-py's
    tz-aware index writes them) and the price in EUR/MWh (named ``0``, ``price`` or
    anything: the second column is taken).

    Parameters
    ----------
    path : path
        The CSV file.
    zone : str
        Bidding zone (``NL``, ``DE_LU`` ...): the file does not say.
    channel : str
        Store channel (``day_ahead``).

    Returns
    -------
    list of (polars.DataFrame, FrameMeta)
        ``spot_per_kwh`` [EUR/kWh], one pair per resolution (hourly before 1 October 2025,
        15-min after), oldest first.

    Raises
    ------
    EntsoeDocumentError
        Not two columns, a time without its UTC offset, a price that is not a number, or
        intervals off every 15/30/60-minute grid; the message names the file and line.
    """
    path = Path(path)
    where = str(path)
    area = zone_area(zone)
    raw = pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")
    if raw.width != 2:
        raise EntsoeDocumentError(
            f"{where}: expected 2 columns (time, price in EUR/MWh) as entsoe-py writes a price "
            f"series, found {raw.width}: {raw.columns}"
        )
    times, prices = raw.columns
    parsed = raw.select(
        pl.col(times)
        .str.strip_chars()
        .str.to_datetime("%Y-%m-%d %H:%M:%S%:z", strict=False)
        .alias(TIME),
        pl.col(prices).str.strip_chars().cast(pl.Float64, strict=False).alias("eur_mwh"),
        pl.int_range(2, pl.len() + 2).alias("line"),  # the file's line (1 is the header)
    )
    for column, what, fix in (
        (TIME, "time without a UTC offset or not a time",
         "write the series with its tz-aware index (entsoe-py's default), e.g. 2025-01-01 00:00:00+01:00"),
        ("eur_mwh", "price that is not a number", "the second column must be the price in EUR/MWh"),
    ):  # fmt: skip
        bad = parsed[column].is_null().arg_true()
        if bad.len():
            line = int(bad[0]) + 2
            raise EntsoeDocumentError(
                f"{where}, line {line}: {what} ({raw.row(line - 2)[0 if column == TIME else 1]!r}); {fix}"
            )
    parsed = parsed.with_columns(
        pl.col(TIME).dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    ).sort(TIME)
    # Each row lasts until the next one starts; across a gap it keeps the row before's length.
    step = (parsed[TIME].shift(-1) - parsed[TIME]).dt.total_minutes()
    minutes = pl.DataFrame({"m": step}).select(
        pl.when(pl.col("m").is_in([15, 30, 60])).then(pl.col("m")).forward_fill().backward_fill()
    )["m"]
    if minutes.null_count():
        raise EntsoeDocumentError(f"{where}: no run of 15, 30 or 60-minute intervals in the file")
    frames = []
    for m in minutes.unique(maintain_order=True).to_list():
        part = parsed.filter(minutes == m)
        data = part.select(TIME, (pl.col("eur_mwh") / 1000.0).alias("spot_per_kwh"))
        meta = FrameMeta(
            SOURCE, KIND, int(m), area.name, channel, "EUR", area.tz, extra={"file": where}
        )
        frames.append((validate(data, meta, where=where, lines=part["line"]), meta))
    return frames


# --------------------------------------------------------------------------- fetching
class _BaseUrlSession(requests.Session):
    """A session that sends every request to ``base_url`` (entsoe-py's endpoint is a module constant)."""

    def __init__(self, base_url: str | None, retries: int, backoff_s: float):
        super().__init__()
        self.base_url = base_url
        # 429 and 5xx are retried here (honouring Retry-After); entsoe-py itself
        # retries only dropped connections.
        retry = Retry(
            total=retries,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=("GET",),
            backoff_factor=backoff_s,
            backoff_jitter=backoff_s / 2,
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        adapter = HTTPAdapter(max_retries=retry)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        return super().request(method, self.base_url or url, *args, **kwargs)


def make_client(
    api_key: str | None = None,
    base_url: str | None = None,
    *,
    retries: int = 3,
    backoff_s: float = 1.0,
    timeout_s: float = 60.0,
) -> EntsoePandasClient:
    """An entsoe-py pandas client with the token from ``ENTSOE_API_KEY`` (env or ``.env``).

    Parameters
    ----------
    api_key : str, optional
        Security token; defaults to ``load_settings().entsoe_api_key``.
    base_url : str, optional
        Endpoint to use instead of entsoe-py's ``https://web-api.tp.entsoe.eu/api``.
    retries : int
        Retries of HTTP 429/5xx answers and of dropped connections.
    backoff_s : float
        Back-off factor [s] between retries (doubling, with jitter).
    timeout_s : float
        Per-request timeout [s].
    """
    if api_key is None:
        api_key = secret(load_settings().entsoe_api_key)
    if not api_key:
        raise EntsoeError(
            "no ENTSO-E token configured: set ENTSOE_API_KEY in the environment or .env "
            "(request one at transparency.entsoe.eu, 'Web API Security Token')"
        )
    session = _BaseUrlSession(base_url, retries, backoff_s)
    return EntsoePandasClient(
        api_key=api_key,
        session=session,
        retry_count=max(1, retries),
        retry_delay=max(1, int(backoff_s)),
        timeout=timeout_s,
    )


def _timestamp(t: datetime | str, tz: str) -> pd.Timestamp:
    ts = pd.Timestamp(t)
    if ts.tzinfo is None:
        raise ValueError(
            f"naive time {t!r}: pass a time zone-aware datetime (e.g. with tzinfo=UTC)"
        )
    return ts.tz_convert(tz)


def _explain_http_error(exc: requests.HTTPError, what: str) -> EntsoeError:
    status = exc.response.status_code if exc.response is not None else None
    if status == 401:
        return EntsoeError(
            f"ENTSO-E rejected the token (HTTP 401) for {what}: set a valid ENTSOE_API_KEY"
        )
    return EntsoeError(f"ENTSO-E answered HTTP {status} for {what}: {exc}")


def get_entsoe_day_ahead(
    zone: str = "NL",
    start: datetime | str = None,  # type: ignore[assignment]
    end: datetime | str = None,  # type: ignore[assignment]
    api_key: str | None = None,
    base_url: str | None = None,
    *,
    client: EntsoePandasClient | None = None,
) -> list[tuple[pl.DataFrame, FrameMeta]]:
    """Fetch day-ahead prices of a bidding zone for ``[start, end)``.

    Parameters
    ----------
    zone : str
        Bidding zone (``NL`` default, ``DE_LU``, ``BE`` ...).
    start, end : datetime
        Time zone-aware bounds; intervals starting in ``[start, end)`` are kept.
    api_key : str, optional
        ENTSO-E token; defaults to ``ENTSOE_API_KEY``.
    base_url : str, optional
        Another endpoint (a mirror, a test server).
    client : EntsoePandasClient, optional
        A ready client (overrides ``api_key`` and ``base_url``).

    Returns
    -------
    list of (polars.DataFrame, FrameMeta)
        ``spot_per_kwh`` [EUR/kWh], one pair per resolution: hourly intervals
        before 2025-10-01 (CET) and 15-minute intervals from then on.  Empty
        list when ENTSO-E has no data for the range.
    """
    if start is None or end is None:
        raise ValueError("get_entsoe_day_ahead needs start and end")
    area = zone_area(zone)
    lo, hi = _timestamp(start, area.tz), _timestamp(end, area.tz)
    client = client or make_client(api_key, base_url)
    what = f"day-ahead prices {area.name} {lo.isoformat()} .. {hi.isoformat()}"
    try:
        with _quiet_entsoe():
            series = client.query_day_ahead_prices(area, start=lo, end=hi)
    except NoMatchingDataError:
        return []
    except requests.HTTPError as exc:
        raise _explain_http_error(exc, what) from exc
    series = series[(series.index >= lo) & (series.index < hi)]
    frame = _series_to_frame(series, "spot_per_kwh")
    out = []
    for minutes, part in (
        (60, frame.filter(pl.col(TIME) < QUARTER_HOUR_GOLIVE)),
        (15, frame.filter(pl.col(TIME) >= QUARTER_HOUR_GOLIVE)),
    ):
        if part.height:
            meta = FrameMeta(SOURCE, KIND, minutes, area.name, DAY_AHEAD, "EUR", area.tz)
            out.append((validate(part, meta, where=what), meta))
    return out


def get_entsoe_imbalance(
    zone: str = "NL",
    start: datetime | str = None,  # type: ignore[assignment]
    end: datetime | str = None,  # type: ignore[assignment]
    api_key: str | None = None,
    base_url: str | None = None,
    *,
    client: EntsoePandasClient | None = None,
) -> list[tuple[pl.DataFrame, FrameMeta]]:
    """Fetch imbalance prices (document A85) of a control area for ``[start, end)``.

    entsoe-py's ``query_imbalance_prices`` downloads the zip archive and parses it;
    its ``Long`` and ``Short`` columns become ``long_per_kwh`` and
    ``short_per_kwh`` [EUR/kWh] on channel ``imbalance``.  Parameters as
    :func:`get_entsoe_day_ahead`.  Returns one pair per resolution (NL settles
    every 15 min); an empty list when there is no data.
    """
    if start is None or end is None:
        raise ValueError("get_entsoe_imbalance needs start and end")
    area = zone_area(zone)
    lo, hi = _timestamp(start, area.tz), _timestamp(end, area.tz)
    client = client or make_client(api_key, base_url)
    what = f"imbalance prices {area.name} {lo.isoformat()} .. {hi.isoformat()}"
    try:
        with _quiet_entsoe():
            df = client.query_imbalance_prices(area, start=lo, end=hi)
    except NoMatchingDataError:
        return []
    except (zipfile.BadZipFile, ValueError) as exc:
        raise EntsoeError(
            f"ENTSO-E sent an unreadable imbalance archive for {what}: {exc}"
        ) from exc
    except requests.HTTPError as exc:
        raise _explain_http_error(exc, what) from exc
    df = df[(df.index >= lo) & (df.index < hi)]
    names = {
        "Long": "long_per_kwh",
        "Short": "short_per_kwh",
        "Price for Consumption": "consumption_per_kwh",
    }
    cols = [c for c in df.columns if c in names]
    if not cols:
        raise EntsoeError(
            f"no Long/Short imbalance price columns for {what}; got {list(df.columns)}"
        )
    index = pd.DatetimeIndex(df.index).tz_convert("UTC")
    frame = pl.DataFrame(
        {TIME: _utc_series(index)}
        | {
            names[c]: pl.Series(names[c], eur_per_mwh_to_per_kwh(df[c].to_numpy(dtype="float64")))
            for c in cols
        }
    )
    frame = frame.filter(pl.all_horizontal(pl.col(names[c]).is_not_nan() for c in cols))
    if frame.height == 0:
        return []
    steps = frame[TIME].diff().drop_nulls().dt.total_minutes().unique().to_list()
    minutes = int(min(steps)) if steps else 15
    meta = FrameMeta(SOURCE, KIND, minutes, area.name, IMBALANCE, "EUR", area.tz)
    return [(validate(frame, meta, where=what), meta)]


def imbalance_zip(documents: Iterable[bytes]) -> bytes:
    """Pack A85 XML documents into a zip archive, as ENTSO-E serves them (used for saved replays)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as arc:
        for i, doc in enumerate(documents):
            arc.writestr(f"imbalance_{i:03d}.xml", doc)
    return buf.getvalue()


# --------------------------------------------------------------------------- backfill
@dataclass
class EntsoeBackfillReport:
    """What a backfill did, window by window."""

    zone: str
    start: datetime
    end: datetime
    resumed_from: datetime | None = None
    windows: list[dict] = field(default_factory=list)
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def rows(self) -> int:
        return self.inserted + self.updated + self.unchanged

    @property
    def empty_windows(self) -> int:
        return sum(1 for w in self.windows if w["rows"] == 0)

    def __str__(self) -> str:
        resumed = (
            f" (resumed from {self.resumed_from:%Y-%m-%d %H:%M}Z)" if self.resumed_from else ""
        )
        return (
            f"entsoe {self.zone} {self.start:%Y-%m-%d} .. {self.end:%Y-%m-%d}{resumed}: "
            f"{len(self.windows)} window(s), {self.empty_windows} empty; rows inserted {self.inserted}, "
            f"updated {self.updated}, unchanged {self.unchanged}"
        )


class EntsoeBackfillError(EntsoeError):
    """A backfill stopped; ``report`` holds what was stored before the failure."""

    def __init__(self, message: str, report: EntsoeBackfillReport):
        super().__init__(message)
        self.report = report


def latest_stored(store: Store, zone: str, channel: str = DAY_AHEAD) -> datetime | None:
    """End of the latest stored interval of a zone's series (any resolution), or None."""
    try:
        series = store.series(SOURCE, KIND)
    except (FileNotFoundError, pl.exceptions.ColumnNotFoundError):
        return None
    if series.height == 0 or "site" not in series.columns:
        return None
    mine = series.filter((pl.col("site") == zone) & (pl.col("channel") == channel))
    if mine.height == 0:
        return None
    ends = mine.select(
        pl.col("last") + pl.duration(minutes=pl.col("interval_minutes").cast(pl.Int64))
    )
    return ends.to_series().max()


def backfill_entsoe(
    store: Store,
    zone: str = "NL",
    start: datetime | str = None,  # type: ignore[assignment]
    end: datetime | str = None,  # type: ignore[assignment]
    *,
    resume: bool = False,
    api_key: str | None = None,
    progress: bool = True,
    base_url: str | None = None,
    window_days: int = 31,
    imbalance: bool = False,
    client: EntsoePandasClient | None = None,
) -> EntsoeBackfillReport:
    """Fetch day-ahead prices for ``[start, end)`` window by window and upsert them.

    Parameters
    ----------
    store : Store
        Where the frames go.
    zone : str
        Bidding zone, ``NL`` by default.
    start, end : datetime or ISO string
        Time zone-aware bounds of the backfill.
    resume : bool
        Start after the latest stored interval of the zone instead of ``start``.
    api_key : str, optional
        ENTSO-E token; defaults to ``ENTSOE_API_KEY``.
    progress : bool
        Show a progress bar per window (tqdm).
    base_url : str, optional
        Another endpoint (a mirror, a test server).
    window_days : int
        Window length [days]; ENTSO-E serves at most a year per request.
    imbalance : bool
        Also fetch imbalance prices per window (channel ``imbalance``).

    Returns
    -------
    EntsoeBackfillReport
        Windows with their row counts and the upsert totals.  Upserts are
        idempotent: a re-run over stored windows reports every row unchanged.

    Raises
    ------
    EntsoeBackfillError
        On a request that keeps failing; everything stored before it stays, and
        the message says how to resume.
    """
    if start is None or end is None:
        raise ValueError("backfill_entsoe needs start and end")
    lo, hi = as_utc(start), as_utc(end)
    if hi <= lo:
        raise ValueError(f"backfill end {hi} is not after start {lo}")
    area = zone_area(zone)
    report = EntsoeBackfillReport(zone=str(zone), start=lo, end=hi)
    if resume:
        last = latest_stored(store, str(zone))
        if last is not None and last > lo:
            report.resumed_from = last
            lo = min(last, hi)
    client = client or make_client(api_key, base_url)
    windows = []
    t = lo
    while t < hi:
        windows.append((t, min(t + timedelta(days=window_days), hi)))
        t = windows[-1][1]
    bar = tqdm(total=len(windows), desc=f"entsoe {area.name}", disable=not progress)
    try:
        for w_lo, w_hi in windows:
            try:
                pairs = get_entsoe_day_ahead(str(zone), w_lo, w_hi, client=client)
                if imbalance:
                    pairs += get_entsoe_imbalance(str(zone), w_lo, w_hi, client=client)
            except (EntsoeError, requests.RequestException, ValueError) as exc:
                raise EntsoeBackfillError(
                    f"backfill of {area.name} stopped at window {w_lo:%Y-%m-%d %H:%M}Z .. {w_hi:%Y-%m-%d %H:%M}Z: "
                    f"{exc}. Stored so far: {report}. Re-run with resume=True (energy backfill entsoe --resume) "
                    "to continue after the latest stored interval.",
                    report,
                ) from exc
            rows = 0
            for data, meta in pairs:
                result = store.upsert(data, meta)
                report.inserted += result.inserted
                report.updated += result.updated
                report.unchanged += result.unchanged
                rows += data.height
            report.windows.append({"start": w_lo, "end": w_hi, "rows": rows})
            bar.update()
    finally:
        bar.close()
    return report
