"""Amber's forecasts kept with their issue time, and replayed by MPC without looking ahead.

A loopback server answers ``/prices/current`` in Amber's real shape (:mod:`amber_fake`,
whose fields ``test_amber`` checks against the published OpenAPI spec): a 30-min current
interval and 47 forecast intervals, whose forecast price depends on when it was issued.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from amber_fake import interval
from werkzeug import Response

from energylib.agent.collect import Collector, amber_prices_fetcher
from energylib.dispatch.assets import POWERWALL_2
from energylib.dispatch.mpc import (
    IssuedForecast,
    MPCPolicy,
    PerfectForecast,
    PriceModel,
    Series,
    run_mpc,
    supplier_forecast,
)
from energylib.ingest.amber import AmberClient, read_amber_prices
from energylib.ingest.http import RetryPolicy
from energylib.ingest.issued import KIND, ahead_column, issued_forecast_frames, read_issued
from energylib.store import ParquetStore, SqliteStore
from energylib.tariff import AmberTariff, Calendar, MarketPrices

SITE = "01ISSUED"
TOKEN = "psk_issued_test_token"
T0 = datetime(2025, 1, 6, 0, 0, tzinfo=UTC)  # 11:00 in Sydney


def actual_c(t: datetime) -> float:
    """The price that happens in the 30 min from ``t`` [c/kWh]."""
    h = (t - T0).total_seconds() / 3600
    return round(25 + 15 * np.sin(2 * np.pi * h / 24), 4)


def forecast_c(t: datetime, issued: datetime, error: float) -> float:
    """Amber's forecast of interval ``t`` as issued at ``issued``: off by ``error`` c/kWh per
    hour ahead, so every issue tells a different story."""
    return round(actual_c(t) + error * (t - issued).total_seconds() / 3600, 4)


def current_prices(now: datetime, error: float) -> list[dict]:
    t = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 30)
    out = []
    for ch, sign in (("general", 1.0), ("feedIn", -0.5)):
        for k in range(48):
            start = t + timedelta(minutes=30 * k)
            kind = "CurrentInterval" if k == 0 else "ForecastInterval"
            c = sign * forecast_c(start, now, error)
            out.append(interval(start, 30, ch, kind, per_kwh=c, spot_per_kwh=c / 3))
    return out


class Loopback:
    """The fake ``/prices/current``, answering for ``self.now``."""

    def __init__(self, server, error: float):
        self.now, self.error = T0, error
        server.expect_request(f"/v1/sites/{SITE}/prices/current").respond_with_handler(self.answer)
        self.client = AmberClient(
            TOKEN, site_id=SITE, base_url=server.url_for("/v1"), policy=RetryPolicy(max_retries=0)
        )

    def answer(self, request):
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        body = current_prices(self.now, self.error)
        return Response(json.dumps(body), status=200, content_type="application/json")


def collect(store, server, times, error: float) -> None:
    """The agent's price collector, run at each of ``times``."""
    api = Loopback(server, error)
    c = Collector("prices", amber_prices_fetcher(api.client, next_intervals=47), store)
    for now in times:
        api.now = now
        assert c.run(now), c.state.last_error


def test_an_issue_row_holds_the_forecast_of_each_half_hour_from_the_issue_on():
    issued = T0 + timedelta(minutes=67)  # 12:07 in Sydney, inside the 01:00 UTC half-hour
    frames = read_amber_prices(current_prices(issued, 1.0), site=SITE)
    (general, meta), (feed_in, _) = issued_forecast_frames(frames, issued)
    assert meta.kind == KIND and meta.interval_minutes == 5 and meta.channel == "general"
    assert general.height == 1 and general["interval_start"][0] == T0 + timedelta(minutes=65)
    steps = [c for c in general.columns if c.startswith("ahead_")]
    assert len(steps) == 48  # the current half-hour (01:00) and the 47 forecast ones
    for k in (0, 1, 20, 47):
        want = forecast_c(T0 + timedelta(minutes=60 + 30 * k), issued, 1.0) / 100
        assert general[ahead_column(k)][0] == pytest.approx(want, abs=1e-9)
        assert feed_in[ahead_column(k)][0] == pytest.approx(-0.5 * want, abs=1e-6)


def test_5_min_forecast_intervals_are_averaged_into_their_half_hour():
    issued = T0 + timedelta(minutes=40)
    recs = [
        interval(T0 + timedelta(minutes=m), 5, "general", kind, per_kwh=float(m))
        for m, kind in [(30, "ActualInterval"), (35, "ActualInterval"), (40, "CurrentInterval")]
        + [(m, "ForecastInterval") for m in range(45, 75, 5)]
    ]
    ((row, _),) = issued_forecast_frames(read_amber_prices(recs, site=SITE), issued)
    assert row[ahead_column(0)][0] == pytest.approx(np.mean(range(30, 60, 5)) / 100)
    assert row[ahead_column(1)][0] == pytest.approx(np.mean(range(60, 75, 5)) / 100)


