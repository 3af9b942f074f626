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
        help="where executed notebooks and HTML go (default: %(default)s)",
    )
    p.add_argument(
        "--store-dir",
        default="",
        help="read the data from this store (default: each params file's)",
    )
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
    out = resolve(output_dir)
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
    from energylib.study import print_headline

    try:
        studies = plan(args.params, args.notebook, args.output_dir, args.store_dir)
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
