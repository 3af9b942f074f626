"""The per-interval result of a dispatch: energy flows, states of charge, EV shortfalls.

:class:`Flows` is what every policy returns (the rule kernels in
:mod:`energylib.dispatch.rules` and the optimum in :mod:`energylib.dispatch.optimum`).
All energies are kWh per interval on the AC side of the house, except the states of
charge (stored kWh, end of interval).  The house energy balance, every interval::

    pv - curtailed + import + battery_discharge + ev_discharge
        == load + battery_charge + ev_charge + export

Exports are attributed to PV first: ``pv_exported = min(export, pv - curtailed)`` and
``pv_used = pv - curtailed - pv_exported`` (PV that fed the load, the battery or the EV).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import polars as pl

from energylib.schema import TIME

BALANCE_TOLERANCE_KWH = 1e-6


def dispatch_inputs(
    load_kwh: np.ndarray,
    pv_kwh: np.ndarray,
    import_per_kwh: np.ndarray,
    export_credit_per_kwh: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The four input series of a dispatch as contiguous float arrays, checked.

    Every series must have ``load_kwh``'s length and be finite; load and PV must be >= 0.
    Shared by the rule kernels and the optimum so both refuse the same inputs.
    """
    n = np.size(load_kwh)
    named = {
        "load_kwh": load_kwh,
        "pv_kwh": pv_kwh,
        "import_per_kwh": import_per_kwh,
        "export_credit_per_kwh": export_credit_per_kwh,
    }
    for name, arr in named.items():
        arr = named[name] = np.ascontiguousarray(arr, dtype=float)
        if arr.shape != (n,):
            raise ValueError(f"{name} has shape {arr.shape}; it must match load_kwh ({n},)")
        if not np.isfinite(arr).all():
            raise ValueError(
                f"{name} holds NaN or inf at {np.flatnonzero(~np.isfinite(arr))[:5]}...; fill gaps first"
            )
    load, pv, ip, ec = named.values()
    if (load < 0).any() or (pv < 0).any():
        raise ValueError("load_kwh and pv_kwh must be >= 0 kWh")
    return load, pv, ip, ec


