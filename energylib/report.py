"""The report pipeline: papermill runs the studies, Quarto (or nbconvert) renders them.

``params/report.yaml`` lists the studies::

    studies:
      - notebook: notebooks/00_data_overview.ipynb
        params: params/data_overview.yaml      # optional
        output: reports/00_data_overview.ipynb # optional, defaults to reports/<notebook name>
        title: Data overview                   # optional, defaults to the notebook's first heading

:func:`run_report` executes each study through papermill into ``reports/`` (one
progress line per notebook, with its duration), gives each executed notebook its
own title, writes ``reports/index.md`` (each study's answer in a sentence, and a
link to its page) and renders HTML: with ``quarto render`` where Quarto is on
PATH (the ``_quarto.yml`` website project over ``reports/``, execution
disabled), else with nbconvert's HTML exporter.  Either way the HTML must load
nothing from the network: :func:`external_references` lists anything that
would, and :func:`script_outputs` lists notebook outputs that would make Quarto
add jQuery and require.js from a CDN (``text/html`` and JavaScript outputs).

A notebook's answer is the first Markdown output of its cell tagged ``answer``.
"""

from __future__ import annotations

import html as html_lib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from energylib.config import PROJECT_ROOT, load_settings
from energylib.store import ParquetStore

# Outputs that make Quarto's Jupyter engine load jQuery and require.js from a CDN
# (it treats them as JavaScript widgets): report notebooks emit none of them.
SCRIPT_MIMETYPES = ("text/html", "application/javascript")


class ReportError(RuntimeError):
    """A study failed: names the notebook, the cell and the error."""


@dataclass(frozen=True)
class Study:
    """One notebook run: the notebook, its papermill params file and the executed copy."""

    notebook: Path
    params: Path | None
    output: Path
    parameters: dict = field(default_factory=dict, compare=False)
    title: str | None = None

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
        studies.append(
            Study(nb, params, out, dict(item.get("parameters") or {}), item.get("title"))
        )
    if not studies:
        raise ValueError(f"{path} lists no studies")
    outputs = [s.output for s in studies]
    if len(set(outputs)) != len(outputs):
        raise ValueError(f"{path}: two studies write the same 'output'; give each its own")
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
    set_title(study)
    return study.output


def execute_all(
    studies: Sequence[Study],
    *,
    parallel: int = 1,
    cwd: Path | None = None,
    progress: bool = False,
) -> list[Path]:
    """Execute studies, ``parallel`` at a time (each in its own kernel process).

    With ``progress``, a bar over the studies and one line per finished notebook with
    its duration (on stderr).
    """
    # tqdm only for the bar; loaded with the job.
    from tqdm.auto import tqdm

    def timed(study: Study) -> tuple[Path, float]:
        t0 = time.perf_counter()
        out = execute_notebook(study, cwd=cwd)
        return out, time.perf_counter() - t0

    width = max(len(s.name) for s in studies)
    done: dict[Study, Path] = {}
    with (
        tqdm(
            total=len(studies), desc="notebooks", unit="nb", disable=not progress, file=sys.stderr
        ) as bar,
        ThreadPoolExecutor(max_workers=max(1, parallel)) as pool,
    ):
        futures = {pool.submit(timed, s): s for s in studies}
        for future in as_completed(futures):
            study = futures[future]
            out, seconds = future.result()
            done[study] = out
            if progress:
                bar.write(f"  {study.name:<{width}}  {seconds:6.1f} s", file=sys.stderr)
            bar.update()
    return [done[s] for s in studies]


# ---------------------------------------------------------------------- titles, answers
def notebook_heading(notebook: Path) -> str | None:
    """The first level-1 heading of a notebook's Markdown cells (None where it has none)."""
    # nbformat only to read notebooks; slow to import.
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", cell.source, re.MULTILINE)
            if m:
                return m.group(1).strip()
    return None


def set_title(study: Study) -> str:
    """Give the executed notebook its own title (the plan's, else the notebook's first heading).

    The title goes into the notebook's metadata (nbconvert's page title) and a raw
    front-matter cell first (Quarto's page title and sidebar entry); the notebook's own
    level-1 heading is removed, so no page shows two.
    """
    # nbformat only to edit the executed copy; slow to import.
    import nbformat

    nb = nbformat.read(study.output, as_version=4)
    title = study.title
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$\n?", cell.source, re.MULTILINE)
            if m:
                title = title or m.group(1).strip()
                cell.source = (cell.source[: m.start()] + cell.source[m.end() :]).strip()
                break
    title = title or study.name.replace("_", " ")
    nb.metadata["title"] = title
    nb.cells = [c for c in nb.cells if not _is_front_matter(c)]
    for cell in nb.cells:  # tqdm's note that a kernel has no ipywidgets is not the reader's
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not _is_widget_warning(o)]
    front = yaml.safe_dump({"title": title}, allow_unicode=True, sort_keys=False)
    nb.cells.insert(0, nbformat.v4.new_raw_cell(f"---\n{front}---"))
    nbformat.write(nb, study.output)
    return title


def _is_widget_warning(output) -> bool:
    return output.get("output_type") == "stream" and "IProgress not found" in output.get("text", "")


def _is_front_matter(cell) -> bool:
    return cell.cell_type == "raw" and cell.source.startswith("---")


def study_answer(executed: Path) -> str | None:
    """The study's answer: the first Markdown output of the cell tagged ``answer`` (the
    index shows its first paragraph)."""
    # nbformat only to read the executed copy; slow to import.
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and "answer" in cell.metadata.get("tags", []):
            for out in cell.get("outputs", []):
                text = out.get("data", {}).get("text/markdown")
                if text:
                    return "".join(text).strip()
    return None


