"""Copy the gateway's readings from InfluxDB to Postgres (Supabase) as canonical frames.

The gateway writes one reading per ``interval_seconds`` into InfluxDB (measurements
``solar``, ``battery``, ``home_load``, ``grid_price``, ``grid``, see
:mod:`energylib.simulate.influx`).  The sync reads them back window by window, averages
each device's readings over ``interval_minutes`` intervals (power [kW] x hours = energy
[kWh]) and upserts the result into Postgres through the SQL upsert every store shares,
under ``source = "gateway"``:

============  ===========================================================================
kind          columns (from the documented reading)
============  ===========================================================================
load          ``total_kwh`` and ``air_conditioning_kwh`` (hvac), ``ev_charging_kwh``,
              ``lighting_kwh``, ``misc_kwh`` (appliances + other): the parts sum to total
pv            ``pv_kwh`` (generation)
weather       ``ghi_w_m2`` (irradiance), ``temp_air_c`` (air temperature)
battery       ``soc_pct``, ``soh_pct``, ``cycles_count``, ``voltage_v``, ``temp_c`` (means)
grid          ``import_kwh``, ``export_kwh``, ``net_grid_kwh`` (net grid flow)
prices        ``general``: ``price_per_kwh``, ``tariff_period``; ``feed_in``:
              ``price_per_kwh`` = - feed-in tariff
carbon        ``intensity_kg_per_kwh``
============  ===========================================================================

Durability (the store sync's rules): each window's rows and the new watermark
(``energylib.influx_sync_state.synced_until``) commit in one transaction, with
``synchronous_commit`` on, so the watermark never runs ahead of rows that are durable;
a window cut off is redone whole by the next run (the upsert rewrites nothing already
stored as given).  Only complete intervals are synced (up to the current interval's
start); a stretch with no readings is passed over in one step.  A failure is recorded as
the state's ``last_error`` and raised.

Over Supabase's REST API (:func:`sync_influx_to_supabase`, ``SUPABASE_URL`` and
``SUPABASE_KEY``): the same windows, frames and tables; per window one upsert request per
kind, then the watermark row, so the watermark never runs ahead of rows Supabase
confirmed.  :func:`schema_sql` is the SQL that creates those tables once.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl
import psycopg
from tqdm.auto import tqdm

from energylib.ingest.http import RetryPolicy
from energylib.schema import TIME, FrameMeta
from energylib.simulate.influx import (
    BLOCKS,
    GRID,
    InfluxWriteError,
    InfluxWriter,
    count_since,
    first_time_ns,
    read_measurement,
)
from energylib.store import sql
from energylib.store.postgres import (
    DEFAULT_SCHEMA,
    PostgresDialect,
    PostgresSyncError,
    connect,
    ensure_schema,
    redact_url,
    resolve_url,
    scrub,
)
from energylib.store.protocol import with_series_columns
from energylib.store.supabase import SupabaseError, SupabaseRest, from_iso, iso_utc

SOURCE = "gateway"
STATE_TABLE = "influx_sync_state"
MEASUREMENTS = (*BLOCKS, GRID)
_RETRYABLE = (psycopg.OperationalError, psycopg.InterfaceError)


def target_name(client: InfluxWriter) -> str:
    """What the state row is keyed by: the server and its bucket or database."""
    where = client.bucket if client.version == 2 else client.database
    return f"{client.url}/{where}"


def _state_table(schema: str) -> str:
    return f"{sql.identifier(schema)}.{sql.identifier(STATE_TABLE)}"


def ensure_state_table(con: psycopg.Connection, schema: str = DEFAULT_SCHEMA) -> None:
    """Create the watermark table if absent."""
    with con.transaction():
        ensure_schema(con, schema)
        con.execute(state_table_ddl(schema))


def state_table_ddl(schema: str = DEFAULT_SCHEMA) -> str:
    """``CREATE TABLE IF NOT EXISTS`` of the watermark table."""
    return (
        f"CREATE TABLE IF NOT EXISTS {_state_table(schema)} (target text PRIMARY KEY, "
        "synced_until timestamptz, readings bigint NOT NULL DEFAULT 0, last_error text, "
        "updated_at timestamptz NOT NULL DEFAULT now())"
    )


def read_state(con: psycopg.Connection, target: str, schema: str = DEFAULT_SCHEMA) -> dict:
    """The target's state row (``synced_until``, ``readings``, ``last_error``, ``updated_at``)."""
    ensure_state_table(con, schema)
    row = con.execute(
        f"SELECT synced_until, readings, last_error, updated_at FROM {_state_table(schema)} "
        "WHERE target = %s",
        (target,),
    ).fetchone()
    keys = ("synced_until", "readings", "last_error", "updated_at")
    return dict(zip(keys, row, strict=True)) if row else dict.fromkeys(keys)


