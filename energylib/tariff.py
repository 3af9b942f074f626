"""Retail electricity tariffs: per-interval prices and itemised monthly bills.

Every tariff turns a :class:`Calendar` (the intervals in UTC and in the site's local time)
and, where it passes market prices through, :class:`MarketPrices` into two arrays:

* ``import_per_kwh[t]``: what one imported kWh costs in interval t [currency/kWh];
* ``export_credit_per_kwh[t]``: what one exported kWh *earns* [currency/kWh]; negative when
  exporting costs money (Amber's feed-in channel carries the opposite sign, see below).

and bills a series of imports and exports with :meth:`Tariff.bill`, one row per local
calendar month: ``energy_cost`` (imports x import price), ``supply_cost`` (daily supply
charge x days), ``fees_cost`` (monthly fee, pro rata for partial months),
``tax_credit`` (a fixed annual tax credit, pro rata), ``feed_in_credit`` (exports x
credit), and ``total_cost = energy_cost + supply_cost + fees_cost - tax_credit -
feed_in_credit``.  Months are local calendar months; "days" are local dates with at least
one interval in the series.

Tariffs
-------
:class:`AmberTariff`
    Amber-style pass-through: the all-in ``general`` channel price per interval as billed
    (network, market, GST included), feed-in at the ``feed_in`` channel price with Amber's
    sign flipped (Amber's feed-in ``price_per_kwh`` is negative when exporting earns money),
    a daily supply charge and a monthly subscription fee.
:class:`TimeOfUseTariff`
    Periods by local time of day, weekday/weekend and season (months); first matching
    period wins; a flat (or TOU) feed-in credit.
:class:`FlatTariff`
    One import price, one feed-in credit.
:class:`NemRetailTariff`
    Retail prices built from NEM wholesale spot prices, for anyone without an Amber
    account: ``(spot x loss factor + network time-of-use charge + pass-throughs +
    retail margin) x (1 + GST)`` per interval, the network's daily supply and metering
    charges, a monthly retail fee, and feed-in at spot x loss factor (Amber-style) or a
    flat feed-in tariff.  :data:`NETWORKS` holds indicative 2025-26 network rates per
    distribution network; :data:`REGION_NETWORKS` picks one per NEM price region.
:class:`DynamicEUTariff`
    European dynamic contract: ``(spot + supplier margin + energy tax) x (1 + VAT)`` per
    interval, feed-in at spot minus a fee (or, under Dutch annual netting, the energy tax
    netted on volume over the billing year), a
    monthly fee, a daily network charge and an annual energy-tax credit
    (Dutch *vermindering energiebelasting*).

Use
---
>>> cal = Calendar.from_utc(interval_start, "Australia/Sydney", 5)
>>> imp, exp = tariff.interval_prices(cal, MarketPrices(general, feed_in, spot))
>>> monthly = tariff.bill(import_kwh, export_kwh, cal, MarketPrices(...))
"""

from __future__ import annotations

import calendar as _calendar
from dataclasses import dataclass
from datetime import time
from functools import cached_property

import numpy as np
import polars as pl

BILL_COLUMNS = (
    "month",
    "days",
    "import_kwh",
    "export_kwh",
    "energy_cost",
    "supply_cost",
    "fees_cost",
    "tax_credit",
    "feed_in_credit",
    "total_cost",
)


