"""`make report`, the README's main command, end to end on an empty data folder."""

import os
import shutil
import subprocess

import pytest

from energylib.config import PROJECT_ROOT
from energylib.report import external_references, load_plan


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_report_builds_the_default_year_runs_every_study_and_renders(tmp_path):
    env = {**os.environ, "ENERGYLIB_DATA_DIR": str(tmp_path / "data")}
    for key in ("AMBER_TOKEN", "ENTSOE_API_KEY", "SUPABASE_DB_URL"):
        env.pop(key, None)  # the embedded default: no tokens
    proc = subprocess.run(
        ["make", "report"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=1200
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (
        tmp_path / "data" / "processed" / "simulated" / "load"
    ).is_dir()  # the default year was generated
    for study in load_plan():
        html = study.output.with_suffix(".html")
        assert html.is_file(), f"{html} not rendered"
        assert f"report: {html}" in proc.stdout
        assert external_references(html.read_text()) == []
    # The headline tables in the terminal, one per scenario study.
    assert proc.stdout.count("Baseline") >= 2 and "NPV" in proc.stdout and "payback" in proc.stdout
