"""Powerpal CSV usage exports.

Header ``datetime_utc,datetime_local,watt_hours,cost_dollars,is_peak``; both
times are ``YYYY-MM-DD HH:MM:SS`` without an offset (local is the site's
Australian eastern time, UTC+10/+11); ``watt_hours`` is Wh in the interval
(1-, 30- or 60-min exports), ``cost_dollars`` AUD, ``is_peak`` true/false.
An export covers up to 90 days; joined exports repeat rows at the seams.

The key is ``datetime_utc`` (unambiguous across daylight saving); every row's
``datetime_local`` must agree with it in the site's time zone, or the file is
not what it claims to be.

Canonical frame (kind ``usage``, channel ``general``): ``energy_kwh`` [kWh] =
watt_hours / 1000, ``cost_amount`` [AUD], ``is_peak``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from energylib.align import find_gaps
from energylib.ingest.checks import check_timezone, one_resolution, show
from energylib.schema import MAX_AVERAGE_KW, TIME, DataValidationError, FrameMeta, Problem, validate

SOURCE = "powerpal"
HEADER = ("datetime_utc", "datetime_local", "watt_hours", "cost_dollars", "is_peak")
DEFAULT_TIMEZONE = "Australia/Sydney"
EXPORT_MINUTES = (1, 30, 60)
_TRUE = ("true", "1", "yes", "t", "y")
_FALSE = ("false", "0", "no", "f", "n")
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M")


class PowerpalFormatError(DataValidationError):
    """A Powerpal export is not in the documented format; the message names file and line."""


def _fail(
    path: str, lines: list[int], what: str, fix: str, sample: object = None
) -> PowerpalFormatError:
    shown = ", ".join(str(n) for n in lines[:5]) + (
        f" and {len(lines) - 5} more" if len(lines) > 5 else ""
    )
    value = f" (first value {show(sample)})" if sample is not None else ""
    where = f"{path}, line {shown}" if lines else path
    return PowerpalFormatError([Problem(f"{what}{value}", fix=fix)], where)


def _parse_time(col: pl.Series) -> pl.Series:
    text = col.str.strip_chars()
    out = text.str.to_datetime(_TIME_FORMATS[0], strict=False, time_unit="us")
    for fmt in _TIME_FORMATS[1:]:
        out = out.fill_null(text.str.to_datetime(fmt, strict=False, time_unit="us"))
    return out


def read_powerpal_csv(
    path: str | Path,
    *,
    timezone: str = DEFAULT_TIMEZONE,
    site: str = "home",
) -> tuple[pl.DataFrame, FrameMeta]:
    """Read one Powerpal export.

    Parameters
    ----------
    path : path
        The CSV export.
    timezone : str
        IANA zone of ``datetime_local`` (the meter's site), used to check it against ``datetime_utc``.
    site : str
        Site name for the metadata.

    Returns
    -------
    (polars.DataFrame, FrameMeta)
        ``energy_kwh`` [kWh], ``cost_amount`` [AUD], ``is_peak`` at the export's
        resolution (1, 30 or 60 min); rows repeated identically (joined exports)
        appear once.  ``meta.extra['gaps']`` is the table of missing intervals
        (:func:`energylib.align.find_gaps`), ``meta.extra['files']`` the file.

    Raises
    ------
    PowerpalFormatError
        Wrong header, unparseable timestamps, local time disagreeing with UTC, negative
        or non-numeric energy (units written into cells, e.g. ``0.2 kWh``), intervals
        off the export's grid, or one interval given twice with different values;
        the message names the file and line(s).
    """
    label = str(path)
    check_timezone(timezone, label)
    try:
        raw = pl.read_csv(path, infer_schema=False, has_header=True)
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
        raise _fail(
            label, *_unreadable(path, exc), "export it again from the Powerpal app"
        ) from None
    cols = tuple(c.strip().lower() for c in raw.columns)
    if cols != HEADER:
        raise _fail(
            label,
            [1],
            f"header is {list(raw.columns)}",
            f"expected {','.join(HEADER)} (a Powerpal CSV export)",
        )
    raw = raw.rename(dict(zip(raw.columns, HEADER, strict=True)))
    line = pl.Series("line", range(2, raw.height + 2))
    blank = pl.all_horizontal(pl.col(HEADER).is_null() | (pl.col(HEADER).str.strip_chars() == ""))
    keep = ~raw.select(blank).to_series()
    raw, line = raw.filter(keep), line.filter(keep)  # blank lines carry nothing
    if raw.height == 0:
        raise _fail(label, [], "no data rows", "export a period with readings")
    missing = raw.select(pl.any_horizontal(pl.col(HEADER).is_null())).to_series()
    if missing.any():
        i = int(missing.arg_true()[0])
        empty = [c for c in HEADER if raw[c][i] is None]
        raise _fail(
            label,
            line.filter(missing).to_list(),
            f"no value for {', '.join(empty)} (a truncated or incomplete line)",
            "every line needs all five fields; export the file again from the Powerpal app",
        )

    utc = _parse_time(raw["datetime_utc"])
    _bad(
        utc.is_null(),
        line,
        raw["datetime_utc"],
        label,
        "unparseable datetime_utc",
        "expected YYYY-MM-DD HH:MM:SS",
    )
    local = _parse_time(raw["datetime_local"])
    _bad(
        local.is_null(),
        line,
        raw["datetime_local"],
        label,
        "unparseable datetime_local",
        "expected YYYY-MM-DD HH:MM:SS",
    )
    utc = utc.dt.replace_time_zone("UTC")
    expected_local = utc.dt.convert_time_zone(timezone).dt.replace_time_zone(None)
    _bad(
        expected_local != local,
        line,
        raw["datetime_local"],
        label,
        f"datetime_local disagrees with datetime_utc in {timezone}",
        "give the meter's IANA zone with --timezone (e.g. Australia/Brisbane in Queensland), or repair the rows",
    )

    wh_text = raw["watt_hours"].str.strip_chars()
    wh = wh_text.cast(pl.Float64, strict=False)
    has_unit = wh.is_null() & wh_text.str.contains(r"(?i)[a-z]").fill_null(False)
    _bad(
        has_unit,
        line,
        raw["watt_hours"],
        label,
        "watt_hours carries a unit or text (mixed units)",
        "watt_hours must be a plain number of Wh",
    )
    _bad(
        wh.is_null() | wh.is_nan(),
        line,
        raw["watt_hours"],
        label,
        "unreadable watt_hours",
        "watt_hours must be a number of Wh",
    )
    _bad(
        wh < 0,
        line,
        raw["watt_hours"],
        label,
        "negative energy in watt_hours",
        "energy in an interval cannot be negative",
    )
    cost_text = raw["cost_dollars"].str.strip_chars()
    cost = cost_text.cast(pl.Float64, strict=False)
    _bad(
        cost.is_null() | cost.is_nan(),
        line,
        raw["cost_dollars"],
        label,
        "unreadable cost_dollars",
        "cost_dollars must be a plain number of AUD (e.g. 0.0744, no $ sign)",
    )
    peak_text = raw["is_peak"].str.strip_chars().str.to_lowercase()
    peak_ok = peak_text.is_in(_TRUE + _FALSE)
    _bad(
        ~peak_ok.fill_null(False),
        line,
        raw["is_peak"],
        label,
        "unreadable is_peak",
        "is_peak must be true or false",
    )

    frame = pl.DataFrame(
        {
            TIME: utc,
            "energy_kwh": wh / 1000.0,
            "cost_amount": cost,
            "is_peak": peak_text.is_in(_TRUE),
            "line": line,
        }
    )
    frame = _drop_repeats(frame, label)
    minutes = _export_minutes(frame, label)
    # More than MAX_AVERAGE_KW through a household meter is not a reading: say so in Wh.
    limit_wh = MAX_AVERAGE_KW * minutes / 60 * 1000
    big = frame["energy_kwh"] * 1000 > limit_wh
    _bad(
        big,
        frame["line"],
        frame["energy_kwh"] * 1000,
        label,
        f"watt_hours above {limit_wh:g} Wh in a {minutes}-min interval (over {MAX_AVERAGE_KW:g} kW)",
        "watt_hours is the Wh used in the interval; check the export",
    )
    one_resolution(frame[TIME], frame["line"], minutes, EXPORT_MINUTES, label)
    off = frame.filter(pl.col(TIME).dt.epoch("us") % (minutes * 60_000_000) != 0)
    if off.height:
        raise _fail(
            label,
            off["line"].to_list(),
            f"interval start off the {minutes}-min grid of this export (mixed resolutions?)",
            "split the file by resolution",
            off[TIME][0],
        )
    data = frame.drop("line")
    meta = FrameMeta(
        SOURCE, "usage", minutes, site=site, channel="general", currency="AUD", timezone=timezone
    )
    validate(data, meta, where=label, lines=frame["line"])
    meta = meta.replace(extra={"gaps": find_gaps(data, minutes), "files": [label]})
    return data, meta


def _unreadable(path: str | Path, exc: Exception) -> tuple[list[int], str]:
    """The lines and reason of a file polars cannot read as CSV, in the file's terms."""
    if isinstance(exc, UnicodeDecodeError) or "utf-8" in str(exc).lower():
        return [], "not UTF-8 text"
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return [], "not a readable CSV"
    width = len(text[0].split(",")) if text else 0
    long = [n for n, row in enumerate(text, start=1) if len(row.split(",")) > width]
    if long:
        return long, f"more fields than the header's {width}"
    return [], "not a readable CSV"


def _bad(
    mask: pl.Series, line: pl.Series, values: pl.Series, label: str, what: str, fix: str
) -> None:
    mask = mask.fill_null(True)
    if mask.any():
        lines = line.filter(mask).to_list()
        raise _fail(label, lines, what, fix, values.filter(mask)[0])


def _drop_repeats(frame: pl.DataFrame, label: str) -> pl.DataFrame:
    """Identical repeated rows (joined exports) collapse to one; conflicting ones are an error."""
    frame = frame.sort(TIME, "line")
    values = ["energy_kwh", "cost_amount", "is_peak"]
    distinct = frame.unique(subset=[TIME, *values], keep="first", maintain_order=True)
    clash = distinct.filter(pl.col(TIME).is_duplicated())
    if clash.height:
        raise _fail(
            label,
            clash["line"].to_list(),
            f"{clash[TIME].n_unique()} interval(s) given twice with different values",
            "remove the stale copy; identical repeats are merged automatically",
            clash[TIME][0],
        )
    return distinct


def _export_minutes(frame: pl.DataFrame, label: str) -> int:
    diffs = frame[TIME].diff().dt.total_minutes().drop_nulls()
    if len(diffs) == 0:
        raise _fail(
            label,
            frame["line"].to_list(),
            "a single row: the export's resolution cannot be told",
            "export a longer period",
        )
    minutes = int(diffs.mode().min())
    if minutes not in EXPORT_MINUTES:
        raise _fail(
            label,
            [],
            f"rows are {minutes} min apart; Powerpal exports are 1, 30 or 60 min",
            "check the file",
        )
    return minutes


def read_powerpal_csvs(
    paths: Sequence[str | Path],
    *,
    timezone: str = DEFAULT_TIMEZONE,
    site: str = "home",
) -> tuple[pl.DataFrame, FrameMeta]:
    """Read several (possibly overlapping) exports of one resolution and merge them.

    Rows in more than one file must agree (they are merged once); an interval
    with different values in two files raises naming both files.
    """
    if not paths:
        raise ValueError("no Powerpal files given")
    return merge_powerpal_exports(
        [read_powerpal_csv(p, timezone=timezone, site=site) for p in paths]
    )


def merge_powerpal_exports(
    parts: Sequence[tuple[pl.DataFrame, FrameMeta]],
) -> tuple[pl.DataFrame, FrameMeta]:
    """Merge exports already read by :func:`read_powerpal_csv` (one resolution), as
    :func:`read_powerpal_csvs` does; each export's file is ``meta.extra['files']``."""
    if not parts:
        raise ValueError("no Powerpal exports given")
    paths = [m.extra["files"][0] for _, m in parts]
    minutes = {m.interval_minutes for _, m in parts}
    if len(minutes) > 1:
        by = ", ".join(
            f"{p} ({m.interval_minutes} min)" for p, (_, m) in zip(paths, parts, strict=True)
        )
        raise DataValidationError(
            [
                Problem(
                    f"exports at different resolutions: {by}",
                    fix="import each resolution separately",
                )
            ],
            ", ".join(paths),
        )
    tagged = pl.concat(
        [d.with_columns(pl.lit(p).alias("_file")) for p, (d, _) in zip(paths, parts, strict=True)]
    )
    distinct = tagged.unique(
        subset=[c for c in tagged.columns if c != "_file"], keep="first", maintain_order=True
    )
    clash = distinct.filter(pl.col(TIME).is_duplicated()).sort(TIME)
    if clash.height:
        t = clash[TIME][0]
        files = clash.filter(pl.col(TIME) == t)["_file"].to_list()
        raise DataValidationError(
            [
                Problem(
                    f"{clash[TIME].n_unique()} interval(s) differ between exports, first "
                    f"{show(t)} in {' and '.join(files)}",
                    fix="keep one export of the overlapping period",
                )
            ],
            ", ".join(paths),
        )
    meta0 = parts[0][1]
    data = distinct.drop("_file").sort(TIME)
    meta = meta0.replace(extra={"gaps": find_gaps(data, meta0.interval_minutes), "files": paths})
    return data, meta
