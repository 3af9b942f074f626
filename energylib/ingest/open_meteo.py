"""Open-Meteo: hourly weather history (archive API) and the past and next days (forecast API).

One parser, :func:`read_open_meteo`, reads every answer of either API.  Open-Meteo labels
each hourly value with a time ``T`` and documents two meanings, which the canonical frame
(``interval_start`` = the start of the hour the values describe) keeps apart:

* radiation (``shortwave_radiation``, ``direct_normal_irradiance``, ``diffuse_radiation``)
  is the mean over the hour BEFORE ``T``: it belongs to the interval starting ``T - 1 h``;
* temperature (``temperature_2m``) and wind (``wind_speed_10m``) are instantaneous at
  ``T``: they are the value at the start of the interval starting ``T``.

So one row holds an hour's mean radiation and the temperature at its start, read from
stamps an hour apart; the first and last hours of an answer lack one of the two and are
gaps, like any hour with a missing value.  Stamps are local to ``utc_offset_seconds``
(``timezone=GMT`` is asked for) and become UTC.

This module needs no pvlib or pandas: the live agent imports it.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import polars as pl
import requests

from energylib.dates import as_utc
from energylib.ingest.http import HttpError, RetryPolicy, get_json, make_session
from energylib.schema import TIME, FrameMeta, validate

KIND = "weather"
OPEN_METEO_ARCHIVE_URL = "https://archive-api.open-meteo.com/v1/archive"
OPEN_METEO_URL = "https://api.open-meteo.com/v1"
#: Open-Meteo's hourly variables and their canonical names.
OPEN_METEO_VARIABLES = {
    "shortwave_radiation": "ghi_w_m2",
    "direct_normal_irradiance": "dni_w_m2",
    "diffuse_radiation": "dhi_w_m2",
    "temperature_2m": "temp_air_c",
    "wind_speed_10m": "wind_speed_m_s",
}
#: The variables Open-Meteo gives as the mean over the hour before the stamp (the others
#: are instantaneous at the stamp).
_HOUR_MEANS = ("shortwave_radiation", "direct_normal_irradiance", "diffuse_radiation")


class OpenMeteoError(ValueError):
    """An Open-Meteo answer is an error or cannot be turned into the canonical frame."""


def get_open_meteo_history(
    latitude: float,
    longitude: float,
    start: date | datetime | str,
    end: date | datetime | str,
    *,
    base_url: str = OPEN_METEO_ARCHIVE_URL,
    site: str | None = None,
    timezone: str = "UTC",
    session: requests.Session | None = None,
    policy: RetryPolicy | None = None,
) -> tuple[pl.DataFrame, FrameMeta]:
    """Hourly weather history from Open-Meteo's archive API for ``[start, end)``.

    Parameters
    ----------
    latitude, longitude : float
        Location [degrees north, degrees east].
    start, end : date, datetime or ISO string
        Range; a datetime must be zone-aware, a date is taken as UTC midnight.
    base_url : str
        Archive endpoint (``https://archive-api.open-meteo.com/v1/archive``).
    site : str, optional
        Site name; defaults to ``"lat,lon"``.
    timezone : str
        The site's IANA zone for the metadata (the request is always in UTC).
    session, policy : optional
        A ``requests.Session`` and :class:`energylib.ingest.http.RetryPolicy`.

    Returns
    -------
    (polars.DataFrame, FrameMeta)
        Source ``open_meteo``, kind ``weather``, channel ``history``.  Hours the
        API returns without values are left out (gaps), counted in
        ``meta.extra['missing_hours']``.
    """
    lo, hi = as_utc(start), as_utc(end)
    if hi <= lo:
        raise ValueError(f"end {hi} is not after start {lo}")
    params = {
        "latitude": latitude,
        "longitude": longitude,
        # the first interval [lo, lo+1h) is stamped lo+1h; ask for the day of the last stamp too
        "start_date": lo.date().isoformat(),
        "end_date": hi.date().isoformat(),
        "hourly": ",".join(OPEN_METEO_VARIABLES),
        "timezone": "GMT",
        "wind_speed_unit": "ms",
    }
    where = (
        f"Open-Meteo history {latitude},{longitude} {params['start_date']}..{params['end_date']}"
    )
    try:
        body = get_json(
            session or make_session(), base_url, params=params, policy=policy, where=where
        )
    except HttpError as exc:
        raise OpenMeteoError(f"{where}: {exc}") from exc
    data, meta = read_open_meteo(
        body,
        site=site or f"{latitude:.3f},{longitude:.3f}",
        timezone=timezone,
        channel="history",
        where=where,
    )
    data = data.filter((pl.col(TIME) >= lo) & (pl.col(TIME) < hi))
    return validate(data, meta, where=where), meta


def get_open_meteo_forecast(
    latitude: float,
    longitude: float,
    *,
    past_days: int = 2,
    forecast_days: int = 2,
    variables: tuple[str, ...] = ("temperature_2m", "shortwave_radiation"),
    base_url: str = OPEN_METEO_URL,
    site: str = "default",
    timezone: str = "UTC",
    session: requests.Session | None = None,
    policy: RetryPolicy | None = None,
) -> tuple[pl.DataFrame, FrameMeta]:
    """Hourly weather of the past and next days from Open-Meteo's forecast API (no key).

    Parameters
    ----------
    latitude, longitude : float
        Location [degrees north, degrees east].
    past_days, forecast_days : int
        Days before today and from today on [d].
    variables : tuple of str
        Open-Meteo hourly variables, of :data:`OPEN_METEO_VARIABLES`.
    base_url : str
        API root (``https://api.open-meteo.com/v1``; ``/forecast`` is appended).
    site : str
        Site id for the metadata.
    timezone : str
        The site's IANA zone for the metadata (the request is always in UTC).
    session, policy : optional
        A ``requests.Session`` and :class:`energylib.ingest.http.RetryPolicy`.

    Returns
    -------
    (polars.DataFrame, FrameMeta)
        Source ``open_meteo``, kind ``weather``, channel ``general`` (see
        :func:`read_open_meteo` for the time stamps).
    """
    unknown = [v for v in variables if v not in OPEN_METEO_VARIABLES]
    if unknown:
        raise ValueError(
            f"unknown Open-Meteo variables {unknown}; use {list(OPEN_METEO_VARIABLES)}"
        )
    params = {
        "latitude": latitude,
        "longitude": longitude,
        "hourly": ",".join(variables),
        "past_days": past_days,
        "forecast_days": forecast_days,
        "timezone": "UTC",
        "wind_speed_unit": "ms",
    }
    where = f"Open-Meteo forecast {latitude},{longitude}"
    body = get_json(
        session or make_session(),
        f"{base_url.rstrip('/')}/forecast",
        params=params,
        policy=policy,
        where="weather",
    )
    return read_open_meteo(body, site=site, timezone=timezone, channel="general", where=where)


def read_open_meteo(
    body: dict | str | bytes,
    *,
    site: str = "default",
    timezone: str = "UTC",
    channel: str = "history",
    where: str = "Open-Meteo response",
) -> tuple[pl.DataFrame, FrameMeta]:
    """Turn an Open-Meteo ``hourly`` answer (archive or forecast) into the canonical frame.

    Time stamps, as Open-Meteo documents them (see the module docstring): radiation stamped
    ``T`` is the mean over ``[T - 1 h, T)`` and goes to the interval starting ``T - 1 h``;
    temperature and wind stamped ``T`` are instantaneous at ``T`` and go to the interval
    starting ``T``.  Stamps are local to ``utc_offset_seconds`` and are converted to UTC.
    Radiation below 0 W/m2 becomes 0; wind in km/h, mph or knots becomes m/s.

    Parameters
    ----------
    body : dict, str or bytes
        The answer (parsed JSON or its text).
    site, timezone, channel : str
        For the metadata.
    where : str
        The request, for messages.

    Returns
    -------
    (polars.DataFrame, FrameMeta)
        One row per hour with every asked variable present (``ghi_w_m2``, ``dni_w_m2``,
        ``dhi_w_m2`` [W/m2], ``temp_air_c`` [degC], ``wind_speed_m_s`` [m/s]); an hour
        that lacks one is a gap, counted in ``meta.extra['missing_hours']``.

    Raises
    ------
    OpenMeteoError
        For an error answer (with Open-Meteo's reason) or a malformed one.
    """
    if isinstance(body, str | bytes):
        body = json.loads(body)
    if not isinstance(body, dict):
        raise OpenMeteoError(f"{where}: malformed response, not a JSON object")
    if body.get("error"):
        raise OpenMeteoError(f"{where}: Open-Meteo says {body.get('reason')!r}")
    try:
        hourly, units = body["hourly"], body.get("hourly_units") or {}
        stamps = pl.Series("t", hourly["time"], dtype=pl.String)
        offset = timedelta(seconds=int(body.get("utc_offset_seconds", 0)))
        given = {v: hourly[v] for v in OPEN_METEO_VARIABLES if v in hourly}
    except (KeyError, TypeError, ValueError) as exc:
        raise OpenMeteoError(f"{where}: malformed response, missing {exc}") from exc
    if not given:
        raise OpenMeteoError(
            f"{where}: malformed response, none of the hourly variables {list(OPEN_METEO_VARIABLES)}"
        )
    if any(not isinstance(v, list) or len(v) != len(stamps) for v in given.values()):
        raise OpenMeteoError(f"{where}: malformed response, hourly arrays differ in length")
    wind_unit = units.get("wind_speed_10m", "m/s")
    wind_scale = {"m/s": 1.0, "km/h": 1 / 3.6, "mp/h": 0.44704, "kn": 0.514444}.get(wind_unit)
    if wind_scale is None:
        raise OpenMeteoError(f"{where}: unknown wind speed unit {wind_unit!r}")
    try:
        stamp = (
            stamps.str.to_datetime("%Y-%m-%dT%H:%M", time_unit="us") - offset
        ).dt.replace_time_zone("UTC")
        values = {
            OPEN_METEO_VARIABLES[v]: pl.Series(OPEN_METEO_VARIABLES[v], x, dtype=pl.Float64)
            for v, x in given.items()
        }
    except (TypeError, ValueError, pl.exceptions.PolarsError) as exc:
        raise OpenMeteoError(f"{where}: malformed response, {exc}") from exc
    means = [c for v, c in OPEN_METEO_VARIABLES.items() if v in given and v in _HOUR_MEANS]
    instants = [c for c in values if c not in means]
    frames = []
    if means:
        frames.append(
            pl.DataFrame(
                {TIME: stamp - timedelta(hours=1)} | {c: values[c] for c in means}
            ).with_columns(pl.col(c).clip(lower_bound=0.0) for c in means)
        )
    if instants:
        frames.append(pl.DataFrame({TIME: stamp} | {c: values[c] for c in instants}))
    if "wind_speed_m_s" in instants:
        frames[-1] = frames[-1].with_columns(pl.col("wind_speed_m_s") * wind_scale)
    data = frames[0]
    for more in frames[1:]:
        data = data.join(more, on=TIME, how="full", coalesce=True)
    data = data.sort(TIME)
    complete = data.drop_nulls()
    meta = FrameMeta(
        source="open_meteo",
        kind=KIND,
        interval_minutes=60,
        site=site,
        channel=channel,
        timezone=timezone,
        extra={
            "latitude": body.get("latitude"),
            "longitude": body.get("longitude"),
            "elevation_m": body.get("elevation"),
            "missing_hours": data.height - complete.height,
        },
    )
    return complete, meta
