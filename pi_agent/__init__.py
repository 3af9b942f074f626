"""The Raspberry Pi deployment of the energylib live agent and kitchen kiosk.

Deliberately tiny: everything with logic is in :mod:`energylib.agent`.  This package
holds the entry point (``python -m pi_agent``), the systemd units, the Chromium kiosk
launcher and the install script (``pi_agent/systemd/``); see ``pi_agent/README.md``.
"""
