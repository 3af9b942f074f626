"""The report pipeline: papermill runs the studies, Quarto (or nbconvert) renders them.

``params/report.yaml`` lists the studies::

    studies:
      - notebook: notebooks/00_data_overview.ipynb
        params: params/data_overview.yaml      # optional
        output: reports/00_data_overview.ipynb # optional, defaults to reports/<notebook name>

:func:`run_report` executes each study through papermill into ``reports/``
and renders HTML: with ``quarto render`` where Quarto is on PATH (the
``_quarto.yml`` website project over ``reports/``, execution disabled), else
with nbconvert's HTML exporter.  Either way the HTML must load nothing from
the network: :func:`external_references` lists anything that would.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from energylib.config import PROJECT_ROOT, load_settings
from energylib.store import ParquetStore


class ReportError(RuntimeError):
    """A study failed: names the notebook, the cell and the error."""


@dataclass(frozen=True)
class Study:
    """One notebook run: the notebook, its papermill params file and the executed copy."""

    notebook: Path
    params: Path | None
    output: Path
    parameters: dict = field(default_factory=dict, compare=False)

    @property
    def name(self) -> str:
        return self.output.stem


def load_plan(
    path: str | Path = "params/report.yaml", root: str | Path | None = None
) -> list[Study]:
    """Read the list of studies from ``params/report.yaml`` (paths relative to ``root``)."""
    root = Path(root) if root else PROJECT_ROOT
    path = Path(path) if Path(path).is_absolute() else root / path
    if not path.is_file():
        raise FileNotFoundError(
            f"no report plan at {path}; create it with a 'studies:' list (see energylib/report.py)"
        )
    spec = yaml.safe_load(path.read_text()) or {}
    studies = []
    for i, item in enumerate(spec.get("studies") or []):
        if "notebook" not in item:
            raise ValueError(f"{path}: study #{i + 1} has no 'notebook' key")
        nb = root / item["notebook"]
        params = root / item["params"] if item.get("params") else None
        out = root / item.get("output", f"reports/{nb.name}")
        studies.append(Study(nb, params, out, dict(item.get("parameters") or {})))
    if not studies:
        raise ValueError(f"{path} lists no studies")
    return studies


def read_parameters(params: Path | None) -> dict:
    """The papermill parameters in a YAML file (an empty dict for none)."""
    if params is None:
        return {}
    if not params.is_file():
        raise FileNotFoundError(f"params file {params} not found")
    values = yaml.safe_load(params.read_text()) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{params}: expected a mapping of parameter names to values")
    return values


def execute_notebook(study: Study, *, cwd: Path | None = None, progress: bool = False) -> Path:
    """Run one study through papermill; raise :class:`ReportError` naming the failing cell."""
    # Slow (papermill starts jupyter machinery), and only to run a notebook.
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    parameters = {**read_parameters(study.params), **study.parameters}
    study.output.parent.mkdir(parents=True, exist_ok=True)
    try:
        pm.execute_notebook(
            str(study.notebook),
            str(study.output),
            parameters=parameters,
            cwd=str(cwd or PROJECT_ROOT),
            progress_bar=progress,
            kernel_name="python3",
        )
    except PapermillExecutionError as err:
        raise ReportError(
            f"{study.notebook.name} failed in cell {err.cell_index} (execution count {err.exec_count}): "
            f"{err.ename}: {err.evalue}\n  params: {study.params}\n  the executed copy with the traceback is "
            f"{study.output}"
        ) from None
    return study.output


def execute_all(
    studies: Sequence[Study], *, parallel: int = 1, cwd: Path | None = None
) -> list[Path]:
    """Execute studies, ``parallel`` at a time (each in its own kernel process)."""
    if parallel <= 1 or len(studies) == 1:
        return [execute_notebook(s, cwd=cwd) for s in studies]
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        return list(pool.map(lambda s: execute_notebook(s, cwd=cwd), studies))


# ---------------------------------------------------------------------- rendering
def render(
    executed: Sequence[Path], *, root: Path | None = None, use_quarto: bool | None = None
) -> list[Path]:
    """Render executed notebooks to HTML; returns the HTML paths.

    Quarto renders the website project in ``_quarto.yml`` when it is on PATH
    (and ``use_quarto`` is not False); otherwise each notebook is exported
    with nbconvert next to it, code cells hidden, images embedded.
    """
    root = root or PROJECT_ROOT
    quarto = shutil.which("quarto")
    if use_quarto is None:
        use_quarto = quarto is not None
    if use_quarto:
        if quarto is None:
            raise FileNotFoundError(
                "quarto is not on PATH; install it or render with use_quarto=False"
            )
        subprocess.run([quarto, "render"], cwd=root, check=True)
        # A website project keeps each input's project-relative path under output-dir.
        site = root / "reports" / "_site"
        return [
            site / Path(p).resolve().relative_to(root.resolve()).with_suffix(".html")
            for p in executed
        ]
    return [export_html(Path(p)) for p in executed]


def export_html(notebook: Path, html: Path | None = None) -> Path:
    """Export one executed notebook to a self-contained HTML file (no CDN scripts)."""
    # Slow (nbconvert loads its templates and filters), and only to export HTML.
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(notebook, as_version=4)
    exporter = HTMLExporter(
        template_name="lab",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    # The lab template would pull MathJax and require.js from a CDN; reports need neither.
    exporter.mathjax_url = ""
    if hasattr(exporter, "require_js_url"):
        exporter.require_js_url = ""
    exporter.embed_images = True
    body, _ = exporter.from_notebook_node(nb)
    body = _strip_empty_scripts(body)
    html = html or notebook.with_suffix(".html")
    html.write_text(body, encoding="utf-8")
    return html


def _strip_empty_scripts(html: str) -> str:
    return re.sub(r'<script[^>]*\ssrc=""[^>]*>\s*</script>', "", html)


_EXTERNAL = re.compile(
    r"""<(script|link|img|iframe|source|video|audio)\b[^>]*?\s(?:src|href)\s*=\s*["']((?:https?:)?//[^"']+)["']"""
    r"""|@import\s+(?:url\()?["']?((?:https?:)?//[^"')\s]+)"""
    r"""|url\(\s*["']?((?:https?:)?//[^"')\s]+)""",
    re.IGNORECASE,
)


def external_references(html: str) -> list[str]:
    """Every URL the page would load from the network (scripts, styles, images, fonts).

    Plain links (``<a href>``) are not loads and are not listed.
    """
    found = []
    for m in _EXTERNAL.finditer(html):
        found.append(next(g for g in m.groups()[1:] if g))
    return found


# ---------------------------------------------------------------------- the job
@dataclass
class ReportRun:
    """What :func:`run_report` did, with seconds per stage."""

    executed: list[Path]
    html: list[Path]
    seconds: dict[str, float]


def run_report(
    plan: str | Path = "params/report.yaml",
    *,
    root: Path | None = None,
    parallel: int = 1,
    use_quarto: bool | None = None,
    prepare_data: bool = True,
) -> ReportRun:
    """Prepare data, execute every study in the plan and render the reports."""
    root = root or PROJECT_ROOT
    seconds: dict[str, float] = {}
    if prepare_data:
        t0 = time.perf_counter()
        prepare_default_data()
        seconds["data"] = time.perf_counter() - t0
    studies = load_plan(plan, root)
    t0 = time.perf_counter()
    executed = execute_all(studies, parallel=parallel, cwd=root)
    seconds["notebooks"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    html = render(executed, root=root, use_quarto=use_quarto)
    seconds["render"] = time.perf_counter() - t0
    return ReportRun(executed, html, seconds)


def prepare_default_data() -> bool:
    """Generate the default year into the store where it has none; True if it wrote anything."""
    # Slow (the simulator imports pvlib), and only when the default year must be made.
    from energylib.simulate.default_year import ensure_default_year

    return bool(ensure_default_year(ParquetStore(load_settings().processed_dir)))
