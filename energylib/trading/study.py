"""A community market study from a params file: homes, prices, mechanisms, the optimum.

:func:`load_params` reads ``params/community_*.yaml`` into :class:`MarketParams` (every key
checked; an error names the file, the key and the fix); :func:`run_study` builds the
year (:func:`~energylib.trading.homes.market_year`) and the homes, runs the no-market
baseline, every mechanism and (for a small community) the cooperative optimum, in this
process or on a Dask scheduler (:mod:`energylib.trading.distributed`), and returns
:class:`MarketStudy`: the tidy frames of
:class:`~energylib.trading.community.CommunityResult` and a table of the homes.

The keys, with their defaults, are in :data:`DEFAULTS`; ``params/community_nem.yaml``
shows them all with comments.  ``scale.scheduler``: ``null`` runs here; ``local`` starts
a LocalCluster; an address (``tcp://host:8786``) uses that scheduler; with a scheduler the
work splits by feeder (``scale.feeder_size`` homes each) and by mechanism.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

from energylib.config import PROJECT_ROOT, load_settings
from energylib.dispatch.assets import Battery, GridLimits
from energylib.params_file import read_params_file
from energylib.store import ParquetStore
from energylib.tariff import AmberTariff, DynamicEUTariff, FlatTariff
from energylib.trading.community import (
    NO_MARKET,
    CommunityResult,
    TradingOptions,
    run_community,
    summarise,
)
from energylib.trading.distributed import (
    SYNCHRONOUS,
    Scenario,
    generated_feeders,
    run_distributed,
    split_feeders,
)
from energylib.trading.homes import (
    TRADING_BATTERY,
    Community,
    HomeMix,
    MarketYear,
    citylearn_community,
    generated_community,
    market_year,
    sgsc_community,
)
from energylib.trading.market import MECHANISMS, MarketRules

HOME_SOURCES = ("citylearn", "sgsc", "generated")
LOCAL_CLUSTER = "local"

DEFAULTS: dict[str, Any] = {
    "title": "Community energy market",
    "market": "nem",
    "year": 2025,
    "interval_minutes": 30,
    "start_day": 0,
    "days": None,
    "prices": {
        "source": "default_year",
        "store_dir": "",
        "store_source": "simulated",
        "store_site": None,
    },
    "tariff": {"kind": None},
    "homes": {
        "source": "generated",
        "path": "",
        "if_missing": "error",
        "count": None,
        "shift_months": 0,
        "seed": 0,
        "mix": {},
    },
    "battery": {},
    "grid": {
        "import_kwh_per_interval": 10.0,
        "export_kwh_per_interval": 4.0,
        "per_interval_minutes": 30,
    },
    "trading": {
        "mechanisms": list(MECHANISMS),
        "loss_fraction": 0.05,
        "seller_margin_fraction": 0.05,
        "score_threshold": 75.0,
        "horizon_hours": 24.0,
        "forecast": "persistence",
        "battery_trading": True,
        "seed": 0,
    },
    "optimum": {"enabled": False, "max_homes": 20},
    "scale": {"feeder_size": None, "scheduler": None, "n_workers": None},
}


# Sections checked by the class they build (HomeMix, Battery, the tariff, GridLimits), not key by key;
# given, they replace the default whole.
_FREE_SECTIONS = ("mix", "battery", "tariff", "grid")


class MarketStudyError(ValueError):
    """A study's params cannot be used: names the file, the key and how to fix it."""


@dataclass(frozen=True)
class MarketParams:
    """A community market study, as read from its YAML file (see :data:`DEFAULTS`)."""

    title: str
    market: str
    year: int
    interval_minutes: int
    start_day: float
    days: float | None
    prices: dict[str, Any]
    tariff: dict[str, Any]
    homes: dict[str, Any]
    mix: HomeMix
    battery: Battery
    grid: GridLimits
    mechanisms: tuple[str, ...]
    options: TradingOptions
    optimum: dict[str, Any]
    scale: dict[str, Any]
    source: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def where(self) -> str:
        return str(self.source) if self.source else "market params"


def _merge(defaults: dict, given: dict, where: str, path: str = "") -> dict:
    out = copy.deepcopy(defaults)
    for key, value in given.items():
        name = f"{path}{key}"
        if key not in defaults:
            raise MarketStudyError(
                f"{where}: unknown key {name!r}; allowed here: {sorted(defaults)}"
            )
        if isinstance(defaults[key], dict) and key not in _FREE_SECTIONS:
            if not isinstance(value, dict):
                raise MarketStudyError(f"{where}: {name} must be a mapping of keys to values")
            out[key] = _merge(defaults[key], value, where, f"{name}.")
        else:
            out[key] = value
    return out


