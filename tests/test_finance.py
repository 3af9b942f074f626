"""Tests for energylib.finance: hand-computed cases, numpy-financial's examples, invariants."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from energylib.finance import (
    DEFAULT_SENSITIVITY,
    Assumptions,
    Capex,
    Ongoing,
    Savings,
    cash_flow_table,
    cash_flows,
    discounted_payback_years,
    evaluate,
    final_payback_years,
    format_irr,
    format_payback,
    format_paybacks,
    internal_rate_of_return,
    lcoe_per_kwh,
    net_present_value,
    payback_years,
    return_on_investment,
    sensitivity,
)

FLAT = Assumptions(
    horizon_years=10,
    discount_rate=0.05,
    tariff_escalation=0.0,
    pv_degradation=0.0,
    battery_fade=0.0,
    om_escalation=0.0,
)


def flat_case() -> tuple[Capex, Savings]:
    """10,000 upfront, 2,000 a year for 10 years."""
    return Capex(pv_kw=10.0, pv_cost_per_kw=1000.0), Savings(import_saving=2000.0)


# --------------------------------------------------------------------------- hand-computed


def test_flat_annuity_matches_hand_computed_metrics():
    capex, savings = flat_case()
    r = evaluate(capex, savings, FLAT)
    assert r.flows.tolist() == [-10000.0] + [2000.0] * 10
    # NPV = -10000 + 2000 * (1 - 1.05**-10) / 0.05
    assert r.npv == pytest.approx(5443.469858, abs=1e-5)
    assert r.payback_years == pytest.approx(5.0)
    # 5 full years recover 8658.95; year 6 brings 2000/1.05**6 = 1492.43.
    assert r.discounted_payback_years == pytest.approx(
        5 + (10000 - 8658.953341) / 1492.430781, abs=1e-6
    )
    assert r.irr == pytest.approx(0.150984, abs=1e-6)
    assert r.irr_note == ""
    assert r.roi == pytest.approx(1.0)
    assert r.break_even_capex == pytest.approx(15443.469858, abs=1e-5)


def test_tariff_escalation_compounds_from_year_two():
    capex = Capex(pv_kw=2.0, pv_cost_per_kw=1000.0)
    a = Assumptions(horizon_years=3, discount_rate=0.0, tariff_escalation=0.10, pv_degradation=0.0)
    flows = cash_flows(capex, Ongoing(), Savings(import_saving=1000.0), a)
    assert flows == pytest.approx([-2000.0, 1000.0, 1100.0, 1210.0])
    # 1000 recovered in year 1; the other 1000 out of 1100 in year 2.
    assert payback_years(flows) == pytest.approx(1 + 1000 / 1100)


def test_export_credit_escalates_at_its_own_rate():
    a = Assumptions(
        horizon_years=2,
        discount_rate=0.0,
        tariff_escalation=0.10,
        export_price_escalation=-0.5,
        pv_degradation=0.0,
    )
    flows = cash_flows(Capex(), Ongoing(), Savings(import_saving=100.0, export_credit=100.0), a)
    assert flows == pytest.approx([0.0, 200.0, 110.0 + 50.0])


def test_pv_degradation_shrinks_only_the_pv_share_of_savings():
    a = Assumptions(horizon_years=3, discount_rate=0.0, tariff_escalation=0.0, pv_degradation=0.1)
    s = Savings(import_saving=1000.0, pv_fraction=0.5)
    flows = cash_flows(Capex(), Ongoing(), s, a)
    assert flows[1:] == pytest.approx([1000.0, 500 * 0.9 + 500, 500 * 0.81 + 500])


def test_battery_fade_restarts_after_replacement_and_replacement_is_paid():
    capex = Capex(battery_units=1, battery_cost_per_unit=10000.0, battery_installation=2000.0)
    ongoing = Ongoing(battery_life_years=3)
    a = Assumptions(
        horizon_years=7,
        discount_rate=0.0,
        tariff_escalation=0.0,
        pv_degradation=0.0,
        battery_fade=0.1,
        replacement_cost_change=0.0,
    )
    s = Savings(import_saving=1000.0, pv_fraction=0.0, battery_fraction=1.0)
    table = cash_flow_table(capex, ongoing, s, a)
    assert table["savings_amount"].to_list()[1:] == pytest.approx(
        [1000, 900, 810, 1000, 900, 810, 1000]
    )
    # Replaced at the end of years 3 and 6 at hardware + installation cost, not at year 7+.
    assert table["replacement_amount"].to_list() == pytest.approx([0, 0, 0, 12000, 0, 0, 12000, 0])
    # The second replacement has 2 of its 3 years left at the end of year 7.
    assert table["residual_amount"].to_list() == pytest.approx([0] * 7 + [8000])


def test_no_residual_credit_when_switched_off():
    capex = Capex(battery_units=1, battery_cost_per_unit=9000.0)
    ongoing = Ongoing(battery_life_years=4)
    a = Assumptions(horizon_years=6, discount_rate=0.0, replacement_residual=False)
    table = cash_flow_table(capex, ongoing, Savings(import_saving=0.0), a)
    assert table["residual_amount"].sum() == 0
    assert table["net_amount"].sum() == pytest.approx(-18000.0)


def test_irr_survives_negligible_trailing_flows():
    # A denormal last flow breaks numpy-financial's polynomial roots; it cannot change the IRR.
    assert internal_rate_of_return([-1000.0, 1100.0, 2.2e-308]).rate == pytest.approx(0.1)


@pytest.mark.parametrize("flows", [[1.0, -3.0, 3.0], [-1.0, 3.0, -3.0], [0.0, 1.0, -3.0, 3.0]])
def test_flows_that_change_sign_without_a_real_root_have_no_irr(flows):
    # NPV(r) = 1 - 3 x + 3 x^2 with x = 1 / (1 + r) has no real root: no rate, not 0 %.
    r = internal_rate_of_return(flows)
    assert r.rate is None and r.note == "no IRR: no real rate makes the NPV zero"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-20, 20).map(float), min_size=2, max_size=6))
def test_irr_is_a_root_of_the_npv_or_there_is_none_in_range(flows):
    """A rate returned makes the NPV zero; none returned means no real rate in
    (-99 %, 1000 %] does (the roots of the NPV polynomial in 1 / (1 + r))."""
    v = np.asarray(flows)
    r = internal_rate_of_return(v)
    if r.rate is not None:
        terms = v / (1.0 + r.rate) ** np.arange(v.size)
        assert abs(terms.sum()) <= 1e-6 * np.abs(terms).sum()
        return
    trimmed = np.trim_zeros(v, "b")
    x = np.roots(trimmed[::-1]) if trimmed.size > 1 else np.array([])
    real = x[(np.abs(x.imag) < 1e-9) & (x.real > 0)].real
    rates = 1.0 / real - 1.0
    assert not ((rates > -0.99) & (rates <= 10.0)).any(), (flows, rates)


def test_replacement_at_horizon_end_is_not_charged():
    capex = Capex(pv_kw=5.0, pv_cost_per_kw=1000.0)
    ongoing = Ongoing(inverter_life_years=10, inverter_replacement_cost=2000.0)
    a10 = replace_horizon(FLAT, 10)
    a12 = replace_horizon(FLAT, 12)
    t10 = cash_flow_table(capex, ongoing, Savings(import_saving=1000.0), a10)
    t12 = cash_flow_table(capex, ongoing, Savings(import_saving=1000.0), a12)
    assert t10["replacement_amount"].sum() == 0
    assert t12["replacement_amount"].to_list()[10] == pytest.approx(2000.0)
    assert t12["replacement_amount"].sum() == pytest.approx(2000.0)


def replace_horizon(a: Assumptions, years: int) -> Assumptions:
    from dataclasses import replace

    return replace(a, horizon_years=years)


def test_replacement_price_change_applies_per_year_from_today():
    capex = Capex(pv_kw=5.0, pv_cost_per_kw=1000.0)
    ongoing = Ongoing(inverter_life_years=4, inverter_replacement_cost=1000.0)
    a = Assumptions(horizon_years=5, discount_rate=0.0, replacement_cost_change=-0.1)
    table = cash_flow_table(capex, ongoing, Savings(import_saving=0.0), a)
    assert table["replacement_amount"].to_list()[4] == pytest.approx(1000.0 * 0.9**4)


def test_om_escalates_and_pv_om_scales_with_size():
    capex = Capex(pv_kw=4.0, pv_cost_per_kw=1000.0)
    ongoing = Ongoing(om_per_year=100.0, pv_om_per_kw_year=10.0)
    a = Assumptions(horizon_years=2, discount_rate=0.0, om_escalation=0.5)
    table = cash_flow_table(capex, ongoing, Savings(import_saving=0.0), a)
    assert table["om_amount"].to_list() == pytest.approx([0.0, 140.0, 210.0])


def test_rebates_reduce_upfront_capex():
    c = Capex(
        pv_kw=6.6,
        pv_cost_per_kw=1000.0,
        pv_installation=400.0,
        pv_rebate=2000.0,
        battery_units=1,
        battery_cost_per_unit=15000.0,
        battery_kwh=0.0,
        battery_installation=1500.0,
        battery_rebate=4500.0,
        charger_cost=3000.0,
        other_rebate=500.0,
    )
    assert c.gross == pytest.approx(6600 + 400 + 15000 + 1500 + 3000)
    assert c.rebates == pytest.approx(7000.0)
    assert c.net == pytest.approx(26500 - 7000)
    assert c.pv_net == pytest.approx(5000.0)
    assert c.battery_net == pytest.approx(12000.0)


def test_battery_priced_per_kwh_and_per_unit_adds_up():
    c = Capex(
        battery_units=1, battery_cost_per_unit=2000.0, battery_kwh=10.0, battery_cost_per_kwh=800.0
    )
    assert c.battery_hardware == pytest.approx(10000.0)


def test_lcoe_hand_computed():
    assert lcoe_per_kwh(10000.0, [0.0, 0.0], [1000.0, 1000.0], 0.0) == pytest.approx(5.0)
    assert lcoe_per_kwh(10000.0, [0.0, 0.0], [1000.0, 1000.0], 0.1) == pytest.approx(
        10000 / (1000 / 1.1 + 1000 / 1.21)
    )
    assert lcoe_per_kwh(100.0, [0.0], [0.0], 0.05) is None


def test_evaluate_lcoe_counts_pv_costs_only():
    capex = Capex(pv_kw=5.0, pv_cost_per_kw=1000.0, battery_units=1, battery_cost_per_unit=9999.0)
    s = Savings(import_saving=1000.0, pv_generation_kwh=7000.0)
    a = Assumptions(horizon_years=10, discount_rate=0.0, pv_degradation=0.0)
    r = evaluate(capex, s, a)
    assert r.lcoe_per_kwh == pytest.approx(5000 / 70000)
    assert evaluate(Capex(battery_units=1, battery_cost_per_unit=100.0), s, a).lcoe_per_kwh is None


def test_payback_not_within_horizon_is_none_and_says_so():
    capex, _ = flat_case()
    r = evaluate(capex, Savings(import_saving=500.0), FLAT)
    assert r.payback_years is None
    assert r.discounted_payback_years is None
    assert format_payback(r.payback_years, r.horizon_years) == "not within 10 years"
    assert format_payback(6.34, 10) == "6.3 years"
    assert format_payback(0.0, 10) == "immediate"


def test_zero_capex_pays_back_at_once_and_has_no_roi_or_irr():
    r = evaluate(Capex(), Savings(import_saving=300.0), FLAT)
    assert r.payback_years == 0.0
    assert r.roi is None
    assert r.irr is None
    assert r.irr_note == "no IRR: cash flows never change sign"
    assert format_irr(r.irr, r.irr_note) == "no IRR: cash flows never change sign"


def test_losing_system_has_no_irr_when_flows_never_turn_positive():
    capex, _ = flat_case()
    r = evaluate(capex, Savings(import_saving=-100.0), FLAT)
    assert r.irr is None
    assert "never change sign" in r.irr_note
    assert r.npv < -10000


def test_break_even_capex_gives_zero_npv():
    capex, savings = flat_case()
    r = evaluate(capex, savings, FLAT)
    at_break_even = Capex(pv_kw=1.0, pv_cost_per_kw=r.break_even_capex)
    assert evaluate(at_break_even, savings, FLAT).npv == pytest.approx(0.0, abs=1e-6)


def test_roi_hand_computed():
    assert return_on_investment([-1000, 600, 600]) == pytest.approx(0.2)
    assert return_on_investment([0, 600]) is None


# --------------------------------------------------------------------------- numpy-financial's own examples


def test_npv_matches_numpy_financial_documented_example():
    assert round(net_present_value([-40_000, 5_000, 8_000, 12_000, 30_000], 0.08), 5) == 3065.22267


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([-100, 39, 59, 55, 20], 0.28095),
        ([-100, 0, 0, 74], -0.0955),
        ([-100, 100, 0, -7], -0.0833),
        ([-100, 100, 0, 7], 0.06206),
        ([-5, 10.5, 1, -8, 1], 0.0886),
    ],
)
def test_irr_matches_numpy_financial_documented_examples(values, expected):
    result = internal_rate_of_return(values)
    assert round(result.rate, 5) == expected


# --------------------------------------------------------------------------- sensitivity


def test_sensitivity_rows_and_directions():
    capex = Capex(pv_kw=6.6, pv_cost_per_kw=1000.0, battery_units=1, battery_cost_per_unit=10000.0)
    s = Savings(import_saving=1800.0, export_credit=400.0, pv_fraction=0.6, battery_fraction=0.4)
    a = Assumptions(horizon_years=15, discount_rate=0.05)
    table = sensitivity(capex, s, a)
    assert table.height == 2 * len(DEFAULT_SENSITIVITY)
    row = {(r["parameter"], r["case"]): r for r in table.iter_rows(named=True)}
    base = evaluate(capex, s, a).npv
    assert row[("capex", "high")]["delta_npv_amount"] == pytest.approx(-0.2 * capex.gross)
    assert row[("capex", "low")]["delta_npv_amount"] == pytest.approx(0.2 * capex.gross)
    assert row[("tariff escalation", "high")]["delta_npv_amount"] > 0
    assert row[("tariff escalation", "low")]["delta_npv_amount"] < 0
    assert row[("discount rate", "high")]["delta_npv_amount"] < 0
    assert row[("degradation", "high")]["delta_npv_amount"] < 0
    assert row[("export price", "high")]["delta_npv_amount"] > 0
    assert row[("capex", "high")]["delta_payback_years"] > 0
    assert table["base_npv_amount"].unique().to_list() == [pytest.approx(base)]


def test_export_price_sensitivity_equals_discounted_export_stream():
    s = Savings(import_saving=0.0, export_credit=100.0, pv_fraction=0.0)
    a = Assumptions(horizon_years=3, discount_rate=0.1, tariff_escalation=0.0)
    table = sensitivity(Capex(), s, a)
    high = table.filter((table["parameter"] == "export price") & (table["case"] == "high"))
    expected = 0.5 * sum(100 / 1.1**t for t in range(1, 4))
    assert high["delta_npv_amount"][0] == pytest.approx(expected)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: Capex(pv_kw=-1.0), "Capex.pv_kw"),
        (lambda: Assumptions(horizon_years=0), "horizon_years"),
        (lambda: Assumptions(discount_rate=-2.0), "discount_rate"),
        (lambda: Assumptions(pv_degradation=1.5), "pv_degradation"),
        (
            lambda: Savings(import_saving=1.0, pv_fraction=0.8, battery_fraction=0.5),
            "sum to at most 1",
        ),
        (lambda: Savings(import_saving=float("nan")), "finite"),
        (lambda: Ongoing(battery_life_years=0), "battery_life_years"),
    ],
)
def test_bad_inputs_raise_clear_errors(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()


# --------------------------------------------------------------------------- properties

flows_strategy = st.lists(
    st.floats(min_value=-5000, max_value=5000, allow_nan=False, allow_infinity=False),
    min_size=2,
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(flows_strategy)
def test_payback_within_horizon_iff_cumulative_cash_flow_turns_positive(values):
    cumulative = np.cumsum(values)
    p = payback_years(values)
    assert (p is not None) == bool(np.any(cumulative >= 0))
    if p is not None and p > 0:
        k = int(np.flatnonzero(cumulative >= 0)[0])  # first year-end paid back
        assert k >= 1 and cumulative[k - 1] < 0
        assert k - 1 <= p <= k  # the crossing lies inside year k


@settings(max_examples=60, deadline=None)
@given(
    capex_amount=st.floats(min_value=1000, max_value=50000),
    saving=st.floats(min_value=-2000, max_value=8000),
    export=st.floats(min_value=0, max_value=2000),
    escalation=st.floats(min_value=-0.02, max_value=0.08),
    horizon=st.integers(min_value=2, max_value=30),
    inverter_life=st.one_of(st.none(), st.integers(min_value=3, max_value=15)),
)
def test_npv_at_the_irr_is_zero(capex_amount, saving, export, escalation, horizon, inverter_life):
    capex = Capex(pv_kw=1.0, pv_cost_per_kw=capex_amount)
    ongoing = Ongoing(
        inverter_life_years=inverter_life, inverter_replacement_cost=0.2 * capex_amount
    )
    a = Assumptions(horizon_years=horizon, tariff_escalation=escalation)
    r = evaluate(capex, Savings(import_saving=saving, export_credit=export), a, ongoing)
    flows = r.flows
    # Amounts under a billionth of the largest flow count as zero (see internal_rate_of_return).
    tiny = 1e-9 * np.abs(flows).max()
    changes_sign = np.any(flows > tiny) and np.any(flows < -tiny)
    assert (r.irr is None and "never change sign" in r.irr_note) == (not changes_sign)
    if r.irr is not None:
        # Zero relative to the discounted terms (a rate near -100 % magnifies late flows).
        scale = np.abs(flows / (1.0 + r.irr) ** np.arange(flows.size)).sum()
        assert abs(net_present_value(flows, r.irr)) <= 1e-6 * scale


@settings(max_examples=40, deadline=None)
@given(
    capex_amount=st.floats(min_value=1000, max_value=50000),
    saving=st.floats(min_value=10, max_value=8000),
    rate=st.floats(min_value=0.0, max_value=0.15),
    horizon=st.integers(min_value=1, max_value=30),
)
def test_conventional_project_metrics_agree(capex_amount, saving, rate, horizon):
    """One sign change: NPV > 0 iff IRR > rate; discounted payback never before payback."""
    capex = Capex(pv_kw=1.0, pv_cost_per_kw=capex_amount)
    a = Assumptions(horizon_years=horizon, discount_rate=rate)
    r = evaluate(capex, Savings(import_saving=saving), a)
    if r.irr is not None and abs(r.npv) > 1e-6 * capex_amount:
        assert (r.npv > 0) == (r.irr > rate)
    if r.discounted_payback_years is not None:
        assert r.payback_years is not None
        assert r.discounted_payback_years >= r.payback_years - 1e-9
    if abs(r.npv) > 1e-6 * capex_amount:
        # The discounted cumulative flow rises monotonically to the NPV.
        assert (r.discounted_payback_years is not None) == (r.npv > 0)
    assert discounted_payback_years(r.flows, rate) == r.discounted_payback_years


# --------------------------------------------------------------------------- re-simulated years, paybacks
def test_resimulated_years_replace_the_scaled_stream_and_are_escalated():
    a = Assumptions(horizon_years=3, discount_rate=0.0, tariff_escalation=0.10,
                    export_price_escalation=0.0, pv_degradation=0.5)  # fmt: skip
    s = Savings(import_saving=1000.0, export_credit=100.0,
                import_by_year=(1000.0, 950.0, 900.0), export_by_year=(100.0, 90.0, 80.0))  # fmt: skip
    flows = cash_flows(Capex(), Ongoing(), s, a)
    # The per-year savings as given (degradation already in them), escalated from year two.
    assert flows[1:] == pytest.approx([1100.0, 950.0 * 1.1 + 90.0, 900.0 * 1.21 + 80.0])


def test_resimulated_years_must_cover_the_horizon():
    s = Savings(import_saving=1.0, import_by_year=(1.0, 1.0), export_by_year=(0.0, 0.0))
    with pytest.raises(ValueError, match="2 re-simulated years; the horizon is 5"):
        cash_flows(Capex(), Ongoing(), s, Assumptions(horizon_years=5))


def test_a_replacement_that_dips_below_zero_again_gives_a_later_final_payback():
    flows = np.array([-10000.0, 4000.0, 4000.0, 4000.0, -5000.0, 3000.0, 3000.0])
    # Cumulative: -10000, -6000, -2000, 2000, -3000, 0, 3000.
    assert payback_years(flows) == pytest.approx(2.5)
    assert final_payback_years(flows) == pytest.approx(
        5.0
    )  # reaches zero again at the end of year 5
    assert final_payback_years(np.array([-10.0, 4.0, 4.0, 4.0])) == pytest.approx(2.5)
    assert final_payback_years(np.array([-10.0, 20.0, -30.0])) is None
    assert format_paybacks(2.5, 5.0, 6) == "2.5 years (again at 5.0 after a replacement)"


def test_simple_payback_is_capex_over_the_year_one_saving_only():
    capex, savings = flat_case()
    r = evaluate(capex, savings, replace(FLAT, tariff_escalation=0.10))
    assert r.simple_payback_years == pytest.approx(10000.0 / 2000.0)
    assert (
        r.payback_years < 5.0
    )  # escalation brings the crossing forward; simple payback ignores it
