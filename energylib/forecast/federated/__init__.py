"""Federated forecasting on Flower: households train one forecaster without sharing data.

The transformer trading system's design: each household trains the forecaster on its
own data, only model weights travel, a coordinator averages them (FedAvg) and sends
the new model back, every 3 hours.  Here that runs on Flower (``flwr``), in two
runtimes with one code path:

* the **simulation runtime** (:func:`~energylib.forecast.federated.study.run_federation`
  with ``runtime: simulation``): Flower's ``run_simulation`` on Ray, one virtual
  SuperNode per household, up to 50 on one machine;
* the **deployment runtime**: a ``flower-superlink`` and one ``flower-supernode`` per
  household as separate processes, talking over the network (on loopback here:
  :class:`~energylib.forecast.federated.deployment.LoopbackFederation`; on Pis: each
  Pi a SuperNode, the coordinator the SuperLink, see ``pi_agent/README.md``).

Modules:

* :mod:`~energylib.forecast.federated.params`: :class:`FederationParams` (YAML / run config);
* :mod:`~energylib.forecast.federated.households`: where each household's data is
  (:class:`HouseholdRef`), read on the household's own machine;
* :mod:`~energylib.forecast.federated.training`: local training, FedProx's proximal
  term, local scalers, scoring, export (no Flower);
* :mod:`~energylib.forecast.federated.apps`: the ClientApp and ServerApp (FedAvg, FedProx);
* :mod:`~energylib.forecast.federated.study`: federated against local-only and centralised;
* :mod:`~energylib.forecast.federated.deployment`: SuperLink + SuperNodes on loopback.

Feature scaling is per household and never leaves it: scalers are summaries of a
home's consumption (its median load, its spread), which is what privacy protects, and
homes differ tenfold in size, so the shared model learns load *shape* in each home's
own units while each home keeps its own scale (see :mod:`.training`).
"""

import os

# Flower reports usage to its servers and checks for updates, and Ray collects usage
# statistics, unless told not to; energylib never calls home (and its tests never reach
# the internet).  Both are read when the libraries load, so they are set here, first;
# a user who wants them can set the variables themselves.
os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
os.environ.setdefault("FLWR_DISABLE_UPDATE_CHECK", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# CPU-only clients (num_gpus=0): Ray's coming default, without its warning about the change.
os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")

from energylib.forecast.federated.households import HouseholdRef, household_refs  # noqa: E402
from energylib.forecast.federated.params import FederationParams  # noqa: E402

__all__ = ["FederationParams", "HouseholdRef", "household_refs"]