@dataclass(eq=False)
class Flows:
    """Per-interval flows of one dispatch [kWh per interval unless stated].

    Attributes
    ----------
    interval_minutes : int
        Interval length [min].
    load_kwh : household load without the modelled EV.
    pv_kwh : PV AC generation before curtailment.
    import_kwh, export_kwh : grid import and export.
    curtailed_kwh : PV not generated because it could be neither used, stored nor exported
        (export limit reached, or a negative feed-in credit).
    battery_charge_kwh, battery_discharge_kwh : AC into / out of the home battery.
    battery_soc_kwh : stored energy at the end of each interval [kWh].
    battery_capacity_kwh : capacity after fade in each interval [kWh].
    ev_charge_kwh, ev_discharge_kwh : AC into / out of the EV (discharge = V2H + V2G).
    ev_soc_kwh : EV stored energy at the end of each interval [kWh].
    ev_topup_kwh : energy a trip needed beyond what was on board (charged away from home).
    ev_shortfall_kwh : at the last interval before a departure, how far the SoC fell short of
        the requirement [kWh]; 0 elsewhere.
    ev_required_kwh : the requirement at those intervals [kWh]; 0 elsewhere.
    policy : str
        Name of the policy that produced them.
    """

    interval_minutes: int
    load_kwh: np.ndarray
    pv_kwh: np.ndarray
    import_kwh: np.ndarray
    export_kwh: np.ndarray
    curtailed_kwh: np.ndarray
    battery_charge_kwh: np.ndarray
    battery_discharge_kwh: np.ndarray
    battery_soc_kwh: np.ndarray
    battery_capacity_kwh: np.ndarray
    ev_charge_kwh: np.ndarray
    ev_discharge_kwh: np.ndarray
    ev_soc_kwh: np.ndarray
    ev_topup_kwh: np.ndarray
    ev_shortfall_kwh: np.ndarray
    ev_required_kwh: np.ndarray
    policy: str = ""

    def __len__(self) -> int:
        return int(self.load_kwh.size)

    @property
    def pv_exported_kwh(self) -> np.ndarray:
        """PV that went to the grid [kWh per interval] (exports attributed to PV first)."""
        return np.minimum(self.export_kwh, self.pv_kwh - self.curtailed_kwh).clip(0.0)

    @property
    def pv_used_kwh(self) -> np.ndarray:
        """PV used on site: load, battery, EV [kWh per interval]."""
        return (self.pv_kwh - self.curtailed_kwh - self.pv_exported_kwh).clip(0.0)

    def balance_residual_kwh(self) -> np.ndarray:
        """Sources minus sinks per interval [kWh]; zero when the balance closes."""
        sources = (
            self.pv_kwh
            - self.curtailed_kwh
            + self.import_kwh
            + self.battery_discharge_kwh
            + self.ev_discharge_kwh
        )
        sinks = self.load_kwh + self.battery_charge_kwh + self.ev_charge_kwh + self.export_kwh
        return sources - sinks

    def check_balance(self, tolerance_kwh: float = BALANCE_TOLERANCE_KWH) -> None:
        """Raise ``AssertionError`` naming the first intervals where the balance does not close."""
        r = self.balance_residual_kwh()
        bad = np.flatnonzero(np.abs(r) > tolerance_kwh)
        if bad.size:
            raise AssertionError(
                f"energy balance off by up to {np.abs(r).max():.3g} kWh in {bad.size} interval(s), "
                f"first at index {bad[:5].tolist()} (policy {self.policy!r})"
            )

    @property
    def departures(self) -> np.ndarray:
        """Indices of the intervals that end just before a departure."""
        return np.flatnonzero(self.ev_required_kwh > 0)

    @property
    def departures_missed(self) -> np.ndarray:
        """Indices of departures where the required SoC was not reached."""
        return np.flatnonzero(self.ev_shortfall_kwh > 1e-6)

    def to_frame(
        self, interval_start: np.ndarray | pl.Series, local_date: np.ndarray | None = None
    ) -> pl.DataFrame:
        """The flows as a tidy polars frame keyed by ``interval_start`` (UTC).

        Parameters
        ----------
        interval_start : array of datetime64 or polars.Series
            UTC interval starts, one per interval.
        local_date : array of datetime64[D], optional
            Local calendar date per interval; adds ``ev_departure_missed`` per day (True on
            every interval of a day on which a departure missed its SoC).
        """
        cols = {
            TIME: pl.Series(TIME, interval_start).cast(pl.Datetime("us", "UTC")),
            "load_kwh": self.load_kwh,
            "pv_kwh": self.pv_kwh,
            "pv_used_kwh": self.pv_used_kwh,
            "pv_exported_kwh": self.pv_exported_kwh,
            "curtailed_kwh": self.curtailed_kwh,
            "import_kwh": self.import_kwh,
            "export_kwh": self.export_kwh,
            "battery_charge_kwh": self.battery_charge_kwh,
            "battery_discharge_kwh": self.battery_discharge_kwh,
            "battery_soc_kwh": self.battery_soc_kwh,
            "ev_charge_kwh": self.ev_charge_kwh,
            "ev_discharge_kwh": self.ev_discharge_kwh,
            "ev_soc_kwh": self.ev_soc_kwh,
            "ev_shortfall_kwh": self.ev_shortfall_kwh,
        }
        frame = pl.DataFrame(cols)
        if local_date is not None:
            day = np.asarray(local_date).astype("datetime64[D]")
            missed_days = np.unique(day[self.departures_missed])
            frame = frame.with_columns(pl.Series("ev_departure_missed", np.isin(day, missed_days)))
        return frame

    def totals_kwh(self) -> dict[str, float]:
        """Sum of every energy flow over the series [kWh]."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if (
                isinstance(v, np.ndarray)
                and f.name.endswith("_kwh")
                and "soc" not in f.name
                and "capacity" not in f.name
            ):
                out[f.name] = float(v.sum())
        out["pv_used_kwh"] = float(self.pv_used_kwh.sum())
        out["pv_exported_kwh"] = float(self.pv_exported_kwh.sum())
        return out
