"""The report pipeline end to end: papermill executes, nbconvert renders, nothing loads from the network."""

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from energylib.config import PROJECT_ROOT
from energylib.report import external_references, load_plan, run_report


@pytest.fixture
def empty_data(tmp_path, monkeypatch):
    monkeypatch.setenv("ENERGYLIB_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def write_plan(root: Path, notebook: Path, params: dict | None = None) -> Path:
    (root / "params").mkdir(parents=True, exist_ok=True)
    entry = {"notebook": str(notebook), "output": str(root / "reports" / notebook.name)}
    if params is not None:
        p = root / "params" / "nb.yaml"
        p.write_text(yaml.safe_dump(params))
        entry["params"] = str(p)
    plan = root / "params" / "report.yaml"
    plan.write_text(yaml.safe_dump({"studies": [entry]}))
    return plan


def test_overview_renders_to_html_with_chart_and_table_on_the_sample(tmp_path, empty_data):
    plan = write_plan(
        tmp_path, PROJECT_ROOT / "notebooks" / "00_data_overview.ipynb", {"sample_days": 3}
    )
    run = run_report(plan, root=tmp_path, use_quarto=False, prepare_data=False)
    html = run.html[0].read_text()
    assert "generated sample of 3 days" in html
    assert "<table" in html and "Total (kWh)" in html  # the table, as a report table
    assert "<title>Data overview</title>" in html  # the notebook's heading is the page title
    assert "data:image/svg+xml" in html  # the Altair chart, as inline SVG
    assert external_references(html) == []
    assert set(run.seconds) == {"notebooks", "render"}


def test_failing_cell_fails_the_report_naming_notebook_and_cell(tmp_path, empty_data):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("1 / 0")]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = tmp_path / "broken_study.ipynb"
    nbformat.write(nb, path)
    plan = write_plan(tmp_path, path)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "energylib.cli",
            "report",
            "--plan",
            str(plan),
            "--no-data",
            "--no-quarto",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    assert "broken_study.ipynb failed in cell 1" in proc.stderr
    assert "ZeroDivisionError" in proc.stderr


def test_external_references_are_found():
    html = (
        '<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>'
        '<link rel="stylesheet" href="//fonts.example/x.css">'
        '<style>@import url("https://x/y.css")</style>'
        '<a href="https://example.org">a plain link is fine</a>'
        '<img src="data:image/svg+xml;base64,AAA">'
    )
    assert external_references(html) == [
        "https://cdn.jsdelivr.net/npm/vega@5",
        "//fonts.example/x.css",
        "https://x/y.css",
    ]


def test_the_default_plan_and_quarto_project_are_valid():
    studies = load_plan()
    assert all(s.notebook.is_file() for s in studies)
    assert all(s.params is None or s.params.is_file() for s in studies)
    quarto = yaml.safe_load((PROJECT_ROOT / "_quarto.yml").read_text())
    assert quarto["project"]["type"] == "website"
    assert quarto["execute"]["enabled"] is False
    assert quarto["project"]["output-dir"].startswith("reports")
    assert "reports/index.md" in quarto["project"]["render"]
    html = quarto["format"]["html"]
    assert html["echo"] is False and "code-fold" not in html  # a homeowner's report: no code
    assert html["embed-resources"] is True and html["toc"] is True
    assert html["html-math-method"] == "plain"  # MathJax would come from a CDN
    outputs = [s.output for s in studies]
    assert len(set(outputs)) == len(outputs)
    # A notebook run more than once needs a title per run (Quarto's sidebar shows titles).
    runs = [s.notebook for s in studies]
    assert all(s.title for s in studies if runs.count(s.notebook) > 1)
    titles = [s.title for s in studies if s.title]
    assert len(set(titles)) == len(titles)


def test_every_notebook_starts_with_a_tagged_parameters_cell():
    for path in sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code and "parameters" in code[0].metadata.get("tags", []), (
            f"{path.name}: first code cell is not tagged 'parameters'"
        )
