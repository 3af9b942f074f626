"""The training split's time-of-day profile that the price heads forecast a residual on.

A model with a profile forecasts, for a task with a level input (price), the
baseline ``level + profile[slot(t)]`` plus what its head adds: ``profile`` holds the
training split's median of the scaled target at each local time-of-day slot (48
half-hours), ``level`` is the median of ``input - profile`` over the window and the
price lags of whole days (the same slots 1, 2, 3 and 7 days earlier): the recent level
over several days, seasonality removed.  The network then only learns corrections.

Everything here works on *scaled* inputs and targets, so the profile, the slot
keys and the model's arithmetic share one set of units.  The slot of an interval
is recovered from its scaled ``hour_sin`` / ``hour_cos`` inputs (nearest key), so
the exported model needs nothing beyond its usual ``(batch, L, F)`` input: the
``predict(history)`` contract is unchanged.  Slots of later intervals are counted
on from the window's last one (a daylight-saving change inside a horizon shifts
them by one hour there).
"""

from __future__ import annotations

import numpy as np

from energylib.forecast.features import FeatureMatrix, FeatureSpec, Scalers, transform_targets

PROFILE_SLOTS = 48  # local half-hours of the day


def time_inputs(spec: FeatureSpec) -> tuple[int, ...]:
    """Indices of the ``hour_sin`` and ``hour_cos`` inputs, or ``()`` if the spec lacks one."""
    idx = {f.columns[0]: i for i, f in enumerate(spec.features) if f.kind == "time"}
    if "hour_sin" in idx and "hour_cos" in idx:
        return (idx["hour_sin"], idx["hour_cos"])
    return ()


def slot_keys(
    scalers: Scalers, time_idx: tuple[int, ...], n_slots: int = PROFILE_SLOTS
) -> np.ndarray:
    """``(n_slots, 2)`` scaled ``(hour_sin, hour_cos)`` of each slot's start (slot ``j``
    begins at local hour ``24 j / n_slots``), as the input scaler would scale them."""
    angle = 2 * np.pi * np.arange(n_slots) / n_slots
    raw = np.zeros((n_slots, len(scalers.inputs.center)), dtype=np.float32)
    raw[:, time_idx[0]], raw[:, time_idx[1]] = np.sin(angle), np.cos(angle)
    return scalers.inputs.transform(raw)[:, list(time_idx)].astype(np.float32)


def slots_of(scaled_time: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Slot of each row of scaled ``(hour_sin, hour_cos)`` ``(n, 2)``: the nearest key."""
    d = ((np.asarray(scaled_time)[:, None, :] - keys[None, :, :]) ** 2).sum(axis=-1)
    return d.argmin(axis=1)


def fit_profile(
    fm: FeatureMatrix,
    scalers: Scalers,
    train_block: tuple[int, int],
    tasks: tuple[int, ...],
    time_idx: tuple[int, ...],
    n_slots: int = PROFILE_SLOTS,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-slot median of each scaled target, from the training block's rows only.

    Parameters
    ----------
    fm : FeatureMatrix
        The whole matrix (only rows ``train_block`` are read).
    scalers : Scalers
        Fitted on the training block.
    train_block : (int, int)
        Rows ``[start, stop)`` of the training split.
    tasks : tuple of int
        Task indices that get a profile; the others' rows stay 0 (no baseline).
    time_idx : tuple of int
        Indices of the ``hour_sin`` and ``hour_cos`` inputs.
    n_slots : int
        Slots per day (48 half-hours).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``profile`` ``(n_tasks, n_slots)`` [scaled target units] and ``keys``
        ``(n_slots, 2)`` (see :func:`slot_keys`).  A slot without training rows takes
        the task's overall training median.
    """
    a, b = train_block
    keys = slot_keys(scalers, time_idx, n_slots)
    x = scalers.inputs.transform(fm.inputs[a:b])[:, list(time_idx)]
    y = scalers.targets.transform(transform_targets(fm.targets[a:b], fm.spec))
    ok_rows = np.isfinite(x).all(axis=1)
    slots = np.full(b - a, -1)
    slots[ok_rows] = slots_of(x[ok_rows], keys)
    profile = np.zeros((len(fm.spec.tasks), n_slots), dtype=np.float32)
    for t in tasks:
        v = y[:, t]
        ok = np.isfinite(v) & (slots >= 0)
        overall = float(np.median(v[ok])) if ok.any() else 0.0
        for j in range(n_slots):
            sel = v[ok & (slots == j)]
            profile[t, j] = float(np.median(sel)) if sel.size else overall
    return profile, keys