# --------------------------------------------------------------------------- calendar
@dataclass(frozen=True, eq=False)
class Calendar:
    """The intervals of a series in UTC and in the site's local time.

    Attributes
    ----------
    interval_start : numpy.ndarray of datetime64[us]
        UTC interval starts.
    local : numpy.ndarray of datetime64[m]
        Naive local interval starts (wall clock at the site).
    interval_minutes : int
        Interval length [min].
    timezone : str
        IANA time zone of the site.
    """

    interval_start: np.ndarray
    local: np.ndarray
    interval_minutes: int
    timezone: str

    @classmethod
    def from_utc(
        cls, interval_start: np.ndarray | pl.Series, timezone: str, interval_minutes: int
    ) -> Calendar:
        """Build from UTC interval starts (tz-aware polars Series or naive-UTC datetime64)."""
        s = (
            interval_start
            if isinstance(interval_start, pl.Series)
            else pl.Series("t", np.asarray(interval_start))
        )
        if s.dtype.time_zone is None:  # type: ignore[union-attr]
            s = s.dt.replace_time_zone("UTC")
        s = s.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
        local = s.dt.convert_time_zone(timezone).dt.replace_time_zone(None)
        return cls(
            interval_start=s.dt.replace_time_zone(None).to_numpy(),
            local=local.to_numpy().astype("datetime64[m]"),
            interval_minutes=int(interval_minutes),
            timezone=timezone,
        )

    def __len__(self) -> int:
        return int(self.local.size)

    @cached_property
    def local_date(self) -> np.ndarray:
        """Local calendar date per interval (datetime64[D])."""
        return self.local.astype("datetime64[D]")

    @cached_property
    def local_month(self) -> np.ndarray:
        """Local calendar month per interval (datetime64[M])."""
        return self.local.astype("datetime64[M]")

    @cached_property
    def months(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(months, month_index, days, days_in_month)``: the local months present, each
        interval's index into them, local dates present per month, calendar days per month."""
        local_month, local_date = self.local_month, self.local_date
        starts = self.month_starts
        if starts is not None:
            # Sorted intervals (every calendar a study builds): runs, not a sort.
            months = local_month[starts]
            m_idx = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, local_month.size]))
            first = np.flatnonzero(np.r_[True, local_date[1:] != local_date[:-1]])
        else:
            months, m_idx = np.unique(local_month, return_inverse=True)
            _, first = np.unique(local_date, return_index=True)
        days = np.bincount(m_idx[first], minlength=months.size).astype(float)
        days_in_month = np.array(
            [_calendar.monthrange(int(str(m)[:4]), int(str(m)[5:7]))[1] for m in months],
            dtype=float,
        )
        return months, m_idx, days, days_in_month

    @cached_property
    def month_starts(self) -> np.ndarray | None:
        """Index of each local month's first interval where the intervals are in time order
        (so a month's intervals are one run), else None."""
        m = self.local_month
        if not (m.size and np.all(m[1:] >= m[:-1])):
            return None
        return np.flatnonzero(np.r_[True, m[1:] != m[:-1]])

    @property
    def month_of_year(self) -> np.ndarray:
        """1-12 per interval (local)."""
        return (self.local_month.astype(np.int64) % 12 + 1).astype(np.int64)

    @property
    def weekday(self) -> np.ndarray:
        """Local weekday per interval, Monday = 0 ... Sunday = 6."""
        return (self.local_date.astype(np.int64) + 3) % 7

    @property
    def minute_of_day(self) -> np.ndarray:
        """Local minutes since midnight per interval [min]."""
        return (self.local - self.local_date).astype(np.int64)


@dataclass(frozen=True, eq=False)
class MarketPrices:
    """Market price channels per interval, as stored (see energylib.schema, kind ``prices``).

    Parameters
    ----------
    general_per_kwh : numpy.ndarray or None
        All-in retail import price of the ``general`` channel [currency/kWh].
    feed_in_per_kwh : numpy.ndarray or None
        Amber's ``feed_in`` channel price [currency/kWh]: *negative* when exporting earns.
    spot_per_kwh : numpy.ndarray or None
        Wholesale / day-ahead price, taxes excluded [currency/kWh].
    """

    general_per_kwh: np.ndarray | None = None
    feed_in_per_kwh: np.ndarray | None = None
    spot_per_kwh: np.ndarray | None = None

    def need(self, name: str, tariff: str, n: int) -> np.ndarray:
        arr = getattr(self, name)
        if arr is None:
            raise ValueError(
                f"{tariff} needs market prices {name!r} per interval; read the prices kind from the store "
                "(channel 'general' for general/spot, 'feed_in' for feed-in) and pass them in MarketPrices"
            )
        arr = np.asarray(arr, dtype=float)
        if arr.shape != (n,):
            raise ValueError(
                f"{tariff}: {name} has {arr.shape} values; the calendar has {n} intervals"
            )
        if not np.isfinite(arr).all():
            bad = np.flatnonzero(~np.isfinite(arr))
            raise ValueError(
                f"{tariff}: {name} holds NaN/inf at {bad.size} intervals (first {bad[:3].tolist()}); fill the gaps first"
            )
        return arr


