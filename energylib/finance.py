"""Cash flows and investment metrics for a home-energy upgrade (numpy-financial).

One idea: turn what a system costs (:class:`Capex`, :class:`Ongoing`) and what it
saved in its first year (:class:`Savings`, from the scenario engine) into yearly
cash flows over an analysis horizon (:class:`Assumptions`), and read the usual
metrics off them (:func:`evaluate`): simple and discounted payback, NPV, IRR,
ROI, the levelised cost of the solar energy and the break-even capex.
:func:`sensitivity` moves one input at a time across a stated range for a
tornado chart.

Conventions
-----------
* Year 0 holds the upfront capex net of rebates (negative).  Years 1..N hold the
  year's bill savings less O&M less any replacement, all at the *end* of the
  year; NPV discounts year ``t`` by ``(1 + discount_rate) ** t``
  (``numpy_financial.npv``).  Money is in the study's currency (AUD, EUR) at the
  prices of year 1 escalated by the stated rates, so use a nominal discount rate
  with nominal escalation (or real with real).
* Savings in year ``t`` come one of two ways.  *Re-simulated* (the default of the
  study, :attr:`Savings.import_by_year`): each year was dispatched and billed again with
  the degraded PV, the faded (or replaced) battery and the tariff rules in force that
  year, at year-1 price levels; here they are escalated by the tariff escalation
  (import side) and export-price escalation (feed-in side).  *Scaled* (no per-year
  savings given): the year-1 savings escalated the same way, times a performance
  factor: the share of the savings that comes from the PV shrinks with PV degradation
  ``(1 - d) ** (t - 1)``; the share that comes from the battery shrinks with capacity
  fade ``(1 - f) ** age`` where ``age`` restarts when the battery is replaced; the rest
  (e.g. smart EV charging) stays.  Scaling is linear in each effect and misses what a
  re-dispatch finds (a smaller battery shifts its cheapest kWh first).
* A replacement falls in year ``k * life`` for every ``k >= 1`` with
  ``k * life < horizon``: equipment whose life ends exactly at the end of the
  horizon is not replaced.  Equipment bought *as a replacement* inside the horizon
  is credited at the end of the horizon with its unused life, straight line
  (``replacement_residual``), so a battery replaced two years before the end is not
  counted as a sunk loss; the original system gets no salvage value.
* Payback (as SAM and the literature use the word) is the time at which the cumulative
  undiscounted cash flow first reaches zero (``>= 0``: an investment that exactly
  recovers its cost has paid back), interpolated linearly inside a year (savings accrue
  evenly); ``None`` means "not within the horizon"; with nothing invested (year-0 flow
  >= 0) it is 0.  Where a replacement makes the cumulative flow dip below zero again,
  the *final* payback is the crossing after which it stays at or above zero.  Discounted
  payback is the same on discounted flows.  *Simple* payback is only net capex divided by
  the year-1 saving.
* IRR is ``None`` with a reason when the cash flows never change sign (there is
  no rate at which NPV is zero) or when no real root exists.

Examples
--------
>>> from energylib.finance import Capex, Savings, Assumptions, evaluate
>>> r = evaluate(Capex(pv_kw=6.6, pv_cost_per_kw=1100.0),
...              Savings(import_saving=1200.0, export_credit=300.0, pv_generation_kwh=9000.0),
...              Assumptions(horizon_years=20, discount_rate=0.05))
>>> round(r.payback_years, 2) > 0
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace

import numpy as np
import numpy_financial as npf
import polars as pl

__all__ = [
    "Assumptions",
    "Capex",
    "FinanceResult",
    "IrrResult",
    "Ongoing",
    "Savings",
    "SensitivityRange",
    "DEFAULT_SENSITIVITY",
    "cash_flow_table",
    "cash_flows",
    "discounted_payback_years",
    "evaluate",
    "final_payback_years",
    "format_irr",
    "format_payback",
    "format_paybacks",
    "internal_rate_of_return",
    "lcoe_per_kwh",
    "net_present_value",
    "payback_years",
    "return_on_investment",
    "sensitivity",
    "simple_payback_years",
]


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise ValueError(what)


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Capex:
    """Upfront costs and rebates of one system [currency].

    Parameters
    ----------
    pv_kw : float
        PV array size [kWdc].
    pv_cost_per_kw : float
        Installed PV price per kWdc, panels + inverter [currency/kW].
    pv_installation : float
        Fixed PV extras: switchboard, scaffolding, metering [currency].
    pv_rebate : float
        Upfront solar incentive (e.g. Australian STCs when a quote is gross) [currency].
    battery_units : int
        Number of battery units (Powerwalls, BYD towers) [-].
    battery_cost_per_unit : float
        Price per battery unit [currency/unit].
    battery_kwh : float
        Capacity priced per kWh (modular batteries) [kWh].
    battery_cost_per_kwh : float
        Price per kWh of ``battery_kwh`` [currency/kWh].
    battery_installation : float
        Battery installation (labour, gateway, backup wiring) [currency].
    battery_rebate : float
        Upfront battery incentive (e.g. Cheaper Home Batteries) [currency].
    charger_cost : float
        Bidirectional (V2H/V2G) or smart EV charger, installed [currency].
    other_rebate : float
        Any other upfront incentive not tied to PV or battery [currency].
    """

    pv_kw: float = 0.0
    pv_cost_per_kw: float = 0.0
    pv_installation: float = 0.0
    pv_rebate: float = 0.0
    battery_units: int = 0
    battery_cost_per_unit: float = 0.0
    battery_kwh: float = 0.0
    battery_cost_per_kwh: float = 0.0
    battery_installation: float = 0.0
    battery_rebate: float = 0.0
    charger_cost: float = 0.0
    other_rebate: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            _check(
                math.isfinite(value) and value >= 0,
                f"Capex.{f.name} must be a finite number >= 0, got {value!r}; "
                "enter costs and rebates as positive amounts (rebates are subtracted)",
            )

    @property
    def battery_hardware(self) -> float:
        """Battery units plus per-kWh capacity, before installation and rebate [currency]."""
        return (
            self.battery_units * self.battery_cost_per_unit
            + self.battery_kwh * self.battery_cost_per_kwh
        )

    @property
    def pv_net(self) -> float:
        """PV cost net of the PV rebate [currency]."""
        return self.pv_kw * self.pv_cost_per_kw + self.pv_installation - self.pv_rebate

    @property
    def battery_net(self) -> float:
        """Battery cost net of the battery rebate [currency]."""
        return self.battery_hardware + self.battery_installation - self.battery_rebate

    @property
    def gross(self) -> float:
        """All upfront costs before rebates [currency]."""
        return (
            self.pv_kw * self.pv_cost_per_kw
            + self.pv_installation
            + self.battery_hardware
            + self.battery_installation
            + self.charger_cost
        )

    @property
    def rebates(self) -> float:
        """All upfront rebates [currency]."""
        return self.pv_rebate + self.battery_rebate + self.other_rebate

    @property
    def net(self) -> float:
        """Upfront cash out: gross costs less rebates [currency]."""
        return self.gross - self.rebates

    def scaled(self, factor: float) -> Capex:
        """The same system with every *cost* times ``factor``; rebates unchanged."""
        _check(factor >= 0, f"capex scale factor must be >= 0, got {factor}")
        return replace(
            self,
            pv_cost_per_kw=self.pv_cost_per_kw * factor,
            pv_installation=self.pv_installation * factor,
            battery_cost_per_unit=self.battery_cost_per_unit * factor,
            battery_cost_per_kwh=self.battery_cost_per_kwh * factor,
            battery_installation=self.battery_installation * factor,
            charger_cost=self.charger_cost * factor,
        )


@dataclass(frozen=True)
class Ongoing:
    """Running costs and replacements [currency, year-1 prices].

    Parameters
    ----------
    om_per_year : float
        Operation and maintenance not tied to PV size (monitoring, servicing) [currency/year].
    pv_om_per_kw_year : float
        PV O&M (cleaning, inspection) per kWdc [currency/(kW year)].
    inverter_life_years : int or None
        PV inverter life [years]; ``None`` means it outlasts any horizon.
    inverter_replacement_cost : float
        Cost of a replacement inverter, installed [currency].
    battery_life_years : int or None
        Battery life [years]; replacement also restarts capacity fade.
    battery_replacement_cost : float or None
        Cost of a replacement battery [currency]; ``None``: the battery hardware
        plus installation cost of the :class:`Capex`, without the rebate.
    """

    om_per_year: float = 0.0
    pv_om_per_kw_year: float = 0.0
    inverter_life_years: int | None = None
    inverter_replacement_cost: float = 0.0
    battery_life_years: int | None = None
    battery_replacement_cost: float | None = None

    def __post_init__(self) -> None:
        for name in ("om_per_year", "pv_om_per_kw_year", "inverter_replacement_cost"):
            value = getattr(self, name)
            _check(
                math.isfinite(value) and value >= 0, f"Ongoing.{name} must be >= 0, got {value!r}"
            )
        if self.battery_replacement_cost is not None:
            _check(
                self.battery_replacement_cost >= 0,
                f"Ongoing.battery_replacement_cost must be >= 0, got {self.battery_replacement_cost}",
            )
        for name in ("inverter_life_years", "battery_life_years"):
            value = getattr(self, name)
            _check(
                value is None or (int(value) == value and value >= 1),
                f"Ongoing.{name} must be a whole number of years >= 1 or None, got {value!r}",
            )


@dataclass(frozen=True)
class Savings:
    """What the system saved in year 1, from the scenario engine.

    Parameters
    ----------
    import_saving : float
        Year-1 bill reduction excluding feed-in: energy, supply and fees of the
        baseline less those of the scenario [currency/year].
    export_credit : float
        Year-1 increase in feed-in credit (scenario credit less baseline credit)
        [currency/year].
    pv_fraction : float
        Share of the savings that scales with PV output (degrades) [0-1].
    battery_fraction : float
        Share of the savings that scales with battery capacity (fades) [0-1].
    pv_generation_kwh : float
        Year-1 PV AC generation, used for the LCOE [kWh/year].
    import_by_year, export_by_year : tuple of float, optional
        Re-simulated savings of years 1..N at year-1 price levels [currency/year]: each
        year dispatched and billed again with its degraded equipment and its tariff
        rules.  Given, they replace the scaled stream (see the module docstring).
    pv_kwh_by_year : tuple of float, optional
        Re-simulated PV AC generation of years 1..N [kWh/year].
    """

    import_saving: float
    export_credit: float = 0.0
    pv_fraction: float = 1.0
    battery_fraction: float = 0.0
    pv_generation_kwh: float = 0.0
    import_by_year: tuple[float, ...] | None = None
    export_by_year: tuple[float, ...] | None = None
    pv_kwh_by_year: tuple[float, ...] | None = None

    @property
    def resimulated(self) -> bool:
        """True where the savings of every year were re-simulated."""
        return self.import_by_year is not None

    def __post_init__(self) -> None:
        _check(
            math.isfinite(self.import_saving) and math.isfinite(self.export_credit),
            f"Savings must be finite numbers, got import_saving={self.import_saving!r}, "
            f"export_credit={self.export_credit!r}",
        )
        _check(
            0 <= self.pv_fraction <= 1
            and 0 <= self.battery_fraction <= 1
            and self.pv_fraction + self.battery_fraction <= 1 + 1e-9,
            f"Savings.pv_fraction ({self.pv_fraction}) and battery_fraction "
            f"({self.battery_fraction}) must each be in [0, 1] and sum to at most 1",
        )
        _check(
            self.pv_generation_kwh >= 0,
            f"Savings.pv_generation_kwh must be >= 0, got {self.pv_generation_kwh}",
        )
        by_year = [self.import_by_year, self.export_by_year]
        _check(
            all(b is None for b in by_year)
            or (
                all(b is not None for b in by_year)
                and len(self.import_by_year) == len(self.export_by_year)
            ),
            "Savings.import_by_year and export_by_year go together, one value per year",
        )

    @property
    def year_one(self) -> float:
        """Total year-1 saving [currency]."""
        return self.import_saving + self.export_credit


@dataclass(frozen=True)
class Assumptions:
    """Financial assumptions over the analysis horizon.

    Parameters
    ----------
    horizon_years : int
        Analysis horizon [years].
    discount_rate : float
        Discount rate per year [fraction, 0.05 = 5 %].
    tariff_escalation : float
        Growth of import prices and fixed charges per year [fraction].
    export_price_escalation : float or None
        Growth of feed-in prices per year [fraction]; ``None``: as ``tariff_escalation``.
    pv_degradation : float
        Loss of PV output per year [fraction, 0.005 = 0.5 %/year].
    battery_fade : float
        Loss of battery capacity per year of battery age [fraction].
    om_escalation : float
        Growth of O&M costs per year [fraction].
    replacement_cost_change : float
        Change per year in the price of replacement equipment [fraction]; negative
        when batteries and inverters keep getting cheaper.
    replacement_residual : bool
        Credit replacement equipment's unused life at the end of the horizon
        (straight line over its life, at the price paid).
    """

    horizon_years: int = 15
    discount_rate: float = 0.05
    tariff_escalation: float = 0.03
    export_price_escalation: float | None = None
    pv_degradation: float = 0.005
    battery_fade: float = 0.02
    om_escalation: float = 0.025
    replacement_cost_change: float = 0.0
    replacement_residual: bool = True

    def __post_init__(self) -> None:
        _check(
            int(self.horizon_years) == self.horizon_years and 1 <= self.horizon_years <= 60,
            f"Assumptions.horizon_years must be a whole number 1..60, got {self.horizon_years!r}",
        )
        _check(
            self.discount_rate > -1,
            f"Assumptions.discount_rate must be > -1 (as a fraction: 0.05 for 5 %), got {self.discount_rate}",
        )
        for name in ("pv_degradation", "battery_fade"):
            value = getattr(self, name)
            _check(
                0 <= value < 1, f"Assumptions.{name} must be a fraction in [0, 1), got {value!r}"
            )
        for name in ("tariff_escalation", "om_escalation", "replacement_cost_change"):
            value = getattr(self, name)
            _check(value > -1, f"Assumptions.{name} must be a fraction > -1, got {value!r}")
        if self.export_price_escalation is not None:
            _check(
                self.export_price_escalation > -1,
                f"Assumptions.export_price_escalation must be > -1, got {self.export_price_escalation}",
            )

    @property
    def export_escalation(self) -> float:
        """Feed-in price growth per year actually used [fraction]."""
        if self.export_price_escalation is None:
            return self.tariff_escalation
        return self.export_price_escalation


# --------------------------------------------------------------------------- metrics on arrays


def net_present_value(values: Sequence[float] | np.ndarray, rate: float) -> float:
    """NPV of yearly cash flows, ``values[0]`` at t = 0 [currency].

    Parameters
    ----------
    values : array_like
        Cash flows per year, year 0 first [currency].
    rate : float
        Discount rate per year [fraction].
    """
    return float(npf.npv(rate, np.asarray(values, dtype=float)))


@dataclass(frozen=True)
class IrrResult:
    """An internal rate of return, or why there is none.

    Attributes
    ----------
    rate : float or None
        IRR per year [fraction]; ``None`` when there is no IRR.
    note : str
        Empty when ``rate`` is set; otherwise the reason, e.g.
        ``"no IRR: cash flows never change sign"``.
    """

    rate: float | None
    note: str = ""


def internal_rate_of_return(values: Sequence[float] | np.ndarray) -> IrrResult:
    """IRR of yearly cash flows (``numpy_financial.irr``), with a reason when there is none.

    Parameters
    ----------
    values : array_like
        Cash flows per year, year 0 first [currency].

    Returns
    -------
    IrrResult
        ``rate`` [fraction per year] or ``None`` with ``note``.
    """
    v = np.asarray(values, dtype=float)
    scale = float(np.abs(v).max()) if v.size else 0.0
    # Amounts a billionth of the largest flow cannot move the IRR, but they do wreck the
    # polynomial root finder (a trailing 1e-300 puts a root near 1e300).
    v = np.where(np.abs(v) < 1e-9 * scale, 0.0, v)
    nonzero = v[v != 0]
    if nonzero.size == 0 or np.all(nonzero > 0) or np.all(nonzero < 0):
        return IrrResult(None, "no IRR: cash flows never change sign")
    try:
        rate = float(npf.irr(v))
    except np.linalg.LinAlgError:
        rate = math.nan
    if not (math.isfinite(rate) and _is_root(v, rate)):
        rate = _irr_by_bracketing(v)
    if rate is None:
        return IrrResult(None, "no IRR: no real rate makes the NPV zero")
    return IrrResult(rate)


def _is_root(v: np.ndarray, rate: float, rtol: float = 1e-7) -> bool:
    """NPV(rate) is zero relative to the size of the discounted terms."""
    terms = v / (1.0 + rate) ** np.arange(v.size)
    return bool(abs(terms.sum()) <= rtol * np.abs(terms).sum())


def _irr_by_bracketing(v: np.ndarray) -> float | None:
    """The root of NPV(rate) closest to zero on a grid of rates in (-99 %, 1000 %], or None."""
    from scipy.optimize import brentq

    grid = np.concatenate((np.linspace(-0.99, 1.0, 400), np.linspace(1.0, 10.0, 200)[1:]))
    npv = np.array([npf.npv(r, v) for r in grid])
    roots = []
    for i in np.flatnonzero(np.sign(npv[:-1]) * np.sign(npv[1:]) <= 0):
        lo, hi = grid[i], grid[i + 1]
        if npv[i] == 0:
            roots.append(lo)
        elif npv[i + 1] != 0:
            roots.append(brentq(lambda r: npf.npv(r, v), lo, hi, xtol=1e-12))
    if not roots:
        return None
    return float(min(roots, key=abs))


def _first_crossing(values: np.ndarray, flows: np.ndarray) -> float | None:
    cumulative = np.cumsum(values)
    reached = np.flatnonzero(cumulative >= 0)
    if reached.size == 0:
        return None
    k = int(reached[0])
    if k == 0:
        return 0.0
    # cumulative[k-1] < 0 <= cumulative[k], so flows[k] > 0: interpolate inside year k.
    return (k - 1) + float(-cumulative[k - 1] / flows[k])


def payback_years(values: Sequence[float] | np.ndarray) -> float | None:
    """Payback: first time the cumulative undiscounted cash flow reaches zero [years].

    Parameters
    ----------
    values : array_like
        Cash flows per year, year 0 first [currency].

    Returns
    -------
    float or None
        Fractional years (linear within a year), 0 when nothing is invested, or
        ``None`` when the cumulative cash flow stays negative over the horizon.
    """
    v = np.asarray(values, dtype=float)
    return _first_crossing(v, v)


def final_payback_years(values: Sequence[float] | np.ndarray) -> float | None:
    """The crossing after which the cumulative cash flow stays at or above zero [years].

    Equal to :func:`payback_years` unless a later cost (a battery replacement) takes the
    cumulative flow below zero again; ``None`` when it ends below zero.
    """
    v = np.asarray(values, dtype=float)
    cumulative = np.cumsum(v)
    below = np.flatnonzero(cumulative < 0)
    if below.size == 0:
        return 0.0
    k = int(below[-1])
    if k == v.size - 1:
        return None
    return k + float(-cumulative[k] / v[k + 1])


def simple_payback_years(net_capex: float, year_one_saving: float) -> float | None:
    """Simple payback: net capex / year-1 saving [years]; ``None`` when nothing is saved."""
    if net_capex <= 0:
        return 0.0
    return net_capex / year_one_saving if year_one_saving > 0 else None


def discounted_payback_years(values: Sequence[float] | np.ndarray, rate: float) -> float | None:
    """Discounted payback: as :func:`payback_years` on discounted cash flows [years].

    Parameters
    ----------
    values : array_like
        Cash flows per year, year 0 first [currency].
    rate : float
        Discount rate per year [fraction].
    """
    v = np.asarray(values, dtype=float)
    discounted = v / (1.0 + rate) ** np.arange(v.size)
    return _first_crossing(discounted, discounted)


def return_on_investment(values: Sequence[float] | np.ndarray) -> float | None:
    """Undiscounted ROI over the horizon: net gain divided by the upfront investment [fraction].

    ``sum(values) / -values[0]``: 1.0 means the system returned its cost twice
    over (its cost back plus as much again).  ``None`` when nothing is invested.
    """
    v = np.asarray(values, dtype=float)
    if v[0] >= 0:
        return None
    return float(v.sum() / -v[0])


def lcoe_per_kwh(
    upfront: float,
    yearly_costs: Sequence[float] | np.ndarray,
    energy_kwh: Sequence[float] | np.ndarray,
    rate: float,
) -> float | None:
    """Levelised cost of energy: discounted costs over discounted energy [currency/kWh].

    Parameters
    ----------
    upfront : float
        Cost at t = 0 [currency].
    yearly_costs : array_like
        Costs in years 1..N (O&M, replacements) [currency].
    energy_kwh : array_like
        Energy produced in years 1..N [kWh].
    rate : float
        Discount rate per year [fraction].

    Returns
    -------
    float or None
        ``None`` when no energy is produced.
    """
    costs = np.asarray(yearly_costs, dtype=float)
    energy = np.asarray(energy_kwh, dtype=float)
    _check(
        costs.shape == energy.shape,
        f"lcoe_per_kwh: {costs.size} yearly costs but {energy.size} yearly energies; give one of each per year",
    )
    factor = (1.0 + rate) ** -np.arange(1, energy.size + 1)
    discounted_energy = float(np.sum(energy * factor))
    if discounted_energy <= 0:
        return None
    return (upfront + float(np.sum(costs * factor))) / discounted_energy


# --------------------------------------------------------------------------- cash flows


def _replacement_years(life: int | None, horizon: int) -> np.ndarray:
    if life is None:
        return np.array([], dtype=int)
    return np.arange(life, horizon, life, dtype=int)


@dataclass(frozen=True)
class _Flows:
    year: np.ndarray
    capex: np.ndarray
    savings: np.ndarray
    om: np.ndarray
    pv_om: np.ndarray
    inverter: np.ndarray
    battery: np.ndarray
    residual: np.ndarray
    pv_kwh: np.ndarray

    @property
    def net(self) -> np.ndarray:
        return self.capex + self.savings - self.om - self.inverter - self.battery + self.residual


def _flows(capex: Capex, ongoing: Ongoing, savings: Savings, a: Assumptions) -> _Flows:
    n = int(a.horizon_years)
    year = np.arange(n + 1)
    t = year[1:]
    has_battery = capex.battery_hardware > 0 or capex.battery_installation > 0
    pv_factor = (1.0 - a.pv_degradation) ** (t - 1)
    battery_age = t - 1
    battery_years = _replacement_years(ongoing.battery_life_years, n) if has_battery else []
    if len(battery_years):
        battery_age = (t - 1) % int(ongoing.battery_life_years)
    battery_factor = (1.0 - a.battery_fade) ** battery_age
    if savings.resimulated:
        _check(
            len(savings.import_by_year) == n,
            f"Savings hold {len(savings.import_by_year)} re-simulated years; the horizon is {n}",
        )
        yearly = np.asarray(savings.import_by_year) * (1.0 + a.tariff_escalation) ** (
            t - 1
        ) + np.asarray(savings.export_by_year) * (1.0 + a.export_escalation) ** (t - 1)
    else:
        other = 1.0 - savings.pv_fraction - savings.battery_fraction
        performance = (
            savings.pv_fraction * pv_factor + savings.battery_fraction * battery_factor + other
        )
        yearly = (
            savings.import_saving * (1.0 + a.tariff_escalation) ** (t - 1)
            + savings.export_credit * (1.0 + a.export_escalation) ** (t - 1)
        ) * performance

    zeros = np.zeros(n + 1)
    capex_flow = zeros.copy()
    capex_flow[0] = -capex.net
    savings_flow = zeros.copy()
    savings_flow[1:] = yearly
    om_escalated = (1.0 + a.om_escalation) ** (t - 1)
    pv_om = zeros.copy()
    pv_om[1:] = ongoing.pv_om_per_kw_year * capex.pv_kw * om_escalated
    om = zeros.copy()
    om[1:] = ongoing.om_per_year * om_escalated + pv_om[1:]

    price_change = (1.0 + a.replacement_cost_change) ** year
    residual = zeros.copy()

    def replace_at(years: np.ndarray, cost: float, life: int | None) -> np.ndarray:
        paid = zeros.copy()
        if len(years) == 0:
            return paid
        paid[years] = cost * price_change[years]
        unused_years = life - (n - years[-1])
        if a.replacement_residual and unused_years > 0:
            residual[n] += paid[years[-1]] * unused_years / life
        return paid

    inverter = zeros.copy()
    if capex.pv_kw > 0:
        inverter = replace_at(
            _replacement_years(ongoing.inverter_life_years, n),
            ongoing.inverter_replacement_cost,
            ongoing.inverter_life_years,
        )
    battery = zeros.copy()
    if len(battery_years):
        cost = ongoing.battery_replacement_cost
        if cost is None:
            cost = capex.battery_hardware + capex.battery_installation
        battery = replace_at(battery_years, cost, ongoing.battery_life_years)
    pv_kwh = zeros.copy()
    if savings.pv_kwh_by_year is not None:
        pv_kwh[1:] = savings.pv_kwh_by_year
    else:
        pv_kwh[1:] = savings.pv_generation_kwh * pv_factor
    return _Flows(year, capex_flow, savings_flow, om, pv_om, inverter, battery, residual, pv_kwh)


def cash_flows(
    capex: Capex, ongoing: Ongoing, savings: Savings, assumptions: Assumptions
) -> np.ndarray:
    """Net cash flow per year, year 0 (capex) first; length ``horizon_years + 1`` [currency]."""
    return _flows(capex, ongoing, savings, assumptions).net


def cash_flow_table(
    capex: Capex, ongoing: Ongoing, savings: Savings, assumptions: Assumptions
) -> pl.DataFrame:
    """Yearly cash flows as a tidy frame, one row per year 0..N.

    Columns: ``year``, ``capex_amount`` (negative), ``savings_amount``,
    ``om_amount``, ``replacement_amount`` (costs positive), ``residual_amount``
    (credit for replacements' unused life, year N), ``net_amount``,
    ``cumulative_amount``, ``discount_factor``, ``discounted_amount``,
    ``cumulative_discounted_amount`` [currency] and ``pv_kwh`` [kWh].
    """
    f = _flows(capex, ongoing, savings, assumptions)
    net = f.net
    factor = (1.0 + assumptions.discount_rate) ** -f.year.astype(float)
    return pl.DataFrame(
        {
            "year": f.year,
            "capex_amount": f.capex,
            "savings_amount": f.savings,
            "om_amount": f.om,
            "replacement_amount": f.inverter + f.battery,
            "residual_amount": f.residual,
            "net_amount": net,
            "cumulative_amount": np.cumsum(net),
            "discount_factor": factor,
            "discounted_amount": net * factor,
            "cumulative_discounted_amount": np.cumsum(net * factor),
            "pv_kwh": f.pv_kwh,
        }
    )


# --------------------------------------------------------------------------- evaluate


@dataclass(frozen=True)
class FinanceResult:
    """Metrics of one system over the horizon.

    Attributes
    ----------
    net_capex : float
        Upfront investment net of rebates [currency].
    year_one_saving : float
        Year-1 bill saving [currency].
    npv : float
        Net present value [currency].
    irr : float or None
        Internal rate of return [fraction/year]; ``None`` with ``irr_note``.
    irr_note : str
        Why there is no IRR (empty when there is one).
    payback_years : float or None
        First time the cumulative undiscounted cash flow reaches zero [years]; ``None``:
        not within the horizon.
    final_payback_years : float or None
        The crossing after which it stays at or above zero (later than ``payback_years``
        where a replacement dips it below zero again) [years].
    discounted_payback_years : float or None
        As ``payback_years`` on discounted flows [years].
    simple_payback_years : float or None
        Net capex / year-1 saving [years].
    roi : float or None
        Undiscounted return on investment over the horizon [fraction].
    lcoe_per_kwh : float or None
        Levelised cost of the solar energy [currency/kWh]; ``None`` without PV.
    break_even_capex : float
        Net upfront capex at which NPV would be zero, all else equal [currency].
    horizon_years : int
        Analysis horizon [years].
    flows : numpy.ndarray
        Net cash flow per year 0..N [currency].
    """

    net_capex: float
    year_one_saving: float
    npv: float
    irr: float | None
    irr_note: str
    payback_years: float | None
    final_payback_years: float | None
    discounted_payback_years: float | None
    simple_payback_years: float | None
    roi: float | None
    lcoe_per_kwh: float | None
    break_even_capex: float
    horizon_years: int
    flows: np.ndarray = field(repr=False)

    def as_row(self) -> dict[str, float | int | str | None]:
        """Metrics as one flat dict (for a polars row)."""
        return {
            "net_capex_amount": self.net_capex,
            "year_one_saving_amount": self.year_one_saving,
            "npv_amount": self.npv,
            "irr_fraction": self.irr,
            "irr_note": self.irr_note,
            "payback_years": self.payback_years,
            "final_payback_years": self.final_payback_years,
            "discounted_payback_years": self.discounted_payback_years,
            "simple_payback_years": self.simple_payback_years,
            "roi_fraction": self.roi,
            "lcoe_per_kwh": self.lcoe_per_kwh,
            "break_even_capex_amount": self.break_even_capex,
            "horizon_years": self.horizon_years,
        }


def evaluate(
    capex: Capex,
    savings: Savings,
    assumptions: Assumptions | None = None,
    ongoing: Ongoing | None = None,
) -> FinanceResult:
    """All metrics of one system.

    Parameters
    ----------
    capex : Capex
        Upfront costs and rebates [currency].
    savings : Savings
        Year-1 savings from the scenario engine [currency/year].
    assumptions : Assumptions, optional
        Horizon, discount rate, escalation, degradation; defaults if omitted.
    ongoing : Ongoing, optional
        O&M and replacements; none if omitted.

    Returns
    -------
    FinanceResult
    """
    a = assumptions or Assumptions()
    o = ongoing or Ongoing()
    f = _flows(capex, o, savings, a)
    net = f.net
    npv = net_present_value(net, a.discount_rate)
    irr = internal_rate_of_return(net)
    lcoe = None
    if capex.pv_kw > 0 and savings.pv_generation_kwh > 0:
        lcoe = lcoe_per_kwh(capex.pv_net, (f.pv_om + f.inverter)[1:], f.pv_kwh[1:], a.discount_rate)
    return FinanceResult(
        net_capex=capex.net,
        year_one_saving=savings.year_one,
        npv=npv,
        irr=irr.rate,
        irr_note=irr.note,
        payback_years=payback_years(net),
        final_payback_years=final_payback_years(net),
        discounted_payback_years=discounted_payback_years(net, a.discount_rate),
        simple_payback_years=simple_payback_years(capex.net, savings.year_one),
        roi=return_on_investment(net),
        lcoe_per_kwh=lcoe,
        # NPV is linear in the year-0 flow: raising the upfront cost by NPV makes it zero.
        break_even_capex=capex.net + npv,
        horizon_years=int(a.horizon_years),
        flows=net,
    )


def format_payback(years: float | None, horizon_years: int) -> str:
    """``"6.3 years"``, ``"not within 15 years"``, or ``"immediate"`` when nothing was invested."""
    if years is None or not math.isfinite(years):
        return f"not within {horizon_years} years"
    if years == 0:
        return "immediate"
    return f"{years:.1f} years"


def format_paybacks(first: float | None, final: float | None, horizon_years: int) -> str:
    """The payback in words, with the final crossing where a replacement dips below zero:
    ``"6.1 years (again at 13.4 after the replacement)"``."""
    text = format_payback(first, horizon_years)
    if first is not None and final is not None and final > first + 1e-9:
        text += f" (again at {final:.1f} after a replacement)"
    elif first is not None and final is None:
        text += " (below zero again after a replacement)"
    return text


def format_irr(rate: float | None, note: str = "") -> str:
    """``"11.2 %"`` or the reason there is no IRR."""
    if rate is None or not math.isfinite(rate):
        return note or "no IRR"
    return f"{rate * 100:.1f} %"


# --------------------------------------------------------------------------- sensitivity


@dataclass(frozen=True)
class SensitivityRange:
    """One input moved across a stated range.

    Attributes
    ----------
    parameter : str
        Name shown on the tornado chart.
    low, high : float
        The two ends of the range, in the unit of ``how``: a fraction added to
        a rate (``"add"``, 0.02 = +2 percentage points) or a relative change
        (``"scale"``, -0.2 = 20 % lower).
    how : str
        ``"add"`` or ``"scale"``.
    apply : callable
        ``apply(capex, savings, assumptions, value) -> (capex, savings, assumptions)``.
    """

    parameter: str
    low: float
    high: float
    how: str
    apply: Callable[[Capex, Savings, Assumptions, float], tuple[Capex, Savings, Assumptions]]

    def label(self, value: float) -> str:
        """The move in words, e.g. ``"+2.0 pp"`` or ``"-20 %"``."""
        if self.how == "add":
            return f"{value * 100:+.1f} pp"
        return f"{value * 100:+.0f} %"


def _tariff(c: Capex, s: Savings, a: Assumptions, v: float):
    export = None if a.export_price_escalation is None else a.export_price_escalation + v
    return (
        c,
        s,
        replace(a, tariff_escalation=a.tariff_escalation + v, export_price_escalation=export),
    )


def _capex(c: Capex, s: Savings, a: Assumptions, v: float):
    return c.scaled(1.0 + v), s, a


def _discount(c: Capex, s: Savings, a: Assumptions, v: float):
    return c, s, replace(a, discount_rate=a.discount_rate + v)


def _degradation(c: Capex, s: Savings, a: Assumptions, v: float):
    moved = replace(
        a,
        pv_degradation=min(a.pv_degradation * (1.0 + v), 0.99),
        battery_fade=min(a.battery_fade * (1.0 + v), 0.99),
    )
    if s.resimulated:
        # Re-simulated years move by the ratio of the scaled performance factors (first order).
        ratio = _performance(s, moved) / _performance(s, a)
        s = replace(
            s,
            import_by_year=tuple(np.asarray(s.import_by_year) * ratio),
            export_by_year=tuple(np.asarray(s.export_by_year) * ratio),
        )
    return c, s, moved


def _performance(s: Savings, a: Assumptions) -> np.ndarray:
    """The scaled method's performance factor per year (fade not restarted by replacements)."""
    t = np.arange(1, len(s.import_by_year) + 1)
    other = 1.0 - s.pv_fraction - s.battery_fraction
    return (
        s.pv_fraction * (1.0 - a.pv_degradation) ** (t - 1)
        + s.battery_fraction * (1.0 - a.battery_fade) ** (t - 1)
        + other
    )


def _export(c: Capex, s: Savings, a: Assumptions, v: float):
    by_year = None if s.export_by_year is None else tuple(np.asarray(s.export_by_year) * (1.0 + v))
    return c, replace(s, export_credit=s.export_credit * (1.0 + v), export_by_year=by_year), a


DEFAULT_SENSITIVITY: tuple[SensitivityRange, ...] = (
    SensitivityRange("tariff escalation", -0.02, 0.02, "add", _tariff),
    SensitivityRange("capex", -0.2, 0.2, "scale", _capex),
    SensitivityRange("discount rate", -0.02, 0.02, "add", _discount),
    SensitivityRange("degradation", -0.5, 1.0, "scale", _degradation),
    SensitivityRange("export price", -0.5, 0.5, "scale", _export),
)
"""Default ranges: tariff escalation and discount rate +/- 2 percentage points;
capex +/- 20 %; PV degradation and battery fade halved to doubled; feed-in
credit +/- 50 %."""


def sensitivity(
    capex: Capex,
    savings: Savings,
    assumptions: Assumptions | None = None,
    ongoing: Ongoing | None = None,
    ranges: Sequence[SensitivityRange] = DEFAULT_SENSITIVITY,
) -> pl.DataFrame:
    """Change in NPV and payback when each input moves to each end of its range.

    Parameters
    ----------
    capex, savings, assumptions, ongoing
        The base case, as for :func:`evaluate`.
    ranges : sequence of SensitivityRange
        Inputs and ranges to move, one at a time.

    Returns
    -------
    polars.DataFrame
        One row per parameter and end (``case`` ``"low"``/``"high"``):
        ``parameter``, ``case``, ``change`` (label), ``npv_amount``,
        ``delta_npv_amount``, ``payback_years``, ``delta_payback_years``
        (null where either payback is not within the horizon),
        ``base_npv_amount``, ``base_payback_years``.
    """
    a = assumptions or Assumptions()
    o = ongoing or Ongoing()
    base = evaluate(capex, savings, a, o)
    rows = []
    for r in ranges:
        _check(
            r.how in ("add", "scale"),
            f"SensitivityRange.how must be 'add' or 'scale', got {r.how!r}",
        )
        for case, value in (("low", r.low), ("high", r.high)):
            c2, s2, a2 = r.apply(capex, savings, a, value)
            moved = evaluate(c2, s2, a2, o)
            delta_payback = None
            if moved.payback_years is not None and base.payback_years is not None:
                delta_payback = moved.payback_years - base.payback_years
            rows.append(
                {
                    "parameter": r.parameter,
                    "case": case,
                    "change": r.label(value),
                    "npv_amount": moved.npv,
                    "delta_npv_amount": moved.npv - base.npv,
                    "payback_years": moved.payback_years,
                    "delta_payback_years": delta_payback,
                    "base_npv_amount": base.npv,
                    "base_payback_years": base.payback_years,
                }
            )
    return pl.DataFrame(
        rows,
        schema={
            "parameter": pl.String,
            "case": pl.String,
            "change": pl.String,
            "npv_amount": pl.Float64,
            "delta_npv_amount": pl.Float64,
            "payback_years": pl.Float64,
            "delta_payback_years": pl.Float64,
            "base_npv_amount": pl.Float64,
            "base_payback_years": pl.Float64,
        },
    )