def _typed(cls, values: dict, where: str, key: str):
    try:
        return cls(**values)
    except TypeError as err:
        raise MarketStudyError(
            f"{where}: {key}: {err}; keys are {sorted(cls.__dataclass_fields__)}"
        ) from None
    except ValueError as err:
        raise MarketStudyError(f"{where}: {key}: {err}") from None


def params_from_dict(raw: dict[str, Any], source: Path | None = None) -> MarketParams:
    """Check and type a parsed params mapping (see :func:`load_params`)."""
    where = str(source) if source else "market params"
    p = _merge(DEFAULTS, raw, where)
    if p["market"] not in ("nem", "nl"):
        raise MarketStudyError(f"{where}: market is {p['market']!r}; use nem or nl")
    if int(p["interval_minutes"]) not in (5, 15, 30, 60):
        raise MarketStudyError(
            f"{where}: interval_minutes must be 5, 15, 30 or 60, got {p['interval_minutes']}"
        )
    if p["prices"]["source"] not in ("default_year", "store"):
        raise MarketStudyError(
            f"{where}: prices.source is {p['prices']['source']!r}; use default_year or store"
        )
    if not isinstance(p["tariff"], dict):
        raise MarketStudyError(f"{where}: tariff must be a mapping (kind: amber, ...)")
    p["tariff"] = dict(p["tariff"])
    kind = p["tariff"].get("kind") or ("amber" if p["market"] == "nem" else "eu_dynamic")
    if kind not in ("amber", "eu_dynamic", "flat"):
        raise MarketStudyError(f"{where}: tariff.kind {kind!r}; use amber, eu_dynamic or flat")
    p["tariff"]["kind"] = kind
    homes = p["homes"]
    if homes["source"] not in HOME_SOURCES:
        raise MarketStudyError(
            f"{where}: homes.source is {homes['source']!r}; use one of {HOME_SOURCES}"
        )
    if homes["if_missing"] not in ("error", "generated"):
        raise MarketStudyError(
            f"{where}: homes.if_missing is {homes['if_missing']!r}; use error or generated"
        )
    if homes["source"] == "generated" and not homes["count"]:
        raise MarketStudyError(f"{where}: homes.count is needed for generated homes")
    mix = _typed(HomeMix, dict(homes["mix"] or {}), where, "homes.mix")
    battery = _typed(
        Battery, {**_battery_dict(TRADING_BATTERY), **(p["battery"] or {})}, where, "battery"
    )
    grid = _typed(GridLimits, p["grid"], where, "grid")
    m = p["trading"]
    mechanisms = tuple(m["mechanisms"] or ())
    unknown = [x for x in mechanisms if x not in MECHANISMS]
    if unknown or not mechanisms:
        raise MarketStudyError(
            f"{where}: trading.mechanisms {list(mechanisms)}: use one or more of {sorted(MECHANISMS)}"
        )
    rules = _typed(
        MarketRules,
        {
            "loss_fraction": m["loss_fraction"],
            "seller_margin_fraction": m["seller_margin_fraction"],
        },
        where,
        "trading",
    )
    options = _typed(
        TradingOptions,
        {
            "rules": rules,
            "score_threshold": float(m["score_threshold"]),
            "horizon_hours": float(m["horizon_hours"]),
            "forecast": m["forecast"],
            "battery_trading": bool(m["battery_trading"]),
            "seed": int(m["seed"]),
        },
        where,
        "trading",
    )
    if p["days"] is not None and not float(p["days"]) > 0:
        raise MarketStudyError(f"{where}: days must be > 0 (or null for the whole year)")
    return MarketParams(
        title=str(p["title"]),
        market=p["market"],
        year=int(p["year"]),
        interval_minutes=int(p["interval_minutes"]),
        start_day=float(p["start_day"]),
        days=None if p["days"] is None else float(p["days"]),
        prices=p["prices"],
        tariff=p["tariff"],
        homes=homes,
        mix=mix,
        battery=battery,
        grid=grid,
        mechanisms=mechanisms,
        options=options,
        optimum=p["optimum"],
        scale=p["scale"],
        source=source,
        raw=raw,
    )


def _battery_dict(b: Battery) -> dict[str, Any]:
    return {k: getattr(b, k) for k in Battery.__dataclass_fields__}


def load_params(path: str | Path, overrides: dict[str, Any] | None = None) -> MarketParams:
    """Read a market study's YAML file (relative paths: the current folder, then the
    project root); ``overrides`` replace top-level keys (nested mappings merge one level)."""
    p, raw = read_params_file(path, overrides, error=MarketStudyError)
    return params_from_dict(raw, source=p)


# --------------------------------------------------------------------------- inputs
def make_tariff(params: MarketParams):
    """The tariff of the params' ``tariff:`` section."""
    t = dict(params.tariff)
    kind = t.pop("kind")
    cls = {"amber": AmberTariff, "eu_dynamic": DynamicEUTariff, "flat": FlatTariff}[kind]
    return _typed(cls, t, params.where(), f"tariff ({kind})")


