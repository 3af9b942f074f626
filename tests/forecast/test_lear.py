"""LEAR (Lago et al. 2021): its feature matrix, transform, penalty choice and fits."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from forecast_synthetic import market
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso, LassoLarsIC

from energylib.forecast.lear import (
    LEAR,
    InvariantScaler,
    _fit_slots,
    aic_alpha,
    lear_feature_names,
    lear_features,
)


def test_feature_matrix_holds_the_lags_the_exogenous_forecasts_and_the_weekday():
    data = market(days=30)
    rows = np.array([7, 12, 29])
    x = lear_features(data.target, data.exog, data.weekdays(), rows)
    names = lear_feature_names(24, data.exog_names)
    # 24 slots x (4 price lags + 2 inputs x 3 days) + 7 dummies: 247, as in epftoolbox for NP
    assert x.shape == (3, 247) and len(names) == 247
    col = {n: i for i, n in enumerate(names)}
    for r, d in enumerate(rows):
        for s in (0, 13, 23):
            for k in (1, 2, 3, 7):
                assert x[r, col[f"target_d-{k}_s{s}"]] == data.target[d - k, s]
            assert x[r, col[f"load_forecast_mw_d_s{s}"]] == data.exog[d, s, 0]  # the target day's
            assert x[r, col[f"wind_forecast_mw_d-1_s{s}"]] == data.exog[d - 1, s, 1]
            assert x[r, col[f"wind_forecast_mw_d-7_s{s}"]] == data.exog[d - 7, s, 1]
        dummies = x[r, -7:]
        assert dummies.sum() == 1 and dummies[data.weekdays()[d]] == 1
    # no column of row d reads the target of day d: the day-before rule, in the features
    changed = data.target.copy()
    changed[rows] += 100.0
    again = lear_features(changed, data.exog, data.weekdays(), rows)
    assert np.array_equal(x, again)
    # a lag before the first day is missing, not invented
    assert np.isnan(
        lear_features(data.target, data.exog, data.weekdays(), np.array([3]))[
            0, col["target_d-7_s0"]
        ]
    )


def test_invariant_transform_is_asinh_of_median_mad_scaling_and_inverts():
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(30, 5, 500), rng.lognormal(3, 1, 500), np.full(500, 2.0)])
    sc = InvariantScaler.fit(x)
    assert np.allclose(sc.median, np.median(x, axis=0))
    mad = 1.4826 * np.median(np.abs(x[:, 0] - np.median(x[:, 0])))
    assert sc.mad[0] == pytest.approx(mad, rel=1e-4)  # ~ the normal's sigma, 5
    assert sc.mad[0] == pytest.approx(5.0, rel=0.1)
    z = sc.transform(x)
    assert np.allclose(z[:, 0], np.arcsinh((x[:, 0] - sc.median[0]) / sc.mad[0]))
    assert np.allclose(sc.inverse(z), x)
    assert np.all(z[:, 2] == 0)  # a constant column: no division by zero


@pytest.mark.parametrize("n", [60, 400])
def test_penalty_is_the_one_lassolarsic_picks_on_unit_length_columns(n):
    """2020's LassoLarsIC (the published figures): unit-length columns, n MSE / var(y) + 2 df.
    Today's LassoLarsIC with noise_variance=var(y) scores the same path the same way."""
    rng = np.random.default_rng(n)
    p = 120
    x = rng.normal(size=(n, p)) * rng.uniform(0.5, 3, p)
    beta = np.zeros(p)
    beta[:6] = [2, -1.5, 1, 0.8, -0.6, 0.4]
    y = x @ beta + rng.normal(0, 1.5, n)
    xc, yc = x - x.mean(axis=0), y - y.mean()
    xn = xc / np.linalg.norm(xc, axis=0)
    expected = (
        LassoLarsIC(criterion="aic", max_iter=2500, noise_variance=np.var(y)).fit(xn, y).alpha_
    )
    full = aic_alpha(xn.T @ xn, xn.T @ yc, float(yc @ yc), n, path_steps=None)
    capped = aic_alpha(xn.T @ xn, xn.T @ yc, float(yc @ yc), n, path_steps=30)
    assert full == pytest.approx(expected, rel=1e-9)
    assert capped == pytest.approx(expected, rel=1e-9)


def test_slot_fits_are_scikit_learns_lasso_at_that_penalty():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 40))
    ys = np.column_stack(
        [x[:, 0] - 0.5 * x[:, 3] + rng.normal(0, 0.3, 300), x[:, 7] + rng.normal(0, 0.3, 300)]
    )
    coef, intercept = _fit_slots(x, ys, path_steps=100)
    for j in range(2):
        y = ys[:, j]
        xc = x - x.mean(axis=0)
        xn = xc / np.linalg.norm(xc, axis=0)
        alpha = (
            LassoLarsIC(criterion="aic", max_iter=2500, noise_variance=np.var(y)).fit(xn, y).alpha_
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ref = Lasso(alpha=alpha, max_iter=2500).fit(x, y)
        assert np.allclose(coef[j], ref.coef_, atol=1e-4)
        assert intercept[j] == pytest.approx(ref.intercept_, abs=1e-4)
        assert abs(coef[j][0 if j == 0 else 7]) > 0.5  # the true driver is kept


def test_lear_windows_ensemble_and_the_error_for_too_little_history():
    data = market(days=100)
    model = LEAR(windows=(56, 84), path_steps=40)
    assert model.names == ("LEAR 56", "LEAR 84", "LEAR ensemble")
    view = data.information_for(95)
    model.calibrate(view)
    assert model.fits[56].n_train == 56 - 7 and model.fits[84].n_train == 84 - 7
    out = model.forecast(view)
    assert np.allclose(out["LEAR ensemble"], (out["LEAR 56"] + out["LEAR 84"]) / 2)
    err = np.abs(out["LEAR ensemble"] - data.target[95]).mean()
    naive = np.abs(data.target[94] - data.target[95]).mean()
    assert err < naive
    with pytest.raises(ValueError, match="complete training day"):
        LEAR(windows=(56,)).calibrate(data.information_for(9))
