"""Amber Electric public API v1: sites, prices, current prices and usage.

``get_amber_*`` fetch from the API (bearer token from ``AMBER_TOKEN``, base URL
from ``AMBER_BASE_URL`` or the ``base_url`` argument); ``read_amber_*`` parse a
saved JSON response.  Prices and usage come back as a list of canonical
``(data, meta)`` pairs, one per meter channel (``general``, ``controlled_load``,
``feed_in``) and interval length, because one response covers every channel.

Conversions (the API's units -> the canonical frame):

* ``perKwh`` c/kWh incl. GST -> ``price_per_kwh`` AUD/kWh (/100).  On the
  feed-in channel Amber's sign is kept: negative when exporting earns money.
* ``spotPerKwh`` c/kWh -> ``spot_per_kwh`` AUD/kWh (/100).
* ``advancedPrice.low/predicted/high`` c/kWh -> ``price_low_per_kwh`` /
  ``price_predicted_per_kwh`` / ``price_high_per_kwh`` AUD/kWh (nullable: only
  forecasts carry them).
* ``renewables`` % -> ``renewables_pct``; ``tariffInformation.period`` -> ``tariff_period``.
* ``startTime`` (interval start + 1 s, UTC) -> ``interval_start`` floored onto the grid.
* usage ``kwh`` -> ``energy_kwh`` (exported energy on the feed-in channel is
  stored positive: the channel says the direction), ``cost`` cents ->
  ``cost_amount`` AUD (sign kept: negative is a credit).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from energylib.align import floor_to_grid
from energylib.config import load_settings, secret
from energylib.dates import as_date
from energylib.ingest.backfill import (
    BackfillReport,
    Frames,
    resume_start,
    run_backfill,
    store_frames,
)
from energylib.ingest.http import MalformedResponse, RetryPolicy, get_json, make_session
from energylib.schema import TIME, FrameMeta, validate
from energylib.store import Store, UpsertResult

SOURCE = "amber"
DEFAULT_TIMEZONE = "Australia/Sydney"
CURRENCY = "AUD"
TOKEN_ENV = "AMBER_TOKEN"
PRICE_TYPES = ("ActualInterval", "CurrentInterval", "ForecastInterval")
CHANNEL_NAMES = {"general": "general", "controlledLoad": "controlled_load", "feedIn": "feed_in"}
CHANNEL_ORDER = {"general": 0, "controlled_load": 1, "feed_in": 2}
# Columns a price frame may hold nulls in: the API gives them only for some intervals.
PRICE_NULLABLE = (
    "tariff_period",
    "price_low_per_kwh",
    "price_predicted_per_kwh",
    "price_high_per_kwh",
)
USAGE_NULLABLE = ("tariff_period",)


class AmberConfigError(RuntimeError):
    """Amber settings are missing (no token, no site)."""


@dataclass(frozen=True)
class AmberChannel:
    """One meter channel of a site: ``identifier`` (E1, B1), API ``type``, ``tariff`` code,
    and ``channel``, the canonical name (general / controlled_load / feed_in)."""

    identifier: str
    type: str
    tariff: str
    channel: str


@dataclass(frozen=True)
class AmberSite:
    """A site linked to the account (``GET /sites``).

    ``interval_minutes`` is the billing interval length [min] (5 or 30; the API's
    ``intervalLength``, 30 when absent).
    """

    id: str
    nmi: str
    network: str
    status: str
    channels: tuple[AmberChannel, ...]
    interval_minutes: int = 30
    active_from: date | None = None
    closed_on: date | None = None


# --------------------------------------------------------------------------- loading JSON
def _load_json(source: str | Path | bytes | Sequence[dict], where: str) -> Any:
    label = where or "response"
    try:
        if isinstance(source, bytes):
            source = source.decode("utf-8-sig")
        if isinstance(source, str) and source.lstrip()[:1] in ("[", "{"):
            text, label = source, where or "JSON text"
        elif isinstance(source, (str, Path)):
            path = Path(source)
            text, label = path.read_text(encoding="utf-8-sig"), where or str(path)
        else:
            return source
        return json.loads(text)
    except UnicodeDecodeError:
        raise MalformedResponse(f"malformed Amber response in {label}: not UTF-8 text") from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise MalformedResponse(f"malformed Amber response in {label}: not JSON ({exc})") from None


def _at(where: str) -> str:
    return f" for {where}" if where else ""


def _js(value: object) -> str:
    """A value as it is written in JSON (the file's terms, not Python's)."""
    try:
        return json.dumps(value, ensure_ascii=False, default=str)[:80]
    except (TypeError, ValueError):
        return str(value)[:80]


def _item(rec: dict) -> str:
    return f" (type {_js(rec.get('type'))}, startTime {_js(rec.get('startTime'))})"


_JSON_KIND = {pl.Float64: "a number", pl.Int64: "a whole number", pl.Boolean: "true or false"}


def _json_type_ok(value: object, dtype: pl.DataType) -> bool:
    if value is None:
        return True
    if dtype in (pl.Float64, pl.Int64):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if dtype == pl.Boolean:
        return isinstance(value, bool)
    return isinstance(value, str)


def _records_frame(
    records: Sequence,
    required: dict[str, pl.DataType],
    optional: dict[str, pl.DataType],
    where: str,
) -> pl.DataFrame:
    """Decoded JSON items (an API answer, or a saved file polars' reader refused) as the frame
    polars' reader gives, each field's JSON type checked first (``true`` is not a price)."""
    fields = {**required, **optional}
    nested = {
        "tariffInformation": {"period": pl.String},
        "advancedPrice": dict.fromkeys(("low", "predicted", "high"), pl.Float64),
    }
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise MalformedResponse(
                f"malformed Amber response{_at(where)}: item {i} is {_js(rec)}, not an object"
            )
        checks = [(name, rec.get(name), dtype) for name, dtype in fields.items()]
        for name, inner in nested.items():
            sub = rec.get(name)
            if isinstance(sub, dict):
                checks += [(f"{name}.{k}", sub.get(k), t) for k, t in inner.items()]
        for name, value, dtype in checks:
            if not _json_type_ok(value, dtype):
                raise MalformedResponse(
                    f"malformed Amber response{_at(where)}: item {i}{_item(rec)} has {name} "
                    f"{_js(value)}, not {_JSON_KIND.get(dtype, 'text')}"
                )
    columns = {}
    for name, dtype in fields.items():
        values = [rec.get(name) for rec in records]
        if dtype == pl.Int64:  # a whole number beyond 64 bits is no duration
            values = [v if v is None or abs(v) < 2**62 else None for v in values]
        columns[name] = pl.Series(name, values, dtype=dtype, strict=False)
    for name, inner in nested.items():
        subs = [rec.get(name) if isinstance(rec.get(name), dict) else None for rec in records]
        columns[name] = pl.Series(
            name,
            [None if d is None else {k: d.get(k) for k in inner} for d in subs],
            dtype=pl.Struct(inner),
            strict=False,
        )
    return pl.DataFrame(columns)


# Numeric fields written true/false: polars' reader would read them as 1 and 0.
_BOOLEAN_NUMBER = re.compile(
    rb'"(?:duration|perKwh|spotPerKwh|renewables|kwh|cost|low|predicted|high)"\s*:\s*(?:true|false)'
)
_BOM = b"\xef\xbb\xbf"


def _parse_times(
    col: pl.Series,
    name: str,
    where: str,
    files: pl.Series | None = None,
    items: pl.Series | None = None,
) -> pl.Series:
    out = col.str.to_datetime(time_unit="us", time_zone="UTC", strict=False)
    bad = out.is_null() & col.is_not_null()
    if bad.any():
        i = int(bad.arg_true()[0])
        file = f" in {files[i]}" if files is not None else ""
        item = items[i] if items is not None else i
        raise MalformedResponse(
            f"malformed Amber response{_at(where)}{file}: item {item} has unreadable {name} {_js(col[i])}",
        )
    return out


_NESTED = {
    "tariffInformation": pl.Struct({"period": pl.String}),
    "advancedPrice": pl.Struct({"low": pl.Float64, "predicted": pl.Float64, "high": pl.Float64}),
}


@dataclass(frozen=True)
class SavedResponses:
    """Several saved responses (JSON files, oldest first) to parse as one.

    ``read_amber_prices(SavedResponses(paths))`` gives the same frames as parsing
    each file and merging, but transforms and validates once: the fast way to
    load a year of saved 5-min responses.  An interval in several files keeps the
    actual over a forecast and a later forecast over an earlier one; two actuals that
    differ are refused unless ``on_conflict='last'`` (see :func:`read_amber_prices`).
    Messages name the file and item.
    """

    paths: tuple[Path, ...]

    def __init__(self, paths: Iterable[str | Path]):
        object.__setattr__(self, "paths", tuple(Path(p) for p in paths))


def _interval_frame(
    source: str | Path | bytes | Sequence[dict] | SavedResponses,
    required: dict[str, pl.DataType],
    optional: dict[str, pl.DataType],
    where: str,
) -> pl.DataFrame:
    """The response's intervals as a frame with the API's field names.

    Saved bodies (bytes, JSON text, a file) are read by polars' JSON reader,
    which is several times faster than ``json.loads`` plus dict look-ups over a
    year of 5-min intervals.  Every ``required`` field must be present and
    readable as its type in every item; the error names the item and ``where``.
    Nested objects ``tariffInformation`` and ``advancedPrice`` come back as
    ``tariff_period`` and ``adv_low`` / ``adv_predicted`` / ``adv_high``.
    """
    if isinstance(source, SavedResponses):
        frames = [_interval_frame(p, required, optional, str(p)) for p in source.paths]
        frames = [f for f in frames if f.height]
        return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
    label = where or "response"
    if isinstance(source, dict):
        raise MalformedResponse(
            f"malformed Amber response{_at(where)}: expected a JSON array of intervals, got an object"
        )
    if isinstance(source, (list, tuple)):
        if not source:
            return pl.DataFrame()
        df = _records_frame(source, required, optional, where)
    else:
        if isinstance(source, str) and source.lstrip()[:1] in ("[", "{"):
            raw, label = source.encode("utf-8"), where or "JSON text"
        elif isinstance(source, (str, Path)):
            raw, label = Path(source).read_bytes(), where or str(source)
        else:
            raw, label = bytes(source), where or "response"
        raw = raw.removeprefix(_BOM)
        head = raw.lstrip()[:1]
        if head != b"[":
            body = _decode(raw, label)
            raise MalformedResponse(
                f"malformed Amber response for {label}: expected a JSON array of intervals, got {_json_kind(body)}"
            )
        if raw.strip() == b"[]":
            return pl.DataFrame()
        # A schema skips inference and ignores undocumented fields: 2-3x faster on a year of data.
        schema = {**required, **optional, **_NESTED}
        df = None
        if not _BOOLEAN_NUMBER.search(raw):
            try:
                df = pl.read_json(io.BytesIO(raw), schema=schema)
            except pl.exceptions.PolarsError:
                df = None
        if df is None:  # not JSON, or items polars will not read: the slow way, types checked
            body = _decode(raw, label)
            if not isinstance(body, list):
                raise MalformedResponse(
                    f"malformed Amber response for {label}: expected a JSON array of intervals, got {_json_kind(body)}"
                )
            if not body:
                return pl.DataFrame()
            df = _records_frame(body, required, optional, where or label)
    if df.height == 0:
        return df
    out = {}
    for name, dtype in {**required, **optional}.items():
        if name not in df.columns:
            if name in required:
                raise MalformedResponse(
                    f"malformed Amber response for {label}: item 0 has no {name}"
                )
            out[name] = pl.lit(None, dtype=dtype)
            continue
        col = df[name]
        try:
            cast = col.cast(dtype, strict=False)
        except pl.exceptions.PolarsError:
            cast = pl.Series(name, [None] * df.height, dtype=dtype)
        bad = cast.is_null()
        if name in required and bad.any():
            i = int(bad.arg_true()[0])
            what = f"has no {name}" if col[i] is None else f"has {name} {_js(col[i])}, unreadable"
            rec = {k: df[k][i] for k in ("type", "startTime") if k in df.columns}
            raise MalformedResponse(
                f"malformed Amber response for {label}: item {i}{_item(rec)} {what}"
            )
        out[name] = cast
    for nested, fields in (
        ("tariffInformation", {"period": "tariff_period"}),
        ("advancedPrice", {"low": "adv_low", "predicted": "adv_predicted", "high": "adv_high"}),
    ):
        col = df[nested] if nested in df.columns else None
        for field, alias in fields.items():
            dtype = pl.String if alias == "tariff_period" else pl.Float64
            if (
                col is not None
                and isinstance(col.dtype, pl.Struct)
                and field in [f.name for f in col.dtype.fields]
            ):
                out[alias] = col.struct.field(field).cast(dtype, strict=False)
            else:
                out[alias] = pl.lit(None, dtype=dtype)
    return df.select(**out).with_row_index("_item").with_columns(pl.lit(label).alias("_file"))


def _decode(raw: bytes, label: str) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise MalformedResponse(f"malformed Amber response for {label}: not UTF-8 text") from None
    except (ValueError, RecursionError) as exc:
        raise MalformedResponse(f"malformed Amber response for {label}: not JSON ({exc})") from None


def _json_kind(body: Any) -> str:
    kinds = {dict: "an object", list: "an array", str: "a string", bool: "true/false"}
    return kinds.get(type(body), "null" if body is None else "a number")


# --------------------------------------------------------------------------- sites
def read_amber_sites(source: str | Path | bytes | Sequence[dict]) -> list[AmberSite]:
    """Parse a ``GET /sites`` response (a path, JSON text or the decoded list)."""
    body = _load_json(source, "sites")
    if not isinstance(body, list):
        raise MalformedResponse(
            f"malformed Amber /sites response: expected an array, got {type(body).__name__}"
        )
    sites = []
    for i, s in enumerate(body):
        try:
            channels = tuple(
                AmberChannel(
                    c["identifier"],
                    c["type"],
                    c.get("tariff", ""),
                    CHANNEL_NAMES.get(c["type"], c["type"]),
                )
                for c in s["channels"]
            )
            sites.append(
                AmberSite(
                    id=s["id"],
                    nmi=s.get("nmi", ""),
                    network=s.get("network", ""),
                    status=s.get("status", ""),
                    channels=channels,
                    interval_minutes=int(s.get("intervalLength") or 30),
                    active_from=date.fromisoformat(s["activeFrom"])
                    if s.get("activeFrom")
                    else None,
                    closed_on=date.fromisoformat(s["closedOn"]) if s.get("closedOn") else None,
                )
            )
        except KeyError as exc:
            raise MalformedResponse(
                f"malformed Amber /sites response: site {i} has no {exc.args[0]}"
            ) from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise MalformedResponse(
                f"malformed Amber /sites response: site {i} is not as documented ({exc})"
            ) from None
    return sites


# --------------------------------------------------------------------------- prices
_PRICE_REQUIRED: dict[str, pl.DataType] = {
    "type": pl.String,
    "channelType": pl.String,
    "duration": pl.Int64,
    "startTime": pl.String,
    "endTime": pl.String,
    "perKwh": pl.Float64,
    "spotPerKwh": pl.Float64,
    "descriptor": pl.String,
    "spikeStatus": pl.String,
    "renewables": pl.Float64,
}
_PRICE_OPTIONAL: dict[str, pl.DataType] = {"estimate": pl.Boolean}


def read_amber_prices(
    source: str | Path | bytes | Sequence[dict] | SavedResponses,
    *,
    site: str = "default",
    timezone: str = DEFAULT_TIMEZONE,
    where: str = "",
    on_conflict: str = "error",
) -> Frames:
    """Parse an Amber prices response into canonical price frames.

    Parameters
    ----------
    source : path, JSON text, bytes, list of dict, or SavedResponses
        A saved ``/sites/{id}/prices`` or ``/prices/current`` response, or
        several (:class:`SavedResponses`).
    site : str
        Site id to put in the metadata.
    timezone : str
        IANA zone of the site (for local-time features; storage is UTC).
    where : str
        Names the request window in error messages.
    on_conflict : {'error', 'last'}
        One interval and type given twice with different values (two actuals that disagree,
        or a forecast twice in one file): ``error`` refuses naming both files and items,
        ``last`` keeps the later one.  A later file's forecast always replaces an earlier one's.

    Returns
    -------
    list of (polars.DataFrame, FrameMeta)
        One per channel and interval length [min], general first.  Columns:
        ``price_per_kwh``, ``spot_per_kwh`` [AUD/kWh incl. GST], ``descriptor``,
        ``spike_status``, ``renewables_pct`` [%], ``is_forecast``,
        ``interval_type``, and where the API gave them ``tariff_period`` and
        ``price_low/predicted/high_per_kwh`` [AUD/kWh].  Where one interval
        appears twice (forecast and actual) the actual is kept.

    Raises
    ------
    MalformedResponse
        A record misses a documented field, has a field of the wrong JSON type (``"perKwh":
        true``), an unreadable time, a channelType Amber does not document, or conflicts with
        another (see ``on_conflict``); the message names the file (or ``where``) and item.
    """
    raw = _interval_frame(source, _PRICE_REQUIRED, _PRICE_OPTIONAL, where)
    if raw.height == 0:
        return []
    raw = raw.rename(
        {
            "type": "interval_type",
            "channelType": "channel_type",
            "startTime": "start",
            "endTime": "end",
            "perKwh": "per",
            "spotPerKwh": "spot",
            "spikeStatus": "spike_status",
            "renewables": "renewables_pct",
            "adv_low": "low",
            "adv_predicted": "predicted",
            "adv_high": "high",
        }
    )
    unknown = raw.filter(~pl.col("interval_type").is_in(PRICE_TYPES))
    if unknown.height:
        raise MalformedResponse(
            f"malformed Amber response: type {_js(unknown['interval_type'][0])} in "
            f"{unknown['_file'][0]}, item {unknown['_item'][0]} is not one of {', '.join(PRICE_TYPES)}"
        )
    raw = raw.with_columns(
        (pl.col("per") / 100.0).alias("price_per_kwh"),
        (pl.col("spot") / 100.0).alias("spot_per_kwh"),
        (pl.col("low") / 100.0).alias("price_low_per_kwh"),
        (pl.col("predicted") / 100.0).alias("price_predicted_per_kwh"),
        (pl.col("high") / 100.0).alias("price_high_per_kwh"),
        # A current interval is final only once Amber says it is no longer an estimate.
        (
            (pl.col("interval_type") == "ForecastInterval")
            | ((pl.col("interval_type") == "CurrentInterval") & pl.col("estimate").fill_null(True))
        ).alias("is_forecast"),
    )
    value_cols = [
        "price_per_kwh",
        "spot_per_kwh",
        "descriptor",
        "spike_status",
        "renewables_pct",
        "tariff_period",
        "is_forecast",
        "interval_type",
        "price_low_per_kwh",
        "price_predicted_per_kwh",
        "price_high_per_kwh",
    ]
    return _split_channels(
        raw, value_cols, "prices", site, timezone, where, PRICE_NULLABLE, on_conflict=on_conflict
    )


ON_CONFLICT = ("error", "last")


def _first(rows: pl.DataFrame) -> str:
    """Where the first of ``rows`` is: its file and item, its interval."""
    r = rows.row(0, named=True)
    return f"{r['_file']}, item {r['_item']} (startTime {_js(r['start'])})"


def _split_channels(
    raw: pl.DataFrame,
    value_cols: list[str],
    kind: str,
    site: str,
    timezone: str,
    where: str,
    nullable: tuple[str, ...],
    channel_col: str = "channel_type",
    on_conflict: str = "error",
) -> Frames:
    if on_conflict not in ON_CONFLICT:
        raise ValueError(f"on_conflict is one of {', '.join(ON_CONFLICT)}, not {on_conflict}")
    unknown = raw.filter(~pl.col("channel_type").is_in(list(CHANNEL_NAMES)))
    if unknown.height:
        raise MalformedResponse(
            f"malformed Amber response: channelType {_js(unknown['channel_type'][0])} in "
            f"{_first(unknown)} is not one Amber documents ({', '.join(CHANNEL_NAMES)})"
        )
    raw = raw.with_columns(
        _parse_times(raw["start"], "startTime", where, raw["_file"], raw["_item"]).alias(TIME),
        _parse_times(raw["end"], "endTime", where, raw["_file"], raw["_item"]).alias("_end"),
    )
    out: Frames = []
    for (channel_type, minutes), part in raw.partition_by(
        [channel_col, "duration"], as_dict=True
    ).items():
        channel = CHANNEL_NAMES.get(channel_type, channel_type)
        if minutes not in (5, 15, 30, 60):
            raise MalformedResponse(
                f"malformed Amber response: interval duration {minutes} min on channel {channel} "
                f"in {_first(part)}; Amber intervals are 5 or 30 min"
            )
        files = part["_file"].unique(maintain_order=True).to_list()
        named = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
        label = f"{named or where or kind} channel {channel}"
        part = floor_to_grid(part.sort(TIME, maintain_order=True), int(minutes))
        wrong_end = part.filter(pl.col("_end") - pl.col(TIME) != pl.duration(minutes=int(minutes)))
        if wrong_end.height:
            r = wrong_end.row(0, named=True)
            offset = (
                ""
                if all(str(t).endswith("Z") for t in (r["start"], r["end"]))
                else ("; Amber writes both times in UTC with a Z suffix, not a local offset")
            )
            raise MalformedResponse(
                f"malformed Amber response for {label}: {wrong_end.height} interval(s) whose endTime "
                f"is not startTime + {minutes} min, first {_first(wrong_end)}, endTime "
                f"{_js(r['end'])}{offset}"
            )
        if "is_forecast" in part.columns:
            # Same interval twice (a forecast and the actual): the actual wins.
            part = part.sort([TIME, "is_forecast"], descending=[False, True], maintain_order=True)
            _conflicts(part, value_cols, ["interval_type"], channel, on_conflict)
        else:
            _conflicts(part, value_cols, [], channel, on_conflict)
        part = part.unique(subset=[TIME], keep="last", maintain_order=True).sort(TIME)
        data = part.select(TIME, *value_cols)
        data = data.drop(
            [c for c in nullable if c in data.columns and data[c].null_count() == data.height]
        )
        meta = FrameMeta(
            source=SOURCE,
            kind=kind,
            interval_minutes=int(minutes),
            site=site,
            channel=channel,
            currency=CURRENCY,
            timezone=timezone,
            extra={"nullable": tuple(c for c in nullable if c in data.columns)},
        )
        validate(data, meta, nullable=nullable, where=label, lines=part["_item"], line_unit="item")
        out.append((data, meta))
    out.sort(
        key=lambda fm: (CHANNEL_ORDER.get(fm[1].channel, 9), fm[1].channel, fm[1].interval_minutes)
    )
    return out


def _conflicts(
    part: pl.DataFrame, value_cols: list[str], by: list[str], channel: str, on_conflict: str
) -> None:
    """Refuse one interval given twice with different values (unless ``on_conflict='last'``).

    Rows of one interval and type (``by``) that differ conflict, except forecasts in
    different files: a later forecast replaces an earlier one.
    """
    if on_conflict == "last":
        return
    key = [TIME, *by]
    distinct = part.unique(subset=[*key, *value_cols], keep="first", maintain_order=True)
    clash = distinct.filter(pl.len().over(key) > 1)
    if "is_forecast" in clash.columns:
        # a forecast may change from one saved file to the next; in one file it may not
        clash = clash.filter(~pl.col("is_forecast") | (pl.len().over([*key, "_file"]) > 1))
    if clash.height == 0:
        return
    first = clash.filter(pl.struct(key) == pl.struct(key).first())
    a, b = first.row(0, named=True), first.row(1, named=True)
    differ = [c for c in value_cols if a[c] != b[c]]
    shown = ", ".join(f"{c} {a[c]} vs {b[c]}" for c in differ[:3])
    raise MalformedResponse(
        f"conflicting Amber data: interval {_js(a['start'])} on channel {channel} is given twice "
        f"with different values ({shown}): {a['_file']} item {a['_item']} and {b['_file']} "
        f"item {b['_item']}; remove the wrong file, or keep the later file's values with "
        "--on-conflict last (on_conflict='last' in code)"
    )


# --------------------------------------------------------------------------- usage
_USAGE_REQUIRED: dict[str, pl.DataType] = {
    "channelType": pl.String,
    "channelIdentifier": pl.String,
    "duration": pl.Int64,
    "startTime": pl.String,
    "endTime": pl.String,
    "kwh": pl.Float64,
    "cost": pl.Float64,
    "quality": pl.String,
}
_USAGE_OPTIONAL: dict[str, pl.DataType] = {
    "type": pl.String,
    "perKwh": pl.Float64,
    "spotPerKwh": pl.Float64,
    "descriptor": pl.String,
    "spikeStatus": pl.String,
    "renewables": pl.Float64,
}


def read_amber_usage(
    source: str | Path | bytes | Sequence[dict] | SavedResponses,
    *,
    site: str = "default",
    timezone: str = DEFAULT_TIMEZONE,
    where: str = "",
    on_conflict: str = "error",
) -> Frames:
    """Parse an Amber ``/sites/{id}/usage`` response into canonical usage frames.

    ``on_conflict`` as in :func:`read_amber_prices`: one interval of one meter given twice
    with different values is refused (``error``) or the later kept (``last``).

    Returns
    -------
    list of (polars.DataFrame, FrameMeta)
        One per meter channel (``general``, ``controlled_load``, ``feed_in``; a site
        with two meters of one type gets ``general_e2`` etc.).  Columns:
        ``energy_kwh`` [kWh, exported energy positive on ``feed_in``],
        ``cost_amount`` [AUD incl. GST, negative = credit], ``quality``
        (``estimated`` / ``billable``), ``price_per_kwh`` and ``spot_per_kwh``
        [AUD/kWh], ``descriptor``, ``spike_status``, ``renewables_pct`` [%].
    """
    raw = _interval_frame(source, _USAGE_REQUIRED, _USAGE_OPTIONAL, where)
    if raw.height == 0:
        return []
    raw = raw.rename(
        {
            "channelType": "channel_type",
            "channelIdentifier": "identifier",
            "startTime": "start",
            "endTime": "end",
            "perKwh": "per",
            "spotPerKwh": "spot",
            "spikeStatus": "spike_status",
            "renewables": "renewables_pct",
        }
    ).drop("adv_low", "adv_predicted", "adv_high")
    # Several meters of one type (E1, E2) are separate series.
    per_type = raw.group_by("channel_type").agg(pl.col("identifier").n_unique().alias("_n"))
    raw = raw.join(per_type, on="channel_type").with_columns(
        pl.when(pl.col("_n") > 1)
        .then(
            pl.col("channel_type").replace_strict(CHANNEL_NAMES, default=pl.col("channel_type"))
            + "_"
            + pl.col("identifier").str.to_lowercase()
        )
        .otherwise(pl.col("channel_type"))
        .alias("_channel")
    )
    is_feed_in = pl.col("channel_type") == "feedIn"
    raw = raw.with_columns(
        pl.when(is_feed_in).then(-pl.col("kwh")).otherwise(pl.col("kwh")).alias("energy_kwh"),
        (pl.col("cost") / 100.0).alias("cost_amount"),
        (pl.col("per") / 100.0).alias("price_per_kwh"),
        (pl.col("spot") / 100.0).alias("spot_per_kwh"),
    )
    value_cols = [
        "energy_kwh",
        "cost_amount",
        "quality",
        "price_per_kwh",
        "spot_per_kwh",
        "descriptor",
        "spike_status",
        "renewables_pct",
        "tariff_period",
    ]
    present = [c for c in value_cols if c in USAGE_NULLABLE or raw[c].null_count() < raw.height]
    return _split_channels(
        raw,
        present,
        "usage",
        site,
        timezone,
        where,
        USAGE_NULLABLE,
        channel_col="_channel",
        on_conflict=on_conflict,
    )


# --------------------------------------------------------------------------- the client
class AmberClient:
    """A small client of the Amber public API v1.

    Parameters
    ----------
    token : str, optional
        API token; defaults to ``AMBER_TOKEN`` (environment or ``.env``).  Never shown.
    site_id : str, optional
        Site to use; defaults to ``AMBER_SITE_ID``, else the account's only active site.
    base_url : str, optional
        API root; defaults to ``AMBER_BASE_URL`` or ``https://api.amber.com.au/v1``.
    policy : RetryPolicy, optional
        Retry and back-off settings (tests pass tiny waits).
    timezone : str
        Site time zone for the metadata.
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        site_id: str | None = None,
        base_url: str | None = None,
        policy: RetryPolicy | None = None,
        timezone: str = DEFAULT_TIMEZONE,
    ):
        settings = load_settings()
        token = token or secret(settings.amber_token)
        if not token:
            raise AmberConfigError(
                f"no Amber token configured: set {TOKEN_ENV} in the environment or in .env "
                "(create one at app.amber.com.au -> Developers)"
            )
        self.base_url = (base_url or settings.amber_base_url).rstrip("/")
        self._site_id = site_id or settings.amber_site_id
        self.policy = policy or RetryPolicy()
        self.timezone = timezone
        self.session = make_session(token)

    def __repr__(self) -> str:
        return f"AmberClient(base_url={self.base_url!r}, site_id={self._site_id!r}, token=***)"

    def get(self, path: str, params: dict | None = None, *, where: str = "") -> Any:
        """GET ``base_url + path`` and decode JSON, with retries (see :mod:`energylib.ingest.http`)."""
        return get_json(
            self.session,
            f"{self.base_url}{path}",
            params=params,
            policy=self.policy,
            token_env=TOKEN_ENV,
            where=where,
        )

    def sites(self) -> list[AmberSite]:
        """Sites linked to the account."""
        return read_amber_sites(self.get("/sites", where="sites"))

    @property
    def site_id(self) -> str:
        """The site in use: the one given, ``AMBER_SITE_ID``, or the account's only active site."""
        if self._site_id:
            return self._site_id
        sites = self.sites()
        active = [s for s in sites if s.status == "active"] or sites
        if len(active) != 1:
            ids = [s.id for s in sites]
            raise AmberConfigError(
                f"the account has {len(active)} active site(s) {ids}; set AMBER_SITE_ID or pass site_id="
            )
        self._site_id = active[0].id
        return self._site_id

    def prices_json(self, start: date, end: date, *, resolution: int | None = None) -> list[dict]:
        """Raw ``/sites/{id}/prices`` for NEM dates ``start``..``end`` (both included)."""
        params: dict[str, Any] = {"startDate": start.isoformat(), "endDate": end.isoformat()}
        if resolution:
            params["resolution"] = resolution
        return self.get(f"/sites/{self.site_id}/prices", params, where=f"prices {start}..{end}")

    def current_prices_json(
        self, *, next: int = 0, previous: int = 0, resolution: int | None = None
    ) -> list[dict]:
        """Raw ``/sites/{id}/prices/current`` with ``next`` forecasts and ``previous`` actuals."""
        params: dict[str, Any] = {"next": next, "previous": previous}
        if resolution:
            params["resolution"] = resolution
        return self.get(f"/sites/{self.site_id}/prices/current", params, where="current prices")

    def usage_json(self, start: date, end: date) -> list[dict]:
        """Raw ``/sites/{id}/usage`` for NEM dates ``start``..``end`` (at most 90 days)."""
        params = {"startDate": start.isoformat(), "endDate": end.isoformat()}
        return self.get(f"/sites/{self.site_id}/usage", params, where=f"usage {start}..{end}")


