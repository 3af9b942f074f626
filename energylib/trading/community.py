"""The community simulation: every interval the nodes forecast, score, bid or offer, the
market clears, batteries move and the grid takes the rest.

:func:`simulate` runs one mechanism (or none: every home alone with the grid) over a
:class:`~energylib.trading.homes.Community`; :func:`run_community` runs the no-market
baseline, every mechanism asked for and, for a small community, the cooperative optimum
(:mod:`energylib.trading.optimum`), and returns :class:`CommunityResult`: tidy polars
frames.

One interval, all homes at once (energies in kWh per interval)
--------------------------------------------------------------
1. **Own use.**  PV feeds the home's load; PV surplus charges the battery and the battery
   covers the rest of the load, within its power limits and SoC window (the rule kernels'
   self-consumption).  What is left is the home's *surplus* (PV it can send, up to the
   export limit; beyond it PV is curtailed) or *deficit*.
2. **Signals.**  The coordinator publishes the grid price signal (import price, feed-in
   credit) and the price it expects peers to settle at
   (:func:`~energylib.trading.score.expected_market_price`).  Each node condenses its
   forecast over the horizon (:meth:`~energylib.trading.node.Forecasts.horizon`), computes
   its profitability score and power need and decides BUY / SELL / HOLD
   (:mod:`energylib.trading.score`).
3. **Orders.**  Every deficit is bid at the grid's import price and every surplus offered
   at the feed-in credit (at least 0: a seller can always curtail), so no home can do
   worse than with the grid.  A BUY node also bids, at its value of stored energy (at most
   the import price), for energy to charge its battery: up to its charge limit, its room,
   its import limit and its forecast shortfall.  A SELL node also offers battery energy at
   its value of that energy (at least the feed-in credit): up to its discharge limit, its
   stored energy, its export limit and its forecast surplus.  A battery already charging
   from PV does not sell and one discharging to its load does not buy.
4. **Clearing.**  The mechanism (:mod:`energylib.trading.market`) matches the book; peer
   matching serves buyers by score, the continuous auction takes orders in a seeded random
   arrival order.
5. **Settlement.**  Batteries charge what their bids bought and discharge what their offers
   sold (nothing more: an unmatched battery order does not move the battery).  The grid
   takes the rest: the unmatched deficit is imported at the import price, the unmatched
   surplus exported at the feed-in credit (curtailed while the credit is negative).

Every home's energy balances each interval::

    pv - curtailed + grid_import + bought + battery_discharge
        == load + battery_charge + grid_export + sold

and the community's trades balance: sold (sent) = bought (delivered) / (1 - loss), the
difference being the transmission loss.  Money: the peers' payments equal their receipts;
a home's bill is its grid cost (import x import price - export x credit) + peer payments
- peer receipts + the tariff's fixed charges (the same with and without the market).

Because a bid never exceeds the import price and an offer never asks less than the feed-in
credit, settling a home's surplus and deficit with peers never costs more than settling
them with the grid; with ``battery_trading=False`` (only surplus and deficit trade, the
batteries do self-consumption as alone) no home's bill can rise (individual rationality,
tested).  Battery trades act on forecasts, so a home can lose on them when the forecast
is wrong; the result frames show who gains and who does not.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from tqdm import tqdm

from energylib.schema import TIME
from energylib.trading.homes import Community
from energylib.trading.market import Book, MarketRules, Trades
from energylib.trading.market import mechanism as get_mechanism
from energylib.trading.node import BatteryArrays, Forecasts
from energylib.trading.optimum import OptimumResult, cooperative_optimum
from energylib.trading.score import (
    BUY,
    SELL,
    buy_value,
    decide,
    expected_market_price,
    sell_value,
    signals,
)

NO_MARKET = "none"
DEFAULT_MECHANISMS = ("peer_matching", "uniform_auction", "continuous_auction")
OPTIMUM = "cooperative_optimum"
#: Per-home flows of a run [kWh per interval; money in currency per interval].
FLOWS = (
    "grid_import_kwh",
    "grid_export_kwh",
    "curtailed_kwh",
    "bought_kwh",
    "sold_kwh",
    "battery_bought_kwh",
    "battery_sold_kwh",
    "battery_charge_kwh",
    "battery_discharge_kwh",
    "grid_cost",
    "peer_paid",
    "peer_received",
)
#: Community totals per interval.
INTERVAL_COLUMNS = (
    "grid_import_kwh",
    "grid_export_kwh",
    "curtailed_kwh",
    "traded_kwh",
    "sent_kwh",
    "loss_kwh",
    "traded_value",
    "battery_charge_kwh",
    "battery_discharge_kwh",
    "buy_decisions",
    "sell_decisions",
)


@dataclass(frozen=True)
class TradingOptions:
    """How the nodes and the market behave.

    Parameters
    ----------
    rules : MarketRules
        Transmission loss and seller's margin (trading design: 5 % and 5 %).
    score_threshold : float
        Score a node must pass to trade its battery [0-100] (trading design: 75).
    horizon_hours : float
        How far ahead the nodes' forecasts look [h].
    forecast : {'persistence', 'perfect'}
        The nodes' forecast where no arrays are given.
    battery_trading : bool
        Let BUY / SELL decisions trade battery energy (False: only surplus and deficit
        trade and the batteries run as they would alone).
    seed : int
        Seed of the continuous auction's arrival order.
    """

    rules: MarketRules = field(default_factory=MarketRules)
    score_threshold: float = 75.0
    horizon_hours: float = 24.0
    forecast: str = "persistence"
    battery_trading: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.score_threshold <= 100.0:
            raise ValueError(f"score_threshold must be within 0-100, got {self.score_threshold}")
        if not self.horizon_hours > 0:
            raise ValueError(f"horizon_hours must be > 0 h, got {self.horizon_hours}")
        if self.forecast == "persistence" and self.horizon_hours > 24:
            # yesterday's value is only known up to 24 h ahead
            raise ValueError(
                f"horizon_hours={self.horizon_hours} with persistence forecasts: yesterday's "
                "values reach 24 h ahead at most; use horizon_hours <= 24 or forecast='perfect'"
            )
        Forecasts(self.forecast)  # checks the name


@dataclass(eq=False)
class MarketRun:
    """One mechanism (or none) over a community.

    Attributes
    ----------
    mechanism : str
        The mechanism's name, or ``"none"``.
    names : tuple of str
        Homes.
    totals : dict of numpy.ndarray
        Each of :data:`FLOWS` summed over the run, per home.
    intervals : dict of numpy.ndarray
        Each of :data:`INTERVAL_COLUMNS` per interval (community totals), plus
        ``uniform_price_per_kwh``.
    flows : dict of numpy.ndarray or None
        With ``record=True``: each of :data:`FLOWS` and ``battery_soc_kwh`` and
        ``decision`` as ``(T, N)`` arrays.
    fixed_charges : float
        The tariff's fixed charges per home over the run [currency].
    seconds : float
        Wall time of the run [s].
    """

    mechanism: str
    names: tuple[str, ...]
    totals: dict[str, np.ndarray]
    intervals: dict[str, np.ndarray]
    flows: dict[str, np.ndarray] | None
    fixed_charges: float
    seconds: float

    @property
    def bill(self) -> np.ndarray:
        """Each home's bill over the run [currency]."""
        t = self.totals
        return t["grid_cost"] + t["peer_paid"] - t["peer_received"] + self.fixed_charges


