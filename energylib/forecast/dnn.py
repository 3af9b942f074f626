"""DNN: a feed-forward network on LEAR's inputs, the day-ahead DNN of Lago et al. (2021).

The open benchmark's other reference model: a multilayer perceptron that maps the
inputs LEAR reads (:func:`energylib.forecast.lear.lear_features`: the target on days
``D-1, D-2, D-3, D-7``, the known-future inputs on ``D, D-1, D-7``, the weekday),
each transformed as LEAR transforms them (``asinh`` of median / MAD scaling), to the
target day's slots at once.  It is trained on MAE (AdamW, early stopping on ``val_days``
days drawn at random from the days before the target day, as epftoolbox's DNN does at every
recalibration; or on the last ``val_days``); several seeds are averaged.  The seeds'
networks are trained together as one batched network (:class:`Members`), each on its own
shuffles and stopped on its own validation error: the same models as one by one.  With fused
AdamW and dropout masks drawn once an epoch with numpy, a member-epoch on NP's days before
the test period takes 30 ms against 41 ms one by one and 65 ms for per-seed ``nn.Sequential``
networks with torch's defaults (``test_np_dnn_members_trained_together``).

Recalibration, at most every ``recalibrate_every_days``: training from scratch on every
day before (``finetune_epochs=0``, the default), or continuing from the current weights
for ``finetune_epochs`` on the last ``finetune_days`` with the first scalers.  On NP's
2016 (before the benchmark's test period) retraining beat fine-tuning, which drifted, and
random validation days beat the last ones (MAE 1.422 against 1.460: the latest three months
are trained on too); retraining every day (1.487) and 8 seeds (1.466) did not help.
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


class Members(nn.Module):
    """One small MLP per seed, all of the same sizes, run as one batched network.

    ``(S, B, n_in) -> (S, B, n_out)``: member ``s`` maps its own batch with its own weights
    (``n_in -> hidden... -> n_out``, SiLU and dropout between layers).  Member ``s`` starts
    from the weights ``nn.Linear`` draws after ``torch.manual_seed(seeds[s])``.  Members share
    no parameter, and AdamW works element by element, so training them together is training
    each alone, in fewer, larger steps; a member that has stopped keeps its best weights
    while the others go on (its steps then are spent for nothing).
    """

    def __init__(
        self, n_in: int, hidden: Sequence[int], n_out: int, dropout: float, seeds: Sequence[int]
    ) -> None:
        super().__init__()
        sizes = [n_in, *hidden, n_out]
        layers = []
        for seed in seeds:
            torch.manual_seed(int(seed))
            layers.append([nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)])
        n_layers = len(sizes) - 1
        self.weights = nn.ParameterList(
            nn.Parameter(torch.stack([m[k].weight.detach().T for m in layers]))
            for k in range(n_layers)
        )  # (S, in, out)
        self.biases = nn.ParameterList(
            nn.Parameter(torch.stack([m[k].bias.detach()[None, :] for m in layers]))
            for k in range(n_layers)
        )  # (S, 1, out)
        self.dropout = dropout

    @property
    def n_members(self) -> int:
        return self.weights[0].shape[0]

    def forward(self, x: torch.Tensor, keep: Sequence[torch.Tensor] = ()) -> torch.Tensor:
        """``keep``: dropout's masks (scaled keep factors, one per hidden layer, each
        ``(S, B, width)``); none, no dropout (evaluation)."""
        last = len(self.weights) - 1
        for k, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = torch.baddbmm(b, x, w)
            if k < last:
                x = nn.functional.silu(x)
                if keep:
                    x = x * keep[k]
        return x

    def dropout_masks(self, rng: np.random.Generator, n: int) -> list[torch.Tensor]:
        """Scaled keep factors for ``n`` rows of every member and hidden layer, drawn
        with numpy's PCG64 (an epoch's masks: a fifth of the time of torch's dropout at
        every step on a CPU)."""
        drop = round(self.dropout * 65536)
        scale = 65536 / (65536 - drop)
        return [
            torch.from_numpy(
                (rng.integers(0, 65536, (self.n_members, n, w.shape[2]), dtype=np.uint16) >= drop)
                * np.float32(scale)
            )
            for w in self.weights[:-1]
        ]


def fit_members(
    net: Members,
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
    seeds: Sequence[int],
) -> list[int]:
    """Train every member of ``net`` on MAE with AdamW, each on its own shuffles (from its
    seed), each stopped early on its own validation MAE and left at its best epoch's
    weights (with no validation data, at the last epoch's).  Returns each member's epochs."""
    n_members = net.n_members
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    masks = np.random.default_rng([int(s) for s in seeds])  # dropout
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)
    validate = x_val is not None and len(x_val) > 0
    if validate:
        xv = torch.as_tensor(x_val, dtype=torch.float32).expand(n_members, -1, -1)
        yv = torch.as_tensor(y_val, dtype=torch.float32)
    opt = torch.optim.AdamW(
        net.parameters(), lr=learning_rate, weight_decay=weight_decay, fused=True
    )  # fused: one kernel per step for all parameters (a third of the default's time on a CPU)
    best = torch.full((n_members,), float("inf"))
    best_state = [p.detach().clone() for p in net.parameters()]
    bad = torch.zeros(n_members, dtype=torch.int64)
    ran = torch.zeros(n_members, dtype=torch.int64)
    running = torch.ones(n_members, dtype=torch.bool)
    for _ in range(epochs):
        ran += running
        order = torch.stack([torch.randperm(len(xt), generator=g) for g in gens])
        keep = net.dropout_masks(masks, len(xt)) if net.dropout > 0 else []
        for i in range(0, len(xt), batch_size):
            b = order[:, i : i + batch_size]
            step_keep = [k[:, i : i + batch_size] for k in keep]
            # each member's own mean: the gradient of the sum is each member's gradient
            loss = (net(xt[b], step_keep) - yt[b]).abs().mean(dim=(1, 2)).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if not validate:
            continue
        with torch.no_grad():
            val = (net(xv) - yv).abs().mean(dim=(1, 2))
            better = running & (val < best)
            best = torch.where(better, val, best)
            for kept, p in zip(best_state, net.parameters(), strict=True):
                kept[better] = p.detach()[better]
        bad = torch.where(better, 0, bad + running.long())
        running &= bad < patience
        if not running.any():
            break
    if validate:
        with torch.no_grad():
            for kept, p in zip(best_state, net.parameters(), strict=True):
                p.copy_(kept)
    return ran.tolist()


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
        Validation days of a training, held out of its data [days].
    validation : str
        ``random``: ``val_days`` days drawn from all the training days (seeded by the
        target day: the same draw for every seed and every run); ``last``: the last ones.
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
    validation: str = "random"
    seeds: Sequence[int] = (1, 2, 3, 4)
    finetune_epochs: int = 0
    finetune_days: int = 364
    recalibrate_every_days: int = 28
    cpu_threads: int = 1
    name: str = "DNN"
    _net: Members | None = field(default=None, repr=False)
    _scalers: tuple | None = field(default=None, repr=False)
    _calibrated_day: object = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.validation not in ("random", "last"):
            raise ValueError(
                f"{self.name}: validation {self.validation!r} unknown; use 'random' or 'last'"
            )

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
            "patience", "val_days", "validation", "seeds", "finetune_epochs", "finetune_days",
            "recalibrate_every_days",
        )  # fmt: skip
        return {"model": "dnn", "version": 3} | {
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
            self._net is not None
            and (data.days[day] - self._calibrated_day).astype(int) < self.recalibrate_every_days
        ):
            return
        torch.set_num_threads(self.cpu_threads)
        if self._net is None or not self.finetune_epochs:
            self._train(data, day)
        else:
            # the latest days, the validation block included, at a third of the rate
            x, y = self._rows(data, day - self.finetune_days, day)
            xs, ys = self._scaled(x, y)
            fit_members(
                self._net, xs, ys, None, None,
                epochs=self.finetune_epochs, learning_rate=self.learning_rate / 3,
                weight_decay=self.weight_decay, batch_size=self.batch_size,
                patience=self.patience, seeds=[int(s) + day for s in self.seeds],
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
        if self.validation == "random":
            held = np.zeros(len(xs), dtype=bool)
            held[np.random.default_rng(day).choice(len(xs), self.val_days, replace=False)] = True
        else:
            held = np.arange(len(xs)) >= len(xs) - self.val_days
        self._net = Members(xs.shape[1], self.hidden, ys.shape[1], self.dropout, self.seeds)
        fit_members(
            self._net, xs[~held], ys[~held], xs[held], ys[held],
            epochs=self.max_epochs, learning_rate=self.learning_rate,
            weight_decay=self.weight_decay, batch_size=self.batch_size,
            patience=self.patience, seeds=self.seeds,
        )  # fmt: skip

    def forecast(self, data: DayAheadData) -> dict[str, np.ndarray]:
        if self._net is None:
            raise RuntimeError(f"{self.name} is not calibrated; call calibrate() first")
        day = data.n_days - 1
        x = lear_features(data.target, data.exog, data.weekdays(), np.array([day]))
        if not np.isfinite(x).all():
            raise ValueError(f"{self.name} cannot forecast {data.days[day]}: inputs are missing")
        xs, _ = self._scaled(x)
        with torch.no_grad():
            members = torch.as_tensor(xs, dtype=torch.float32).expand(self._net.n_members, -1, -1)
            z = self._net(members).mean(dim=0).numpy()
        return {self.name: self._scalers[1].inverse(z.astype(np.float64))[0]}