def get_amber_sites(client: AmberClient | None = None, **client_kwargs) -> list[AmberSite]:
    """Fetch the account's sites (``GET /sites``)."""
    return (client or AmberClient(**client_kwargs)).sites()


def get_amber_prices(
    start: date | str,
    end: date | str,
    *,
    resolution: int | None = None,
    client: AmberClient | None = None,
    **client_kwargs,
) -> Frames:
    """Fetch prices for NEM dates ``start``..``end`` (both included) and parse them.

    ``resolution`` is 5 or 30 [min] (the API's default is 30).  See :func:`read_amber_prices`.
    """
    client = client or AmberClient(**client_kwargs)
    s, e = as_date(start), as_date(end)
    body = client.prices_json(s, e, resolution=resolution)
    return read_amber_prices(
        body, site=client.site_id, timezone=client.timezone, where=f"prices {s}..{e}"
    )


def get_amber_current_prices(
    *,
    next: int = 12,
    previous: int = 12,
    resolution: int | None = None,
    client: AmberClient | None = None,
    **client_kwargs,
) -> Frames:
    """Fetch the current interval with ``next`` forecast and ``previous`` actual intervals."""
    client = client or AmberClient(**client_kwargs)
    body = client.current_prices_json(next=next, previous=previous, resolution=resolution)
    return read_amber_prices(
        body, site=client.site_id, timezone=client.timezone, where="current prices"
    )


