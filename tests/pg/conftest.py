"""Postgres tests: the real-server fixture lives in tests/postgres_fixture.py."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from postgres_fixture import pg_url, postgres_server  # noqa: E402, F401
