"""``energylib.plots`` names every public builder of its modules."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import energylib.plots as plots


def test_every_public_builder_is_importable_from_the_package():
    missing = []
    for info in pkgutil.iter_modules(plots.__path__):
        module = importlib.import_module(f"energylib.plots.{info.name}")
        for name, obj in vars(module).items():
            if (
                name.startswith("_")
                or not inspect.isfunction(obj)
                or obj.__module__ != module.__name__
            ):
                continue
            if name.endswith(("_chart", "_svg", "_heatmap")) and name not in plots.__all__:
                missing.append(f"{info.name}.{name}")
    assert not missing, f"add to energylib/plots/__init__.py _BUILDERS: {missing}"
    for name in plots.__all__:
        assert getattr(plots, name) is not None
