"""notebooks/01_backfill.ipynb runs under papermill with each params/ file that targets it."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import nbformat
import pytest
from amber_fake import prices_for_days

from energylib.config import PROJECT_ROOT
from energylib.ingest.amber import read_amber_prices
from energylib.ingest.backfill import store_frames
from energylib.ingest.powerpal import read_powerpal_csvs
from energylib.report import Study, execute_notebook
from energylib.store import ParquetStore

NOTEBOOK = PROJECT_ROOT / "notebooks" / "01_backfill.ipynb"
FIX = Path(__file__).resolve().parents[1] / "fixtures"

pytestmark = pytest.mark.slow


@pytest.fixture
def no_tokens(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for k in ("AMBER_TOKEN", "AMBER_SITE_ID", "ENTSOE_API_KEY"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("ENERGYLIB_DATA_DIR", str(tmp_path / "data"))


def outputs(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return json.dumps([c.get("outputs", []) for c in nb.cells])


def test_parameters_cell_is_tagged_and_plain():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    assert "import" not in params[0].source
    first_code = [c for c in nb.cells if c.cell_type == "code"][1]
    assert first_code.source.startswith("from energylib.plots import offline_charts")


def test_amber_params_without_token_show_the_store(no_tokens, tmp_path):
    store = ParquetStore(tmp_path / "store")
    body = prices_for_days(date(2025, 1, 1), date(2025, 1, 3)) + prices_for_days(
        date(2025, 1, 5), date(2025, 1, 6)
    )
    store_frames(store, read_amber_prices(body, site="S1"))
    store.upsert(*read_powerpal_csvs([FIX / "powerpal" / "powerpal_30min_a.csv"]))
    out = execute_notebook(
        Study(
            NOTEBOOK,
            PROJECT_ROOT / "params" / "backfill_amber.yaml",
            tmp_path / "out.ipynb",
            {"store_dir": str(store.root)},
        )
    )
    text = outputs(out)
    assert "No Amber token is configured" in text
    assert "3 series" in text  # amber general + feed_in, powerpal usage
    assert "image/svg+xml" in text  # the coverage chart, inline SVG
    assert "1 gap(s), 48 missing intervals" in text  # NEM day 2025-01-04
    assert "Mean price (AUD/kWh)" in text and "Energy (kWh)" in text  # report tables, in words


def test_entsoe_params_with_an_empty_store_say_what_to_run(no_tokens, tmp_path):
    out = execute_notebook(
        Study(
            NOTEBOOK,
            PROJECT_ROOT / "params" / "backfill_entsoe.yaml",
            tmp_path / "out.ipynb",
            {"store_dir": str(tmp_path / "empty")},
        )
    )
    text = outputs(out)
    assert "No ENTSO-E token is configured" in text
    assert "No EUR price series is stored yet" in text and "energy backfill entsoe" in text
