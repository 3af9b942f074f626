"""Supabase over its REST API (PostgREST): the gateway's documented cloud-sync target.

The gateway documents its cloud sync with ``SUPABASE_URL`` (the project URL,
``https://<ref>.supabase.co``) and ``SUPABASE_KEY`` (an API key).  Supabase serves each
table at ``{SUPABASE_URL}/rest/v1/<table>`` (PostgREST); every request carries the key
twice, as ``apikey`` (Supabase's gateway) and ``Authorization: Bearer`` (PostgREST's
role).  Rows are upserted with ``POST`` + ``Prefer: resolution=merge-duplicates`` and
``?on_conflict=<key columns>``, so a batch sent twice changes nothing the second time.

Tables are the ones the direct Postgres path (``SUPABASE_DB_URL``) writes, in the schema
``SUPABASE_SCHEMA`` (``energylib``, chosen per request with the ``Content-Profile`` /
``Accept-Profile`` headers): the gateway's kinds and watermark
(:func:`energylib.store.influx_sync.sync_influx_to_supabase`) and the agent's decisions
(:class:`energylib.agent.decision_sync.RestDecisionSync`).  The REST API cannot create
tables: :func:`energylib.store.influx_sync.schema_sql` prints the SQL to run once in
Supabase's SQL editor (``energy sync --supabase-schema``).  Either path can then continue
the other's sync.

Durability over REST: a window's rows are sent first, then its watermark row; a request
that fails (after retries of 5xx, 429 and lost connections) stops the sync before the
watermark moves, so the watermark never runs ahead of rows Supabase confirmed (HTTP 201)
and a re-run resumes at the last confirmed window, re-sending at most one window.

Errors are PostgREST's JSON (``{code, message, details, hint}``), raised as
:class:`SupabaseError` with what to do; the key is never put in a message or a log line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests

from energylib.config import load_settings, secret
from energylib.ingest.http import RetryPolicy, make_session
from energylib.store import sql
from energylib.store.protocol import KEY

#: The key of every kind's table: the ``on_conflict`` of an upsert.
ON_CONFLICT = tuple(KEY)
_SCHEMA_FIX = "run the SQL of `energy sync --supabase-schema` once in Supabase's SQL editor"


class SupabaseError(RuntimeError):
    """Supabase refused a request or could not be reached.

    ``status`` is the HTTP status (None: no response); ``code``, ``details`` and ``hint``
    are PostgREST's (or Supabase's gateway's) fields where the body had them.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        details: str | None = None,
        hint: str | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.details = details
        self.hint = hint


