# energylib: `make report` and `make test` set themselves up on first use, each installing what
# it needs: `make report` the library with the report, train and scale extras (each brings the
# study extra: numba, scipy, pvlib, HiGHS), `make test` (and
# the developer targets) everything (`.[dev]`).  A Pi installs `.[agent]` only (pi_agent/).
# Developer targets: `make bench` (tests/bench, prints the measured figures), `make lab` (JupyterLab),
# `make lint` (ruff), `make agent` (the live agent, which only logs, see pi_agent/README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# One stamp per install: a stamp is remade when the venv is missing or pyproject.toml changed.
STAMP := $(VENV)/.installed
REPORT_STAMP := $(VENV)/.installed-report
# JupyterLab refuses to start as root unless told.
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: report test bench lab lint agent

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch first, pinned: the machine has a CPU build of this version; an unpinned resolve would
# pull gigabytes of CUDA packages.
$(REPORT_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[report,train,scale]'
	touch $(REPORT_STAMP)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP) $(REPORT_STAMP)

report: $(REPORT_STAMP)
	$(BIN)/energy report

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	# PySAM (SAM's PVWatts v8) is the PV benchmark's reference only: the `bench` extra
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/bench -s --override-ini "norecursedirs=.* __pycache__ fixtures" --timeout=3600

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=. $(LAB_ROOT)

lint: $(STAMP)
	$(BIN)/ruff check energylib pi_agent tests

agent: $(STAMP)
	$(BIN)/energy agent run
