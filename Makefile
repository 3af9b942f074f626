# energylib: `make report` and `make test` set themselves up on first use.
# Developer targets: `make bench` (tests/bench, prints the measured figures), `make lab` (JupyterLab),
# `make lint` (ruff), `make agent` (the live agent in dry-run, see pi_agent/README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: report test bench lab lint agent

# (Re)install when the venv is missing or pyproject.toml changed.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned: the machine has a CPU build of this version; an unpinned
	# resolve would pull gigabytes of CUDA packages.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

report: $(STAMP)
	$(BIN)/energy report

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	# PySAM (SAM's PVWatts v8) is the PV benchmark's reference only: the `bench` extra
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/bench -s --override-ini "norecursedirs=.* __pycache__ fixtures" --timeout=3600

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=.

lint: $(STAMP)
	$(BIN)/ruff check energylib pi_agent tests

agent: $(STAMP)
	$(BIN)/energy agent run --dry-run
