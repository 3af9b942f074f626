"""The live agent: collect prices, forecast, decide, log, and serve the kitchen kiosk.

Modules, one purpose each:

* :mod:`~energylib.agent.config`: :class:`AgentSettings` from ``.env`` / environment;
* :mod:`~energylib.agent.clock`: the system clock and a simulated clock for tests and soaks;
* :mod:`~energylib.agent.schedule`: clock-aligned jobs, robust to the clock jumping;
* :mod:`~energylib.agent.collect`: price (and usage, weather) collection with back-off;
* :mod:`~energylib.agent.models`: watch the models folder, validate, hot-swap;
* :mod:`~energylib.agent.decide`: state -> forecast -> dispatch policy -> decision;
* :mod:`~energylib.agent.actuator`: the :class:`Actuator` plug and the dry-run default;
* :mod:`~energylib.agent.decision_log`: every decision into SQLite, surviving faults;
* :mod:`~energylib.agent.runner`: the long-running process that ties them together;
* :mod:`~energylib.agent.kiosk`: the read-only FastAPI kiosk and its JSON / metrics endpoints.

``pi_agent`` (the deployable wrapper) only calls into this package.
"""
