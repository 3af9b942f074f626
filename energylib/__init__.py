"""energylib: a home-energy workbench."""

__version__ = "0.1.0"