def test_each_fetch_is_stored_as_issued_and_a_refetch_in_its_5_minutes_replaces_it(
    tmp_path, httpserver
):
    store = SqliteStore(tmp_path / "live.sqlite")
    times = [T0 + timedelta(minutes=m) for m in (0, 5, 10, 12)]  # 12 replaces 10's issue
    collect(store, httpserver, times, error=2.0)
    issued, table = read_issued(
        store, "amber", T0, T0 + timedelta(hours=1), site=SITE, channel="general"
    )
    step = np.timedelta64(5, "m").astype("timedelta64[us]").astype(np.int64)
    t0 = np.int64(T0.timestamp() * 1e6)
    np.testing.assert_array_equal(issued, t0 + np.arange(3) * step)
    for row, now in zip(table, (times[0], times[1], times[3]), strict=True):
        assert row[0] == pytest.approx(forecast_c(T0, now, 2.0) / 100)
        assert row[5] == pytest.approx(forecast_c(T0 + timedelta(hours=2.5), now, 2.0) / 100)
    # the latest prices stay what they were: one series, the latest forecast of each interval
    latest, _ = store.read(
        "amber", "prices", T0, T0 + timedelta(hours=2), site=SITE, channel="general"
    )
    assert latest["price_per_kwh"][1] == pytest.approx(
        forecast_c(T0 + timedelta(minutes=30), times[3], 2.0) / 100
    )


@pytest.mark.parametrize("every_min", [5, 20])
def test_a_study_decision_sees_only_the_latest_forecast_issued_at_or_before_it(
    tmp_path, httpserver, every_min
):
    store = ParquetStore(tmp_path / "store")
    hours, error = 3, 1.5
    times = [T0 + timedelta(minutes=m) for m in range(0, hours * 60, every_min)]
    # the agent's cache, synced as is to a study's store
    live = SqliteStore(tmp_path / "live.sqlite")
    collect(live, httpserver, times, error)
    for channel in ("general", "feed_in"):
        data, meta = live.read("amber", KIND, site=SITE, channel=channel)
        store.upsert(data, meta, nullable=tuple(c for c in data.columns if c.startswith("ahead_")))
    n, H = hours * 2, 16
    fc = supplier_forecast(store, T0, n, 30, site=SITE)
    series = Series(
        np.zeros(n),
        np.zeros(n),
        {"general_per_kwh": np.zeros(n), "feed_in_per_kwh": np.zeros(n)},
        48,
    )
    for d in range(n):
        t = T0 + timedelta(minutes=30 * d)
        issued = max(x for x in times if x <= t)  # the latest issue at or before the decision
        got = fc.values(series, "general_per_kwh", d, H)
        want = [forecast_c(t + timedelta(minutes=30 * j), issued, error) / 100 for j in range(H)]
        # a 30-min interval's forecast is the same whichever 5-min step of the issue it reads
        np.testing.assert_allclose(got, want, atol=1e-9, err_msg=f"decision {d} at {t}")
        feed = fc.values(series, "feed_in_per_kwh", d, H)
        np.testing.assert_allclose(feed, -0.5 * np.array(want), atol=1e-5)


def test_mpc_on_an_exact_supplier_forecast_is_mpc_on_perfect_prices(tmp_path, httpserver):
    """Forecasts issued every half-hour that are right (error 0) replay as perfect prices."""
    store = SqliteStore(tmp_path / "live.sqlite")
    n = 24  # 12 h at 30 min
    collect(store, httpserver, [T0 + timedelta(minutes=m) for m in range(0, 12 * 60, 30)], 0.0)
    starts = T0 + np.arange(n) * timedelta(minutes=30)
    general = np.array([actual_c(t) / 100 for t in starts])
    market = {"general_per_kwh": general, "feed_in_per_kwh": -0.5 * general}
    cal = Calendar.from_utc(
        np.array([t.replace(tzinfo=None) for t in starts], dtype="datetime64[us]"),
        "Australia/Sydney",
        30,
    )
    tariff = AmberTariff()
    imp, exp = tariff.interval_prices(
        cal, MarketPrices(general_per_kwh=general, feed_in_per_kwh=-0.5 * general)
    )
    load = np.full(n, 0.4)
    pv = np.clip(np.sin(np.linspace(0, np.pi, n)), 0, None) * 2.0
    supplier = supplier_forecast(store, T0, n, 30, site=SITE, fallback=PerfectForecast())
    assert isinstance(supplier, IssuedForecast) and supplier.issued.size == n
    runs = {}
    for name, forecast in (("supplier", supplier), ("perfect", "perfect")):
        policy = MPCPolicy(forecast=forecast, horizon_hours=6.0)
        runs[name] = run_mpc(
            load, pv, imp, exp, 30, policy=policy, battery=POWERWALL_2,
            prices=PriceModel.from_tariff(tariff, cal, MarketPrices(**market)), market=market,
        )  # fmt: skip
    a, b = runs["supplier"].flows, runs["perfect"].flows
    np.testing.assert_allclose(a.battery_charge_kwh, b.battery_charge_kwh, atol=1e-6)
    np.testing.assert_allclose(a.import_kwh, b.import_kwh, atol=1e-6)


