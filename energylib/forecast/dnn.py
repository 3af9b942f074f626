"""DNN: a feed-forward network on LEAR's inputs, the day-ahead DNN of Lago et al. (2021).

The open benchmark's other reference model: a multilayer perceptron that maps the
inputs LEAR reads (:func:`energylib.forecast.lear.lear_features`: the target on days
``D-1, D-2, D-3, D-7``, the known-future inputs on ``D, D-1, D-7``, the weekday),
each transformed as LEAR transforms them (``asinh`` of median / MAD scaling), to the
target day's slots at once.  It is trained on MAE (AdamW, early stopping on the last
``val_days`` before the target day); several seeds are averaged.

Recalibration, at most every ``recalibrate_every_days``: training from scratch on every
day before (``finetune_epochs=0``, the default), or continuing from the current weights
for ``finetune_epochs`` on the last ``finetune_days`` with the first scalers.  On NP's
2016 (before the benchmark's test period) retraining beat fine-tuning, which drifted.
(Lago et al. retrain every day and choose inputs and sizes by a hyperparameter search;
this keeps the inputs whole and the sizes fixed, chosen on data before the test period.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from energylib.forecast.dayahead import DayAheadData
from energylib.forecast.lear import InvariantScaler, lear_features


def mlp(n_in: int, hidden: Sequence[int], n_out: int, dropout: float) -> nn.Sequential:
    """``n_in -> hidden... -> n_out`` with SiLU and dropout between layers."""
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(n_in, h), nn.SiLU(), nn.Dropout(dropout)]
        n_in = h
    layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


def fit_network(
    net: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    x_val: np.ndarray | None,
    y_val: np.ndarray | None,
    *,
    epochs: int,
    learning_rate: float,
    weight_decay: float,
    batch_size: int,
    patience: int,
    seed: int,
) -> int:
    """Train ``net`` on MAE with AdamW; keep the weights of the best validation epoch.
    Returns the number of epochs run."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)
    opt = torch.optim.AdamW(net.parameters(), lr=learning_rate, weight_decay=weight_decay)
    best, best_state, bad = float("inf"), None, 0
    ran = 0
    for _ in range(epochs):
        ran += 1
        net.train()
        order = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(order), batch_size):
            b = order[i : i + batch_size]
            loss = (net(xt[b]) - yt[b]).abs().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if x_val is None or len(x_val) == 0:
            continue
        net.eval()
        with torch.no_grad():
            val = float(
                (
                    net(torch.as_tensor(x_val, dtype=torch.float32))
                    - torch.as_tensor(y_val, dtype=torch.float32)
                )
                .abs()
                .mean()
            )
        if val < best:
            best, bad = val, 0
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        else:
            bad += 1
            if bad >= patience:
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return ran


