"""Weather for the solar model and the forecaster: TMY files and PVGIS TMY.

Every reader returns a canonical hourly frame (kind ``weather``) with
``ghi_w_m2``, ``dni_w_m2``, ``dhi_w_m2`` [W/m2], ``temp_air_c`` [C] and
``wind_speed_m_s`` [m/s], plus a :class:`FrameMeta`.  Parsing is pvlib.iotools'
(``read_tmy3``, ``read_pvgis_tmy``, ``get_pvgis_tmy``); this module adds the
interval convention, the calendar-year mapping and the canonical names.

Interval convention (``interval_start`` is the start of the hour the values describe):

* TMY3 rows are stamped at the END of their hour in local standard time
  (``01:00`` is 00:00-01:00; ``24:00`` closes the year), so one hour is subtracted.
* PVGIS TMY rows (``time(UTC)`` ``YYYYMMDD:HH00``) are taken as the start of
  their UTC hour.
* EPW rows are stamped with the hour that ENDS the interval (hour 1 is 00:00-01:00), so
  the interval starts one hour earlier, in the file's clock.  An EnergyPlus EPW's clock is
  local standard time at the header's UTC offset.  A PVGIS EPW's clock is UTC although its
  header gives the site's offset (``LOCATION,unknown,-,unknown,ECMWF/ERA,...,1,250`` for a
  site at UTC+1): trusting the header would move every value an hour (or the offset) away
  from the sun.  PVGIS files are recognised by their header (an ``ECMWF``/``PVGIS``/
  ``SARAH`` data source or a ``PVGIS`` comment); ``epw_clock=`` overrides the guess.
* Open-Meteo's answers are read by :mod:`energylib.ingest.open_meteo` (no pvlib there).

Calendar year of a TMY (``year=``): a typical meteorological year stitches months
from different years (pvlib's TMY3 Greensboro file has January 1988 next to
February 1981, PVGIS records its ``months_selected``).  With ``year=Y`` (default
1990, pvlib's ``coerce_year`` convention, a non-leap year) every row keeps its
month, day and hour and takes year Y, in the file's own clock (local standard
time for TMY3, UTC for PVGIS), before conversion to UTC.  The result is one
continuous year without duplicates; in a leap year Feb 29 has no rows (a gap, as
TMY files have no Feb 29).  ``year=None`` keeps the source years (a frame with
gaps between months).  The source years per month go to ``meta.extra``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pvlib
import requests
from pvlib.iotools import pvgis as _pvgis

from energylib.schema import TIME, FrameMeta, validate

KIND = "weather"
WEATHER_COLUMNS = ("ghi_w_m2", "dni_w_m2", "dhi_w_m2", "temp_air_c", "wind_speed_m_s")
_FROM_PVLIB = {
    "ghi": "ghi_w_m2",
    "dni": "dni_w_m2",
    "dhi": "dhi_w_m2",
    "temp_air": "temp_air_c",
    "wind_speed": "wind_speed_m_s",
}
DEFAULT_YEAR = 1990
PVGIS_URL = _pvgis.URL


class WeatherDataError(ValueError):
    """A weather file or response cannot be turned into the canonical frame."""


def bundled_tmy_files() -> list[Path]:
    """pvlib's bundled TMY3 files (``pvlib/data/*TY*.csv``): Greensboro NC and Sand Point AK."""
    folder = Path(pvlib.__file__).parent / "data"
    return sorted(
        p for p in folder.iterdir() if p.suffix.lower() == ".csv" and "TY" in p.stem.upper()
    )


def _fixed_offset_zone(hours: float) -> str:
    if float(hours).is_integer():
        h = int(hours)
        return "UTC" if h == 0 else f"Etc/GMT{-h:+d}"  # POSIX sign: Etc/GMT+5 is UTC-5
    raise WeatherDataError(
        f"time zone offset {hours} h is not a whole hour; pass timezone= explicitly"
    )


def _with_year(index: pd.DatetimeIndex, year: int | None) -> pd.DatetimeIndex:
    if year is None:
        return index
    try:
        return pd.DatetimeIndex([t.replace(year=year) for t in index])
    except ValueError as exc:  # Feb 29 of the source into a non-leap year
        raise WeatherDataError(
            f"cannot map the TMY onto {year}: {exc}; pick a leap year or year=None"
        ) from exc