def _forecasts(options: TradingOptions, forecasts: Forecasts | None) -> Forecasts:
    return forecasts if forecasts is not None else Forecasts(options.forecast)


@dataclass(frozen=True, eq=False)
class _OwnUse:
    """Step 1 of an interval, every home: PV to load, surplus into the battery, the battery
    to the load; what is left to send (up to the export limit) or to buy [kWh]."""

    charge: np.ndarray
    discharge: np.ndarray
    offer: np.ndarray
    over_limit: np.ndarray
    deficit: np.ndarray
    soc: np.ndarray

    @classmethod
    def of(cls, load, pv, soc, b: BatteryArrays, exp_max: float) -> _OwnUse:
        net = load - pv
        pos = np.maximum(-net, 0.0)
        neg = np.maximum(net, 0.0)
        charge = np.minimum(pos, np.minimum(b.charge_max, np.maximum(b.hi - soc, 0.0) / b.eta))
        discharge = np.minimum(
            neg, np.minimum(b.discharge_max, np.maximum(soc - b.lo, 0.0) * b.eta)
        )
        surplus = pos - charge
        offer = np.minimum(surplus, exp_max)
        return cls(
            charge=charge,
            discharge=discharge,
            offer=offer,
            over_limit=surplus - offer,
            deficit=neg - discharge,
            soc=soc + b.eta * charge - discharge / b.eta,
        )


