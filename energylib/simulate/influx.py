"""InfluxDB sink: gateway readings as line protocol, written over HTTP (v2 and v1 APIs).

One line per reading block (``solar``, ``battery``, ``home_load``, ``grid_price``) with
the documented field names, and one ``grid`` line for the reading's top-level numbers
(``net_grid_flow_kw``), tagged with the device id, nanosecond timestamps::

    solar,device_id=gateway-001 generation_kw=4.91,irradiance_w_m2=802.1,... 1736910000000000000

v2: ``POST {url}/api/v2/write?org=..&bucket=..&precision=ns`` with
``Authorization: Token ...``; v1: ``POST {url}/write?db=..&rp=..&precision=ns``
(optional ``u``/``p``).  Tokens come from the caller or the environment
(``INFLUXDB_TOKEN``) and are never logged.

Retention (the gateway's ``--influxdb-retention-days``, default 7; 0 keeps data forever):
:meth:`InfluxWriter.ensure_retention` creates the v2 bucket with an ``expire`` rule (or
updates the rule of an existing bucket), or, for v1, the database and a retention policy
``energylib_<N>d`` that the writes then name.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable

import pandas as pd
import polars as pl
import requests

BLOCKS = ("solar", "battery", "home_load", "grid_price")
#: The measurement holding a reading's top-level numbers (``net_grid_flow_kw``, ``interval_seconds``).
GRID = "grid"


class InfluxWriteError(RuntimeError):
    """The server refused a write; the message has the status and the server's reason."""


def _escape(text: str, chars: str) -> str:
    out = str(text).replace("\\", "\\\\")
    for ch in chars:
        out = out.replace(ch, "\\" + ch)
    return out


def escape_measurement(name: str) -> str:
    """Escape a measurement name (commas and spaces)."""
    return _escape(name, ", ")


def escape_key(name: str) -> str:
    """Escape a tag key, tag value or field key (commas, equals signs, spaces)."""
    return _escape(name, ",= ")


