"""`energy sync`: URL from --to or SUPABASE_DB_URL, summary without the password, idempotent re-run."""

from __future__ import annotations

import psycopg
import pytest

from energylib.cli import main
from energylib.store import ParquetStore

from .test_pgstore import filled_store

pytestmark = pytest.mark.postgres


def test_sync_to_url_prints_summary_without_password(tmp_path, pg_url, capsys):
    filled_store(tmp_path / "store")
    assert main(["sync", "--to", pg_url, "--store", str(tmp_path / "store"), "--no-progress"]) == 0
    out = capsys.readouterr()
    assert "inserted 1320" in out.out
    assert "s3cret-pw" not in out.out + out.err
    assert "postgres:***@127.0.0.1" in out.out
    with psycopg.connect(pg_url) as con:
        assert con.execute("SELECT count(*) FROM energylib.prices").fetchone()[0] == 1320


def test_sync_reads_supabase_db_url_and_second_run_changes_nothing(
    tmp_path, pg_url, capsys, monkeypatch
):
    filled_store(tmp_path / "store")
    monkeypatch.setenv("SUPABASE_DB_URL", pg_url)
    assert main(["sync", "--store", str(tmp_path / "store"), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["sync", "--store", str(tmp_path / "store"), "--no-progress", "--force"]) == 0
    out = capsys.readouterr().out
    assert "inserted 0, updated 0, unchanged 1320" in out
    assert "s3cret-pw" not in out


def test_sync_without_url_says_which_variable_to_set(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SUPABASE_DB_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("energylib.config.PROJECT_ROOT", tmp_path)
    assert main(["sync", "--store", str(tmp_path)]) == 2
    assert "SUPABASE_DB_URL" in capsys.readouterr().err


def test_sync_unreachable_server_exits_1_without_password(tmp_path, capsys):
    filled_store(tmp_path / "store")
    url = "postgresql://me:Hunter2Secret@127.0.0.1:1/db"
    assert (
        main(
            [
                "sync",
                "--to",
                url,
                "--store",
                str(tmp_path / "store"),
                "--no-progress",
                "--retries",
                "0",
            ]
        )
        == 1
    )
    out = capsys.readouterr()
    assert "Hunter2Secret" not in out.out + out.err
    assert "cannot connect" in out.err


def test_sync_of_empty_store_is_a_no_op(tmp_path, pg_url, capsys):
    assert main(["sync", "--to", pg_url, "--store", str(tmp_path / "empty")]) == 0
    assert "empty" in capsys.readouterr().out
    assert not ParquetStore(tmp_path / "empty").datasets()