def _mean(col: str, scale: float = 1.0) -> pl.Expr:
    return (pl.col(col).mean() * scale).alias(col)


def readings_to_frames(
    readings: pl.DataFrame, interval_minutes: int = 5, timezone: str = "UTC"
) -> list[tuple[pl.DataFrame, FrameMeta]]:
    """Canonical frames of the gateway's readings (one row per device and measurement
    time, the documented fields as columns), averaged over ``interval_minutes``.

    Readings lacking a field leave its column out; intervals with no reading are absent.
    """
    if readings.is_empty():
        return []
    h = interval_minutes / 60.0
    r = readings.with_columns(pl.col("time").dt.truncate(f"{interval_minutes}m").alias(TIME))
    have = set(r.columns)
    if "net_grid_flow_kw" in have:
        r = r.with_columns(
            pl.col("net_grid_flow_kw").clip(lower_bound=0).alias("_import_kw"),
            (-pl.col("net_grid_flow_kw")).clip(lower_bound=0).alias("_export_kw"),
        )
    parts = {
        "air_conditioning_kwh": ["hvac_kw"],
        "ev_charging_kwh": ["ev_charging_kw"],
        "lighting_kwh": ["lighting_kw"],
        "misc_kwh": ["appliances_kw", "other_kw"],
    }
    specs: list[tuple[str, str, list[pl.Expr], str | None]] = []
    if "total_load_kw" in have:
        load = [(pl.col("total_load_kw").mean() * h).alias("total_kwh")]
        load += [
            (pl.sum_horizontal(cols).mean() * h).alias(name)
            for name, cols in parts.items()
            if set(cols) <= have
        ]
        specs.append(("load", "general", load, None))
    if "generation_kw" in have:
        specs.append(
            ("pv", "general", [(pl.col("generation_kw").mean() * h).alias("pv_kwh")], None)
        )
    weather = {"irradiance_w_m2": "ghi_w_m2", "air_temp_celsius": "temp_air_c"}
    if set(weather) & have:
        exprs = [pl.col(k).mean().alias(v) for k, v in weather.items() if k in have]
        specs.append(("weather", "general", exprs, None))
    battery = {
        "soc_percent": "soc_pct",
        "health_percent": "soh_pct",
        "cycles": "cycles_count",
        "voltage_v": "voltage_v",
        "temperature_celsius": "temp_c",
    }
    if set(battery) & have:
        exprs = [
            pl.col(k).cast(pl.Float64).mean().alias(v) for k, v in battery.items() if k in have
        ]
        specs.append(("battery", "general", exprs, None))
    if "net_grid_flow_kw" in have:
        specs.append(
            (
                "grid",
                "general",
                [
                    (pl.col("_import_kw").mean() * h).alias("import_kwh"),
                    (pl.col("_export_kw").mean() * h).alias("export_kwh"),
                    (pl.col("net_grid_flow_kw").mean() * h).alias("net_grid_kwh"),
                ],
                None,
            )
        )
    currency = "currency" if "currency" in have else None
    if "price_per_kwh" in have:
        exprs = [pl.col("price_per_kwh").mean()]
        if "time_of_use_period" in have:
            exprs.append(pl.col("time_of_use_period").first().alias("tariff_period"))
        specs.append(("prices", "general", exprs, currency))
    if "feed_in_tariff" in have:
        specs.append(
            (
                "prices",
                "feed_in",
                [(-pl.col("feed_in_tariff").mean()).alias("price_per_kwh")],
                currency,
            )
        )
    if "carbon_intensity_g_kwh" in have:
        specs.append(
            (
                "carbon",
                "general",
                [(pl.col("carbon_intensity_g_kwh").mean() / 1000.0).alias("intensity_kg_per_kwh")],
                None,
            )
        )
    out = []
    for device, rows in r.group_by("device_id", maintain_order=True):
        cur = None
        if currency:
            found = rows["currency"].drop_nulls()
            cur = found[0] if len(found) else None
        for kind, channel, exprs, want_currency in specs:
            frame = (
                rows.group_by(TIME)
                .agg(exprs)
                .sort(TIME)
                .with_columns(pl.col(TIME).dt.cast_time_unit("us"))
            )
            meta = FrameMeta(
                SOURCE,
                kind,
                interval_minutes,
                site=str(device[0]),
                channel=channel,
                currency=cur if want_currency or kind == "prices" else None,
                timezone=timezone,
            )
            out.append((frame, meta))
    return out