def test_no_stored_forecasts_says_what_fills_them(tmp_path):
    with pytest.raises(LookupError, match="the live agent stores each forecast it fetches"):
        supplier_forecast(SqliteStore(tmp_path / "empty.sqlite"), T0, 4, 30, site=SITE)
    with pytest.raises(ValueError, match="multiple of 5 min"):
        supplier_forecast(SqliteStore(tmp_path / "empty.sqlite"), T0, 4, 7, site=SITE)


def _supplier_inputs(tmp_path, forecast: str):
    """The shipped params on 12 h from ``T0`` (arrays): one battery, no PV, no EV, and the
    policy comparison's MPC planning with ``forecast``; the params and the year."""
    from test_study import small_raw

    from energylib.scenario import ScenarioYear
    from energylib.simulate.weather import generate_weather
    from energylib.site import SITES
    from energylib.study import params_from_dict

    raw = small_raw(tmp_path)
    raw["ev"] = None
    raw["scenarios"] = [raw["scenarios"][1]]  # Solar 6.6 kW + Powerwall 3
    raw["policy_comparison"] = {
        "pv_kw": 0.0, "battery": "Tesla Powerwall 3", "optimum": False,
        "policies": ["self_consumption", "mpc"],
        "mpc": {"forecast": forecast, "supplier_site": SITE, "horizon_hours": 6.0},
    }  # fmt: skip
    n = 24
    starts = np.array([T0.replace(tzinfo=None) + timedelta(minutes=30 * k) for k in range(n)])
    general = np.array([actual_c(T0 + timedelta(minutes=30 * k)) / 100 for k in range(n)])
    site = SITES["nem"]
    w = generate_weather(site, starts[0], starts[-1] + timedelta(minutes=30), 30, 1)
    year = ScenarioYear.from_arrays(
        starts.astype("datetime64[us]"), np.full(n, 0.4), site, 30,
        general_per_kwh=general, feed_in_per_kwh=-0.5 * general,
        weather=w[["ghi", "dni", "dhi", "temp_air", "wind_speed"]],
    )  # fmt: skip
    return params_from_dict(raw), year


def _supplier_study(store, tmp_path, forecast: str):
    """The MPC row of :func:`_supplier_inputs`' study run on ``store``."""
    from energylib.study import run_study

    params, year = _supplier_inputs(tmp_path, forecast)
    result = run_study(params, store, year=year)
    return result.policies.filter(pl.col("policy").str.starts_with("MPC")).row(0, named=True)


def test_a_study_plans_load_and_pv_beside_supplier_forecasts_on_their_recent_mean(
    tmp_path, httpserver
):
    from energylib.dispatch.mpc import RecentMeanForecast
    from energylib.study.pipeline import supplier_forecasts

    store = SqliteStore(tmp_path / "live.sqlite")
    collect(store, httpserver, [T0 + timedelta(minutes=m) for m in range(0, 12 * 60, 30)], 0.0)
    params, year = _supplier_inputs(tmp_path, "supplier")
    assert supplier_forecasts(params, store, year).fallback == RecentMeanForecast(
        params.mpc.load_pv_days
    )
    assert params.mpc.load_pv_days == 3


@pytest.mark.parametrize("error", [0.0, 4.0])
def test_a_study_plans_mpc_with_the_supplier_forecasts_as_issued(tmp_path, httpserver, error):
    """``policy_comparison.mpc.forecast: supplier`` in a study's params: forecasts issued
    right (error 0) make MPC's bill that of MPC on perfect prices; issued wrong, it differs."""
    store = SqliteStore(tmp_path / "live.sqlite")
    collect(store, httpserver, [T0 + timedelta(minutes=m) for m in range(0, 12 * 60, 30)], error)
    supplier = _supplier_study(store, tmp_path, "supplier")
    perfect = _supplier_study(store, tmp_path, "perfect")
    assert supplier["policy"].startswith("MPC (supplier")
    if error == 0.0:
        assert supplier["bill_amount"] == pytest.approx(perfect["bill_amount"], abs=1e-9)
    else:
        assert supplier["bill_amount"] > perfect["bill_amount"] + 1e-6


def test_a_study_with_supplier_forecasts_but_none_stored_says_what_fills_them(tmp_path):
    from energylib.study import StudyError

    with pytest.raises(StudyError, match="policy_comparison.mpc.forecast: supplier.*live agent"):
        _supplier_study(SqliteStore(tmp_path / "empty.sqlite"), tmp_path, "supplier")
