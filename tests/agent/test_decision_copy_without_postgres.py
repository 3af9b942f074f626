"""The decision log's copy over Supabase's REST API needs no Postgres driver: an agent
installed without the [pg] extra (no psycopg) builds it."""

import subprocess
import sys

from energylib.config import PROJECT_ROOT

CODE = """
import sys
sys.modules["psycopg"] = None  # as if the [pg] extra were not installed
from energylib.agent.decision_copy import RestDecisionSync
from energylib.store.supabase import SupabaseRest
sync = RestDecisionSync("missing.db", SupabaseRest("https://ref.supabase.co", "k"), "home")
assert sync.status()["pending"] == 0
try:
    import energylib.agent.decision_sync
except ImportError:
    print("ok")
"""


def test_the_rest_copy_loads_without_psycopg():
    out = subprocess.run(
        [sys.executable, "-c", CODE],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=60,
        env={"PYTHONPATH": str(PROJECT_ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"  # and the Postgres copy does need it
