"""notebooks/04_community_market.ipynb under papermill, and the params files `make report` runs."""

from __future__ import annotations

import json

import nbformat
import pytest

from energylib.config import PROJECT_ROOT
from energylib.report import Study, execute_notebook, load_plan
from energylib.trading.study import load_params

NOTEBOOK = PROJECT_ROOT / "notebooks" / "04_community_market.ipynb"
PARAMS = ("params/community_nem.yaml", "params/community_nl.yaml")

pytestmark = pytest.mark.slow


def test_the_notebook_runs_a_small_study_under_papermill(tmp_path, monkeypatch):
    monkeypatch.setenv("ENERGYLIB_DATA_DIR", str(tmp_path / "data"))
    out = execute_notebook(
        Study(
            NOTEBOOK,
            PROJECT_ROOT / PARAMS[1],  # generated homes: no data files needed
            tmp_path / "04.ipynb",
            {"days": 2, "results_out": str(tmp_path / "frames")},
        )
    )
    nb = nbformat.read(out, as_version=4)
    text = json.dumps([c.get("outputs", []) for c in nb.cells])
    assert '"output_type": "error"' not in text
    assert text.count("image/svg+xml") >= 6  # every chart rendered inline, offline
    assert "The cooperative optimum would save" in text and "captures" in text
    assert "Gini coefficient of savings" in text
    assert (tmp_path / "frames" / "summary.parquet").is_file()


@pytest.mark.parametrize("params", PARAMS)
def test_the_report_params_are_valid_and_part_of_make_report(params):
    p = load_params(params)
    assert p.days and p.days <= 60 and p.interval_minutes == 30  # the quick configuration
    assert p.optimum["enabled"]
    plan = [s for s in load_plan() if s.notebook == NOTEBOOK]
    assert any(
        str(s.parameters.get("params_file", "")).endswith(params)
        or (s.params and str(s.params).endswith(params))
        for s in plan
    )
