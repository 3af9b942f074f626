"""Ingestion: one module per data source, each returning canonical frames.

Modules (import the one you need; this package imports nothing heavy itself):

* :mod:`energylib.ingest.http` -- shared HTTP client: retries on 5xx, 429 with
  ``Retry-After`` / ``RateLimit-Reset`` and jittered back-off, clear 401 errors.
* :mod:`energylib.ingest.amber` -- Amber Electric API v1: sites, prices (actual,
  current, forecast), current prices, usage.
* :mod:`energylib.ingest.aemo` -- AEMO monthly "aggregated price and demand" CSVs.
* :mod:`energylib.ingest.powerpal` -- Powerpal CSV usage exports.
* :mod:`energylib.ingest.backfill` -- windowed, resumable backfills into the store.
* :mod:`energylib.ingest.coverage` -- what the store holds: coverage, gaps, monthly summaries.
* :mod:`energylib.ingest.entsoe`, :mod:`energylib.ingest.weather` -- ENTSO-E and weather.

Every ``get_*`` (network) and ``read_*`` (saved file or response) returns a
canonical frame and its :class:`energylib.schema.FrameMeta`, as pvlib.iotools does.
"""
