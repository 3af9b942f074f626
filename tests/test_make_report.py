"""`make report`, the README's main command, end to end on an empty data folder, in a
temporary copy of the project: nothing a test does changes the user's reports/, data/ or .env.

One session-scoped run (the notebooks are the slow part) feeds every check below: the pages
render (with Quarto where it is on PATH, else nbconvert), load nothing from the network, carry
no output that would make Quarto add CDN scripts, have their own titles, a summary first, and an
index page links them all.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
import yaml

from energylib.config import PROJECT_ROOT
from energylib.report import external_references, html_path, load_plan, script_outputs

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed"),
]

COPIED = (
    "energylib",
    "notebooks",
    "params",
    "Makefile",
    "_quarto.yml",
    "pyproject.toml",
    "README.md",
)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its size and modification time (ns)."""
    if not folder.exists():
        return {}
    if folder.is_file():
        st = folder.stat()
        return {folder.name: (st.st_size, st.st_mtime_ns)}
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


def copy_project(dest: Path) -> Path:
    """The project's code, notebooks and params in ``dest``, the shared venv linked in."""
    dest.mkdir()
    for name in COPIED:
        src = PROJECT_ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)  # keeps pyproject.toml's mtime: no reinstall
    (dest / "reports").mkdir()
    (dest / ".venv").symlink_to((PROJECT_ROOT / ".venv").resolve())
    shared = PROJECT_ROOT.parent / "shared"  # real data, beside the project as in CI
    if shared.is_dir():
        (dest.parent / "shared").symlink_to(shared.resolve())
    return dest


