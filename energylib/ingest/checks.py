"""Checks every file reader makes, with messages in the file's terms (lines, values as
written, CLI options)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from energylib.schema import DataValidationError, Problem


def show(value: object) -> str:
    """A value as a message shows it: a time as ``2025-04-05 11:30:00 UTC``, text in quotes."""
    if isinstance(value, datetime):
        zone = f" {value.tzname()}" if value.tzinfo else ""
        return f"{value:%Y-%m-%d %H:%M:%S}{zone}"
    return f'"{value}"' if isinstance(value, str) else str(value)


def check_timezone(timezone: str, where: str) -> None:
    """Raise a :class:`DataValidationError` unless ``timezone`` is an IANA zone name."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise DataValidationError(
            [
                Problem(
                    f'unknown time zone "{timezone}"',
                    fix="give an IANA zone name such as Australia/Sydney or Australia/Brisbane "
                    "(the --timezone option of `energy import`)",
                )
            ],
            where,
        ) from None


def one_resolution(
    times: pl.Series, lines: pl.Series, minutes: int, allowed: Sequence[int], label: str
) -> None:
    """Refuse rows that are not all at ``minutes`` resolution, naming the lines where it changes.

    ``times`` is sorted and holds no repeats.  Consecutive rows a finer resolution of
    ``allowed`` apart are at that resolution; two or more consecutive steps of a coarser one
    are a stretch at that resolution (one such step is a gap).  Other spacings are left to
    the reader's grid check.
    """
    step = times.diff().dt.total_minutes()
    finer = step.is_in([m for m in allowed if m < minutes]).fill_null(False)
    coarser = step.is_in([m for m in allowed if m > minutes]).fill_null(False)
    run = coarser & (step == step.shift(1)).fill_null(False)
    changed = finer | run
    if changed.any():
        i = int(changed.arg_true()[0])
        # Name the row where that run of another spacing begins (the step changes and the
        # next step repeats it; a run is first seen at its second step); a lone finer step
        # is named where it is.
        begins = ((step != step.shift(1)) & (step == step.shift(-1))).fill_null(False)
        starts = [b for b in begins.arg_true().to_list() if b >= i - 1]
        i = starts[0] if starts else i
        before = int(step[i - 1]) if i >= 2 else minutes
        raise DataValidationError(
            [
                Problem(
                    f"the rows change from {before}-min to {int(step[i])}-min intervals at line "
                    f"{int(lines[i])} ({show(times[i])}); every row of a file must be at one resolution",
                    fix="split the file where the resolution changes and import each part",
                )
            ],
            label,
        )
