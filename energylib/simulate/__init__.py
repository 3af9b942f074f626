"""DER simulator: weather, solar, household load, prices, battery state; the default year."""

from energylib.simulate.sample import sample

__all__ = ["sample"]