# --------------------------------------------------------------------------- bills
class Tariff:
    """Base of every tariff: fixed charges and the monthly bill.

    Subclasses set ``daily_supply_per_day`` [currency/day], ``monthly_fee`` [currency/month],
    ``annual_tax_credit`` [currency/year] and implement :meth:`interval_prices`.
    """

    daily_supply_per_day: float = 0.0
    monthly_fee: float = 0.0
    annual_tax_credit: float = 0.0
    name: str = "tariff"

    def interval_prices(
        self, cal: Calendar, market: MarketPrices | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(import_per_kwh, export_credit_per_kwh)`` per interval [currency/kWh]."""
        raise TypeError(f"{type(self).__name__} does not define interval_prices")

    def bill(
        self,
        import_kwh: np.ndarray,
        export_kwh: np.ndarray,
        cal: Calendar,
        market: MarketPrices | None = None,
        *,
        prices: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> pl.DataFrame:
        """Itemised bill per local calendar month.

        Parameters
        ----------
        import_kwh, export_kwh : numpy.ndarray
            Grid import and export per interval [kWh].
        cal : Calendar
            The intervals.
        market : MarketPrices, optional
            Market prices, for pass-through tariffs.
        prices : tuple of arrays, optional
            Precomputed :meth:`interval_prices` (saves recomputing them in sweeps).

        Returns
        -------
        polars.DataFrame
            Columns :data:`BILL_COLUMNS`; money in the tariff's currency.
        """
        imp_p, exp_c = self.interval_prices(cal, market) if prices is None else prices
        return bill_from_prices(
            import_kwh,
            export_kwh,
            imp_p,
            exp_c,
            cal,
            daily_supply_per_day=self.daily_supply_per_day,
            monthly_fee=self.monthly_fee,
            annual_tax_credit=self.annual_tax_credit,
        )


def bill_from_prices(
    import_kwh: np.ndarray,
    export_kwh: np.ndarray,
    import_per_kwh: np.ndarray,
    export_credit_per_kwh: np.ndarray,
    cal: Calendar,
    *,
    daily_supply_per_day: float = 0.0,
    monthly_fee: float = 0.0,
    annual_tax_credit: float = 0.0,
) -> pl.DataFrame:
    """The monthly bill for given per-interval prices (see :meth:`Tariff.bill`)."""
    n = len(cal)
    imp = np.asarray(import_kwh, dtype=float)
    exp = np.asarray(export_kwh, dtype=float)
    if imp.shape != (n,) or exp.shape != (n,):
        raise ValueError(
            f"import_kwh {imp.shape} and export_kwh {exp.shape} must have one value per interval ({n})"
        )
    months, m_idx, days, days_in_month = cal.months
    k = months.size
    share = days / days_in_month
    starts = cal.month_starts
    if starts is not None:  # months are runs: sums by reduceat, ten times faster than bincount

        def per_month(x: np.ndarray) -> np.ndarray:
            return np.add.reduceat(x, starts) if x.size else np.zeros(k)
    else:

        def per_month(x: np.ndarray) -> np.ndarray:
            return np.bincount(m_idx, weights=x, minlength=k)

    energy = per_month(imp * import_per_kwh)
    credit = per_month(exp * export_credit_per_kwh)
    supply = days * daily_supply_per_day
    fees = share * monthly_fee
    tax = share * annual_tax_credit / 12.0
    total = energy + supply + fees - tax - credit
    return pl.DataFrame(
        {
            "month": [str(m) for m in months],
            "days": days.astype(np.int64),
            "import_kwh": per_month(imp),
            "export_kwh": per_month(exp),
            "energy_cost": energy,
            "supply_cost": supply,
            "fees_cost": fees,
            "tax_credit": tax,
            "feed_in_credit": credit,
            "total_cost": total,
        }
    )


def annual_total(bill: pl.DataFrame) -> float:
    """Sum of a bill's ``total_cost`` [currency]."""
    return float(bill["total_cost"].sum())


# --------------------------------------------------------------------------- tariffs
@dataclass(frozen=True)
class AmberTariff(Tariff):
    """Amber Electric pass-through.

    Parameters
    ----------
    daily_supply_per_day : float
        Network daily supply charge [currency/day] (Ausgrid residential ~1.10 AUD incl. GST).
    monthly_fee : float
        Amber subscription [currency/month] (~25 AUD incl. GST).
    """

    daily_supply_per_day: float = 1.10
    monthly_fee: float = 25.0
    name: str = "amber"

    def interval_prices(
        self, cal: Calendar, market: MarketPrices | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        market = market or MarketPrices()
        n = len(cal)
        imp = market.need("general_per_kwh", "AmberTariff", n)
        # Amber's feed-in price is what the customer is *charged* per exported kWh.
        exp = -market.need("feed_in_per_kwh", "AmberTariff", n)
        return imp, exp


@dataclass(frozen=True)
class FlatTariff(Tariff):
    """One import price, one feed-in credit.

    Parameters
    ----------
    import_per_kwh : float
        [currency/kWh].
    feed_in_credit_per_kwh : float
        Earned per exported kWh [currency/kWh].
    daily_supply_per_day : float
        [currency/day].
    monthly_fee : float
        [currency/month].
    """

    import_per_kwh: float = 0.30
    feed_in_credit_per_kwh: float = 0.05
    daily_supply_per_day: float = 1.10
    monthly_fee: float = 0.0
    name: str = "flat"

    def interval_prices(
        self, cal: Calendar, market: MarketPrices | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        n = len(cal)
        return np.full(n, float(self.import_per_kwh)), np.full(
            n, float(self.feed_in_credit_per_kwh)
        )


DAY_SETS = {
    "all": frozenset(range(7)),
    "weekdays": frozenset(range(5)),
    "weekends": frozenset({5, 6}),
}
ALL_MONTHS = tuple(range(1, 13))


@dataclass(frozen=True)
class TouPeriod:
    """One period of a time-of-use tariff.

    Parameters
    ----------
    name : str
        ``peak``, ``shoulder``, ``offpeak`` ...
    price_per_kwh : float
        Import price in this period [currency/kWh].
    start, end : datetime.time
        Local start (inclusive) and end (exclusive) of the period; ``end <= start`` wraps
        past midnight (22:00-07:00); ``start == end`` is the whole day.
    days : {'all', 'weekdays', 'weekends'}
        Which local weekdays.
    months : tuple of int
        Months 1-12 in which it applies (a season).
    """

    name: str
    price_per_kwh: float
    start: time = time(0, 0)
    end: time = time(0, 0)
    days: str = "all"
    months: tuple[int, ...] = ALL_MONTHS

    def __post_init__(self) -> None:
        if self.days not in DAY_SETS:
            raise ValueError(
                f"TouPeriod {self.name!r}: days={self.days!r}; use one of {sorted(DAY_SETS)}"
            )
        if not self.months or any(m not in ALL_MONTHS for m in self.months):
            raise ValueError(f"TouPeriod {self.name!r}: months {self.months} must be within 1-12")

    def mask(self, cal: Calendar) -> np.ndarray:
        """True where an interval *starts* inside this period."""
        mod = cal.minute_of_day
        a = self.start.hour * 60 + self.start.minute
        b = self.end.hour * 60 + self.end.minute
        if a == b:
            in_time = np.ones(mod.size, dtype=bool)
        elif a < b:
            in_time = (mod >= a) & (mod < b)
        else:
            in_time = (mod >= a) | (mod < b)
        in_days = np.isin(cal.weekday, list(DAY_SETS[self.days]))
        in_months = np.isin(cal.month_of_year, list(self.months))
        return in_time & in_days & in_months


@dataclass(frozen=True)
class TimeOfUseTariff(Tariff):
    """Time-of-use tariff.

    Parameters
    ----------
    periods : tuple of TouPeriod
        The first period that matches an interval sets its price; every interval must match
        one (end with an all-day catch-all period to be safe).
    feed_in_credit_per_kwh : float
        Flat feed-in credit [currency/kWh]; ignored where ``feed_in_periods`` is given.
    feed_in_periods : tuple of TouPeriod
        Optional time-varying feed-in credit (price_per_kwh = credit).
    daily_supply_per_day : float
        [currency/day].
    monthly_fee : float
        [currency/month].
    """

    periods: tuple[TouPeriod, ...] = ()
    feed_in_credit_per_kwh: float = 0.05
    feed_in_periods: tuple[TouPeriod, ...] = ()
    daily_supply_per_day: float = 1.10
    monthly_fee: float = 0.0
    name: str = "tou"

    def __post_init__(self) -> None:
        if not self.periods:
            raise ValueError("TimeOfUseTariff needs at least one TouPeriod")

    @staticmethod
    def _price(periods: tuple[TouPeriod, ...], cal: Calendar, what: str) -> np.ndarray:
        n = len(cal)
        out = np.full(n, np.nan)
        for p in periods:
            m = p.mask(cal) & np.isnan(out)
            out[m] = p.price_per_kwh
        gap = np.isnan(out)
        if gap.any():
            first = cal.local[np.flatnonzero(gap)[:3]]
            raise ValueError(
                f"TimeOfUseTariff: {int(gap.sum())} intervals match no {what} period (first at local "
                f"{[str(x) for x in first]}); add a period covering them, e.g. an all-day catch-all"
            )
        return out

    def interval_prices(
        self, cal: Calendar, market: MarketPrices | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        imp = self._price(self.periods, cal, "import")
        if self.feed_in_periods:
            exp = self._price(self.feed_in_periods, cal, "feed-in")
        else:
            exp = np.full(len(cal), float(self.feed_in_credit_per_kwh))
        return imp, exp


def sydney_tou(
    peak_per_kwh: float = 0.55,
    shoulder_per_kwh: float = 0.30,
    offpeak_per_kwh: float = 0.22,
    feed_in_credit_per_kwh: float = 0.05,
    daily_supply_per_day: float = 1.10,
) -> TimeOfUseTariff:
    """An Ausgrid-shaped TOU tariff: peak 15:00-21:00 on weekdays in summer (Nov-Mar) and
    winter (Jun-Aug), shoulder 07:00-22:00 otherwise, off-peak 22:00-07:00 [currency/kWh]."""
    peak_months = (11, 12, 1, 2, 3, 6, 7, 8)
    return TimeOfUseTariff(
        periods=(
            TouPeriod("peak", peak_per_kwh, time(15), time(21), "weekdays", peak_months),
            TouPeriod("shoulder", shoulder_per_kwh, time(7), time(22)),
            TouPeriod("offpeak", offpeak_per_kwh, time(22), time(7)),
        ),
        feed_in_credit_per_kwh=feed_in_credit_per_kwh,
        daily_supply_per_day=daily_supply_per_day,
        name="tou",
    )


@dataclass(frozen=True)
class DynamicEUTariff(Tariff):
    """European dynamic (day-ahead pass-through) contract, Dutch defaults for 2025.

    Parameters
    ----------
    energy_tax_per_kwh : float
        Energy tax on imports, excl. VAT [currency/kWh] (NL 2025: 0.10154 EUR).
    supplier_margin_per_kwh : float
        Supplier's purchase fee on imports, excl. VAT [currency/kWh].
    vat_fraction : float
        VAT [0-1] (NL: 0.21), on spot, margin and tax of imports.
    feed_in : {'spot', 'netting'}
        ``spot``: exports earn spot minus ``feed_in_fee_per_kwh`` per interval (no VAT: a
        household's sales carry none).  ``netting`` (Dutch *saldering*, until 2026): exports
        earn the market price with VAT, ``(spot - fee) x (1 + VAT)``, per interval, and over
        each billing year (the calendar year) the energy tax with its VAT is charged on the
        net volume ``max(imports - exports, 0)`` instead of on the imports: the bill credits
        ``min(imports, exports) x tax x (1 + VAT)`` in the year's last month.  Exports beyond
        the year's imports earn the market price only.  For dispatch decisions an exported
        kWh is worth the market price plus the netted tax (true while a year's exports stay
        below its imports); the bill nets the actual volumes.
    feed_in_fee_per_kwh : float
        Supplier's fee per exported kWh [currency/kWh].
    monthly_fee : float
        Supplier's fixed fee [currency/month].
    daily_supply_per_day : float
        Network operator's fixed charge [currency/day] (~1.10 EUR incl. VAT).
    annual_tax_credit : float
        Energy-tax credit per connection per year [currency/year] (NL 2025: 635.19 EUR incl. VAT).
    """

    energy_tax_per_kwh: float = 0.10154
    supplier_margin_per_kwh: float = 0.02
    vat_fraction: float = 0.21
    feed_in: str = "spot"
    feed_in_fee_per_kwh: float = 0.01
    monthly_fee: float = 6.0
    daily_supply_per_day: float = 1.10
    annual_tax_credit: float = 635.19
    name: str = "eu_dynamic"

    def __post_init__(self) -> None:
        if self.feed_in not in ("spot", "netting"):
            raise ValueError(f"DynamicEUTariff.feed_in={self.feed_in!r}; use 'spot' or 'netting'")
        if not 0 <= self.vat_fraction < 1:
            raise ValueError(
                f"DynamicEUTariff.vat_fraction must be in [0, 1), got {self.vat_fraction}"
            )

    def import_per_kwh(self, spot_per_kwh: np.ndarray) -> np.ndarray:
        """The all-in import price of day-ahead prices [currency/kWh incl. tax and VAT]."""
        spot = np.asarray(spot_per_kwh, dtype=float)
        return (spot + self.supplier_margin_per_kwh + self.energy_tax_per_kwh) * (
            1.0 + self.vat_fraction
        )

    def interval_prices(
        self, cal: Calendar, market: MarketPrices | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        market = market or MarketPrices()
        spot = market.need("spot_per_kwh", "DynamicEUTariff", len(cal))
        imp = self.import_per_kwh(spot)
        if self.feed_in == "spot":
            return imp, spot - self.feed_in_fee_per_kwh
        return imp, (spot - self.feed_in_fee_per_kwh) * (1.0 + self.vat_fraction) + self._netted_tax

    @property
    def _netted_tax(self) -> float:
        """Energy tax with its VAT on one netted kWh [currency/kWh]."""
        return self.energy_tax_per_kwh * (1.0 + self.vat_fraction)

    def bill(
        self,
        import_kwh: np.ndarray,
        export_kwh: np.ndarray,
        cal: Calendar,
        market: MarketPrices | None = None,
        *,
        prices: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> pl.DataFrame:
        """The monthly bill; under netting, the year's netted energy tax is credited in the
        last month of each calendar year present (``feed_in_credit``)."""
        if self.feed_in != "netting":
            return super().bill(import_kwh, export_kwh, cal, market, prices=prices)
        imp_p, exp_c = self.interval_prices(cal, market) if prices is None else prices
        bill = bill_from_prices(
            import_kwh, export_kwh, imp_p, exp_c - self._netted_tax, cal,
            daily_supply_per_day=self.daily_supply_per_day, monthly_fee=self.monthly_fee,
            annual_tax_credit=self.annual_tax_credit,
        )  # fmt: skip
        years = bill["month"].str.slice(0, 4)
        per_year = bill.group_by(years.alias("year")).agg(
            pl.col("import_kwh").sum(),
            pl.col("export_kwh").sum(),
            pl.col("month").max().alias("last"),
        )
        netted = {
            last: min(i, e) * self._netted_tax for last, i, e in per_year.select("last", "import_kwh", "export_kwh").rows()
        }  # fmt: skip
        credit = pl.col("month").replace_strict(netted, default=0.0, return_dtype=pl.Float64)
        return bill.with_columns(
            (pl.col("feed_in_credit") + credit).alias("feed_in_credit"),
            (pl.col("total_cost") - credit).alias("total_cost"),
        )


# --------------------------------------------------------------------------- NEM retail from spot
@dataclass(frozen=True)
class NetworkTariff:
    """A distribution network's residential time-of-use charges.

    Parameters
    ----------
    name : str
        The network (``ausgrid`` ...).
    periods : tuple of TouPeriod
        Network energy charge per period [currency/kWh, ex GST]; the first matching period
        wins, so list the peak first and end with an all-day catch-all.
    daily_per_day : float
        Daily supply plus metering charge [currency/day, ex GST].
    source : str
        Where the figures come from.
    """

    name: str
    periods: tuple[TouPeriod, ...]
    daily_per_day: float
    source: str = ""


_SUMMER = (11, 12, 1, 2, 3)
_WINTER = (6, 7, 8)
_ALL_DAY = (time(0, 0), time(0, 0))
_AMBER_SUMMARY = "2025-26 rates read off Amber bills (a third-party summary, ex GST): indicative"

#: Residential network tariffs [AUD/kWh and AUD/day, ex GST].  Check your own bill: networks
#: publish several residential tariffs and change them every July.
NETWORKS = {
    "ausgrid": NetworkTariff(
        "ausgrid",
        (
            TouPeriod("peak", 0.2925, time(15), time(21), "weekdays", _SUMMER),
            TouPeriod("peak", 0.2925, time(17), time(21), "weekdays", _WINTER),
            TouPeriod("off_peak", 0.0515, *_ALL_DAY),
        ),
        daily_per_day=0.5534 + 0.0754,
        source=_AMBER_SUMMARY + "; peak on working weekdays 15-21 in Nov-Mar, 17-21 in Jun-Aug",
    ),
    "citipower": NetworkTariff(
        "citipower",
        (
            TouPeriod("peak", 0.1644, time(15), time(21)),
            TouPeriod("off_peak", 0.0411, *_ALL_DAY),
        ),
        daily_per_day=0.2877 + 0.1977,
        source=_AMBER_SUMMARY + "; peak 15-21 every day",
    ),
    "energex": NetworkTariff(
        "energex",
        (
            TouPeriod("peak", 0.1937, time(16), time(21)),
            TouPeriod("solar_sponge", 0.0487, time(11), time(16)),
            TouPeriod("off_peak", 0.0048, *_ALL_DAY),
        ),
        daily_per_day=0.5180,
        source=_AMBER_SUMMARY
        + "; peak 16-21, solar sponge 11-16 (rates as the summary gives them)",
    ),
    "sapn": NetworkTariff(
        "sapn",
        (
            TouPeriod("peak", 0.1895, time(17), time(21)),
            TouPeriod("solar_sponge", 0.0474, time(10), time(15)),
            TouPeriod("off_peak", 0.0947, *_ALL_DAY),
        ),
        daily_per_day=0.6185,
        source=_AMBER_SUMMARY + "; peak 17-21, solar sponge 10-15",
    ),
    # The default year's own NSW-like network (energylib.simulate.prices): peak 16-21,
    # shoulder 07-16 and 21-22, off-peak 22-07, every day.
    "simulated_nsw": NetworkTariff(
        "simulated_nsw",
        (
            TouPeriod("peak", 0.190, time(16), time(21)),
            TouPeriod("shoulder", 0.075, time(7), time(22)),
            TouPeriod("off_peak", 0.045, *_ALL_DAY),
        ),
        daily_per_day=1.12 / 1.10,
        source="the default year's model network (energylib.simulate.prices)",
    ),
}
#: The network a NEM price region's default household is on (the capital's network).
REGION_NETWORKS = {"NSW1": "ausgrid", "VIC1": "citipower", "QLD1": "energex", "SA1": "sapn"}
#: Retailer pass-throughs on every kWh [AUD/kWh ex GST]: environmental certificates 1.34,
#: market operator 1.44, hedging 1.00, carbon offset 0.10 c/kWh (2025-26, indicative).
NEM_PASS_THROUGH_PER_KWH = 0.0388


@dataclass(frozen=True)
class NemRetailTariff(Tariff):
    """Retail prices from NEM wholesale spot prices (a pass-through plan, as Amber's).

    ``import = (spot x loss_factor + network(t) + pass_through + margin) x (1 + gst)``;
    exports earn ``spot x loss_factor`` (``feed_in='spot'``) or a flat feed-in tariff
    (``feed_in='flat'``).  Network periods are read in the site's local time.

    Parameters
    ----------
    network : str
        A key of :data:`NETWORKS` (``ausgrid``, ``citipower``, ``energex``, ``sapn``,
        ``simulated_nsw``); see :data:`REGION_NETWORKS` for the one of each price region.
    network_periods : tuple of TouPeriod
        Your own network's energy charges [currency/kWh ex GST]; replaces the network's.
    loss_factor : float
        Distribution and transmission loss factor applied to spot [-].
    pass_through_per_kwh : float
        Environmental, market-operator and hedging charges [currency/kWh ex GST].
    margin_per_kwh : float
        The retailer's margin per kWh [currency/kWh ex GST].
    gst_fraction : float
        GST [0-1] on every import charge.
    feed_in : {'spot', 'flat'}
        How exports are paid.
    feed_in_credit_per_kwh : float
        The flat feed-in tariff [currency/kWh] (``feed_in='flat'``).
    daily_supply_per_day : float or None
        Daily charge [currency/day incl. GST]; ``None``: the network's supply and metering
        charge plus GST.
    monthly_fee : float
        The retailer's fee [currency/month incl. GST].
    """

    network: str = "ausgrid"
    network_periods: tuple[TouPeriod, ...] = ()
    loss_factor: float = 1.04
    pass_through_per_kwh: float = NEM_PASS_THROUGH_PER_KWH
    margin_per_kwh: float = 0.0
    gst_fraction: float = 0.10
    feed_in: str = "spot"
    feed_in_credit_per_kwh: float = 0.0
    daily_supply_per_day: float | None = None
    monthly_fee: float = 0.0
    name: str = "nem_retail"

    def __post_init__(self) -> None:
        if not self.network_periods and self.network not in NETWORKS:
            raise ValueError(
                f"NemRetailTariff: network {self.network!r} is not one of {sorted(NETWORKS)}; "
                "name one, or give your network's rates as network_periods"
            )
        if self.feed_in not in ("spot", "flat"):
            raise ValueError(f"NemRetailTariff.feed_in={self.feed_in!r}; use 'spot' or 'flat'")
        if not 0 <= self.gst_fraction < 1:
            raise ValueError(
                f"NemRetailTariff.gst_fraction must be in [0, 1), got {self.gst_fraction}"
            )
        if self.daily_supply_per_day is None:
            if self.network not in NETWORKS:
                raise ValueError(
                    f"NemRetailTariff: network {self.network!r} has no known daily charge; "
                    "give daily_supply_per_day (incl. GST) with your own network_periods"
                )
            daily = NETWORKS[self.network].daily_per_day * (1.0 + self.gst_fraction)
            object.__setattr__(self, "daily_supply_per_day", daily)

    @property
    def periods(self) -> tuple[TouPeriod, ...]:
        """The network's energy charges in force [currency/kWh ex GST]."""
        return self.network_periods or NETWORKS[self.network].periods

    def network_per_kwh(self, cal: Calendar) -> np.ndarray:
        """The network energy charge per interval [currency/kWh ex GST]."""
        return TimeOfUseTariff._price(self.periods, cal, "network")

    def interval_prices(
        self, cal: Calendar, market: MarketPrices | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        market = market or MarketPrices()
        spot = market.need("spot_per_kwh", "NemRetailTariff", len(cal)) * self.loss_factor
        imp = (
            spot + self.network_per_kwh(cal) + self.pass_through_per_kwh + self.margin_per_kwh
        ) * (1.0 + self.gst_fraction)
        if self.feed_in == "spot":
            return imp, spot
        return imp, np.full(len(cal), float(self.feed_in_credit_per_kwh))


#: Tariffs by the kind a study's ``tariff: {kind: ...}`` and the agent's ``ENERGY_AGENT_TARIFF``
#: name: the study and the live agent price energy through the same classes.
TARIFF_KINDS: dict[str, type[Tariff]] = {
    "amber": AmberTariff,
    "nem_retail": NemRetailTariff,
    "eu_dynamic": DynamicEUTariff,
    "flat": FlatTariff,
}
