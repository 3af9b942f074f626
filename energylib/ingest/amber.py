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
    if isinstance(source, bytes):
        source = source.decode("utf-8")
    if isinstance(source, str) and source.lstrip()[:1] in ("[", "{"):
        text, label = source, where or "JSON text"
    elif isinstance(source, (str, Path)):
        path = Path(source)
        text, label = path.read_text(encoding="utf-8"), where or str(path)
    else:
        return source
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedResponse(f"malformed Amber response in {label}: not JSON ({exc})") from exc


def _at(where: str) -> str:
    return f" for {where}" if where else ""


def _missing_field(records: list[dict], fields: Iterable[str], where: str) -> MalformedResponse:
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            return MalformedResponse(
                f"malformed Amber response{_at(where)}: item {i} is {type(rec).__name__}, not an object"
            )
        for f in fields:
            if f not in rec or rec[f] is None:
                return MalformedResponse(
                    f"malformed Amber response{_at(where)}: item {i} (type {rec.get('type')!r}, "
                    f"startTime {rec.get('startTime')!r}) has no {f!r}"
                )
    return MalformedResponse(f"malformed Amber response{_at(where)}: unreadable intervals")


def _parse_times(col: pl.Series, name: str, where: str) -> pl.Series:
    out = col.str.to_datetime(time_unit="us", time_zone="UTC", strict=False)
    bad = out.is_null() & col.is_not_null()
    if bad.any():
        i = int(bad.arg_true()[0])
        raise MalformedResponse(
            f"malformed Amber response{_at(where)}: item {i} has unreadable {name} {col[i]!r}"
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
    actual over a forecast, and otherwise the later file's values.
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
    if isinstance(source, dict):
        raise MalformedResponse(
            f"malformed Amber response{_at(where)}: expected a JSON array of intervals, got an object"
        )
    if isinstance(source, (list, tuple)):
        if not source:
            return pl.DataFrame()
        if not all(isinstance(r, dict) for r in source):
            raise _missing_field(list(source), required, where)
        try:
            df = pl.from_dicts(source, infer_schema_length=None)
        except (pl.exceptions.PolarsError, TypeError, ValueError):
            return _interval_frame(json.dumps(list(source)).encode(), required, optional, where)
    else:
        if isinstance(source, str) and source.lstrip()[:1] in ("[", "{"):
            raw, label = source.encode("utf-8"), where or "JSON text"
        elif isinstance(source, (str, Path)):
            raw, label = Path(source).read_bytes(), where or str(source)
        else:
            raw, label = bytes(source), where or "response"
        head = raw.lstrip()[:1]
        if head != b"[":
            try:
                body = json.loads(raw)
            except ValueError as exc:
                raise MalformedResponse(
                    f"malformed Amber response for {label}: not JSON ({exc})"
                ) from exc
            raise MalformedResponse(
                f"malformed Amber response for {label}: expected a JSON array of intervals, got {type(body).__name__}"
            )
        if raw.strip() == b"[]":
            return pl.DataFrame()
        # A schema skips inference and ignores undocumented fields: 2-3x faster on a year of data.
        schema = {**required, **optional, **_NESTED}
        try:
            df = pl.read_json(io.BytesIO(raw), schema=schema)
        except pl.exceptions.PolarsError:
            try:  # not JSON at all, or items of mixed shapes polars will not infer: parse it the slow way
                body = json.loads(raw)
            except ValueError as exc:
                raise MalformedResponse(
                    f"malformed Amber response for {label}: not JSON ({exc})"
                ) from exc
            if not isinstance(body, list):
                raise MalformedResponse(
                    f"malformed Amber response for {label}: expected a JSON array"
                ) from None
            return _interval_frame(body, required, optional, where or label)
    if df.height == 0:
        return df
    out = {}
    for name, dtype in {**required, **optional}.items():
        if name not in df.columns:
            if name in required:
                raise MalformedResponse(
                    f"malformed Amber response{_at(where)}: item 0 has no {name!r}"
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
            what = "has no" if col[i] is None else f"has unreadable ({col[i]!r})"
            kind = df["type"][i] if "type" in df.columns else None
            start = df["startTime"][i] if "startTime" in df.columns else None
            raise MalformedResponse(
                f"malformed Amber response{_at(where)}: item {i} (type {kind!r}, startTime {start!r}) {what} {name!r}"
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
    return df.select(**out)


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
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedResponse(f"malformed Amber /sites response: site {i} ({exc!r})") from exc
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
        A record misses a documented field or has an unreadable time; the message names ``where``.
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
            f"malformed Amber response{_at(where)}: unknown interval type(s) {unknown['interval_type'].unique().to_list()}"
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
    return _split_channels(raw, value_cols, "prices", site, timezone, where, PRICE_NULLABLE)


def _split_channels(
    raw: pl.DataFrame,
    value_cols: list[str],
    kind: str,
    site: str,
    timezone: str,
    where: str,
    nullable: tuple[str, ...],
    channel_col: str = "channel_type",
) -> Frames:
    raw = raw.with_columns(
        _parse_times(raw["start"], "startTime", where).alias(TIME),
        _parse_times(raw["end"], "endTime", where).alias("_end"),
    )
    out: Frames = []
    for (channel_type, minutes), part in raw.partition_by(
        [channel_col, "duration"], as_dict=True
    ).items():
        channel = CHANNEL_NAMES.get(channel_type, channel_type)
        if minutes not in (5, 15, 30, 60):
            raise MalformedResponse(
                f"malformed Amber response{_at(where)}: interval duration {minutes} min on {channel}"
            )
        label = f"{where or kind} channel {channel}"
        part = floor_to_grid(part.sort(TIME, maintain_order=True), int(minutes))
        wrong_end = part.filter(pl.col("_end") - pl.col(TIME) != pl.duration(minutes=int(minutes)))
        if wrong_end.height:
            raise MalformedResponse(
                f"malformed Amber response for {label}: {wrong_end.height} interval(s) whose endTime is not "
                f"startTime + {minutes} min, first {wrong_end[TIME][0]}"
            )
        if "is_forecast" in part.columns:
            # Same interval twice (a forecast and the actual): the actual wins.
            part = part.sort([TIME, "is_forecast"], descending=[False, True], maintain_order=True)
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
        validate(data, meta, nullable=nullable, where=label)
        out.append((data, meta))
    out.sort(
        key=lambda fm: (CHANNEL_ORDER.get(fm[1].channel, 9), fm[1].channel, fm[1].interval_minutes)
    )
    return out


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
) -> Frames:
    """Parse an Amber ``/sites/{id}/usage`` response into canonical usage frames.

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
        raw, present, "usage", site, timezone, where, USAGE_NULLABLE, channel_col="_channel"
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
) -> UpsertResult:
    """Parse saved Amber responses (JSON files) and store them, one upsert per series.

    Parsing every file first and writing each series once is what makes a year
    of 5-min prices quick to load: the store rewrites each month once instead of
    once per weekly file.  An interval in several files keeps the actual over a
    forecast, and otherwise the later file; a stored actual is never replaced by
    a forecast (see :func:`store_frames`).

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
    """
    paths = list(paths)
    reader = {"prices": read_amber_prices, "usage": read_amber_usage}[kind]
    frames = reader(
        SavedResponses(paths),
        site=site,
        timezone=timezone,
        where=f"{len(paths)} saved {kind} response(s)",
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
