"""InfluxDB sink: gateway readings as line protocol, written over HTTP (v2 and v1 APIs).

One line per reading block (``solar``, ``battery``, ``home_load``, ``grid_price``,
``grid``), tagged with the device id, nanosecond timestamps::

    solar,device_id=gateway-001 power_kw=4.91,energy_kwh=0.41,... 1736910000000000000

v2: ``POST {url}/api/v2/write?org=..&bucket=..&precision=ns`` with
``Authorization: Token ...``; v1: ``POST {url}/write?db=..&precision=ns``
(optional ``u``/``p``).  Tokens come from the caller or the environment
(``INFLUX_TOKEN``) and are never logged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd
import requests

BLOCKS = ("solar", "battery", "home_load", "grid_price", "grid")


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
    return [line(prefix + block, tags, point[block], time_ns) for block in BLOCKS if block in point]


class InfluxWriter:
    """Writes line protocol to an InfluxDB server.

    Parameters
    ----------
    url : str
        Server base URL (``http://127.0.0.1:8086``).
    version : int
        2 (``/api/v2/write``, token/org/bucket) or 1 (``/write``, database).
    token, org, bucket : str, optional
        v2 credentials and target; ``token`` defaults to ``INFLUX_TOKEN`` via settings.
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
                "InfluxDB v2 needs org and bucket (--influx-org, --influx-bucket or INFLUX_ORG/INFLUX_BUCKET)"
            )
        if version == 1 and not database:
            raise ValueError("InfluxDB v1 needs a database (--influx-db)")
        self.url = url.rstrip("/")
        self.version = version
        self._token = token
        self.org, self.bucket, self.database = org, bucket, database
        self._auth = (username, password) if username else None
        self.timeout_s = timeout_s
        self.session = session or requests.Session()

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