def format_field(value) -> str:
    """A field value in line protocol: floats as is, ints with ``i``, bools, quoted strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"line protocol cannot carry a non-finite float ({value})")
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def line(measurement: str, tags: dict[str, str], fields: dict, time_ns: int) -> str:
    """One line of line protocol; tags sorted by key (as InfluxDB recommends)."""
    if not fields:
        raise ValueError(f"measurement {measurement!r}: a line needs at least one field")
    tag_part = "".join(
        f",{escape_key(k)}={escape_key(v)}" for k, v in sorted(tags.items()) if v != ""
    )
    field_part = ",".join(
        f"{escape_key(k)}={format_field(v)}" for k, v in fields.items() if v is not None
    )
    return f"{escape_measurement(measurement)}{tag_part} {field_part} {int(time_ns)}"


def point_to_lines(point: dict, *, prefix: str = "") -> list[str]:
    """Line protocol for one gateway reading (one line per block)."""
    ts = pd.Timestamp(point["timestamp"])
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
    time_ns = int(ts.value) if ts.unit == "ns" else int(ts.as_unit("ns").value)
    tags = {"device_id": str(point["device_id"])}
    lines = [
        line(prefix + block, tags, point[block], time_ns) for block in BLOCKS if block in point
    ]
    top = {
        k: v
        for k, v in point.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("timestamp",)
    }
    if top:
        lines.append(line(prefix + GRID, tags, top, time_ns))
    return lines


class InfluxWriter:
    """Writes line protocol to an InfluxDB server.

    Parameters
    ----------
    url : str
        Server base URL (``http://127.0.0.1:8086``).
    version : int
        2 (``/api/v2/write``, token/org/bucket) or 1 (``/write``, database).
    token, org, bucket : str, optional
        v2 credentials and target; ``token`` defaults to ``INFLUXDB_TOKEN`` via settings (the CLI passes it).
    database, username, password : str, optional
        v1 target and optional credentials.
    timeout_s : float
        Request timeout [s].
    """

    def __init__(
        self,
        url: str,
        *,
        version: int = 2,
        token: str | None = None,
        org: str | None = None,
        bucket: str | None = None,
        database: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
        session: requests.Session | None = None,
    ):
        if version not in (1, 2):
            raise ValueError(f"InfluxDB API version must be 1 or 2, got {version}")
        if version == 2 and not (org and bucket):
            raise ValueError(
                "InfluxDB v2 needs org and bucket (--influxdb-org, --influxdb-bucket or INFLUXDB_ORG/INFLUXDB_BUCKET)"
            )
        if version == 1 and not database:
            raise ValueError("InfluxDB v1 needs a database (--influxdb-database)")
        self.url = url.rstrip("/")
        self.version = version
        self._token = token
        self.org, self.bucket, self.database = org, bucket, database
        self._auth = (username, password) if username else None
        self.timeout_s = timeout_s
        self.session = session or requests.Session()
        self.retention_policy: str | None = None  # v1: the policy writes name (ensure_retention)

    def __repr__(self) -> str:  # never show the token
        target = f"bucket={self.bucket!r}" if self.version == 2 else f"db={self.database!r}"
        return f"InfluxWriter({self.url!r}, v{self.version}, {target})"

    def write_lines(self, lines: Iterable[str]) -> int:
        """POST lines; returns how many were sent.  Raises :class:`InfluxWriteError` on refusal."""
        body = "\n".join(lines)
        if not body:
            return 0
        if self.version == 2:
            endpoint = f"{self.url}/api/v2/write"
            params = {"org": self.org, "bucket": self.bucket, "precision": "ns"}
            headers = {"Content-Type": "text/plain; charset=utf-8"}
            if self._token:
                headers["Authorization"] = f"Token {self._token}"
        else:
            endpoint = f"{self.url}/write"
            params = {"db": self.database, "precision": "ns"}
            if self.retention_policy:
                params["rp"] = self.retention_policy
            headers = {"Content-Type": "text/plain; charset=utf-8"}
        try:
            r = self.session.post(
                endpoint,
                params=params,
                data=body.encode(),
                headers=headers,
                auth=self._auth,
                timeout=self.timeout_s,
            )
        except requests.RequestException as exc:
            raise InfluxWriteError(
                f"could not reach InfluxDB at {self.url}: {type(exc).__name__}"
            ) from None
        if r.status_code != 204:
            raise InfluxWriteError(
                f"InfluxDB at {self.url} refused the write: HTTP {r.status_code} {r.text[:300].strip()}"
            )
        return body.count("\n") + 1

    def __call__(self, point: dict) -> None:
        """A gateway sink: write one reading."""
        self.write_lines(point_to_lines(point))

    # ------------------------------------------------------------------ retention
    def _request(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if self.version == 2 and self._token:
            headers["Authorization"] = f"Token {self._token}"
        try:
            return self.session.request(
                method,
                f"{self.url}{path}",
                headers=headers,
                auth=self._auth,
                timeout=self.timeout_s,
                **kwargs,
            )
        except requests.RequestException as exc:
            raise InfluxWriteError(
                f"could not reach InfluxDB at {self.url}: {type(exc).__name__}"
            ) from None

    def _check(self, r: requests.Response, what: str, ok: tuple[int, ...] = (200,)) -> dict:
        if r.status_code not in ok:
            hint = (
                " (check --influxdb-token / INFLUXDB_TOKEN)" if r.status_code in (401, 403) else ""
            )
            raise InfluxWriteError(
                f"InfluxDB at {self.url} refused to {what}: HTTP {r.status_code} "
                f"{r.text[:300].strip()}{hint}"
            )
        return r.json() if r.content else {}

    def ensure_retention(self, days: float) -> str:
        """Create the bucket (v2) or database (v1) if missing and set its retention to
        ``days`` (0: forever).  Returns what was done, for the log.

        Raises
        ------
        ValueError
            ``days`` negative.
        InfluxWriteError
            The server refused (the message names the step and the server's reason).
        """
        if days < 0 or not math.isfinite(days):
            raise ValueError(
                f"--influxdb-retention-days must be >= 0 (0 keeps data forever), got {days}"
            )
        seconds = int(round(days * 86400))
        return self._retention_v2(seconds) if self.version == 2 else self._retention_v1(seconds)

    def _retention_v2(self, seconds: int) -> str:
        rules = [{"type": "expire", "everySeconds": seconds}] if seconds else []
        orgs = self._check(
            self._request("GET", "/api/v2/orgs", params={"org": self.org}), "list orgs"
        )
        match = [o for o in orgs.get("orgs", []) if o.get("name") == self.org]
        if not match:
            raise InfluxWriteError(
                f"InfluxDB at {self.url} has no org {self.org!r}; create it or set --influxdb-org"
            )
        org_id = match[0]["id"]
        found = self._check(
            self._request("GET", "/api/v2/buckets", params={"name": self.bucket, "orgID": org_id}),
            "list buckets",
        ).get("buckets", [])
        found = [b for b in found if b.get("name") == self.bucket]
        if not found:
            body = {"orgID": org_id, "name": self.bucket, "retentionRules": rules}
            self._check(
                self._request("POST", "/api/v2/buckets", json=body), "create the bucket", (201,)
            )
            return f"created bucket {self.bucket!r} with retention {_days(seconds)}"
        bucket = found[0]
        have = [r for r in bucket.get("retentionRules", []) if r.get("type") == "expire"]
        if [r.get("everySeconds") for r in have] == [r["everySeconds"] for r in rules]:
            return f"bucket {self.bucket!r} keeps its retention {_days(seconds)}"
        self._check(
            self._request(
                "PATCH", f"/api/v2/buckets/{bucket['id']}", json={"retentionRules": rules}
            ),
            "set the bucket's retention",
        )
        return f"set bucket {self.bucket!r} retention to {_days(seconds)}"

    def _influxql(self, q: str) -> dict:
        out = self._check(
            self._request("POST", "/query", data={"q": q, "db": self.database}), f"run {q!r}"
        )
        for result in out.get("results", []):
            if "error" in result:
                raise InfluxWriteError(f"InfluxDB at {self.url} refused {q!r}: {result['error']}")
        return out

    def _retention_v1(self, seconds: int) -> str:
        db = self.database.replace('"', '\\"')
        self._influxql(f'CREATE DATABASE "{db}"')
        name = f"energylib_{_days(seconds).replace(' ', '')}"
        duration = f"{seconds}s" if seconds else "INF"
        shown = self._influxql(f'SHOW RETENTION POLICIES ON "{db}"')
        series = shown["results"][0].get("series", [{}])[0]
        exists = any(row[0] == name for row in series.get("values", []))
        verb = "ALTER" if exists else "CREATE"
        self._influxql(
            f'{verb} RETENTION POLICY "{name}" ON "{db}" DURATION {duration} REPLICATION 1 DEFAULT'
        )
        self.retention_policy = name
        return f"{'kept' if exists else 'created'} retention policy {name!r} on database {self.database!r}"


def _days(seconds: int) -> str:
    return "forever" if not seconds else f"{seconds / 86400:g} d"


# ---------------------------------------------------------------------- reading back
def _v2_csv(text: str) -> list[pl.DataFrame]:
    """The tables of a Flux CSV answer (blocks separated by blank lines, ``#`` annotations)."""
    frames = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        rows = [ln for ln in block.splitlines() if ln and not ln.startswith("#")]
        if len(rows) > 1:
            frames.append(pl.read_csv(io.StringIO("\n".join(rows)), infer_schema_length=None))
    return frames


def read_measurement(
    client: InfluxWriter, measurement: str, start_ns: int, stop_ns: int
) -> pl.DataFrame:
    """Rows of ``measurement`` in ``[start_ns, stop_ns)``: ``time`` (UTC), ``device_id`` and
    one column per field, from the same server, bucket / database (and v1 retention
    policy) that ``client`` writes to.

    Raises
    ------
    InfluxWriteError
        The server refused the query or could not be reached.
    """
    if client.version == 1:
        rp = f'"{client.retention_policy}".' if client.retention_policy else ""
        q = (
            f'SELECT * FROM {rp}"{measurement}" WHERE time >= {int(start_ns)} '
            f"AND time < {int(stop_ns)}"
        )
        r = client._request("GET", "/query", params={"db": client.database, "q": q, "epoch": "ns"})
        out = client._check(r, f"query {measurement}")
        result = out.get("results", [{}])[0]
        if "error" in result:
            raise InfluxWriteError(f"InfluxDB at {client.url} refused {q!r}: {result['error']}")
        tables = [
            pl.DataFrame(s["values"], schema=s["columns"], orient="row", infer_schema_length=None)
            for s in result.get("series", [])
        ]
    else:
        flux = (
            f'from(bucket: "{client.bucket}") |> range(start: time(v: {int(start_ns)}), '
            f"stop: time(v: {int(stop_ns)})) "
            f'|> filter(fn: (r) => r._measurement == "{measurement}") '
            '|> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")'
        )
        r = client._request(
            "POST",
            "/api/v2/query",
            params={"org": client.org},
            json={"query": flux, "type": "flux", "dialect": {"annotations": []}},
            headers={"Accept": "application/csv"},
        )
        if r.status_code != 200:
            client._check(r, f"query {measurement}")
        tables = [
            t.drop(
                [
                    c
                    for c in t.columns
                    if c in ("", "result", "table", "_start", "_stop", "_measurement")
                ]
            )
            .rename({"_time": "time"})
            .with_columns(pl.col("time").str.to_datetime(time_zone="UTC", time_unit="ns"))
            for t in _v2_csv(r.text)
        ]
    if not tables:
        return pl.DataFrame(schema={"time": pl.Datetime("ns", "UTC"), "device_id": pl.String})
    frame = pl.concat(tables, how="diagonal_relaxed")
    if frame.schema["time"] != pl.Datetime("ns", "UTC"):
        frame = frame.with_columns(
            pl.from_epoch("time", time_unit="ns").dt.replace_time_zone("UTC")
        )
    return frame.sort("time")


def _scalar(
    client: InfluxWriter, measurement: str, field: str, start_ns: int, how: str
) -> int | None:
    """``how`` = ``first`` (time of the first point [ns]) or ``count`` of ``field`` since
    ``start_ns``; ``None`` where there is no point."""
    if client.version == 1:
        rp = f'"{client.retention_policy}".' if client.retention_policy else ""
        sel = f'"{field}"' if how == "first" else f'count("{field}")'
        q = f'SELECT {sel} FROM {rp}"{measurement}" WHERE time >= {int(start_ns)}'
        q += " LIMIT 1" if how == "first" else ""
        out = client._check(
            client._request("GET", "/query", params={"db": client.database, "q": q, "epoch": "ns"}),
            f"query {measurement}",
        )
        series = out.get("results", [{}])[0].get("series", [])
        if not series:
            return None
        row = series[0]["values"][0]
        return int(row[0] if how == "first" else row[1])
    flux = (
        f'from(bucket: "{client.bucket}") |> range(start: time(v: {int(start_ns)})) '
        f'|> filter(fn: (r) => r._measurement == "{measurement}" and r._field == "{field}") '
        f"|> group() |> {how}()"
    )
    r = client._request(
        "POST",
        "/api/v2/query",
        params={"org": client.org},
        json={"query": flux, "type": "flux", "dialect": {"annotations": []}},
        headers={"Accept": "application/csv"},
    )
    client._check(r, f"query {measurement}") if r.status_code != 200 else None
    tables = _v2_csv(r.text)
    if not tables or tables[0].is_empty():
        return None
    t = tables[0]
    if how == "count":
        return int(t["_value"][0])
    return int(pd.Timestamp(t["_time"][0]).value)


def first_time_ns(
    client: InfluxWriter, measurement: str, field: str, since_ns: int = 0
) -> int | None:
    """Time of the first point of ``measurement``'s ``field`` at or after ``since_ns``
    [ns since the epoch]; None where there is none."""
    return _scalar(client, measurement, field, since_ns, "first")


def count_since(client: InfluxWriter, measurement: str, field: str, start_ns: int) -> int:
    """Points of ``measurement``'s ``field`` at or after ``start_ns``."""
    return _scalar(client, measurement, field, start_ns, "count") or 0


class BatchedWriter:
    """A gateway sink that sends readings in batches of ``lines`` lines (historical runs:
    one request per 5,000 lines instead of one per reading); :meth:`flush` sends the rest."""

    def __init__(self, writer: InfluxWriter, lines: int = 5000):
        self.writer, self.size, self._lines = writer, lines, []

    def __call__(self, point: dict) -> None:
        self._lines += point_to_lines(point)
        if len(self._lines) >= self.size:
            self.flush()

    def flush(self) -> None:
        lines, self._lines = self._lines, []
        self.writer.write_lines(lines)
