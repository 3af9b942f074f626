"""Backfills as the settings allow: each source's backfill where its token is configured.

:func:`configured_backfill` is what the backfill notebook runs: it looks at the settings
(``AMBER_TOKEN``, ``ENTSOE_API_KEY``; AEMO needs none), runs the source's backfill (which
lives beside its reader) and turns the outcome, a failure included, into a message for
the reader, so the notebook goes on to show what the store holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from energylib.config import Settings, load_settings
from energylib.dates import as_date
from energylib.ingest.aemo import backfill_aemo
from energylib.ingest.amber import backfill_amber
from energylib.ingest.backfill import BackfillError
from energylib.ingest.entsoe import EntsoeError, backfill_entsoe, zone_days
from energylib.ingest.http import HttpError
from energylib.store import Store


@dataclass
class BackfillOutcome:
    """What the notebook's backfill step did: ``ran`` (a backfill was attempted), a
    one-paragraph ``message`` for the reader, and the source's report when there is one."""

    ran: bool
    message: str
    report: object | None = None


def configured_backfill(
    store: Store,
    source: str,
    start: date | str,
    end: date | str,
    *,
    site: str | None = None,
    zone: str | None = None,
    region: str = "NSW1",
    resume: bool = True,
    progress: bool = True,
    settings: Settings | None = None,
) -> BackfillOutcome:
    """Run a backfill when its token is configured; otherwise say that none is.

    Failures do not raise: everything fetched before them is stored and the
    message says how to resume, so a notebook goes on to show the store.
    """
    settings = settings or load_settings()
    s, e = as_date(start), as_date(end)
    try:
        if source == "amber":
            if not settings.amber_token:
                return BackfillOutcome(
                    False,
                    "No Amber token is configured (set AMBER_TOKEN in the environment or .env), so nothing was fetched; below is what the store already holds.",
                )
            report = backfill_amber(store, s, e, site_id=site, resume=resume, progress=progress)
        elif source == "entsoe":
            if not settings.entsoe_api_key:
                return BackfillOutcome(
                    False,
                    "No ENTSO-E token is configured (set ENTSOE_API_KEY in the environment or .env), so nothing was fetched; below is what the store already holds.",
                )
            zone = zone or settings.entsoe_zone
            lo, hi = zone_days(zone, s, e)
            try:
                report = backfill_entsoe(store, zone, lo, hi, resume=resume, progress=progress)
            except EntsoeError as exc:
                return BackfillOutcome(
                    True, f"The ENTSO-E backfill stopped: {exc}", getattr(exc, "report", None)
                )
        elif source == "aemo":
            report = backfill_aemo(store, region, s, e, resume=resume, progress=progress)
        else:
            raise ValueError(f"unknown source {source!r}; use amber, entsoe or aemo")
    except BackfillError as exc:
        return BackfillOutcome(True, f"The backfill stopped early:\n{exc.report}", exc.report)
    except HttpError as exc:
        return BackfillOutcome(True, f"The backfill could not start: {exc}")
    return BackfillOutcome(True, f"Backfill done:\n{report}", report)