@pytest.fixture(scope="session")
def made_report(tmp_path_factory):
    """``make report`` once in a temporary copy of the project, with an empty data folder and
    no tokens; the user's reports/, data/ and .env are snapshotted before and after."""
    guarded = {name: snapshot(PROJECT_ROOT / name) for name in ("reports", "data", ".env")}
    root = copy_project(tmp_path_factory.mktemp("project") / "energylib")
    data = root.parent / "data"
    env = {
        **os.environ,
        "ENERGYLIB_DATA_DIR": str(data),
        "PYTHONPATH": str(root),  # the copy's energylib, so the copy is the project root
    }
    for key in ("AMBER_TOKEN", "ENTSOE_API_KEY", "SUPABASE_DB_URL"):
        env.pop(key, None)  # the embedded default: no tokens
    # -o: never (re)install from the copy; the shared venv is already set up.
    proc = subprocess.run(
        ["make", "-o", ".venv/.installed", "-o", ".venv/.installed-report", "report"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    after = {name: snapshot(PROJECT_ROOT / name) for name in guarded}
    quarto = "_site" in proc.stdout
    return {
        "root": root,
        "data": data,
        "proc": proc,
        "quarto": quarto,
        "guarded": (guarded, after),
        "studies": load_plan(root=root),
    }


def test_make_report_leaves_the_users_reports_data_and_env_alone(made_report):
    before, after = made_report["guarded"]
    for name in before:
        assert after[name] == before[name], f"make report under test changed the user's {name}"


def test_make_report_builds_the_default_year_runs_every_study_and_renders(made_report):
    proc, root, quarto = made_report["proc"], made_report["root"], made_report["quarto"]
    assert (made_report["data"] / "processed" / "simulated" / "load").is_dir()  # default year
    for study in made_report["studies"]:
        html = html_path(study.output, root, quarto=quarto)
        assert html.is_file(), f"{html} not rendered"
        assert f"report: {html}" in proc.stdout
    index = html_path(root / "reports" / "index.md", root, quarto=quarto)
    assert f"index: {index}" in proc.stdout and index.is_file()
    # The headline tables in the terminal, one per scenario study.
    assert proc.stdout.count("Baseline") >= 2 and "NPV" in proc.stdout and "payback" in proc.stdout


def test_make_report_shows_one_progress_line_per_notebook_and_a_bar(made_report):
    err = made_report["proc"].stderr
    for study in made_report["studies"]:
        assert re.search(rf"^\s+{re.escape(study.name)}\s+\d+\.\d s$", err, re.MULTILINE), (
            f"no progress line for {study.name}"
        )
    assert f"{len(made_report['studies'])}/{len(made_report['studies'])}" in err  # the bar, done


def test_no_page_loads_anything_from_the_network(made_report):
    root, quarto = made_report["root"], made_report["quarto"]
    pages = [html_path(s.output, root, quarto=quarto) for s in made_report["studies"]]
    pages.append(html_path(root / "reports" / "index.md", root, quarto=quarto))
    for page in pages:
        assert external_references(page.read_text()) == [], page.name


def test_no_executed_notebook_has_an_html_or_javascript_output(made_report):
    """Quarto adds jQuery and require.js from a CDN to a page with either."""
    for study in made_report["studies"]:
        assert script_outputs(study.output) == [], study.name


def test_every_page_has_its_own_title_and_its_summary_first(made_report):
    titles = []
    for study in made_report["studies"]:
        nb = nbformat.read(study.output, as_version=4)
        title = nb.metadata["title"]
        titles.append(title)
        front = nb.cells[0]
        assert front.cell_type == "raw" and front.source.startswith("---\n")
        assert yaml.safe_load(front.source.strip("-\n"))["title"] == title  # Quarto's title
        headings = [
            line
            for c in nb.cells
            if c.cell_type == "markdown"
            for line in c.source.splitlines()
            if line.startswith("#")
        ]
        assert headings and headings[0] == "## Summary", f"{study.name}: {headings[:2]}"
        assert not any(h.startswith("# ") for h in headings)  # the title is the only level 1
        if not made_report["quarto"]:
            page = html_path(study.output, made_report["root"], quarto=False).read_text()
            assert f"<title>{title}</title>" in page
    assert len(set(titles)) == len(titles), f"two pages share a title: {titles}"


def test_tables_read_as_a_report_not_as_dataframe_reprs(made_report):
    for study in made_report["studies"]:
        text = "".join(
            "".join(out.get("data", {}).get("text/markdown", ""))
            for c in nbformat.read(study.output, as_version=4).cells
            for out in c.get("outputs", [])
        )
        for repr_mark in ("shape: (", "NaN", "null", "│", "┆", "dtype"):
            assert repr_mark not in text, f"{study.name}: {repr_mark!r} in a table"
    backfill = next(s for s in made_report["studies"] if s.name == "01_backfill_amber")
    text = "".join(
        "".join(out.get("data", {}).get("text/markdown", ""))
        for c in nbformat.read(backfill.output, as_version=4).cells
        for out in c.get("outputs", [])
    )
    for month in ("2025-06", "2025-07"):  # polars' repr hid the middle of a 12-row table
        assert f"| {month}" in text


def test_entsoe_page_without_a_token_shows_dutch_prices(made_report):
    study = next(s for s in made_report["studies"] if s.name == "01_backfill_entsoe")
    nb = nbformat.read(study.output, as_version=4)
    answer = next(c for c in nb.cells if "answer" in c.metadata.get("tags", []))
    text = "".join("".join(o.get("data", {}).get("text/markdown", "")) for o in answer.outputs)
    assert "site amsterdam" in text.lower() or "nl" in text.lower(), text
    assert "feed_in" not in text and "sydney" not in text.lower()


def test_the_index_page_states_each_answer_and_links_every_page(made_report):
    root, quarto = made_report["root"], made_report["quarto"]
    index = (root / "reports" / "index.md").read_text()
    for study in made_report["studies"]:
        title = nbformat.read(study.output, as_version=4).metadata["title"]
        assert f"[{title}]({study.output.with_suffix('.html').name})" in index
    assert "states no answer" not in index
    page = html_path(root / "reports" / "index.md", root, quarto=quarto).read_text()
    assert page.count("<a href=") >= len(made_report["studies"])


# Every chart of every page has alt text and an italic caption under it.
def test_every_chart_has_alt_text_and_a_caption_under_it(made_report):
    for study in made_report["studies"]:
        for cell in nbformat.read(study.output, as_version=4).cells:
            outputs = [o.get("data", {}) for o in cell.get("outputs", [])]
            for i, data in enumerate(outputs):
                svg = "".join(data.get("image/svg+xml", ""))
                if not svg:
                    continue
                label = re.search(r'^<svg[^>]*\saria-label="([^"]+)"', svg)
                assert label and label.group(1) != "Chart", (
                    f"{study.name}: a chart without alt text"
                )
                # the next output that is not a chart (charts shown together share one)
                after = next((d for d in outputs[i + 1 :] if "image/svg+xml" not in d), {})
                caption = "".join(after.get("text/markdown", ""))
                assert caption.startswith("*") and caption.rstrip().endswith("*"), (
                    f"{study.name}: a chart ({label.group(1)[:60]}) without a caption under it"
                )