def _battery_orders(
    own: _OwnUse,
    sig,
    decision: np.ndarray,
    b: BatteryArrays,
    imp_max: float,
    exp_max: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Step 3's battery orders [kWh]: a BUY node bids for what its battery can take (charge
    limit, room, import limit, forecast shortfall); a SELL node offers what it can give
    (discharge limit, stored energy, export limit, forecast surplus).  A battery charging
    from PV does not sell, one discharging to its load does not buy."""
    stored = np.maximum(own.soc - b.lo, 0.0) * b.eta
    room = np.maximum(b.hi - own.soc, 0.0) / b.eta
    q_buy = np.minimum.reduce(
        [b.charge_max - own.charge, room, np.maximum(imp_max - own.deficit, 0.0), -sig.position_kwh]
    )
    q_sell = np.minimum.reduce(
        [
            b.discharge_max - own.discharge,
            stored,
            np.maximum(exp_max - own.offer, 0.0),
            sig.position_kwh,
        ]
    )
    buy = (decision == BUY) & (own.discharge <= 0.0)
    sell = (decision == SELL) & (own.charge <= 0.0)
    return np.where(buy, np.maximum(q_buy, 0.0), 0.0), np.where(sell, np.maximum(q_sell, 0.0), 0.0)


def simulate(
    community: Community,
    mechanism: str | None,
    options: TradingOptions | None = None,
    *,
    forecasts: Forecasts | None = None,
    record: bool = False,
    progress: bool = False,
    block: int = 2048,
) -> MarketRun:
    """Run the community through its year with one mechanism (see the module docstring).

    Parameters
    ----------
    community : Community
        Homes, prices and limits.
    mechanism : str or None
        One of :data:`energylib.trading.market.MECHANISMS`, or None / ``"none"``: no market,
        every home alone with the grid (batteries on self-consumption).
    options : TradingOptions, optional
        Node and market behaviour.
    forecasts : Forecasts, optional
        The nodes' forecasts (default: ``options.forecast``).
    record : bool
        Keep every flow per interval and home (``MarketRun.flows``).
    progress : bool
        Show a progress bar over the intervals.
    block : int
        Intervals whose forecasts are condensed at once (memory: ``block x N`` arrays).

    Returns
    -------
    MarketRun
    """
    t0 = time.perf_counter()
    options = options or TradingOptions()
    fc = _forecasts(options, forecasts)
    fc.check(community.load_kwh.shape)
    name = NO_MARKET if mechanism in (None, NO_MARKET) else mechanism
    clear = None if name == NO_MARKET else get_mechanism(name)
    year = community.year
    n_t, n = community.load_kwh.shape
    minutes = year.interval_minutes
    horizon = max(1, int(round(options.horizon_hours * 60 / minutes)))
    b = BatteryArrays.of(community.batteries, minutes)
    imp_max, exp_max = community.grid.per_interval(minutes)
    load, pv = community.load_kwh, community.pv_kwh
    imp, exp = year.import_per_kwh, year.export_credit_per_kwh
    rng = np.random.default_rng(options.seed)
    owners = np.concatenate((np.arange(n), np.arange(n)))

    totals = {k: np.zeros(n) for k in FLOWS}
    per_t = {k: np.zeros(n_t) for k in INTERVAL_COLUMNS}
    per_t["uniform_price_per_kwh"] = np.full(n_t, np.nan)
    flows = {k: np.zeros((n_t, n)) for k in (*FLOWS, "battery_soc_kwh")} if record else None
    if flows is not None:
        flows["decision"] = np.zeros((n_t, n), dtype=np.int8)
    zeros = np.zeros(n)
    soc = b.soc0.copy()
    bar = tqdm(total=n_t, desc=f"{name} market", unit="interval", disable=not progress)
    for a in range(0, n_t, block):
        rows = np.arange(a, min(a + block, n_t))
        deficit_f, surplus_f, price_f, credit_f = fc.horizon(
            rows, horizon, 1440 // minutes, load, pv, imp, exp
        )
        v_buy = buy_value(price_f, b.round_trip, b.wear)
        v_sell = sell_value(credit_f, b.round_trip, b.wear)
        for k, t in enumerate(rows):
            ip, ec = imp[t], exp[t]
            own = _OwnUse.of(load[t], pv[t], soc, b, exp_max)  # 1. own use
            bought = sold = bat_bought = bat_sold = paid = received = zeros
            decision = None
            if clear is not None:
                # 2. signals and decisions
                stored = np.maximum(own.soc - b.lo, 0.0) * b.eta
                room = np.maximum(b.hi - own.soc, 0.0) / b.eta
                m = expected_market_price(ip, ec)
                sig = signals(
                    stored, room, b.usable, deficit_f[k], surplus_f[k], m, v_buy[k], v_sell[k]
                )
                decision = decide(sig, m, v_buy[k], v_sell[k], options.score_threshold)
                # 3. orders: deficit at the import price, surplus at the credit, battery orders
                q_buy, q_sell = (
                    _battery_orders(own, sig, decision, b, imp_max, exp_max)
                    if options.battery_trading
                    else (zeros, zeros)
                )
                floor = max(ec, 0.0)
                score = sig.score
                book = Book(
                    bid_kwh=np.concatenate((own.deficit, q_buy)),
                    bid_per_kwh=np.concatenate((np.full(n, ip), np.minimum(v_buy[k], ip))),
                    offer_kwh=np.concatenate((own.offer, q_sell)),
                    offer_per_kwh=np.concatenate((np.full(n, floor), np.maximum(v_sell[k], floor))),
                    bid_priority=np.concatenate((score, score)),
                    bid_arrival=rng.random(2 * n),
                    offer_arrival=rng.random(2 * n),
                )
                trades: Trades = clear(book, options.rules)  # 4. clearing
                fill = trades.bought_kwh(2 * n)
                sent = trades.sold_kwh(2 * n)
                bought, bat_bought = fill[:n], fill[n:]
                sold, bat_sold = sent[:n], sent[n:]
                paid = np.bincount(owners, trades.paid(2 * n), minlength=n)
                received = np.bincount(owners, trades.received(2 * n), minlength=n)
                per_t["traded_kwh"][t] = trades.delivered_kwh.sum()
                per_t["sent_kwh"][t] = trades.sent_kwh.sum()
                per_t["traded_value"][t] = trades.value.sum()
                per_t["uniform_price_per_kwh"][t] = trades.uniform_price_per_kwh
                per_t["buy_decisions"][t] = np.count_nonzero(decision == BUY)
                per_t["sell_decisions"][t] = np.count_nonzero(decision == SELL)
            # 5. settlement: batteries move by what their orders traded, the grid takes the rest
            left = own.offer - sold
            grid_import = own.deficit - bought
            grid_export = left if ec >= 0.0 else zeros
            soc = own.soc + b.eta * bat_bought - bat_sold / b.eta
            step = {
                "grid_import_kwh": grid_import,
                "grid_export_kwh": grid_export,
                "curtailed_kwh": own.over_limit if ec >= 0.0 else own.over_limit + left,
                "bought_kwh": bought + bat_bought,
                "sold_kwh": sold + bat_sold,
                "battery_bought_kwh": bat_bought,
                "battery_sold_kwh": bat_sold,
                "battery_charge_kwh": own.charge + bat_bought,
                "battery_discharge_kwh": own.discharge + bat_sold,
                "grid_cost": grid_import * ip - grid_export * ec,
                "peer_paid": paid,
                "peer_received": received,
            }
            for key, value in step.items():
                totals[key] += value
            if flows is not None:
                for key, value in step.items():
                    flows[key][t] = value
                flows["battery_soc_kwh"][t] = soc
                if decision is not None:
                    flows["decision"][t] = decision
            for key in ("grid_import_kwh", "grid_export_kwh", "curtailed_kwh", "battery_charge_kwh",
                        "battery_discharge_kwh"):  # fmt: skip
                per_t[key][t] = step[key].sum()
        bar.update(rows.size)
    bar.close()
    per_t["loss_kwh"] = per_t["sent_kwh"] - per_t["traded_kwh"]
    return MarketRun(
        mechanism=name,
        names=community.names,
        totals=totals,
        intervals=per_t,
        flows=flows,
        fixed_charges=year.fixed_charges(),
        seconds=time.perf_counter() - t0,
    )


# --------------------------------------------------------------------------- results
def gini(values: np.ndarray) -> float:
    """Gini coefficient of ``values``: mean absolute difference over twice the absolute mean.

    0 when everyone has the same; 1 when one has everything.  With negative values (homes
    that lose) it can exceed 1.  NaN for no values or a zero mean.
    """
    x = np.asarray(values, dtype=float)
    if x.size == 0 or abs(x.mean()) < 1e-12:
        return float("nan")
    x = np.sort(x)
    n = x.size
    # sum_i sum_j |x_i - x_j| = 2 sum_i (2i - n + 1) x_i for sorted x (i from 0)
    mad = 2.0 * np.sum((2.0 * np.arange(n) - n + 1.0) * x) / (n * n)
    return float(mad / (2.0 * abs(x.mean())))


def households_frame(
    community: Community, run: MarketRun, alone: MarketRun, feeder: str = ""
) -> pl.DataFrame:
    """One row per home of a run, against the same home alone with the grid."""
    t = run.totals
    bill_alone = alone.bill
    bill = run.bill
    return pl.DataFrame(
        {
            "feeder": feeder,
            "mechanism": run.mechanism,
            "household": list(run.names),
            "has_battery": [b is not None for b in community.batteries],
            "load_kwh": community.load_kwh.sum(axis=0),
            "pv_kwh": community.pv_kwh.sum(axis=0),
            **{k: t[k] for k in FLOWS},
            "bill_alone": bill_alone,
            "bill_market": bill,
            "saving": bill_alone - bill,
        }
    )


def intervals_frame(
    community: Community, mechanism: str, per_t: dict[str, np.ndarray], feeder: str = ""
) -> pl.DataFrame:
    """One row per interval: the community's totals (:data:`INTERVAL_COLUMNS` and
    ``uniform_price_per_kwh``, from ``MarketRun.intervals``), load, PV and grid prices."""
    year = community.year
    return pl.DataFrame(
        {
            TIME: pl.Series(TIME, year.cal.interval_start).cast(pl.Datetime("us", "UTC")),
            "feeder": feeder,
            "mechanism": mechanism,
            "load_kwh": community.load_kwh.sum(axis=1),
            "pv_kwh": community.pv_kwh.sum(axis=1),
            **{k: per_t[k] for k in (*INTERVAL_COLUMNS, "uniform_price_per_kwh")},
            "import_per_kwh": year.import_per_kwh,
            "feed_in_per_kwh": year.export_credit_per_kwh,
        }
    )


def optimum_intervals_frame(
    community: Community, optimum: OptimumResult, feeder: str = ""
) -> pl.DataFrame:
    """The cooperative optimum's feeder flows per interval, as :func:`intervals_frame`."""
    n_t = len(community)
    zeros = np.zeros(n_t)
    per_t = {
        "grid_import_kwh": optimum.import_kwh,
        "grid_export_kwh": optimum.export_kwh,
        "curtailed_kwh": optimum.curtailed_kwh,
        "traded_kwh": optimum.exchanged_kwh,
        "sent_kwh": optimum.exchanged_kwh,
        "loss_kwh": zeros,
        "traded_value": np.full(n_t, np.nan),  # free exchange: no price
        "battery_charge_kwh": optimum.battery_charge_kwh,
        "battery_discharge_kwh": optimum.battery_discharge_kwh,
        "buy_decisions": zeros,
        "sell_decisions": zeros,
        "uniform_price_per_kwh": np.full(n_t, np.nan),
    }
    return intervals_frame(community, OPTIMUM, per_t, feeder)