@dataclass
class InfluxSyncReport:
    """What an InfluxDB sync did."""

    source: str
    url: str  # Postgres, redacted
    windows: int = 0
    readings: int = 0
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    reconnects: int = 0
    synced_until: datetime | None = None
    seconds: float = 0.0

    def __str__(self) -> str:
        until = self.synced_until.isoformat() if self.synced_until else "nothing yet"
        return (
            f"synced {self.readings} readings from InfluxDB {self.source} to {self.url} in "
            f"{self.windows} window(s): {self.rows} interval rows, inserted {self.inserted}, "
            f"updated {self.updated}; synced until {until}; {self.reconnects} reconnect(s); "
            f"{self.seconds:.1f} s"
        )


def _first_reading_ns(client: InfluxWriter, since_ns: int = 0) -> int | None:
    return first_time_ns(client, "solar", "generation_kw", since_ns)


def sync_influx_to_postgres(
    client: InfluxWriter,
    url: str | None = None,
    *,
    interval_minutes: int = 5,
    batch_intervals: int = 5000,
    since: datetime | None = None,
    until: datetime | None = None,
    timezone: str = "UTC",
    retries: int = 5,
    retry_wait_s: float = 0.5,
    schema: str = DEFAULT_SCHEMA,
    progress: bool = True,
    on_window: Callable[[datetime], None] | None = None,
) -> InfluxSyncReport:
    """Sync the gateway's readings from InfluxDB into Postgres, from the last watermark.

    Parameters
    ----------
    client : InfluxWriter
        The InfluxDB server and bucket (v2) or database (v1) the gateway writes to.
    url : str, optional
        Postgres URL; defaults to ``SUPABASE_DB_URL``.
    interval_minutes : int
        Interval of the stored frames [min] (1, 5, 15, 30 or 60).
    batch_intervals : int
        Intervals per window (one read and one transaction each): ``SYNC_BATCH_SIZE``.
    since : datetime, optional
        Start here instead of at the watermark (or, without one, the first reading).
    until : datetime, optional
        Stop here (default: the start of the current, incomplete interval).
    timezone : str
        The site's IANA time zone, kept with the frames.
    on_window : callable, optional
        Called with the new watermark after each committed window.

    Raises
    ------
    PostgresSyncError
        Postgres unreachable, or the connection lost ``retries`` times in a row; every
        window committed stays, and a re-run resumes at the watermark.
    InfluxWriteError
        InfluxDB refused or could not be reached (recorded as the state's last error).
    """
    if interval_minutes not in (1, 5, 15, 30, 60):
        raise ValueError(f"interval_minutes must be 1, 5, 15, 30 or 60, got {interval_minutes}")
    if batch_intervals < 1:
        raise ValueError(f"SYNC_BATCH_SIZE must be >= 1 interval, got {batch_intervals}")
    url = resolve_url(url)
    started = time.perf_counter()
    target = target_name(client)
    report = InfluxSyncReport(source=target, url=redact_url(url))
    dialect = PostgresDialect(url, schema)
    con = connect(url, retries=retries, wait_s=retry_wait_s)
    try:
        state = read_state(con, target, schema)
        try:
            windows = plan_windows(
                client, state["synced_until"], interval_minutes, batch_intervals, since, until
            )
        except InfluxWriteError as exc:
            _record_error(con, target, schema, str(exc))
            raise
        report.synced_until = state["synced_until"]
        bar = tqdm(total=len(windows), desc="sync InfluxDB to Postgres", disable=not progress)
        passing = iter_windows(client, windows)
        while True:
            try:
                _, hi, readings, passed = next(passing, (None, None, None, 0))
            except InfluxWriteError as exc:
                _record_error(con, target, schema, str(exc))
                raise
            if hi is None:
                break
            frames = readings_to_frames(readings, interval_minutes, timezone)
            attempt = 0
            while True:
                try:
                    counts = _commit_window(con, dialect, target, frames, hi, readings.height)
                    break
                except _RETRYABLE as exc:
                    attempt += 1
                    with contextlib.suppress(Exception):
                        con.close()
                    if attempt > retries:
                        raise PostgresSyncError(
                            f"connection to {report.url} lost ({scrub(str(exc), url).strip()}); "
                            f"gave up after {retries} reconnect(s). Synced so far: {report}. "
                            "Run the sync again to resume.",
                            report,
                        ) from None
                    time.sleep(retry_wait_s * (2 ** (attempt - 1)))
                    con = connect(url, retries=retries, wait_s=retry_wait_s)
                    report.reconnects += 1
            report.windows += 1
            report.readings += readings.height
            report.rows += sum(f.height for f, _ in frames)
            report.inserted += counts[0]
            report.updated += counts[1]
            report.synced_until = datetime.fromtimestamp(hi / 1e9, UTC)
            bar.update(passed)
            if on_window is not None:
                on_window(report.synced_until)
        bar.close()
    finally:
        with contextlib.suppress(Exception):
            con.close()
    report.seconds = time.perf_counter() - started
    return report


