"""Where canonical frames are kept: one :class:`Store` protocol, one read contract.

===================================== ====================================================
:mod:`~energylib.store.protocol`      the :class:`Store` protocol every ``store=`` parameter
                                      is typed with, the key, :class:`UpsertResult`, and the
                                      read contract written once
:mod:`~energylib.store.parquet`       :class:`ParquetStore`: history, Parquet files by
                                      source / kind / month (the default)
:mod:`~energylib.store.sqlite`        :class:`SqliteStore`: the Pi's live cache (WAL)
:mod:`~energylib.store.postgres`      ``PostgresStore``: the durable copy (Supabase)
:mod:`~energylib.store.sql`           the read / upsert path SQLite and Postgres share
:mod:`~energylib.store.sync`          ``sync_to_postgres``: Parquet store -> Postgres
===================================== ====================================================

The Postgres modules import psycopg, which the Pi agent does not need: import them from
their modules (``from energylib.store.postgres import PostgresStore``).
"""

from energylib.store.parquet import ParquetStore, atomic_write_parquet
from energylib.store.protocol import KEY, SERIES_COLUMNS, Store, UpsertResult
from energylib.store.sqlite import SqliteStore

__all__ = [
    "KEY",
    "SERIES_COLUMNS",
    "ParquetStore",
    "SqliteStore",
    "Store",
    "UpsertResult",
    "atomic_write_parquet",
]
