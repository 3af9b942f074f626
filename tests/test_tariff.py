"""Tariffs: per-interval prices and monthly bills against hand-computed figures."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import numpy as np
import polars as pl
import pytest

from energylib.tariff import (
    BILL_COLUMNS,
    NETWORKS,
    REGION_NETWORKS,
    AmberTariff,
    Calendar,
    DynamicEUTariff,
    FlatTariff,
    MarketPrices,
    NemRetailTariff,
    TimeOfUseTariff,
    TouPeriod,
    annual_total,
    sydney_tou,
)

SYD = "Australia/Sydney"


def utc_range(start: datetime, n: int, minutes: int) -> np.ndarray:
    return np.array(
        [
            np.datetime64(start.replace(tzinfo=None) + timedelta(minutes=minutes * i), "us")
            for i in range(n)
        ]
    )


def local_to_utc(*stamps: str, tz: str = SYD) -> np.ndarray:
    from zoneinfo import ZoneInfo

    out = [
        datetime.fromisoformat(s).replace(tzinfo=ZoneInfo(tz)).astimezone(UTC).replace(tzinfo=None)
        for s in stamps
    ]
    return np.array(out, dtype="datetime64[us]")


def test_calendar_uses_local_months_and_days():
    # 2025-01-31 13:30 UTC is 2025-02-01 00:30 in Sydney (UTC+11)
    cal = Calendar.from_utc(
        np.array(["2025-01-31T12:30", "2025-01-31T13:30"], dtype="datetime64[us]"), SYD, 30
    )
    assert [str(m) for m in cal.local_month] == ["2025-01", "2025-02"]
    assert cal.minute_of_day.tolist() == [23 * 60 + 30, 30]
    assert cal.weekday.tolist() == [4, 5]  # Friday, Saturday


def test_calendar_follows_daylight_saving_end():
    # Sydney leaves DST on 2025-04-06 at 03:00 local (16:00 UTC on the 5th): 02:00-03:00 repeats
    t = utc_range(datetime(2025, 4, 5, 15, 0), 4, 30)
    cal = Calendar.from_utc(t, SYD, 30)
    assert [str(x)[11:16] for x in cal.local] == ["02:00", "02:30", "02:00", "02:30"]


def test_flat_bill_matches_hand_computation():
    # two local days in January at 30 min: 96 intervals
    t = utc_range(datetime(2024, 12, 31, 13, 0), 96, 30)
    cal = Calendar.from_utc(t, SYD, 30)
    tariff = FlatTariff(
        import_per_kwh=0.30,
        feed_in_credit_per_kwh=0.05,
        daily_supply_per_day=1.10,
        monthly_fee=31.0,
    )
    bill = tariff.bill(np.full(96, 0.5), np.full(96, 0.25), cal)
    assert bill.columns == list(BILL_COLUMNS)
    row = bill.row(0, named=True)
    assert row["month"] == "2025-01" and row["days"] == 2
    assert row["energy_cost"] == pytest.approx(96 * 0.5 * 0.30)  # 14.40
    assert row["supply_cost"] == pytest.approx(2.20)
    assert row["fees_cost"] == pytest.approx(2.00)  # 31 a month, 2 of 31 days
    assert row["feed_in_credit"] == pytest.approx(1.20)
    assert row["total_cost"] == pytest.approx(14.40 + 2.20 + 2.00 - 1.20)
    assert annual_total(bill) == pytest.approx(17.40)


def test_amber_bill_passes_prices_through_and_flips_feed_in_sign():
    t = utc_range(datetime(2025, 3, 9, 13, 0), 4, 5)  # 2025-03-10 00:00 local (UTC+11)
    cal = Calendar.from_utc(t, SYD, 5)
    market = MarketPrices(
        general_per_kwh=np.array([0.2, 0.3, -0.1, 0.5]),
        feed_in_per_kwh=np.array([-0.05, -0.1, 0.02, -0.3]),  # Amber: negative = customer paid
    )
    tariff = AmberTariff(daily_supply_per_day=1.10, monthly_fee=25.0)
    imp, exp = tariff.interval_prices(cal, market)
    np.testing.assert_allclose(exp, [0.05, 0.1, -0.02, 0.3])
    bill = tariff.bill(np.array([1.0, 2.0, 3.0, 0.0]), np.array([0.0, 1.0, 2.0, 3.0]), cal, market)
    row = bill.row(0, named=True)
    assert row["energy_cost"] == pytest.approx(0.2 + 0.6 - 0.3)
    assert row["feed_in_credit"] == pytest.approx(0.1 - 0.04 + 0.9)
    assert row["total_cost"] == pytest.approx(0.5 + 1.10 + 25.0 / 31 - 0.96)


def test_amber_without_feed_in_prices_says_what_is_missing():
    cal = Calendar.from_utc(utc_range(datetime(2025, 3, 9, 13), 2, 5), SYD, 5)
    with pytest.raises(ValueError, match="feed_in_per_kwh"):
        AmberTariff().interval_prices(cal, MarketPrices(general_per_kwh=np.ones(2)))


def test_tou_periods_by_local_time_weekday_and_season():
    t = local_to_utc(
        "2025-01-15 16:00",  # Wednesday, summer: peak
        "2025-01-15 10:00",  # shoulder
        "2025-01-15 23:00",  # off-peak
        "2025-01-16 03:00",  # off-peak (wraps midnight)
        "2025-01-18 16:00",  # Saturday: shoulder
        "2025-04-16 16:00",  # Wednesday in April (no peak season): shoulder
    )
    cal = Calendar.from_utc(t, SYD, 30)
    tariff = sydney_tou(
        peak_per_kwh=0.55, shoulder_per_kwh=0.30, offpeak_per_kwh=0.22, feed_in_credit_per_kwh=0.04
    )
    imp, exp = tariff.interval_prices(cal)
    np.testing.assert_allclose(imp, [0.55, 0.30, 0.22, 0.22, 0.30, 0.30])
    np.testing.assert_allclose(exp, 0.04)
    bill = tariff.bill(np.full(6, 2.0), np.zeros(6), cal)
    assert bill["month"].to_list() == ["2025-01", "2025-04"]
    assert bill["days"].to_list() == [3, 1]
    assert bill["energy_cost"].to_list() == pytest.approx(
        [2 * (0.55 + 0.30 + 0.22 + 0.22 + 0.30), 2 * 0.30]
    )
    assert bill["supply_cost"].to_list() == pytest.approx([3 * 1.10, 1.10])


def test_tou_gap_in_periods_is_an_error_naming_the_intervals():
    tariff = TimeOfUseTariff(periods=(TouPeriod("day", 0.3, time(7), time(22)),))
    cal = Calendar.from_utc(local_to_utc("2025-01-15 23:00"), SYD, 30)
    with pytest.raises(ValueError, match="1 intervals match no import period.*2025-01-15T23:00"):
        tariff.interval_prices(cal)


def test_eu_dynamic_prices_and_bill_with_tax_credit():
    ams = "Europe/Amsterdam"
    t = local_to_utc("2025-02-03 12:00", "2025-02-03 13:00", tz=ams)
    cal = Calendar.from_utc(t, ams, 60)
    market = MarketPrices(spot_per_kwh=np.array([0.10, -0.05]))
    tariff = DynamicEUTariff(
        energy_tax_per_kwh=0.10154,
        supplier_margin_per_kwh=0.02,
        vat_fraction=0.21,
        feed_in_fee_per_kwh=0.01,
        monthly_fee=6.0,
        daily_supply_per_day=1.0,
        annual_tax_credit=635.19,
    )
    imp, exp = tariff.interval_prices(cal, market)
    np.testing.assert_allclose(imp, [(0.10 + 0.12154) * 1.21, (-0.05 + 0.12154) * 1.21])
    np.testing.assert_allclose(exp, [0.09, -0.06])
    bill = tariff.bill(np.array([2.0, 1.0]), np.array([0.0, 3.0]), cal, market)
    row = bill.row(0, named=True)
    share = 1 / 28  # one day of February 2025
    assert row["energy_cost"] == pytest.approx(2 * 0.2680634 + 0.0865634)
    assert row["feed_in_credit"] == pytest.approx(3 * -0.06)
    assert row["fees_cost"] == pytest.approx(6.0 * share)
    assert row["tax_credit"] == pytest.approx(635.19 / 12 * share)
    assert row["total_cost"] == pytest.approx(
        row["energy_cost"] + 1.0 + 6.0 * share - 635.19 / 12 * share + 0.18
    )


def test_eu_netting_nets_the_energy_tax_on_the_year_s_volume():
    """Saldering: exports earn the market price with VAT per interval, and the energy tax
    with VAT comes back on min(imports, exports) of each calendar year."""
    ams = "Europe/Amsterdam"
    utc = local_to_utc("2025-06-03 12:00", "2025-06-03 20:00", "2025-12-03 20:00", tz=ams)
    cal = Calendar.from_utc(utc, ams, 60)
    spot = np.array([0.05, 0.20, 0.15])
    tariff = DynamicEUTariff(
        feed_in="netting", monthly_fee=0.0, daily_supply_per_day=0.0, annual_tax_credit=0.0
    )
    imports, exports = np.array([0.0, 2.0, 1.0]), np.array([5.0, 0.0, 0.0])
    bill = tariff.bill(imports, exports, cal, MarketPrices(spot_per_kwh=spot))
    tax = 0.10154 * 1.21
    energy = float(((spot + 0.02 + 0.10154) * 1.21 * imports).sum())
    market = float(((spot - 0.01) * 1.21 * exports).sum())
    netted = min(3.0, 5.0) * tax  # 3 kWh imported, 5 exported: 3 kWh netted
    assert bill["total_cost"].sum() == pytest.approx(energy - market - netted)
    # The netting settles in the billing year's last month.
    assert bill.filter(pl.col("month") == "2025-12")["feed_in_credit"][0] == pytest.approx(netted)
    # Per interval at the import price would have credited all 5 kWh of exports with the tax.
    assert netted < 5.0 * tax


def test_eu_netting_settles_each_calendar_year_on_its_own():
    ams = "Europe/Amsterdam"
    utc = local_to_utc("2025-12-31 12:00", "2026-01-01 20:00", tz=ams)
    cal = Calendar.from_utc(utc, ams, 60)
    tariff = DynamicEUTariff(
        feed_in="netting", monthly_fee=0.0, daily_supply_per_day=0.0, annual_tax_credit=0.0
    )
    bill = tariff.bill(
        np.array([0.0, 4.0]), np.array([4.0, 0.0]), cal, MarketPrices(spot_per_kwh=np.zeros(2))
    )
    assert bill["feed_in_credit"].to_list() == pytest.approx(
        [4.0 * -0.01 * 1.21, 0.0]
    )  # nothing to net


def test_bill_rejects_series_of_the_wrong_length():
    cal = Calendar.from_utc(utc_range(datetime(2025, 3, 9, 13), 3, 5), SYD, 5)
    with pytest.raises(ValueError, match="one value per interval"):
        FlatTariff().bill(np.ones(2), np.ones(2), cal)


# --------------------------------------------------------------------------- NEM retail from spot
def test_nem_retail_import_is_spot_with_losses_network_pass_through_and_gst():
    # A working Wednesday in January (Ausgrid summer peak 15-21) in Melbourne's and Sydney's clock.
    utc = local_to_utc("2025-01-08T16:00", "2025-01-08T03:00", "2025-01-11T16:00")  # Sat last
    cal = Calendar.from_utc(utc, SYD, 30)
    spot = np.array([0.10, -0.05, 0.10])
    t = NemRetailTariff(network="ausgrid", margin_per_kwh=0.01)
    imp, exp = t.interval_prices(cal, MarketPrices(spot_per_kwh=spot))
    peak, off = 0.2925, 0.0515
    expected = (spot * 1.04 + np.array([peak, off, off]) + 0.0388 + 0.01) * 1.10
    np.testing.assert_allclose(imp, expected)
    np.testing.assert_allclose(exp, spot * 1.04)  # a negative spot price costs the exporter
    assert t.daily_supply_per_day == pytest.approx((0.5534 + 0.0754) * 1.10)


def test_nem_retail_winter_peak_is_shorter_on_ausgrid():
    utc = local_to_utc("2025-07-09T16:00", "2025-07-09T18:00")
    cal = Calendar.from_utc(utc, SYD, 30)
    np.testing.assert_allclose(NemRetailTariff().network_per_kwh(cal), [0.0515, 0.2925])


def test_nem_retail_flat_feed_in_and_own_network_periods():
    utc = local_to_utc("2025-01-08T12:00", "2025-01-08T19:00")
    cal = Calendar.from_utc(utc, SYD, 30)
    own = (TouPeriod("peak", 0.30, time(18), time(20)), TouPeriod("rest", 0.05))
    t = NemRetailTariff(network_periods=own, feed_in="flat", feed_in_credit_per_kwh=0.04,
                        network="custom", daily_supply_per_day=1.0)  # fmt: skip
    imp, exp = t.interval_prices(cal, MarketPrices(spot_per_kwh=np.zeros(2)))
    np.testing.assert_allclose(imp, (np.array([0.05, 0.30]) + 0.0388) * 1.1)
    np.testing.assert_allclose(exp, [0.04, 0.04])


def test_nem_retail_unknown_network_names_the_known_ones():
    with pytest.raises(ValueError, match="citipower"):
        NemRetailTariff(network="nowhere")


def test_every_price_region_maps_to_a_known_network():
    assert set(REGION_NETWORKS.values()) <= set(NETWORKS)
    for net in NETWORKS.values():  # an all-day catch-all: every interval has a network charge
        cal = Calendar.from_utc(utc_range(datetime(2025, 1, 1, tzinfo=UTC), 48 * 366, 30), SYD, 30)
        assert np.isfinite(NemRetailTariff(network=net.name).network_per_kwh(cal)).all()