def optimum_totals(
    community: Community, optimum: OptimumResult, bill_alone: float, feeder: str = ""
) -> pl.DataFrame:
    """The cooperative optimum's bill against the community's bill alone, one row per
    feeder (what :func:`summarise` needs besides the optimum's intervals)."""
    return pl.DataFrame(
        {
            "feeder": [feeder],
            "households": [community.n_homes],
            "bill": [optimum.bill(community)],
            "bill_alone": [bill_alone],
        }
    )


def pooling_saving(intervals: pl.DataFrame) -> float:
    """What netting every feeder's grid flows of the no-market run in each interval would
    save (imports at the import price, exports at the credit, no loss) [currency]."""
    alone = intervals.filter(pl.col("mechanism") == NO_MARKET)
    imp, exp = pl.col("grid_import_kwh"), pl.col("grid_export_kwh")
    net = imp - exp
    p_in, p_out = pl.col("import_per_kwh"), pl.col("feed_in_per_kwh")
    saving = (p_in * imp - p_out * exp) - (
        p_in * net.clip(lower_bound=0.0) - p_out * (-net).clip(lower_bound=0.0)
    )
    return float(alone.select(saving.sum()).item()) if alone.height else 0.0


def summarise(
    households: pl.DataFrame,
    intervals: pl.DataFrame,
    optimum: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One row per mechanism (the no-market run first, the cooperative optimum last):
    bills, savings, fairness, energy.

    Works on the frames of one community or of many feeders together (intervals are
    summed over feeders before peaks are taken; the optimum of split feeders is the sum of
    each feeder's optimum).  ``optimum`` holds :func:`optimum_totals` rows, and
    ``intervals`` the optimum's intervals (mechanism ``cooperative_optimum``).

    Columns: ``mechanism``, ``households``, ``bill`` and ``bill_alone`` (community totals
    [currency]), ``saving`` and ``saving_share`` (of the bill alone), ``better_off`` and
    ``worse_off`` (homes saving more than 0.01 / losing more than 0.01 currency units),
    ``gini_saving``, ``self_sufficiency`` (1 - grid import / load), ``self_consumption``
    (PV neither exported to the grid nor curtailed, over PV), ``traded_kwh`` (delivered),
    ``loss_kwh``, ``mean_price_per_kwh`` (volume-weighted trade price),
    ``mean_import_per_kwh`` and ``mean_feed_in_per_kwh`` (weighted by the traded volume, so
    comparable with the trade price), ``peak_import_kwh`` and ``peak_export_kwh`` (largest
    net feeder flow per interval), ``share_of_optimum`` (saving / the cooperative
    optimum's saving, where given) and ``share_of_pooling`` (saving / the *pooling*
    saving: what the homes would save if each feeder netted their grid flows alone as one
    meter, every battery running as alone, no loss; the value of sharing energy without
    moving any battery, next to the optimum, which also moves the batteries with perfect
    foresight).
    """
    by_t = intervals.group_by(TIME, "mechanism", maintain_order=True).agg(
        pl.col(c).sum()
        for c in (
            "load_kwh",
            "pv_kwh",
            "grid_import_kwh",
            "grid_export_kwh",
            "curtailed_kwh",
            "traded_kwh",
            "loss_kwh",
            "traded_value",
        )
    )
    prices = intervals.group_by(TIME, maintain_order=True).agg(
        pl.col("import_per_kwh").first(), pl.col("feed_in_per_kwh").first()
    )
    by_t = by_t.join(prices, on=TIME)
    net = pl.col("grid_import_kwh") - pl.col("grid_export_kwh")
    energy = by_t.group_by("mechanism", maintain_order=True).agg(
        (1 - pl.col("grid_import_kwh").sum() / pl.col("load_kwh").sum()).alias("self_sufficiency"),
        (
            1
            - (pl.col("grid_export_kwh").sum() + pl.col("curtailed_kwh").sum())
            / pl.col("pv_kwh").sum()
        ).alias("self_consumption"),
        pl.col("traded_kwh").sum(),
        pl.col("loss_kwh").sum(),
        (pl.col("traded_value").sum() / pl.col("traded_kwh").sum()).alias("mean_price_per_kwh"),
        (
            (pl.col("import_per_kwh") * pl.col("traded_kwh")).sum() / pl.col("traded_kwh").sum()
        ).alias("mean_import_per_kwh"),
        (
            (pl.col("feed_in_per_kwh") * pl.col("traded_kwh")).sum() / pl.col("traded_kwh").sum()
        ).alias("mean_feed_in_per_kwh"),
        net.max().alias("peak_import_kwh"),
        (-net).max().alias("peak_export_kwh"),
    )
    rows = []
    for (mech,), part in households.group_by("mechanism", maintain_order=True):
        saving = part["saving"].to_numpy()
        rows.append(
            {
                "mechanism": mech,
                "households": part.height,
                "bill": float(part["bill_market"].sum()),
                "bill_alone": float(part["bill_alone"].sum()),
                "saving": float(saving.sum()),
                "better_off": int((saving > 0.01).sum()),
                "worse_off": int((saving < -0.01).sum()),
                "gini_saving": gini(saving) if mech != NO_MARKET else float("nan"),
            }
        )
    best = None
    if optimum is not None and optimum.height:
        bill, alone = float(optimum["bill"].sum()), float(optimum["bill_alone"].sum())
        best = alone - bill
        rows.append(
            {
                "mechanism": OPTIMUM,
                "households": int(optimum["households"].sum()),
                "bill": bill,
                "bill_alone": alone,
                "saving": best,
                "better_off": None,
                "worse_off": None,
                "gini_saving": float("nan"),
            }
        )
    out = pl.DataFrame(rows).join(energy, on="mechanism", how="left")
    pool = pooling_saving(intervals)
    out = out.with_columns(
        (pl.col("saving") / pl.col("bill_alone")).alias("saving_share"),
        (pl.col("saving") / best if best else pl.lit(None, dtype=pl.Float64)).alias(
            "share_of_optimum"
        ),
        (pl.col("saving") / pool if pool > 0 else pl.lit(None, dtype=pl.Float64)).alias(
            "share_of_pooling"
        ),
    )
    order = {NO_MARKET: -1, OPTIMUM: 99}
    return out.sort(pl.col("mechanism").replace_strict(order, default=0, return_dtype=pl.Int64))


@dataclass(eq=False)
class CommunityResult:
    """Everything :func:`run_community` measured, as tidy frames.

    Attributes
    ----------
    summary : polars.DataFrame
        One row per mechanism (:func:`summarise`), the no-market run first and the
        cooperative optimum last (where solved).
    households : polars.DataFrame
        One row per home and mechanism (:func:`households_frame`).
    intervals : polars.DataFrame
        One row per interval and mechanism (:func:`intervals_frame`).
    optimum : OptimumResult or None
        The cooperative optimum (:mod:`energylib.trading.optimum`).
    optimum_totals : polars.DataFrame or None
        Its bill per feeder (:func:`optimum_totals`).
    runs : dict of MarketRun
        The runs themselves (with flows where recorded).
    currency : str
        Currency of the money columns.
    description : str
        What was run.
    seconds : dict of float
        Wall time per mechanism (per feeder where run on Dask) [s].
    processes : dict of int
        Where run on Dask: the process id that ran each feeder.
    """

    summary: pl.DataFrame
    households: pl.DataFrame
    intervals: pl.DataFrame
    optimum: OptimumResult | None
    optimum_totals: pl.DataFrame | None
    runs: dict[str, MarketRun]
    currency: str
    description: str
    seconds: dict[str, float]
    processes: dict[str, int] = field(default_factory=dict)


def run_community(
    community: Community,
    mechanisms: tuple[str, ...] | list[str] = DEFAULT_MECHANISMS,
    options: TradingOptions | None = None,
    *,
    optimum: bool = False,
    forecasts: Forecasts | None = None,
    record: bool = False,
    progress: bool = False,
    feeder: str = "",
) -> CommunityResult:
    """Run the no-market baseline and each mechanism over a community; optionally bound
    them with the cooperative optimum.

    Parameters
    ----------
    community : Community
        Homes, prices and limits.
    mechanisms : sequence of str
        Mechanisms to run (:data:`energylib.trading.market.MECHANISMS`).
    options : TradingOptions, optional
        Node and market behaviour.
    optimum : bool
        Also solve the cooperative optimum (one LP over every home's battery with free
        exchange; meant for 10-20 homes).
    forecasts : Forecasts, optional
        The nodes' forecasts (default: ``options.forecast``).
    record : bool
        Keep per-interval, per-home flows in each run.
    progress : bool
        Progress bars.
    feeder : str
        A label for the ``feeder`` column.
    """
    options = options or TradingOptions()
    alone = simulate(
        community, None, options, forecasts=forecasts, record=record, progress=progress
    )
    runs = {NO_MARKET: alone}
    for name in mechanisms:
        runs[name] = simulate(
            community, name, options, forecasts=forecasts, record=record, progress=progress
        )
    households = pl.concat([households_frame(community, r, alone, feeder) for r in runs.values()])
    frames = [intervals_frame(community, k, r.intervals, feeder) for k, r in runs.items()]
    seconds = {k: r.seconds for k, r in runs.items()}
    opt = None
    totals = None
    if optimum:
        opt = cooperative_optimum(community)
        frames.append(optimum_intervals_frame(community, opt, feeder))
        totals = optimum_totals(community, opt, float(alone.bill.sum()), feeder)
        seconds[OPTIMUM] = opt.seconds
    intervals = pl.concat(frames)
    summary = summarise(households, intervals, totals)
    return CommunityResult(
        summary=summary,
        households=households,
        intervals=intervals,
        optimum=opt,
        optimum_totals=totals,
        runs=runs,
        currency=community.year.currency,
        description=community.description,
        seconds=seconds,
    )
