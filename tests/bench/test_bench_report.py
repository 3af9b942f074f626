"""Benchmark: the 2025 scenario study and `make report` on the default year (issue 6).

Target: `make report` from a warm environment (venv installed, default year in the
store), all default scenarios, <= 120 s.  Prints the time per stage: data, sweep and
finance (in-process `run_study`), notebook execution and rendering (`energy
scenarios`, both params files in parallel), and `make report` end to end.

Run:  .venv/bin/python -m pytest tests/bench/test_bench_report.py -s -q --override-ini norecursedirs=
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from energylib.config import PROJECT_ROOT
from energylib.report import load_plan, prepare_default_data
from energylib.study import load_params, run_study

PARAMS = ("params/scenarios_2025.yaml", "params/scenarios_nl_2025.yaml")
TARGET_S = 120.0


def _energy() -> str:
    exe = Path(sys.executable).with_name("energy")
    return str(exe) if exe.exists() else "energy"


def _stages(output: str) -> str:
    m = re.search(r"done in .*", output)
    return m.group(0) if m else "(no timing line)"


@pytest.mark.timeout(1800)
def test_bench_report(tmp_path):
    rows: list[tuple[str, float, str]] = []

    t0 = time.perf_counter()
    prepare_default_data()  # warm: the default year is already in the store
    rows.append(("default year present (check / generate)", time.perf_counter() - t0, ""))

    for path in PARAMS:
        t0 = time.perf_counter()
        result = run_study(load_params(path))
        wall = time.perf_counter() - t0
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
        n_runs = (
            result.npv_grid.height
            + result.headline.height
            + result.ev_strategies.height
            + result.policies.height
        )
        rows.append(
            (
                f"run_study {Path(path).stem}",
                wall,
                f"{stages}; {n_runs} scenario rows, {result.days:.0f} days",
            )
        )

    out = tmp_path / "reports"
    t0 = time.perf_counter()
    proc = subprocess.run(
        [_energy(), "scenarios", "--params", *PARAMS, "--output-dir", str(out), "--no-quarto"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows.append(("energy scenarios (2 studies in parallel, nbconvert)", wall, _stages(proc.stdout)))

    in_plan = any("03_scenarios" in s.notebook.name for s in load_plan())
    if not in_plan:
        # The plan `make report` will run once the scenario studies are wired in: time it now.
        plan = yaml.safe_load((PROJECT_ROOT / "params/report.yaml").read_text())
        plan["studies"] += [
            {
                "notebook": "notebooks/03_scenarios_2025.ipynb",
                "output": f"reports/{Path(p).stem}.ipynb",
                "parameters": {
                    "params_file": p,
                    "headline_out": f"reports/{Path(p).stem}.headline.parquet",
                },
            }
            for p in PARAMS
        ]
        plan_file = tmp_path / "report_with_scenarios.yaml"
        plan_file.write_text(yaml.safe_dump(plan))
        t0 = time.perf_counter()
        proc = subprocess.run(
            [_energy(), "report", "--plan", str(plan_file)],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - t0
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        rows.append(
            ("energy report, plan + both scenario studies (warm)", wall, _stages(proc.stdout))
        )
    if shutil.which("make"):
        t0 = time.perf_counter()
        proc = subprocess.run(["make", "report"], cwd=PROJECT_ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        note = _stages(proc.stdout) + (
            "" if in_plan else "  [params/report.yaml does not list the scenario study yet]"
        )
        rows.append(("make report (warm)", wall, note))

    print()
    print(f"{'stage':<55} {'seconds':>8}  detail")
    for name, seconds, detail in rows:
        print(f"{name:<55} {seconds:>8.1f}  {detail}")
    print(f"target: make report <= {TARGET_S:.0f} s")
