"""Tables a homeowner reads: column names in words with units, numbers formatted.

:func:`report_table` turns a tidy polars frame into a :class:`ReportTable`, which a
notebook displays as a Markdown table (``text/markdown``, never ``text/html``: Quarto
would load jQuery and require.js from a CDN for an HTML output).  No dtypes row, no
quotes, no ``null`` and no ``NaN`` (a missing value is a dash), no row numbers, no
``...``: hidden rows are counted under the table.

Column names follow the library's suffixes: ``bill_amount`` is "Bill (AUD)",
``energy_kwh`` "Energy (kWh)", ``mean_price_per_kwh`` "Mean price (AUD/kWh)",
``skill_pct`` "Skill (%)"; ``labels`` overrides any of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime

import polars as pl

# Column-name suffix -> (unit, decimals); longest suffixes are tried first.  "{cur}" is the
# table's currency.
SUFFIX_UNITS: dict[str, tuple[str, int]] = {
    "_per_kwh": ("{cur}/kWh", 3),
    "_amount": ("{cur}", 0),
    "_kwh": ("kWh", 1),
    "_mwh": ("MWh", 1),
    "_kw": ("kW", 1),
    "_pct": ("%", 1),
    "_share": ("%", 1),
    "_seconds": ("s", 1),
    "_s": ("s", 1),
    "_kib": ("KiB", 0),
    "_bytes": ("bytes", 0),
    "_years": ("years", 1),
    "_minutes": ("min", 0),
}

MISSING = "–"

# Words a header spells in capitals.
ACRONYMS = {"ev": "EV", "pv": "PV", "npv": "NPV", "irr": "IRR", "mae": "MAE", "rmse": "RMSE",
            "soc": "SoC", "soh": "SoH", "utc": "UTC", "id": "id"}  # fmt: skip


@dataclass(frozen=True)
class ReportTable:
    """A formatted table: header words and cell strings, displayed as Markdown."""

    header: list[str]
    rows: list[list[str]]
    hidden_rows: int = 0
    caption: str = ""

    def to_markdown(self) -> str:
        """The table as a GitHub/Pandoc pipe table, its caption and hidden rows under it."""
        numeric = [
            all(_looks_numeric(r[i]) for r in self.rows) and bool(self.rows)
            for i in range(len(self.header))
        ]
        lines = [
            "| " + " | ".join(_cell(h) for h in self.header) + " |",
            "|" + "|".join("---:" if n else ":---" for n in numeric) + "|",
        ]
        lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in self.rows]
        notes = []
        if self.hidden_rows:
            notes.append(f"{self.hidden_rows:,} more row(s) not shown.")
        if self.caption:
            notes.insert(0, self.caption)
        if notes:
            lines += ["", f"*{' '.join(notes)}*"]
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def __repr__(self) -> str:
        return self.to_markdown()


def report_table(
    frame: pl.DataFrame,
    *,
    currency: str = "",
    labels: dict[str, str] | None = None,
    decimals: dict[str, int] | None = None,
    max_rows: int = 40,
    caption: str = "",
) -> ReportTable:
    """Format a frame for a report page.

    Parameters
    ----------
    frame : polars.DataFrame
        Any tidy frame (a pandas frame is converted).
    currency : str
        The currency of ``*_amount`` and ``*_per_kwh`` columns (AUD, EUR).
    labels : dict, optional
        Column name -> header, where the suffix rule does not say it well.
    decimals : dict, optional
        Column name -> decimals shown, overriding the suffix rule.
    max_rows : int
        Rows shown; the rest are counted under the table.
    caption : str
        A sentence under the table.
    """
    if not isinstance(frame, pl.DataFrame):
        frame = pl.from_pandas(frame)
    labels = labels or {}
    decimals = decimals or {}
    shown = frame.head(max_rows)
    header, digits = [], []
    for name in frame.columns:
        label, unit_digits = column_label(name, currency)
        header.append(labels.get(name, label))
        digits.append(decimals.get(name, unit_digits))
    rows = [
        [format_value(v, d) for v, d in zip(row, digits, strict=True)] for row in shown.iter_rows()
    ]
    return ReportTable(header, rows, frame.height - shown.height, caption)


def column_label(name: str, currency: str = "") -> tuple[str, int | None]:
    """``bill_amount`` -> ("Bill (AUD)", 0): words, the unit from the suffix, and decimals."""
    for suffix in sorted(SUFFIX_UNITS, key=len, reverse=True):
        if name.endswith(suffix) and len(name) > len(suffix):
            unit, digits = SUFFIX_UNITS[suffix]
            unit = unit.format(cur=currency or "currency")
            return f"{_words(name[: -len(suffix)])} ({unit})", digits
    return _words(name), None


def _words(name: str) -> str:
    words = [ACRONYMS.get(w, w) for w in name.replace("_", " ").split()]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def format_value(value: object, digits: int | None = None) -> str:
    """One cell: thousands separators, ``digits`` decimals (auto where None), a dash for missing."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return MISSING
        if digits is None:
            size = abs(value)
            digits = 0 if size >= 100 else 1 if size >= 10 else 2 if size >= 1 else 3
        return f"{value:,.{digits}f}"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, date):
        return f"{value:%Y-%m-%d}"
    if isinstance(value, list | tuple):
        return ", ".join(format_value(v) for v in value)
    return str(value)


def _looks_numeric(text: str) -> bool:
    stripped = text.replace(",", "").replace("-", "").replace(".", "").replace("–", "")
    return text == MISSING or stripped.isdigit()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
