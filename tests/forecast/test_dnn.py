"""The DNN's members: trained together, each is what it would be trained alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from forecast_synthetic import market

from energylib.forecast.dnn import Members, fit_members


def _data(seed: int, n: int = 120, n_in: int = 6, n_out: int = 3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n_in)).astype(np.float32)
    y = (np.tanh(x[:, :n_out]) + 0.1 * rng.normal(size=(n, n_out))).astype(np.float32)
    return x, y


def _fit(seeds, x, y, *, patience, dropout=0.0, epochs=40):
    net = Members(x.shape[1], (16, 8), y.shape[1], dropout, seeds)
    ran = fit_members(
        net, x[:90], y[:90], x[90:], y[90:],
        epochs=epochs, learning_rate=3e-3, weight_decay=1e-4, batch_size=16,
        patience=patience, seeds=seeds,
    )  # fmt: skip
    return net, ran


def test_members_trained_together_are_each_trained_alone():
    """Three seeds in one network against each seed alone (no dropout, the one draw the
    members would share): the same epochs run, the same best-epoch weights, the same
    forecasts; early stopping stops each member on its own validation error."""
    torch.set_num_threads(1)
    x, y = _data(0)
    seeds = [3, 5, 8]
    together, ran = _fit(seeds, x, y, patience=3)
    assert len(set(ran)) > 1, "the members should stop at different epochs in this setting"
    probe = torch.as_tensor(x[:10]).expand(3, -1, -1)
    with torch.no_grad():
        out = together(probe)
    for s, seed in enumerate(seeds):
        alone, ran_alone = _fit([seed], x, y, patience=3)
        assert ran_alone == [ran[s]]
        for a, b in zip(alone.parameters(), together.parameters(), strict=True):
            np.testing.assert_allclose(a[0].detach(), b[s].detach(), rtol=1e-4, atol=1e-5)
        with torch.no_grad():
            np.testing.assert_allclose(alone(probe[:1])[0], out[s], rtol=1e-4, atol=1e-5)


def test_each_member_keeps_its_best_validation_epoch():
    """With validation (and patience beyond the epochs, so nothing stops early) each member
    ends at its best epoch: its validation MAE is no worse than the same training's last
    epoch (the run without validation data follows the same path: same shuffles, same
    dropout) and better than where it started."""
    x, y = _data(1)
    seeds = [1, 2]

    def val(model):
        with torch.no_grad():
            xv = torch.as_tensor(x[90:]).expand(2, -1, -1)
            return (model(xv) - torch.as_tensor(y[90:])).abs().mean(dim=(1, 2)).numpy()

    kept, last = (Members(x.shape[1], (16, 8), y.shape[1], 0.1, seeds) for _ in range(2))
    start = val(kept)
    for net, (xv, yv) in ((kept, (x[90:], y[90:])), (last, (None, None))):
        fit_members(
            net, x[:90], y[:90], xv, yv, epochs=40, learning_rate=3e-2,
            weight_decay=0.0, batch_size=8, patience=100, seeds=seeds,
        )  # fmt: skip
    assert (val(kept) <= val(last) + 1e-7).all()
    assert (val(kept) < val(last)).any()  # at this rate the last epoch is not the best
    assert (val(kept) < start).all()


def test_dropout_masks_drop_the_asked_share_and_keep_the_mean():
    net = Members(4, (64, 32), 2, 0.25, [1, 2])
    keep = net.dropout_masks(np.random.default_rng(0), 2000)
    assert [k.shape for k in keep] == [(2, 2000, 64), (2, 2000, 32)]
    for k in keep:
        dropped = float((k == 0).float().mean())
        assert abs(dropped - 0.25) < 0.01
        assert abs(float(k.mean()) - 1.0) < 0.02  # scaled so a unit's mean is kept


def _held_out(validation: str, monkeypatch) -> tuple[np.ndarray, np.ndarray]:
    """The training and validation rows a DNN's retraining hands to ``fit_members``."""
    import energylib.forecast.dnn as dnn

    seen = []
    real = dnn.fit_members

    def spy(net, x, y, x_val, y_val, **kw):
        seen.append((x.copy(), x_val.copy()))
        return real(net, x, y, x_val, y_val, **kw)

    monkeypatch.setattr(dnn, "fit_members", spy)
    data = market(days=80)
    model = dnn.DNN(hidden=(8,), seeds=(1,), max_epochs=2, val_days=20, validation=validation)
    model.calibrate(data.information_for(70))
    ((train, val),) = seen
    return train, val


def test_random_validation_days_leave_the_latest_days_in_training(monkeypatch):
    """``validation='last'`` holds out the last ``val_days`` (the latest days are never
    trained on); ``random`` holds out as many days drawn from all of them, the same draw
    each time, so most of the latest days are trained on."""
    last_train, last_val = _held_out("last", monkeypatch)
    every_day = np.concatenate([last_train, last_val])  # in day order
    train, val = _held_out("random", monkeypatch)
    assert len(val) == len(last_val) == 20 and len(train) == len(last_train)
    rows = {r.tobytes(): i for i, r in enumerate(every_day)}
    held = sorted(rows[r.tobytes()] for r in val)
    assert sorted(held + [rows[r.tobytes()] for r in train]) == list(range(len(every_day)))
    assert held != list(range(len(last_train), len(every_day)))
    latest = set(range(len(last_train), len(every_day)))
    assert len(latest - set(held)) >= 10  # most of the latest 20 days are trained on
    again_train, again_val = _held_out("random", monkeypatch)
    np.testing.assert_array_equal(again_val, val)


def test_an_unknown_validation_is_refused():
    from energylib.forecast.dnn import DNN

    with pytest.raises(ValueError, match="validation 'latest' unknown; use 'random' or 'last'"):
        DNN(validation="latest")