def _to_frame(df: pd.DataFrame, starts: pd.DatetimeIndex, where: str) -> pl.DataFrame:
    missing = [c for c in _FROM_PVLIB if c not in df.columns]
    if missing:
        raise WeatherDataError(
            f"{where}: no {missing} column(s) after pvlib's variable mapping; columns: {list(df.columns)}"
        )
    micros = pd.DatetimeIndex(starts).tz_convert("UTC").as_unit("us").asi8
    frame = pl.DataFrame(
        {TIME: pl.from_epoch(pl.Series(TIME, micros), time_unit="us").dt.replace_time_zone("UTC")}
        | {
            new: pl.Series(new, pd.to_numeric(df[old]).to_numpy(dtype="float64"))
            for old, new in _FROM_PVLIB.items()
        }
    )
    return frame.sort(TIME)


def _source_years(index: pd.DatetimeIndex) -> dict[int, list[int]]:
    years: dict[int, set[int]] = {}
    for t in index:
        years.setdefault(t.month, set()).add(t.year)
    return {m: sorted(y) for m, y in sorted(years.items())}


def _sniff(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".epw":
        return "epw"
    if suffix == ".json":
        return "pvgis_json"
    head = path.read_bytes()[:200]
    if head.startswith(b"Latitude (decimal degrees)"):
        return "pvgis_csv"
    if suffix == ".csv":
        return "tmy3"
    raise WeatherDataError(
        f"{path}: unknown weather file type; expected a TMY3 .csv, an .epw or a PVGIS TMY .csv/.json"
    )


def read_tmy(
    path: str | Path,
    *,
    year: int | None = DEFAULT_YEAR,
    site: str | None = None,
    timezone: str | None = None,
    epw_clock: str | None = None,
) -> tuple[pl.DataFrame, FrameMeta]:
    """Read a TMY3 file (pvlib's bundled ones), an EPW file or a PVGIS TMY file (csv, json, epw).

    Parameters
    ----------
    path : path
        The file; its type is taken from the extension and first line.
    year : int or None
        Calendar year to map the typical year onto (see the module docstring);
        ``None`` keeps the source years.
    site : str, optional
        Site name; defaults to the station (TMY3) or ``"lat,lon"`` (PVGIS).
    timezone : str, optional
        IANA zone for local-time features; defaults to the file's fixed offset
        (TMY3 and EPW headers, e.g. ``Etc/GMT+5``) or ``UTC`` (PVGIS csv/json).
    epw_clock : {'utc', 'header'}, optional
        The clock of an EPW file's rows: ``utc`` (PVGIS) or ``header`` (local standard time
        at the header's offset, EnergyPlus).  Default: ``utc`` for a file PVGIS wrote,
        ``header`` otherwise (see the module docstring).

    Returns
    -------
    data : polars.DataFrame
        Hourly ``interval_start`` (UTC) and the five weather columns.
    meta : FrameMeta
        ``source`` ``tmy3``, ``epw`` or ``pvgis``, ``kind`` ``weather``, ``channel``
        ``tmy``; ``extra`` holds latitude, longitude, elevation and the source years per
        month (and, for EPW, the rows' clock and the header's UTC offset).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no weather file at {path}; pvlib's bundled TMY3 files: {bundled_tmy_files()}"
        )
    kind = _sniff(path)
    if kind == "tmy3":
        return _read_tmy3(path, year, site, timezone)
    if kind == "epw":
        return _read_epw(path, year, site, timezone, epw_clock)
    df, meta = pvlib.iotools.read_pvgis_tmy(
        path, pvgis_format=kind.split("_")[1], map_variables=True
    )
    return _pvgis_frame(df, meta, year, site, timezone, where=str(path))


def _read_tmy3(
    path: Path, year: int | None, site: str | None, timezone: str | None
) -> tuple[pl.DataFrame, FrameMeta]:
    try:
        df, meta = pvlib.iotools.read_tmy3(path, map_variables=True)
    except (ValueError, KeyError, IndexError) as exc:
        raise WeatherDataError(f"{path}: not a readable TMY3 file ({exc})") from exc
    # TMY3 stamps the END of the hour (01:00 .. 24:00).  The start is built from the file's own
    # date and hour columns: pvlib's index moves "Feb 28 24:00" of a leap year to Mar 1, so
    # "index - 1 h" would land on Feb 29.
    day = pd.to_datetime(df["Date (MM/DD/YYYY)"], format="%m/%d/%Y")
    hour = df["Time (HH:MM)"].str[:2].astype(int)
    starts = pd.DatetimeIndex(day + pd.to_timedelta(hour - 1, unit="h"))
    source_years = _source_years(starts)
    starts = _with_year(starts, year).tz_localize(pd.DatetimeIndex(df.index).tz)
    data = _to_frame(df, starts, str(path))
    tz = timezone or _fixed_offset_zone(meta["TZ"])
    name = str(meta.get("Name", "")).strip('"')
    fmeta = FrameMeta(
        source="tmy3",
        kind=KIND,
        interval_minutes=60,
        site=site or f"{meta['USAF']} {name}".strip(),
        channel="tmy",
        timezone=tz,
        extra={
            "latitude": meta["latitude"],
            "longitude": meta["longitude"],
            "elevation_m": meta["altitude"],
            "utc_offset_h": meta["TZ"],
            "year": year,
            "source_years": source_years,
            "file": str(path),
        },
    )
    return validate(data, fmeta, where=str(path)), fmeta


EPW_CLOCKS = ("utc", "header")
_PVGIS_EPW_MARKERS = ("PVGIS", "ECMWF", "SARAH", "ERA5")


def _is_pvgis_epw(path: Path, meta: dict) -> bool:
    """Whether PVGIS wrote this EPW: its data source or comments name PVGIS's databases."""
    if any(m in str(meta.get("data_type", "")).upper() for m in _PVGIS_EPW_MARKERS):
        return True
    with path.open(encoding="utf-8", errors="replace") as f:
        head = [next(f, "") for _ in range(8)]
    comments = " ".join(line for line in head if line.upper().startswith("COMMENTS"))
    return "PVGIS" in comments.upper()


def _read_epw(
    path: Path, year: int | None, site: str | None, timezone: str | None, clock: str | None
) -> tuple[pl.DataFrame, FrameMeta]:
    if clock is not None and clock not in EPW_CLOCKS:
        raise ValueError(f"epw_clock={clock!r}; use one of {EPW_CLOCKS} or None to detect it")
    try:
        df, meta = pvlib.iotools.read_epw(path)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise WeatherDataError(f"{path}: not a readable EPW file ({exc})") from exc
    pvgis = _is_pvgis_epw(path, meta)
    clock = clock or ("utc" if pvgis else "header")
    header_zone = _fixed_offset_zone(meta["TZ"])
    # EPW hour h covers (h-1, h]: the interval starts at h-1, on the file's own wall clock
    # (built from the columns: pvlib's index already carries the header's offset).
    wall = pd.DatetimeIndex(
        pd.to_datetime(df[["year", "month", "day"]].astype(int))
        + pd.to_timedelta(df["hour"].astype(int) - 1, unit="h")
    )
    source_years = _source_years(wall)
    rows_zone = "UTC" if clock == "utc" else header_zone
    starts = _with_year(wall, year).tz_localize(rows_zone)
    data = _to_frame(df, starts, str(path))
    where_is = f"{meta['latitude']:.3f},{meta['longitude']:.3f}"
    name = ",".join(str(meta.get(k, "")) for k in ("city", "country")).strip(",") or where_is
    fmeta = FrameMeta(
        source="pvgis" if pvgis else "epw",
        kind=KIND,
        interval_minutes=60,
        site=site or (where_is if pvgis else name),
        channel="tmy",
        timezone=timezone or header_zone,
        extra={
            "latitude": meta["latitude"],
            "longitude": meta["longitude"],
            "elevation_m": meta["altitude"],
            "utc_offset_h": meta["TZ"],
            "rows_clock": rows_zone,
            "year": year,
            "source_years": source_years,
            "file": str(path),
        },
    )
    return validate(data, fmeta, where=str(path)), fmeta


def _pvgis_frame(df, meta, year, site, timezone, where) -> tuple[pl.DataFrame, FrameMeta]:
    starts = pd.DatetimeIndex(df.index)
    if starts.tz is None:
        starts = starts.tz_localize("UTC")
    source_years = _source_years(starts)
    starts = _with_year(starts.tz_convert("UTC").tz_localize(None), year).tz_localize("UTC")
    data = _to_frame(df, starts, where)
    loc = meta.get("inputs", {})
    loc = loc.get("location", loc)
    lat, lon = float(loc.get("latitude", np.nan)), float(loc.get("longitude", np.nan))
    fmeta = FrameMeta(
        source="pvgis",
        kind=KIND,
        interval_minutes=60,
        site=site or f"{lat:.3f},{lon:.3f}",
        channel="tmy",
        timezone=timezone or "UTC",
        extra={
            "latitude": lat,
            "longitude": lon,
            "elevation_m": loc.get("elevation"),
            "year": year,
            "source_years": source_years,
            "months_selected": meta.get("months_selected"),
            "file": where,
        },
    )
    return validate(data, fmeta, where=where), fmeta


def get_pvgis_tmy(
    latitude: float,
    longitude: float,
    *,
    year: int | None = DEFAULT_YEAR,
    url: str = PVGIS_URL,
    startyear: int | None = None,
    endyear: int | None = None,
    usehorizon: bool = True,
    timeout_s: float = 30,
    site: str | None = None,
    timezone: str | None = None,
) -> tuple[pl.DataFrame, FrameMeta]:
    """Fetch a typical meteorological year from PVGIS (network) via pvlib.

    Parameters
    ----------
    latitude, longitude : float
        Location [degrees north, degrees east].
    year : int or None
        Calendar year to map onto (see the module docstring).
    url : str
        PVGIS API base URL (ending in ``/``; ``tmy`` is appended).
    startyear, endyear : int, optional
        Years PVGIS picks months from.
    usehorizon : bool
        Include the horizon's shading.
    timeout_s : float
        Request timeout [s].
    """
    try:
        df, meta = pvlib.iotools.get_pvgis_tmy(
            latitude,
            longitude,
            outputformat="json",
            usehorizon=usehorizon,
            startyear=startyear,
            endyear=endyear,
            map_variables=True,
            url=url,
            timeout=timeout_s,
            roll_utc_offset=None,
            coerce_year=None,
        )
    except (KeyError, json.JSONDecodeError) as exc:
        raise WeatherDataError(
            f"PVGIS TMY for {latitude},{longitude}: malformed response ({exc})"
        ) from exc
    except requests.HTTPError as exc:  # pvlib raises PVGIS's own message for HTTP 400
        raise WeatherDataError(f"PVGIS TMY for {latitude},{longitude} failed: {exc}") from exc
    return _pvgis_frame(df, meta, year, site, timezone, where=f"PVGIS TMY {latitude},{longitude}")


def pvgis_tmy_json(
    frame: pd.DataFrame, latitude: float, longitude: float, elevation: float = 0.0
) -> str:
    """Serialise hourly weather as a PVGIS TMY JSON document (for saved replays and tests).

    ``frame`` has a UTC DatetimeIndex and pvlib names (``ghi``, ``dni``, ``dhi``,
    ``temp_air``, ``wind_speed``; optional ``relative_humidity``, ``pressure``).
    """
    rows = []
    for t, r in frame.iterrows():
        rows.append(
            {
                "time(UTC)": t.strftime("%Y%m%d:%H%M"),
                "T2m": float(r["temp_air"]),
                "RH": float(r.get("relative_humidity", 70.0)),
                "G(h)": float(r["ghi"]),
                "Gb(n)": float(r["dni"]),
                "Gd(h)": float(r["dhi"]),
                "IR(h)": 300.0,
                "WS10m": float(r["wind_speed"]),
                "WD10m": 180.0,
                "SP": float(r.get("pressure", 101325.0)),
            }
        )
    months = sorted({(t.month, t.year) for t in frame.index})
    doc = {
        "inputs": {
            "location": {"latitude": latitude, "longitude": longitude, "elevation": elevation},
            "meteo_data": {
                "radiation_db": "PVGIS-SARAH3",
                "meteo_db": "ERA5",
                "year_min": 2005,
                "year_max": 2023,
                "use_horizon": True,
            },
        },
        "outputs": {
            "months_selected": [{"month": m, "year": y} for m, y in months],
            "tmy_hourly": rows,
        },
        "meta": {
            "inputs": {"location": {"description": "Selected location"}},
            "outputs": {"tmy_hourly": {"type": "time series"}},
        },
    }
    buf = io.StringIO()
    json.dump(doc, buf)
    return buf.getvalue()