@dataclass
class DNN:
    """A DNN day-ahead model of the benchmark protocol (see the module docstring).

    Parameters
    ----------
    hidden : sequence of int
        Hidden layer widths.
    dropout : float
        Dropout between layers.
    learning_rate, weight_decay : float
        AdamW settings of the first training (fine-tuning uses a third of the rate).
    batch_size : int
        Days per step.
    max_epochs, patience : int
        Upper bound on epochs and early-stopping patience of the first training.
    val_days : int
        Validation days at the end of the first training's data [days].
    seeds : sequence of int
        One network per seed; the output is their mean.
    finetune_epochs, finetune_days, recalibrate_every_days : int
        Later calibrations (see the module docstring).
    cpu_threads : int
        Torch intra-op threads.
    name : str
        Output name.
    """

    hidden: Sequence[int] = (256, 128)
    dropout: float = 0.1
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 32
    max_epochs: int = 300
    patience: int = 20
    val_days: int = 91
    seeds: Sequence[int] = (1, 2, 3, 4)
    finetune_epochs: int = 0
    finetune_days: int = 364
    recalibrate_every_days: int = 28
    cpu_threads: int = 1
    name: str = "DNN"
    _nets: list = field(default_factory=list, repr=False)
    _scalers: tuple | None = field(default=None, repr=False)
    _calibrated_day: object = field(default=None, repr=False)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name,)

    @property
    def independent_calibrations(self) -> bool:
        """Retrained from scratch, a calibration reads only its view (fine-tuning does not)."""
        return self.finetune_epochs == 0

    @property
    def calibration_period_days(self) -> int:
        """Days between retrainings (the protocol's calibrations between are skipped)."""
        return self.recalibrate_every_days

    def config(self) -> dict:
        keep = (
            "hidden", "dropout", "learning_rate", "weight_decay", "batch_size", "max_epochs",
            "patience", "val_days", "seeds", "finetune_epochs", "finetune_days",
            "recalibrate_every_days",
        )  # fmt: skip
        return {"model": "dnn", "version": 2} | {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in ((k, getattr(self, k)) for k in keep)
        }

    def _rows(self, data: DayAheadData, first: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        rows = np.arange(max(first, 7), stop)
        x = lear_features(data.target, data.exog, data.weekdays(), rows)
        y = data.target[rows]
        ok = np.isfinite(x).all(axis=1) & np.isfinite(y).all(axis=1)
        return x[ok], y[ok]

    def _scaled(self, x: np.ndarray, y: np.ndarray | None = None):
        xs_, ys_ = self._scalers
        xs = x.copy()
        xs[:, :-7] = xs_.transform(x[:, :-7])
        return xs, (ys_.transform(y) if y is not None else None)

    def calibrate(self, data: DayAheadData) -> None:
        day = data.n_days - 1
        if (
            self._nets
            and (data.days[day] - self._calibrated_day).astype(int) < self.recalibrate_every_days
        ):
            return
        torch.set_num_threads(self.cpu_threads)
        if not self._nets or not self.finetune_epochs:
            self._train(data, day)
        else:
            # the latest days, the validation block included, at a third of the rate
            x, y = self._rows(data, day - self.finetune_days, day)
            xs, ys = self._scaled(x, y)
            for seed, net in zip(self.seeds, self._nets, strict=True):
                fit_network(
                    net, xs, ys, None, None,
                    epochs=self.finetune_epochs, learning_rate=self.learning_rate / 3,
                    weight_decay=self.weight_decay, batch_size=self.batch_size,
                    patience=self.patience, seed=int(seed) + day,
                )  # fmt: skip
        self._calibrated_day = data.days[day]

    def _train(self, data: DayAheadData, day: int) -> None:
        """Every seed from scratch on the days before ``day``, the last ``val_days`` validating."""
        x, y = self._rows(data, 0, day)
        if len(x) <= self.val_days + 7:
            raise ValueError(
                f"{self.name}: {len(x)} complete training day(s) before {data.days[day]}; "
                f"it needs more than val_days + 7 = {self.val_days + 7}"
            )
        self._scalers = (InvariantScaler.fit(x[:, :-7]), InvariantScaler.fit(y))
        xs, ys = self._scaled(x, y)
        cut = len(xs) - self.val_days
        self._nets = []
        for seed in self.seeds:
            torch.manual_seed(int(seed))
            net = mlp(xs.shape[1], self.hidden, ys.shape[1], self.dropout)
            fit_network(
                net, xs[:cut], ys[:cut], xs[cut:], ys[cut:],
                epochs=self.max_epochs, learning_rate=self.learning_rate,
                weight_decay=self.weight_decay, batch_size=self.batch_size,
                patience=self.patience, seed=int(seed),
            )  # fmt: skip
            self._nets.append(net)

    def forecast(self, data: DayAheadData) -> dict[str, np.ndarray]:
        if not self._nets:
            raise RuntimeError(f"{self.name} is not calibrated; call calibrate() first")
        day = data.n_days - 1
        x = lear_features(data.target, data.exog, data.weekdays(), np.array([day]))
        if not np.isfinite(x).all():
            raise ValueError(f"{self.name} cannot forecast {data.days[day]}: inputs are missing")
        xs, _ = self._scaled(x)
        with torch.no_grad():
            z = np.mean(
                [net(torch.as_tensor(xs, dtype=torch.float32)).numpy() for net in self._nets],
                axis=0,
            )
        return {self.name: self._scalers[1].inverse(z.astype(np.float64))[0]}
