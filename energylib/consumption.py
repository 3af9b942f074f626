"""What a household consumed, from what its meters measured: the one conversion.

Two store kinds hold energy a home used, and they are different things:

* kind ``usage``: what a meter measured on each channel, ``energy_kwh`` per interval
  (Powerpal exports, Amber's usage: ``general`` and ``controlled_load`` are imports from
  the grid, ``feed_in`` is export to it; SGSC trial readings);
* kind ``load``: what the household consumed, ``total_kwh`` per interval (the simulator's
  generated households, CityLearn's buildings).

Without PV the two agree: consumption is the imports.  With PV the meter sees only the
net, and consumption is ``imports - exports + generation``.  :func:`load_from_meter` is
the one place that turns meter channels into a household load; every study, forecaster
and market reads consumption through it, as ``total_kwh``.
"""

from __future__ import annotations

import polars as pl

from energylib.schema import TIME, DataValidationError, FrameMeta, Problem

#: Meter channels that bring energy into the home.
IMPORT_CHANNELS = ("general", "controlled_load")
#: Rounding tolerance on ``imports - exports + generation`` [kWh per interval].
NEGATIVE_TOLERANCE_KWH = 1e-6


def load_from_meter(
    imports: list[tuple[pl.DataFrame, FrameMeta]],
    exports: tuple[pl.DataFrame, FrameMeta] | None = None,
    generation: tuple[pl.DataFrame, FrameMeta] | None = None,
) -> tuple[pl.DataFrame, FrameMeta]:
    """The household load (``total_kwh``) from meter channels and measured PV.

    Parameters
    ----------
    imports : list of (DataFrame, FrameMeta)
        Import channels (kind ``usage``, ``energy_kwh`` [kWh]), e.g. ``general`` and
        ``controlled_load``; summed interval by interval.
    exports : (DataFrame, FrameMeta), optional
        The ``feed_in`` channel (``energy_kwh`` [kWh] exported).
    generation : (DataFrame, FrameMeta), optional
        The existing PV system's measured AC generation (``pv_kwh`` [kWh]).

    Returns
    -------
    (polars.DataFrame, FrameMeta)
        ``total_kwh`` [kWh] on the intervals every input has; kind ``load``, the first
        import's source, site and interval length.

    Raises
    ------
    DataValidationError
        Inputs at different interval lengths, or a consumption that comes out negative
        (exports above imports plus generation: the series do not belong together); the
        message names the first such interval and how many there are.
    """
    if not imports:
        raise ValueError("load_from_meter needs at least one import channel")
    first = imports[0][1]
    parts = [
        (d.select(TIME, pl.col("energy_kwh").alias(f"_in{i}")), m)
        for i, (d, m) in enumerate(imports)
    ]
    if exports is not None:
        parts.append((exports[0].select(TIME, pl.col("energy_kwh").alias("_out")), exports[1]))
    if generation is not None:
        parts.append((generation[0].select(TIME, pl.col("pv_kwh").alias("_pv")), generation[1]))
    lengths = {m.interval_minutes for _, m in parts}
    if len(lengths) > 1:
        named = ", ".join(f"{m.source}/{m.channel} {m.interval_minutes} min" for _, m in parts)
        raise DataValidationError(
            [Problem(f"meter channels at different interval lengths ({named})",
                     fix="resample them to one length first (energylib.align.resample)")],
            f"{first.source}/{first.site}",
        )  # fmt: skip
    frame = parts[0][0]
    for data, _ in parts[1:]:
        frame = frame.join(data, on=TIME, how="inner")
    total = pl.sum_horizontal([pl.col(f"_in{i}") for i in range(len(imports))])
    if exports is not None:
        total = total - pl.col("_out")
    if generation is not None:
        total = total + pl.col("_pv")
    frame = frame.sort(TIME).select(TIME, total.alias("total_kwh"))
    negative = frame.filter(pl.col("total_kwh") < -NEGATIVE_TOLERANCE_KWH)
    if negative.height:
        raise DataValidationError(
            [Problem(f"{negative.height} intervals consume less than nothing (imports - exports + "
                     f"generation < 0), the first at {negative[TIME][0]:%Y-%m-%d %H:%M} UTC",
                     fix="check that the export channel and the PV series are this meter's and this "
                         "home's, over the same times")],
            f"{first.source}/{first.site}",
        )  # fmt: skip
    frame = frame.with_columns(pl.col("total_kwh").clip(lower_bound=0.0))
    meta = first.replace(kind="load", channel="all", currency=None)
    return frame, meta