def plan_windows(
    client: InfluxWriter,
    synced_until: datetime | None,
    interval_minutes: int,
    batch_intervals: int,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[tuple[int, int]]:
    """The windows ``[lo, hi)`` [ns since the epoch] a sync reads, each ``batch_intervals``
    intervals long and aligned to them: from ``since``, else the watermark ``synced_until``,
    else the first reading; up to ``until`` (default: the start of the current interval)."""
    step_ns = interval_minutes * 60 * 10**9
    if since is not None:
        start_ns = int(since.timestamp() * 1e9)
    elif synced_until is not None:
        start_ns = int(synced_until.timestamp() * 1e9)
    else:
        start_ns = _first_reading_ns(client)
    if start_ns is None:
        return []
    stop_ns = int((until or datetime.now(UTC)).timestamp() * 1e9)
    start_ns -= start_ns % step_ns
    stop_ns -= stop_ns % step_ns
    window_ns = batch_intervals * step_ns
    return [(lo, min(lo + window_ns, stop_ns)) for lo in range(start_ns, stop_ns, window_ns)]


def iter_windows(
    client: InfluxWriter, windows: list[tuple[int, int]]
) -> Iterator[tuple[int, int, pl.DataFrame, int]]:
    """``(lo, hi, readings, windows_passed)`` of each window of ``windows`` that holds
    readings.  A stretch of windows without any is passed over with one query for the next
    reading (a gateway that was off for a month costs no month of requests); a final
    stretch without any is yielded once, empty, up to the last window's end, so the
    watermark moves there."""
    i = 0
    while i < len(windows):
        lo, hi = windows[i]
        readings = read_window(client, lo, hi)
        if readings.height:
            yield lo, hi, readings, 1
            i += 1
            continue
        stop = windows[-1][1]
        nxt = _first_reading_ns(client, hi)
        if nxt is None or nxt >= stop:
            yield lo, stop, readings, len(windows) - i
            return
        j = i + 1
        while windows[j][1] <= nxt:
            j += 1
        yield lo, windows[j][0], readings, j - i
        i = j


def read_window(client: InfluxWriter, lo: int, hi: int) -> pl.DataFrame:
    """Every reading in ``[lo, hi)`` [ns]: one row per device and time, all measurements'
    fields as columns."""
    return _join([read_measurement(client, m, lo, hi) for m in MEASUREMENTS])


def _join(tables: list[pl.DataFrame]) -> pl.DataFrame:
    """One row per device and time with every measurement's fields."""
    keys = ["time", "device_id"]
    tables = [t for t in tables if t.height]
    if not tables:
        return pl.DataFrame(schema={"time": pl.Datetime("ns", "UTC"), "device_id": pl.String})
    out = tables[0]
    for t in tables[1:]:
        dup = [c for c in t.columns if c in out.columns and c not in keys]
        out = out.join(t.drop(dup), on=keys, how="full", coalesce=True)
    return out


def _commit_window(
    con: psycopg.Connection,
    dialect: PostgresDialect,
    target: str,
    frames: list[tuple[pl.DataFrame, FrameMeta]],
    until_ns: int,
    readings: int,
) -> tuple[int, int]:
    inserted = updated = 0
    # synchronous_commit stays on (the server default): the commit returns once the rows
    # and the watermark are on disk together.
    with con.transaction():
        for frame, meta in frames:
            rows = with_series_columns(frame, meta)
            sql.ensure_table(con, dialect, meta.kind, rows)
            ins, upd = sql.upsert_rows(con, dialect, meta.kind, rows)
            inserted += ins
            updated += upd
        con.execute(
            f"INSERT INTO {_state_table(dialect.schema)} (target, synced_until, readings, "
            "last_error, updated_at) VALUES (%s, %s, %s, NULL, now()) ON CONFLICT (target) DO "
            "UPDATE SET synced_until = EXCLUDED.synced_until, readings = "
            f"{_state_table(dialect.schema)}.readings + EXCLUDED.readings, last_error = NULL, "
            "updated_at = now()",
            (target, datetime.fromtimestamp(until_ns / 1e9, UTC), readings),
        )
    return inserted, updated


def _record_error(con: psycopg.Connection, target: str, schema: str, message: str) -> None:
    with contextlib.suppress(Exception), con.transaction():
        con.execute(
            f"INSERT INTO {_state_table(schema)} (target, last_error, updated_at) VALUES "
            "(%s, %s, now()) ON CONFLICT (target) DO UPDATE SET last_error = EXCLUDED.last_error, "
            "updated_at = now()",
            (target, message[:1000]),
        )


def pending_readings(client: InfluxWriter, since: datetime | None) -> int:
    """Readings (``solar.generation_kw`` points) in InfluxDB at or after ``since`` (all,
    without one)."""
    return count_since(
        client, "solar", "generation_kw", int(since.timestamp() * 1e9) if since else 0
    )


# --------------------------------------------------------------------------- Supabase's REST API
class _Recorder:
    """Takes the statements :func:`energylib.store.sql.ensure_table` would run."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def execute(self, statement: str, args: tuple = ()) -> None:
        self.statements.append(statement)


class _NewTables(PostgresDialect):
    """Postgres, with every table still to create."""

    def columns(self, con, kind: str, wanted: list[str] | None = None) -> dict[str, str]:
        return {}


def _gateway_frames() -> list[tuple[pl.DataFrame, FrameMeta]]:
    # Imported here: the simulator is only needed to describe the tables (slow import).
    from energylib.simulate.gateway import Gateway

    points = list(
        Gateway({"interval_seconds": 300, "seed": 1}).points(
            "2025-01-01T00:00Z", "2025-01-01T00:10Z"
        )
    )
    rows = []
    for p in points:
        flat = {
            "time": datetime.fromisoformat(p["timestamp"].replace("Z", "+00:00")),
            "device_id": p["device_id"],
        }
        for block in ("solar", "battery", "home_load", "grid_price"):
            flat.update(p[block])
        flat["net_grid_flow_kw"] = p["net_grid_flow_kw"]
        rows.append(flat)
    readings = pl.DataFrame(rows).with_columns(pl.col("time").dt.cast_time_unit("ns"))
    return readings_to_frames(readings)


def schema_sql(schema: str = "energylib", extra: Sequence[str] = ()) -> str:
    """The SQL that creates the tables the REST sync writes (run once in Supabase's SQL
    editor): the gateway's kinds, the watermark table, the ``extra`` statements (the
    agent's decision tables), the API role's rights, and the schema reloaded by PostgREST."""
    rec = _Recorder()
    dialect = _NewTables("", schema)
    seen: set[str] = set()
    for frame, meta in _gateway_frames():
        if meta.kind in seen:
            continue
        seen.add(meta.kind)
        sql.ensure_table(rec, dialect, meta.kind, with_series_columns(frame, meta))
    q = sql.identifier(schema)
    lines = [
        f"-- energylib: the tables `energy sync` writes over Supabase's REST API ({schema})",
        f"CREATE SCHEMA IF NOT EXISTS {q};",
        *(s.replace(" ADD COLUMN ", " ADD COLUMN IF NOT EXISTS ") + ";" for s in rec.statements),
        state_table_ddl(schema) + ";",
        *(f"{statement};" for statement in extra),
        f"GRANT USAGE ON SCHEMA {q} TO service_role;",
        f"GRANT ALL ON ALL TABLES IN SCHEMA {q} TO service_role;",
        "NOTIFY pgrst, 'reload schema';",
        f"-- then expose {schema} to the REST API: Project Settings > API > Exposed schemas",
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- rows
def frame_rows(frame: pl.DataFrame, meta: FrameMeta) -> list[dict]:
    """A canonical frame as PostgREST rows: the key and series columns, the values, times
    as ISO 8601 UTC, NaN as null."""
    rows = with_series_columns(frame, meta)
    rows = rows.with_columns(
        pl.col(TIME).dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"),
        *(pl.col(c).fill_nan(None) for c, t in rows.schema.items() if t.is_float()),
    )
    return rows.to_dicts()


def read_rest_state(rest: SupabaseRest, target: str) -> dict:
    """The watermark row of ``target`` (``synced_until``, ``readings``, ``last_error``,
    ``updated_at``), read over REST; all None where there is none."""
    keys = ("synced_until", "readings", "last_error", "updated_at")
    found = rest.select(STATE_TABLE, keys, target=target)
    if not found:
        return dict.fromkeys(keys)
    row = dict(found[0])
    for k in ("synced_until", "updated_at"):
        row[k] = from_iso(row.get(k))
    return row


def sync_influx_to_supabase(
    client: InfluxWriter,
    rest: SupabaseRest,
    *,
    interval_minutes: int = 5,
    batch_intervals: int = 5000,
    since: datetime | None = None,
    until: datetime | None = None,
    timezone: str = "UTC",
    progress: bool = True,
    on_window: Callable[[datetime], None] | None = None,
) -> InfluxSyncReport:
    """Sync the gateway's readings from InfluxDB into Supabase over its REST API.

    The windows, frames and watermark are those of
    :func:`energylib.store.influx_sync.sync_influx_to_postgres`; per window, each kind's
    rows are one upsert request, then the watermark row is upserted.

    Parameters
    ----------
    client : InfluxWriter
        The InfluxDB server and bucket (v2) or database (v1) the gateway writes to.
    rest : SupabaseRest
        The Supabase project (see :func:`resolve_rest`).
    interval_minutes : int
        Interval of the stored frames [min] (1, 5, 15, 30 or 60).
    batch_intervals : int
        Intervals per window (``SYNC_BATCH_SIZE``): one upsert request per kind and window.
    since, until : datetime, optional
        Start here instead of at the watermark; stop here instead of at the current interval.
    on_window : callable, optional
        Called with the new watermark after each confirmed window.

    Raises
    ------
    SupabaseError
        Supabase refused a request, or stayed unreachable through the retries: the windows
        confirmed before stay, with the watermark at the last one; a re-run resumes there.
    InfluxWriteError
        InfluxDB refused or could not be reached.
    """
    if interval_minutes not in (1, 5, 15, 30, 60):
        raise ValueError(f"interval_minutes must be 1, 5, 15, 30 or 60, got {interval_minutes}")
    if batch_intervals < 1:
        raise ValueError(f"SYNC_BATCH_SIZE must be >= 1 interval, got {batch_intervals}")
    started = time.perf_counter()
    target = target_name(client)
    report = InfluxSyncReport(source=target, url=f"{rest.url}/rest/v1 ({rest.schema})")
    state = read_rest_state(rest, target)
    readings_total = int(state["readings"] or 0)
    report.synced_until = state["synced_until"]
    try:
        windows = plan_windows(
            client, state["synced_until"], interval_minutes, batch_intervals, since, until
        )
        bar = tqdm(total=len(windows), desc="sync InfluxDB to Supabase", disable=not progress)
        for _, hi, readings, passed in iter_windows(client, windows):
            frames = readings_to_frames(readings, interval_minutes, timezone)
            by_kind: dict[str, list[dict]] = {}
            for frame, meta in frames:
                by_kind.setdefault(meta.kind, []).extend(frame_rows(frame, meta))
            for kind, rows in by_kind.items():
                rest.upsert(kind, rows)
                report.rows += len(rows)
            readings_total += readings.height
            until_t = datetime.fromtimestamp(hi / 1e9, UTC)
            rest.upsert(
                STATE_TABLE,
                [
                    {
                        "target": target,
                        "synced_until": iso_utc(until_t),
                        "readings": readings_total,
                        "last_error": None,
                        "updated_at": iso_utc(datetime.now(UTC)),
                    }
                ],
                on_conflict=("target",),
            )
            report.windows += 1
            report.readings += readings.height
            report.synced_until = until_t
            bar.update(passed)
            if on_window is not None:
                on_window(until_t)
        bar.close()
    except (SupabaseError, InfluxWriteError) as exc:
        _record_rest_error(rest, target, str(exc))
        raise
    report.seconds = time.perf_counter() - started
    return report


def _record_rest_error(rest: SupabaseRest, target: str, message: str) -> None:
    """Keep the error in the watermark row (best effort: Supabase may be what failed)."""
    once = SupabaseRest(rest.url, rest.key, rest.schema, RetryPolicy(max_retries=0), rest.session)
    with contextlib.suppress(SupabaseError):
        once.upsert(
            STATE_TABLE,
            [
                {
                    "target": target,
                    "last_error": message[:1000],
                    "updated_at": iso_utc(datetime.now(UTC)),
                }
            ],
            on_conflict=("target",),
        )