def load_year(params: MarketParams) -> MarketYear:
    """The study window of the year: prices through the tariff, weather for modelled PV."""
    pr = params.prices
    store = None
    if pr["source"] == "store":
        store = ParquetStore(pr["store_dir"] or load_settings().processed_dir)
    try:
        year = market_year(
            params.market,
            make_tariff(params),
            year=params.year,
            interval_minutes=params.interval_minutes,
            store=store,
            store_source=pr["store_source"],
            store_site=pr["store_site"],
        )
        return year.window(params.start_day, params.days)
    except ValueError as err:
        raise MarketStudyError(f"{params.where()}: prices: {err}") from None


def _data_path(path: str) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else PROJECT_ROOT / p


def resolve_homes(params: MarketParams) -> tuple[str, Path | None, int | None, str]:
    """``(source, path, count, note)`` of the homes: where real data is missing and
    ``homes.if_missing`` is ``generated``, that many generated homes (17 by default), and a
    note saying so for the description."""
    h = params.homes
    if h["source"] == "generated":
        return "generated", None, int(h["count"]), ""
    path = _data_path(h["path"])
    if path.exists():
        return h["source"], path, h["count"], ""
    if h["if_missing"] != "generated":
        raise MarketStudyError(
            f"{params.where()}: homes.path {h['path']!r} does not exist ({path}); "
            "point it at the data, or set homes.if_missing: generated"
        )
    note = f" (the {h['source']} data at {path} is absent: homes.if_missing: generated)"
    return "generated", None, int(h["count"] or 17), note


def load_homes(params: MarketParams, year: MarketYear) -> Community:
    """The community the params describe (see ``homes:`` and :func:`resolve_homes`)."""
    h = params.homes
    source, path, count, note = resolve_homes(params)
    kw = {"battery": params.battery, "grid": params.grid}
    try:
        if source == "citylearn":
            c = citylearn_community(
                path, year, count=count, shift_months=int(h["shift_months"]), **kw
            )
        elif source == "sgsc":
            c = sgsc_community(
                path,
                year,
                count=count,
                mix=params.mix,
                seed=int(h["seed"]),
                shift_months=int(h["shift_months"]),
                **kw,
            )
        else:
            c = generated_community(int(count), year, mix=params.mix, seed=int(h["seed"]), **kw)
    except (ValueError, LookupError, FileNotFoundError) as err:
        raise MarketStudyError(f"{params.where()}: homes: {err}") from None
    return replace(c, description=c.description + note) if note else c


# --------------------------------------------------------------------------- the study
@dataclass(eq=False)
class MarketStudy:
    """A study's results.

    Attributes
    ----------
    params : MarketParams
    result : CommunityResult
        Summary, households and intervals frames (and the runs where run here).
    homes : polars.DataFrame
        One row per home (:meth:`Community.homes_frame`).
    year_description : str
        Where the prices came from.
    timezone : str
        The site's time zone (for local-time charts).
    days : float
        Length of the study window [days].
    seconds : dict of float
        Wall time per stage [s].
    """

    params: MarketParams
    result: CommunityResult
    homes: pl.DataFrame
    year_description: str
    timezone: str
    days: float
    seconds: dict[str, float]

    @property
    def summary(self) -> pl.DataFrame:
        return self.result.summary

    @property
    def currency(self) -> str:
        return self.result.currency

    def _mechanisms(self) -> pl.DataFrame:
        return self.summary.filter(~pl.col("mechanism").is_in([NO_MARKET, "cooperative_optimum"]))

    def best(self) -> dict[str, Any]:
        """The mechanism with the largest community saving (a summary row as a dict)."""
        return self._mechanisms().sort("saving", descending=True).row(0, named=True)

    def fairest(self) -> dict[str, Any]:
        """The mechanism whose savings are spread most evenly (lowest Gini coefficient of
        savings; a summary row as a dict)."""
        s = self._mechanisms().filter(pl.col("gini_saving").is_not_nan())
        return (s if s.height else self._mechanisms()).sort("gini_saving").row(0, named=True)


def _merge_mechanisms(results: dict[str, CommunityResult], description: str) -> CommunityResult:
    """One result from per-mechanism scenarios (each ran the no-market baseline too)."""
    first = next(iter(results.values()))
    keep = [first.households] + [
        r.households.filter(pl.col("mechanism") != NO_MARKET) for r in list(results.values())[1:]
    ]
    households = pl.concat(keep).drop("scenario")
    intervals = pl.concat(
        [first.intervals]
        + [r.intervals.filter(pl.col("mechanism") != NO_MARKET) for r in list(results.values())[1:]]
    ).drop("scenario")
    totals = [r.optimum_totals for r in results.values() if r.optimum_totals is not None]
    opt = pl.concat(totals) if totals else None
    return replace(
        first,
        summary=summarise(households, intervals, opt),
        households=households,
        intervals=intervals,
        optimum_totals=opt,
        description=description,
        seconds={k: sum(r.seconds.values()) for k, r in results.items()},
    )


