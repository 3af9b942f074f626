"""Random mutations of real-format files for the Powerpal, AEMO and Amber readers.

:func:`probe` feeds one mutated file to its reader and says what came back: ``read`` (the
frames validate against the canonical schema), ``refused`` (the library's own error), or
it raises (any other exception: a bug).  Used by tests/ingest/test_reader_fuzz.py (a few
hundred examples) and tests/bench/test_bench_reader_fuzz.py (thousands, with counts).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import strategies as st

from energylib.ingest.aemo import read_aemo_price_csv
from energylib.ingest.amber import read_amber_prices, read_amber_usage
from energylib.ingest.http import MalformedResponse
from energylib.ingest.powerpal import read_powerpal_csv
from energylib.schema import DataValidationError, validate

FIX = Path(__file__).resolve().parent / "fixtures"


def _head(path: Path, lines: int) -> bytes:
    return b"".join(path.read_bytes().splitlines(keepends=True)[:lines])


def seeds() -> dict[str, bytes]:
    """Small real-format files, one per reader (the first lines of the test fixtures)."""
    prices = json.loads((FIX / "amber" / "prices_5min.json").read_text())[:8]
    usage = json.loads((FIX / "amber" / "usage.json").read_text())[:8]
    return {
        "powerpal": _head(FIX / "powerpal" / "powerpal_30min_a.csv", 25),
        "aemo": _head(FIX / "aemo" / "PRICE_AND_DEMAND_202401_NSW1.csv", 25),
        "amber_prices": json.dumps(prices, indent=1).encode(),
        "amber_usage": json.dumps(usage, indent=1).encode(),
    }


READERS = {
    "powerpal": (read_powerpal_csv, (DataValidationError,)),
    "aemo": (read_aemo_price_csv, (DataValidationError,)),
    "amber_prices": (read_amber_prices, (MalformedResponse, DataValidationError)),
    "amber_usage": (read_amber_usage, (MalformedResponse, DataValidationError)),
}

# Field values a bad file holds: empty, units, words, extremes, other types, odd text.
ODD_VALUES = [
    "",
    " ",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "-1",
    "0",
    "1e308",
    "-1e308",
    "99999999999999999999999",
    "12 kWh",
    "$0.07",
    "true",
    "null",
    "2025-13-45 25:61:61",
    "2025/01/01 00:05:00",
    "2025-04-05T10:00:00+10:00",
    "Ω",
    "\u00e9t\u00e9",
    '"',
    "a,b",
    "\t",
]
JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.sampled_from(ODD_VALUES),
    st.just([]),
    st.just({}),
    st.just({"period": 5}),
    st.just({"low": "x", "predicted": True}),
    st.just("battery"),
    st.just("ForecastInterval"),
    st.just("2025-01-14T14:00:01+10:00"),
)


@st.composite
def _csv_mutation(draw, raw: bytes) -> bytes:
    lines = raw.split(b"\n")
    for _ in range(draw(st.integers(1, 4))):
        op = draw(
            st.sampled_from(
                ["field", "field", "delete", "duplicate", "swap", "blank", "bytes", "truncate"]
            )
        )
        i = draw(st.integers(0, max(0, len(lines) - 1)))
        if op == "field":
            fields = lines[i].split(b",")
            j = draw(st.integers(0, len(fields) - 1))
            fields[j] = draw(st.sampled_from(ODD_VALUES)).encode()
            lines[i] = b",".join(fields)
        elif op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            k = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[k] = lines[k], lines[i]
        elif op == "blank":
            lines.insert(i, b"")
        elif op == "bytes":
            at = draw(st.integers(0, len(lines[i])))
            junk = draw(st.binary(min_size=1, max_size=6))
            lines[i] = lines[i][:at] + junk + lines[i][at + 1 :]
        elif op == "truncate":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
    return b"\n".join(lines)


@st.composite
def _json_mutation(draw, raw: bytes) -> bytes:
    items = json.loads(raw)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(
            st.sampled_from(
                ["value", "value", "delete", "duplicate", "drop_item", "bytes", "truncate", "wrap"]
            )
        )
        i = draw(st.integers(0, len(items) - 1)) if items else 0
        if op == "value" and items and isinstance(items[i], dict):
            key = draw(st.sampled_from(sorted(items[i])))
            items[i][key] = draw(JSON_VALUES)
        elif op == "delete" and items and isinstance(items[i], dict) and items[i]:
            del items[i][draw(st.sampled_from(sorted(items[i])))]
        elif op == "duplicate" and items:
            items.insert(i, json.loads(json.dumps(items[i])))
        elif op == "drop_item" and items:
            del items[i]
        elif op == "wrap":
            items = draw(st.sampled_from([{"data": items}, items[:1] + [7], [items], "x"]))
            break
        else:  # byte-level damage to the text
            text = json.dumps(items, indent=1).encode()
            at = draw(st.integers(0, len(text)))
            if op == "truncate":
                return text[:at]
            return text[:at] + draw(st.binary(min_size=1, max_size=6)) + text[at + 1 :]
    return json.dumps(items, indent=1).encode()


def mutations(name: str, raw: bytes) -> st.SearchStrategy[bytes]:
    """Mutated versions of one seed file."""
    return _json_mutation(raw) if name.startswith("amber") else _csv_mutation(raw)


def probe(name: str, body: bytes, folder: Path) -> str:
    """Read ``body`` with reader ``name``: 'read' or 'refused'; any other exception propagates."""
    reader, errors = READERS[name]
    suffix = ".json" if name.startswith("amber") else ".csv"
    path = folder / f"{name}{suffix}"
    path.write_bytes(body)
    try:
        out = reader(path)
    except errors:
        return "refused"
    frames = out if isinstance(out, list) else [out]
    for data, meta in frames:  # what is read is a valid canonical frame ...
        validate(data, meta, nullable=meta.extra.get("nullable", ()))
    ORACLES[name](body, frames)  # ... holding what the file says
    return "read"


class ReadWrongly(AssertionError):
    """A reader returned values the file does not hold."""


def _lines(body: bytes) -> list[list[str]]:
    text = body.decode("utf-8", errors="replace").lstrip("\ufeff")
    return [[f.strip().strip('"') for f in line.split(",")] for line in text.splitlines()[1:]]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _powerpal_oracle(body: bytes, frames) -> None:
    """Every row read is a line of the file: its time and watt_hours / 1000."""
    said = {}
    for f in _lines(body):
        if len(f) >= 3:
            for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"):
                try:
                    said.setdefault(datetime.strptime(f[0], fmt), set()).add(_number(f[2]))
                except ValueError:
                    continue
    for data, _ in frames:
        for t, kwh in data.select("interval_start", "energy_kwh").iter_rows():
            if not any(
                wh is not None and abs(wh / 1000 - kwh) < 1e-12
                for wh in said.get(t.replace(tzinfo=None), ())
            ):
                raise ReadWrongly(f"powerpal: {t} {kwh} kWh is no line of the file")


def _aemo_oracle(body: bytes, frames) -> None:
    """Every row read is a line: SETTLEMENTDATE = start + the file's interval (UTC+10), RRP / 1000."""
    said = {}
    for f in _lines(body):
        if len(f) >= 4:
            said.setdefault(f[1], set()).add(_number(f[3]))
    for data, meta in frames:
        for t, spot in data.select("interval_start", "spot_per_kwh").iter_rows():
            end = (t + timedelta(minutes=meta.interval_minutes) + timedelta(hours=10)).strftime(
                "%Y/%m/%d %H:%M:%S"
            )
            if not any(r is not None and abs(r / 1000 - spot) < 1e-12 for r in said.get(end, ())):
                raise ReadWrongly(f"aemo: interval ending {end} at {spot} is no line of the file")


CHANNELS = {"general": "general", "controlledLoad": "controlled_load", "feedIn": "feed_in"}


def _amber_oracle(field: str, column: str, scale: float):
    def check(body: bytes, frames) -> None:
        """Every value read is an item's: a JSON number on a documented channel, scaled."""
        items = json.loads(body.decode("utf-8-sig"))
        said = {
            (CHANNELS.get(i.get("channelType")), round(i[field] * scale, 9))
            for i in items
            if isinstance(i, dict)
            and isinstance(i.get(field), (int, float))
            and not isinstance(i.get(field), bool)
        }
        for data, meta in frames:
            # a site with two meters of a type names them <channel>_<identifier>
            base = max((c for c in CHANNELS.values() if meta.channel.startswith(c)), key=len)
            for v in data[column].to_list():
                if (base, round(v, 9)) not in said and (base, round(-v, 9)) not in said:
                    raise ReadWrongly(f"amber: {column} {v} on {meta.channel} is no item's {field}")

    return check


ORACLES = {
    "powerpal": _powerpal_oracle,
    "aemo": _aemo_oracle,
    "amber_prices": _amber_oracle("perKwh", "price_per_kwh", 0.01),
    "amber_usage": _amber_oracle("kwh", "energy_kwh", 1.0),
}