def get_amber_usage(
    start: date | str,
    end: date | str,
    *,
    client: AmberClient | None = None,
    **client_kwargs,
) -> Frames:
    """Fetch metered usage for NEM dates ``start``..``end`` (both included; at most 90 days)."""
    client = client or AmberClient(**client_kwargs)
    s, e = as_date(start), as_date(end)
    if (e - s) > timedelta(days=89):
        raise ValueError(
            f"Amber returns at most 90 days of usage per request; {s}..{e} is {(e - s).days + 1} days"
        )
    body = client.usage_json(s, e)
    return read_amber_usage(
        body, site=client.site_id, timezone=client.timezone, where=f"usage {s}..{e}"
    )


# --------------------------------------------------------------------------- storing, backfill
def store_amber_responses(
    store: Store,
    paths,
    *,
    kind: str = "prices",
    site: str = "default",
    timezone: str = "Australia/Sydney",
    on_conflict: str = "error",
) -> UpsertResult:
    """Parse saved Amber responses (JSON files) and store them, one upsert per series.

    Parsing every file first and writing each series once is what makes a year
    of 5-min prices quick to load: the store rewrites each month once instead of
    once per weekly file.  An interval in several files keeps the actual over a
    forecast and a later forecast over an earlier one; actuals that differ are refused
    (``on_conflict``); a stored actual is never replaced by a forecast (see
    :func:`store_frames`).

    Parameters
    ----------
    store : Store
        Destination.
    paths : iterable of path
        Saved ``/sites/{id}/prices`` (or ``/usage`` with ``kind='usage'``) responses, oldest first.
    kind : {'prices', 'usage'}
        What the files hold.
    site : str
        Amber site id for the metadata.
    timezone : str
        IANA zone of the site.
    on_conflict : {'error', 'last'}
        Two files that disagree on an actual interval: refuse, or keep the later file's
        (see :func:`read_amber_prices`).
    """
    paths = list(paths)
    reader = {"prices": read_amber_prices, "usage": read_amber_usage}[kind]
    frames = reader(
        SavedResponses(paths),
        site=site,
        timezone=timezone,
        where=", ".join(str(p) for p in paths[:3])
        + (f" and {len(paths) - 3} more" if len(paths) > 3 else ""),
        on_conflict=on_conflict,
    )
    return store_frames(store, frames)