@dataclass
class SupabaseRest:
    """A Supabase project's REST API (PostgREST), for one schema.

    Parameters
    ----------
    url : str
        The project URL, ``https://<ref>.supabase.co`` (``SUPABASE_URL``).
    key : str
        The API key (``SUPABASE_KEY``): a ``service_role`` key, or one whose role may write
        the tables.  Never shown in ``repr``, messages or logs.
    schema : str
        The tables' schema (``SUPABASE_SCHEMA``); it must be exposed to the API.
    policy : RetryPolicy
        Retries of 5xx, 429 and lost connections; tests pass tiny waits.
    """

    url: str
    key: str = field(repr=False)
    schema: str = "energylib"
    policy: RetryPolicy = field(default_factory=lambda: RetryPolicy(max_retries=4, jitter_s=0.5))
    session: requests.Session = field(default_factory=make_session, repr=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"SUPABASE_URL {self.url!r} is not a URL; set it to the project URL, "
                "https://<project-ref>.supabase.co"
            )
        if not self.key:
            raise ValueError("SUPABASE_KEY is empty; set it to the project's service_role key")
        self.url = self.url.rstrip("/")
        sql.identifier(self.schema)

    def endpoint(self, table: str) -> str:
        """``{url}/rest/v1/{table}``."""
        return f"{self.url}/rest/v1/{sql.identifier(table).strip(chr(34))}"

    def _headers(self, write: bool) -> dict[str, str]:
        headers = {"apikey": self.key, "Authorization": f"Bearer {self.key}"}
        if write:
            headers["Content-Type"] = "application/json"
            headers["Content-Profile"] = self.schema
        else:
            headers["Accept-Profile"] = self.schema
        return headers

    def upsert(
        self, table: str, rows: Sequence[dict], on_conflict: Sequence[str] = ON_CONFLICT
    ) -> None:
        """Insert ``rows`` into ``table``, updating rows whose ``on_conflict`` columns match.

        Returns once Supabase answered 201 (the rows are committed).  Every row must have
        the same keys (PostgREST takes the columns from the first).
        """
        if not rows:
            return
        self._send(
            "POST",
            table,
            params={"on_conflict": ",".join(on_conflict)},
            headers={"Prefer": "resolution=merge-duplicates,return=minimal"},
            data=json.dumps(list(rows), allow_nan=False, separators=(",", ":")),
        )

    def select(self, table: str, columns: Iterable[str] = ("*",), **equal: str) -> list[dict]:
        """Rows of ``table`` whose columns equal the keyword values (``eq.`` filters)."""
        params = {"select": ",".join(columns), **{k: f"eq.{v}" for k, v in equal.items()}}
        return self._send("GET", table, params=params).json()

    def _send(
        self,
        method: str,
        table: str,
        *,
        params: dict[str, str],
        headers: dict[str, str] | None = None,
        data: str | None = None,
    ) -> requests.Response:
        url = self.endpoint(table)
        where = f"{method} /rest/v1/{table} on {urlsplit(self.url).netloc}"
        headers = {**self._headers(write=method != "GET"), **(headers or {})}
        tries = 0
        while True:
            try:
                resp = self.session.request(
                    method,
                    url,
                    params=params,
                    headers=headers,
                    data=data,
                    timeout=self.policy.timeout_s,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                if tries >= self.policy.max_retries:
                    raise SupabaseError(
                        f"cannot reach Supabase ({where}) after {tries + 1} tries: "
                        f"{type(exc).__name__}; check SUPABASE_URL and the network, then run "
                        "again (what was confirmed stays; the sync resumes there)"
                    ) from None
            else:
                if resp.status_code < 300:
                    return resp
                if resp.status_code < 500 and resp.status_code != 429:
                    raise _refused(resp, table, where)
                if tries >= self.policy.max_retries:
                    error = _refused(resp, table, where)
                    error.args = (
                        f"{error.args[0]} (on {tries + 1} tries; what was confirmed stays, "
                        "run again to resume)",
                    )
                    raise error
            self.policy.sleep(self.policy.backoff_s(tries))
            tries += 1


def _refused(resp: requests.Response, table: str, where: str) -> SupabaseError:
    """A :class:`SupabaseError` from PostgREST's (or the gateway's) error JSON, with a fix."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {"message": resp.text[:200].replace("\n", " ")}
    code, message = body.get("code"), body.get("message") or body.get("msg") or ""
    details, hint = body.get("details"), body.get("hint")
    status = resp.status_code
    if status in (401, 403) or code in ("PGRST301", "PGRST302", "42501"):
        fix = (
            "SUPABASE_KEY was refused; set it to the project's service_role key "
            "(Project Settings > API)"
        )
    elif code in ("PGRST205", "42P01", "PGRST204", "42703") or status == 404:
        fix = f"table {table!r} or one of its columns is missing; {_SCHEMA_FIX}"
    elif code == "PGRST106":
        fix = (
            "the schema is not exposed to the API; add it under Project Settings > API > "
            f"Exposed schemas, or {_SCHEMA_FIX}"
        )
    elif status in (409,) or code == "23505":
        fix = "a row conflicts with a stored one; the upsert's on_conflict columns must be the table's key"
    elif status >= 500 or status == 429:
        fix = "Supabase is failing or busy; run again later"
    else:
        fix = "the request was refused as sent"
    extra = "".join(f"; {k}: {v}" for k, v in (("details", details), ("hint", hint)) if v)
    return SupabaseError(
        f"Supabase refused {where}: HTTP {status}"
        + (f" {code}" if code else "")
        + f": {message}{extra}. {fix}",
        status=status,
        code=code,
        details=details,
        hint=hint,
    )


def resolve_rest(
    url: str | None = None, key: str | None = None, schema: str | None = None
) -> SupabaseRest:
    """The REST client of ``url``/``key``, else ``SUPABASE_URL``/``SUPABASE_KEY`` (env or
    ``.env``); a clear error naming what to set when either is missing."""
    settings = load_settings()
    url = url or settings.supabase_url
    key = key or secret(settings.supabase_key)
    missing = [n for n, v in (("SUPABASE_URL", url), ("SUPABASE_KEY", key)) if not v]
    if missing:
        raise ValueError(
            f"Supabase's REST API needs {' and '.join(missing)}: set them in the environment "
            "or .env (the project URL and its service_role key), or pass --to "
            "postgresql://... / set SUPABASE_DB_URL for the direct Postgres path"
        )
    return SupabaseRest(url, key, schema or settings.supabase_schema)


def iso_utc(t: datetime) -> str:
    """An instant as PostgREST takes it: ISO 8601 in UTC with ``Z``."""
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def from_iso(text: str | None) -> datetime | None:
    """A ``timestamptz`` as PostgREST returns it, as an aware UTC datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC) if text else None
