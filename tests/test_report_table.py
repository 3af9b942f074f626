"""The report table: words with units, formatted numbers, no repr artefacts, Markdown only."""

import math
from datetime import UTC, datetime

import polars as pl
from hypothesis import given
from hypothesis import strategies as st
from IPython.core.formatters import DisplayFormatter

from energylib.plots.table import MISSING, column_label, format_value, report_table


def test_column_names_become_words_with_units():
    assert column_label("bill_amount", "AUD") == ("Bill (AUD)", 0)
    assert column_label("mean_price_per_kwh", "EUR")[0] == "Mean price (EUR/kWh)"
    assert column_label("energy_kwh")[0] == "Energy (kWh)"
    assert column_label("skill_pct")[0] == "Skill (%)"
    assert column_label("scenario") == ("Scenario", None)


def test_a_table_shows_every_row_up_to_the_limit_and_counts_the_rest():
    frame = pl.DataFrame(
        {"month": [f"2025-{m:02d}" for m in range(1, 13)], "bill_amount": [1.5] * 12}
    )
    text = report_table(frame, currency="AUD").to_markdown()
    assert all(f"| 2025-{m:02d} |" in text for m in range(1, 13))  # June and July included
    short = report_table(frame, max_rows=5).to_markdown()
    assert "| 2025-06 |" not in short and "7 more row(s) not shown." in short
    assert "..." not in short and "…" not in short


def test_missing_values_are_dashes_never_nan_or_null():
    frame = pl.DataFrame(
        {
            "scenario": ["a", None],
            "npv_amount": [float("nan"), None],
            "when": [datetime(2025, 1, 1, tzinfo=UTC), None],
        }
    )
    text = report_table(frame, currency="EUR").to_markdown()
    assert "NaN" not in text and "null" not in text and "None" not in text
    assert text.count(MISSING) == 4
    assert "2025-01-01 00:00" in text


def test_it_displays_as_markdown_only():
    """A text/html output would make Quarto load jQuery and require.js from a CDN."""
    data, _ = DisplayFormatter().format(report_table(pl.DataFrame({"x_kwh": [1.0]})))
    assert "text/markdown" in data and "text/html" not in data


@given(st.floats(allow_nan=True, allow_infinity=True), st.integers(0, 4))
def test_a_number_formats_with_separators_and_the_decimals_asked(value, digits):
    text = format_value(value, digits)
    if math.isnan(value) or math.isinf(value):
        assert text == MISSING
    else:
        assert (
            float(text.replace(",", "")) == round(value, digits)
            or abs(float(text.replace(",", "")) - value)
            <= 0.5 * 10**-digits * (1 + 1e-9) + abs(value) * 1e-15
        )
        assert text.count(".") == (1 if digits else 0)