def run_study(
    params: MarketParams, *, scheduler: str | None = None, progress: bool = False
) -> MarketStudy:
    """Run a market study.

    Parameters
    ----------
    params : MarketParams
        The study (:func:`load_params`).
    scheduler : str, optional
        Overrides ``scale.scheduler``: ``"local"`` (a LocalCluster), an address, or None
        (the params' choice; ``null`` there runs in this process).
    progress : bool
        Progress bars (over intervals here, over tasks on Dask).
    """
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    year = load_year(params)
    seconds["prices"] = time.perf_counter() - t0
    opt = params.optimum
    sched = scheduler or params.scale["scheduler"]
    size = params.scale["feeder_size"]
    source, _, count, note = resolve_homes(params)
    t0 = time.perf_counter()
    if sched is not None and source == "generated":
        # generated homes are made on the workers, feeder by feeder: only the year travels
        feeders = generated_feeders(
            int(count), int(size or count), seed=int(params.homes["seed"]), mix=params.mix,
            battery=params.battery, grid=params.grid,
        )  # fmt: skip
        community = None
        description = f"{count} generated homes (seed {params.homes['seed']}){note}"
    else:
        community = load_homes(params, year)
        feeders = split_feeders(community, int(size or community.n_homes)) if sched else []
        description = community.description
    seconds["homes"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    largest = max(
        [f.community.n_homes if f.community is not None else f.n_homes for f in feeders]
        or [community.n_homes]
    )
    want_optimum = bool(opt["enabled"]) and largest <= int(opt["max_homes"])
    if sched is None:
        result = run_community(
            community, params.mechanisms, params.options, optimum=want_optimum, progress=progress
        )
    else:
        scenarios = [
            Scenario(m, (m,), params.options, optimum=want_optimum and i == 0)
            for i, m in enumerate(params.mechanisms)
        ]
        per = run_distributed(
            year,
            feeders,
            scenarios,
            scheduler=None if sched == LOCAL_CLUSTER else sched,
            n_workers=params.scale["n_workers"],
            progress=progress,
            description=description,
        )
        result = _merge_mechanisms(per, f"{description}, {len(feeders)} feeder(s) on {sched}")
    seconds["market"] = time.perf_counter() - t0
    homes = (
        community.homes_frame()
        if community is not None
        else result.households.filter(pl.col("mechanism") == NO_MARKET).select(
            "household", "load_kwh", "pv_kwh", "has_battery"
        )
    )
    return MarketStudy(
        params=params,
        result=result,
        homes=homes,
        year_description=year.description,
        timezone=year.cal.timezone,
        days=len(year) * year.interval_minutes / 1440,
        seconds=seconds,
    )


def headline(study: MarketStudy) -> pl.DataFrame:
    """The summary as a short table for a terminal or a notebook (money rounded)."""
    s = study.summary
    cols = [
        pl.col("mechanism"),
        pl.col("bill").round(0),
        pl.col("saving").round(0),
        (pl.col("saving_share") * 100).round(1).alias("saving_pct"),
        (pl.col("share_of_optimum") * 100).round(0).alias("of_optimum_pct"),
        (pl.col("share_of_pooling") * 100).round(0).alias("of_pooling_pct"),
        (pl.col("self_sufficiency") * 100).round(1).alias("self_sufficiency_pct"),
        (pl.col("self_consumption") * 100).round(1).alias("self_consumption_pct"),
        pl.col("traded_kwh").round(0),
        pl.col("mean_price_per_kwh").round(3),
        pl.col("gini_saving").round(2),
        pl.col("worse_off"),
        pl.col("peak_import_kwh").round(1),
        pl.col("peak_export_kwh").round(1),
    ]
    return s.select(cols)


def save_results(study: MarketStudy, folder: str | Path) -> list[Path]:
    """Write the summary, households, intervals and homes frames as Parquet into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, frame in (
        ("summary", study.summary),
        ("households", study.result.households),
        ("intervals", study.result.intervals),
        ("homes", study.homes),
    ):
        path = folder / f"{name}.parquet"
        frame.write_parquet(path)
        out.append(path)
    return out


__all__ = [
    "DEFAULTS",
    "LOCAL_CLUSTER",
    "SYNCHRONOUS",
    "MarketParams",
    "MarketStudy",
    "MarketStudyError",
    "headline",
    "load_homes",
    "load_params",
    "load_year",
    "make_tariff",
    "params_from_dict",
    "run_study",
    "save_results",
]
