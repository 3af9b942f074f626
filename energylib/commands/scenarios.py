"""``energy scenarios --params FILE [FILE ...]``: run scenario studies into ``reports/``.

Each params file (``params/scenarios_2025.yaml``, ``params/scenarios_nl_2025.yaml``)
runs ``notebooks/03_scenarios_2025.ipynb`` through papermill, several at once in
their own kernel processes (:func:`energylib.report.execute_all`); the executed
notebooks are rendered to HTML (:func:`energylib.report.render`) and each study's
headline table is printed in the terminal.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

NOTEBOOK = "notebooks/03_scenarios_2025.ipynb"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "scenarios",
        help="run the 2025 scenario study for one or more params files into reports/",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--params", nargs="+", required=True, metavar="FILE", help="study params files (YAML)"
    )
    p.add_argument("--notebook", default=NOTEBOOK, help="the study notebook (default: %(default)s)")
    p.add_argument(
        "--output-dir",
        default="reports",
        help="where executed notebooks and HTML go, from the current folder (default: %(default)s)",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        metavar="DIR",
        help="read the data from this data folder's store, DIR/processed (default: each params file's)",
    )
    # The store folder itself, as before --data-dir.
    p.add_argument("--store-dir", default="", help=argparse.SUPPRESS)
    p.add_argument(
        "--parallel",
        type=int,
        default=0,
        help="studies run at once (default: one per params file, at most 4)",
    )
    p.add_argument(
        "--no-quarto",
        action="store_true",
        help="render with nbconvert even where quarto is installed",
    )
    p.add_argument("--no-render", action="store_true", help="execute the notebooks only")
    p.set_defaults(func=run)


def plan(
    params_files: list[str | Path],
    notebook: str | Path = NOTEBOOK,
    output_dir: str | Path = "reports",
    store_dir: str = "",
    root: Path | None = None,
):
    """One :class:`energylib.report.Study` per params file (output named after the file).

    Raises ``FileNotFoundError`` naming a params file or the notebook that does not exist.
    """
    from energylib.config import PROJECT_ROOT
    from energylib.report import Study

    root = root or PROJECT_ROOT

    def resolve(p: str | Path) -> Path:
        path = Path(p)
        if path.is_absolute() or path.exists():
            return path.resolve()
        return (root / path).resolve()

    nb = resolve(notebook)
    if not nb.is_file():
        raise FileNotFoundError(
            f"study notebook {notebook} not found (looked in {Path.cwd()} and {root})"
        )
    out = Path(output_dir).resolve()  # where the user runs the command, never the project's
    studies = []
    stems = set()
    for f in params_files:
        path = resolve(f)
        if not path.is_file():
            raise FileNotFoundError(
                f"params file {f} not found (looked in {Path.cwd()} and {root})"
            )
        if path.stem in stems:
            raise ValueError(
                f"two params files are named {path.stem}; their reports would overwrite each other"
            )
        stems.add(path.stem)
        parameters = {
            "params_file": str(path),
            "store_dir": store_dir,
            "headline_out": str(out / f"{path.stem}.headline.parquet"),
        }
        studies.append(Study(nb, None, out / f"{path.stem}.ipynb", parameters))
    return studies


def run(args: argparse.Namespace) -> int:
    import polars as pl

    from energylib.report import ReportError, execute_all, render

    try:
        store_dir = args.store_dir or (
            str(Path(args.data_dir) / "processed") if args.data_dir else ""
        )
        studies = plan(args.params, args.notebook, args.output_dir, store_dir)
    except (FileNotFoundError, ValueError) as err:
        print(f"scenarios: {err}", file=sys.stderr)
        return 2
    parallel = args.parallel or min(len(studies), 4)
    t0 = time.perf_counter()
    print(
        f"running {len(studies)} stud{'y' if len(studies) == 1 else 'ies'} ({parallel} at once) ...",
        flush=True,
    )
    try:
        executed = execute_all(studies, parallel=parallel)
    except ReportError as err:
        print(f"scenarios failed: {err}", file=sys.stderr)
        return 1
    seconds = {"notebooks": time.perf_counter() - t0}
    html = []
    if not args.no_render:
        t0 = time.perf_counter()
        html = render(executed, use_quarto=False if args.no_quarto else None)
        seconds["render"] = time.perf_counter() - t0
    for study in studies:
        headline = Path(study.parameters["headline_out"])
        if headline.is_file():
            print_headline(pl.read_parquet(headline))
    for path in executed:
        print(f"notebook: {path}")
    for path in html:
        print(f"report: {path}")
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items())
    print(f"done in {sum(seconds.values()):.1f} s ({stages})")
    return 0


def print_headline(headline, console=None) -> None:
    """Print a study's headline table in the terminal (rich), with its data line and answer.

    Takes the headline frame saved by :func:`energylib.study.save_headline` (or a
    :class:`~energylib.study.StudyResult`).
    """
    from rich.console import Console
    from rich.table import Table

    from energylib.study import StudyResult, headline_table

    if isinstance(headline, StudyResult):
        p = headline.params
        title = f"{p.title}: {p.assumptions.horizon_years}-year finance at {p.assumptions.discount_rate:.0%} discount"
        caption, answer = (
            f"data: {headline.data_description} ({headline.days:.0f} days)",
            headline.recommendation,
        )
    else:
        title = (
            headline["title"][0]
            if "title" in headline.columns and headline.height
            else "Scenario study"
        )
        caption = (
            f"data: {headline['data_description'][0]}"
            if "data_description" in headline.columns
            else None
        )
        answer = headline["recommendation"][0] if "recommendation" in headline.columns else None
    table_frame = headline_table(headline)
    table = Table(title=title, caption=caption)
    for i, col in enumerate(table_frame.columns):
        table.add_column(col, justify="left" if i < 3 else "right")
    for row in table_frame.iter_rows():
        table.add_row(*[str(v) for v in row])
    # A pipe or a log gets the whole table; a terminal wraps it to its own width.
    console = console or Console(width=None if sys.stdout.isatty() else 160)
    console.print(table)
    if answer:
        console.print(answer)
