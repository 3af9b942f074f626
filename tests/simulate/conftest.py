"""Shared fixtures: one generated default year per market for the whole session."""

from __future__ import annotations

import warnings

import pytest

from energylib.simulate.default_year import generate


@pytest.fixture(scope="session")
def nem_year():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return generate("nem", seed=2025)


@pytest.fixture(scope="session")
def nl_year():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return generate("nl", seed=2025)