def backfill_amber(
    store: Store,
    start: date | str,
    end: date | str,
    *,
    kind: str = "prices",
    resume: bool = False,
    site_id: str | None = None,
    resolution: int | None = None,
    window_days: int | None = None,
    min_window_days: int = 1,
    client=None,
    progress: bool = True,
    **client_kwargs,
) -> BackfillReport:
    """Backfill Amber prices or usage for NEM dates ``start``..``end`` (both included).

    Parameters
    ----------
    store : Store
        Destination.
    start, end : date or ISO string
        First and last NEM day.
    kind : {'prices', 'usage'}
        What to fetch.
    resume : bool
        Start at the day of the latest stored actual interval instead of ``start``.
    site_id : str, optional
        Amber site (default ``AMBER_SITE_ID`` or the account's only active site).
    resolution : int, optional
        Price resolution [min], 5 or 30 (the API's default is 30).
    window_days : int, optional
        Days per request (default 7 for prices, 7 for usage; usage may not exceed 90).
    min_window_days : int
        Smallest window on repeated HTTP 429 [d].
    client : AmberClient, optional
        A configured client (tests pass one with a local base URL and tiny back-off).
    """
    if kind not in ("prices", "usage"):
        raise ValueError(f"kind={kind!r}; Amber backfills 'prices' or 'usage'")
    if client is None:
        client = AmberClient(site_id=site_id, **client_kwargs)
    site = client.site_id
    s, e = as_date(start), as_date(end)
    days = window_days or 7
    if kind == "usage" and days > 90:
        raise ValueError(
            "Amber returns at most 90 days of usage per request: use window_days <= 90"
        )
    report = BackfillReport("amber", kind, site, s, e)
    if resume:
        s2 = resume_start(store, "amber", kind, site, s)
        if s2 > s:
            report.skipped_to = s2
            report.start = s2
    report.resume_command = (
        f"energy backfill amber --kind {kind} --start {s} --end {e} --site {site} --resume"
    )

    def fetch(first: date, last: date) -> Frames:
        where = f"{kind} {first}..{last}"
        if kind == "prices":
            body = client.prices_json(first, last, resolution=resolution)
            return read_amber_prices(body, site=site, timezone=client.timezone, where=where)
        body = client.usage_json(first, last)
        return read_amber_usage(body, site=site, timezone=client.timezone, where=where)

    return run_backfill(
        fetch,
        store,
        report,
        window_days=days,
        min_window_days=min(min_window_days, days),
        progress=progress,
    )