def script_outputs(executed: Path) -> list[str]:
    """``"cell N: mimetype"`` for every output that Quarto would treat as a script widget."""
    # nbformat only to read the executed copy; slow to import.
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            found += [f"cell {i}: {m}" for m in out.get("data", {}) if m in SCRIPT_MIMETYPES]
    return found


def write_index(executed: Sequence[Path], root: Path) -> Path:
    """``reports/index.md``: each study's title, its answer in a sentence and a link to it."""
    # nbformat only to read the executed copies; slow to import.
    import nbformat

    lines = [
        "---",
        "title: energylib reports",
        "---",
        "",
        "What each study found, in a sentence; follow a title for the whole report.",
        "",
    ]
    for path in executed:
        title = nbformat.read(path, as_version=4).metadata.get("title", path.stem)
        answer = (study_answer(path) or "(this study states no answer)").split("\n\n")[0]
        link = Path(os.path.relpath(path.with_suffix(".html"), root / "reports")).as_posix()
        lines += [f"- **[{title}]({link})**: {answer}", ""]
    index = root / "reports" / "index.md"
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_text("\n".join(lines), encoding="utf-8")
    return index


# ---------------------------------------------------------------------- rendering
def render(
    executed: Sequence[Path],
    *,
    root: Path | None = None,
    use_quarto: bool | None = None,
    index: Path | None = None,
) -> list[Path]:
    """Render executed notebooks (and the ``index`` page, if given) to HTML.

    Quarto renders the website project in ``_quarto.yml`` when it is on PATH
    (and ``use_quarto`` is not False); otherwise each notebook is exported
    with nbconvert next to it, code cells hidden, images embedded.  Returns the
    HTML paths, in the order given, the index's last.
    """
    sources = [Path(p) for p in executed] + ([index] if index else [])
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
        return [html_path(p, root, quarto=True) for p in sources]
    pages = [export_html(p) for p in executed]
    return pages + ([export_markdown_html(index)] if index else [])


def html_path(source: Path, root: Path, *, quarto: bool) -> Path:
    """Where the rendered page of an executed notebook (or ``index.md``) lands.

    nbconvert writes it next to the notebook; a Quarto website keeps each input's
    project-relative path under its output-dir (``reports/_site``).
    """
    if not quarto:
        return source.with_suffix(".html")
    relative = source.resolve().relative_to(root.resolve())
    return root / "reports" / "_site" / relative.with_suffix(".html")


def export_html(notebook: Path, html: Path | None = None) -> Path:
    """Export one executed notebook to a self-contained HTML file (no CDN scripts)."""
    # Slow (nbconvert loads its templates and filters), and only to export HTML.
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(notebook, as_version=4)
    nb.cells = [c for c in nb.cells if not _is_front_matter(c)]  # Quarto's, not a page's
    title = nb.metadata.get("title")
    if title:  # Quarto shows the front matter's title; nbconvert needs it as a heading
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(f"# {title}"))
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
    body = _strip_empty_scripts(body).replace("</head>", f"<style>{PAGE_CSS}</style></head>", 1)
    html = html or notebook.with_suffix(".html")
    html.write_text(body, encoding="utf-8")
    return html


# Wide tables scroll inside the page; charts keep their own width (legends stay readable).
PAGE_CSS = (
    "table{display:block;overflow-x:auto;max-width:100%;border-collapse:collapse}"
    "td,th{padding:0.2em 0.6em;text-align:right}th{border-bottom:1px solid #999}"
    "td:first-child,th:first-child{text-align:left}"
    "img{max-width:none}body{font-family:system-ui,sans-serif;margin:1em auto;max-width:72em}"
)


def export_markdown_html(markdown: Path, html: Path | None = None) -> Path:
    """A Markdown page (front matter's ``title``, then the body) as a standalone HTML file."""
    # nbconvert's Markdown filter only to export this page; slow to import.
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    text = markdown.read_text(encoding="utf-8")
    title = "energylib reports"
    m = re.match(r"---\n(.*?)\n---\n", text, re.DOTALL)
    if m:
        title = (yaml.safe_load(m.group(1)) or {}).get("title", title)
        text = text[m.end() :]
    body = markdown2html_mistune(text)
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html_lib.escape(title)}</title>"
        f"<style>{PAGE_CSS}</style></head><body><h1>{html_lib.escape(title)}</h1>{body}</body></html>"
    )
    html = html or markdown.with_suffix(".html")
    html.write_text(page, encoding="utf-8")
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
    index: Path | None = None


def run_report(
    plan: str | Path = "params/report.yaml",
    *,
    root: Path | None = None,
    parallel: int = 1,
    use_quarto: bool | None = None,
    prepare_data: bool = True,
    progress: bool = False,
) -> ReportRun:
    """Prepare data, execute every study in the plan, write the index and render the reports.

    ``html`` lists each study's page in the plan's order; ``index`` is the index page.
    """
    root = root or PROJECT_ROOT
    seconds: dict[str, float] = {}
    if prepare_data:
        t0 = time.perf_counter()
        prepare_default_data()
        seconds["data"] = time.perf_counter() - t0
    studies = load_plan(plan, root)
    t0 = time.perf_counter()
    executed = execute_all(studies, parallel=parallel, cwd=root, progress=progress)
    seconds["notebooks"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    index = write_index(executed, root)
    *html, index_html = render(executed, root=root, use_quarto=use_quarto, index=index)
    seconds["render"] = time.perf_counter() - t0
    return ReportRun(executed, html, seconds, index_html)


def prepare_default_data() -> bool:
    """Generate the default year into the store where it has none; True if it wrote anything."""
    # Slow (the simulator imports pvlib), and only when the default year must be made.
    from energylib.simulate.default_year import ensure_default_year

    return bool(ensure_default_year(ParquetStore(load_settings().processed_dir)))
