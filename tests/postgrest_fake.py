"""A local stand-in for Supabase's REST API: PostgREST's requests and answers over a real
Postgres (the tests' server), on 127.0.0.1.

What it does as Supabase does (https://postgrest.org/en/stable/references/api/tables_views.html,
.../errors.html):

* the gateway's key check: no ``apikey`` -> 401 ``{"message": "No API key found in
  request", "hint": ...}``; a wrong one -> 401 ``Invalid API key``; a ``Bearer`` token
  that is not the key -> 401 ``PGRST301``;
* the schema from ``Content-Profile`` (writes) / ``Accept-Profile`` (reads); a schema not
  exposed -> 406 ``PGRST106``;
* ``POST /rest/v1/<table>[?on_conflict=a,b]``: a JSON object or array; the columns are the
  first object's keys; a missing table -> 404 ``PGRST205``, an unknown column -> 400
  ``PGRST204``, a body that is not JSON -> 400 ``PGRST102``; with
  ``Prefer: resolution=merge-duplicates`` it is ``INSERT ... ON CONFLICT (..) DO UPDATE``,
  without it a duplicate key is Postgres' 23505 -> 409; 201 with no body
  (``return=minimal``);
* ``GET /rest/v1/<table>?select=a,b&col=eq.v`` -> 200 and a JSON array;
* Postgres errors as ``{code: SQLSTATE, message, details, hint}`` with PostgREST's status
  (23505/23503 -> 409, 42P01 -> 404, 42501 -> 403, 08*/53* -> 503, others 400/500).

``fail`` lets a test make chosen requests fail as a busy or broken Supabase does.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import psycopg
from psycopg import sql as q

_STATUS_BY_CLASS = {"08": 503, "53": 503, "09": 500, "25": 500, "40": 500, "XX": 500}
_STATUS_BY_CODE = {"23505": 409, "23503": 409, "42P01": 404, "42883": 404, "42501": 403}


def _pg_status(code: str) -> int:
    return _STATUS_BY_CODE.get(code) or _STATUS_BY_CLASS.get(code[:2], 400)


@dataclass
class Request:
    """What the fake saw (the key is kept only to compare)."""

    method: str
    table: str
    params: dict[str, str]
    headers: dict[str, str]
    rows: int = 0


@dataclass
class FakePostgrest:
    """The server; ``url`` is the project URL (``SUPABASE_URL``)."""

    pg_url: str
    key: str
    exposed: tuple[str, ...] = ("public", "graphql_public", "energylib")
    requests: list[Request] = field(default_factory=list)
    #: ``fail(request) -> (status, body) | None``: answer instead of serving the request.
    fail: Callable[[Request], tuple[int, dict] | None] | None = None
    url: str = ""

    def start(self) -> FakePostgrest:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _answer(self, status: int, body: object | None = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                if body is not None:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _serve(self, method: str) -> None:
                parts = urlsplit(self.path)
                params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                table = parts.path.removeprefix("/rest/v1/")
                req = Request(method, table, params, dict(self.headers))
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                with fake._lock:
                    fake.requests.append(req)
                if not parts.path.startswith("/rest/v1/"):
                    return self._answer(404, {"message": "no Route matched with those values"})
                apikey = self.headers.get("apikey")
                if not apikey:
                    return self._answer(
                        401,
                        {
                            "message": "No API key found in request",
                            "hint": "No `apikey` request header or url param was found.",
                        },
                    )
                if apikey != fake.key:
                    return self._answer(
                        401,
                        {
                            "message": "Invalid API key",
                            "hint": "Double check your Supabase `anon` or `service_role` API key.",
                        },
                    )
                if self.headers.get("Authorization") != f"Bearer {fake.key}":
                    return self._answer(
                        401,
                        {
                            "code": "PGRST301",
                            "details": None,
                            "hint": None,
                            "message": "JWSError JWSInvalidSignature",
                        },
                    )
                profile = self.headers.get(
                    "Content-Profile" if method == "POST" else "Accept-Profile", "public"
                )
                if profile not in fake.exposed:
                    return self._answer(
                        406,
                        {
                            "code": "PGRST106",
                            "details": None,
                            "hint": None,
                            "message": "The schema must be one of the following: "
                            + ", ".join(fake.exposed),
                        },
                    )
                if fake.fail is not None:
                    failed = fake.fail(req)
                    if failed is not None:
                        return self._answer(*failed)
                try:
                    if method == "POST":
                        try:
                            body = json.loads(raw)
                        except ValueError as exc:
                            return self._answer(
                                400,
                                {
                                    "code": "PGRST102",
                                    "details": None,
                                    "hint": None,
                                    "message": f"Empty or invalid json: {exc}",
                                },
                            )
                        rows = body if isinstance(body, list) else [body]
                        req.rows = len(rows)
                        status, answer = fake._insert(profile, table, rows, params, self.headers)
                    else:
                        status, answer = fake._select(profile, table, params)
                except psycopg.Error as exc:
                    d = exc.diag
                    status, answer = (
                        _pg_status(exc.sqlstate or "XX000"),
                        {
                            "code": exc.sqlstate,
                            "details": d.message_detail,
                            "hint": d.message_hint,
                            "message": d.message_primary or str(exc),
                        },
                    )
                return self._answer(status, answer)

            def do_POST(self) -> None:
                self._serve("POST")

            def do_GET(self) -> None:
                self._serve("GET")

        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------------ PostgREST
    def _columns(self, con, schema: str, table: str) -> list[str]:
        return [
            r[0]
            for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                "AND table_name = %s ORDER BY ordinal_position",
                (schema, table),
            )
        ]

    def _missing_table(self, schema: str, table: str) -> tuple[int, dict]:
        return 404, {
            "code": "PGRST205",
            "details": None,
            "hint": None,
            "message": f"Could not find the table '{schema}.{table}' in the schema cache",
        }

    def _insert(self, schema, table, rows, params, headers) -> tuple[int, dict | None]:
        prefer = {p.strip() for p in (headers.get("Prefer") or "").split(",")}
        with psycopg.connect(self.pg_url, autocommit=True) as con:
            have = self._columns(con, schema, table)
            if not have:
                return self._missing_table(schema, table)
            cols = list(rows[0]) if rows else []
            for c in cols:
                if c not in have:
                    return 400, {
                        "code": "PGRST204",
                        "details": None,
                        "hint": None,
                        "message": f"Could not find the '{c}' column of '{table}' in the "
                        "schema cache",
                    }
            target = q.Identifier(schema, table)
            names = q.SQL(", ").join(map(q.Identifier, cols))
            stmt = q.SQL(
                "INSERT INTO {t} ({c}) SELECT {c} FROM json_populate_recordset(NULL::{t}, %s)"
            ).format(t=target, c=names)
            if "resolution=merge-duplicates" in prefer:
                keys = params.get("on_conflict")
                if keys:
                    conflict = q.SQL(", ").join(map(q.Identifier, keys.split(",")))
                else:  # the primary key
                    pk = con.execute(
                        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = "
                        "i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass "
                        "AND i.indisprimary",
                        (f'"{schema}"."{table}"',),
                    ).fetchall()
                    conflict = q.SQL(", ").join(q.Identifier(r[0]) for r in pk)
                updates = q.SQL(", ").join(
                    q.SQL("{0} = EXCLUDED.{0}").format(q.Identifier(c)) for c in cols
                )
                stmt = q.SQL("{s} ON CONFLICT ({k}) DO UPDATE SET {u}").format(
                    s=stmt, k=conflict, u=updates
                )
            con.execute(stmt, (json.dumps(rows),))
        return 201, None

    def _select(self, schema, table, params) -> tuple[int, list | dict]:
        with psycopg.connect(self.pg_url, autocommit=True) as con:
            if not self._columns(con, schema, table):
                return self._missing_table(schema, table)
            cols = params.get("select", "*")
            select = (
                q.SQL("*") if cols == "*" else q.SQL(", ").join(map(q.Identifier, cols.split(",")))
            )
            where, args = [], []
            for k, v in params.items():
                if k == "select":
                    continue
                op, _, value = v.partition(".")
                if op != "eq":
                    return 400, {
                        "code": "PGRST100",
                        "details": None,
                        "hint": None,
                        "message": f"unsupported operator {op}",
                    }
                where.append(q.SQL("{} = %s").format(q.Identifier(k)))
                args.append(value)
            stmt = q.SQL("SELECT row_to_json(r) FROM (SELECT {s} FROM {t}{w}) r").format(
                s=select,
                t=q.Identifier(schema, table),
                w=q.SQL(" WHERE ") + q.SQL(" AND ").join(where) if where else q.SQL(""),
            )
            return 200, [r[0] for r in con.execute(stmt, args)]
