"""The gateway as its users documented it (seeds/002, the gateway README): its
``config.json`` read verbatim, its reading written verbatim; and bad configs refused by
name (issue 14: null/0/[] files, out-of-range values, huge seeds, UTF-16, directories,
deep nesting)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from energylib.cli import main
from energylib.simulate.gateway import Gateway, GatewayConfigError, load_config, validate_config

DOCS = Path(__file__).resolve().parents[1] / "fixtures" / "gateway"
DOCUMENTED_CONFIG = DOCS / "config.json"  # the README's "Configuration" block, verbatim
DOCUMENTED_READING = DOCS / "reading.json"  # the README's "Output Format" block, verbatim


def test_fixtures_are_the_readme_blocks_verbatim(shared_seeds):
    readme = (shared_seeds / "002_8497e5c730344fce.txt").read_text()
    blocks = re.findall(r"```json\n(.*?)```", readme, re.S)
    assert blocks == [DOCUMENTED_CONFIG.read_text(), DOCUMENTED_READING.read_text()]


def test_the_documented_config_is_accepted_as_it_is():
    cfg = load_config(DOCUMENTED_CONFIG)
    doc = json.loads(DOCUMENTED_CONFIG.read_text())
    for block, values in doc.items():
        if isinstance(values, dict):
            for key, value in values.items():
                assert cfg[block][key] == value, f"{block}.{key}"
        else:
            assert cfg[block] == values, block
    g = Gateway(cfg)
    assert g.battery.battery.charge_kw == 5.0 and g.battery.battery.soc_max_fraction == 0.9
    assert g.battery.battery.initial_soc_fraction == 0.5
    assert g.market == "nl"  # latitude 37.77 N: a northern climate
    assert 0 <= g.seed < 2**63  # "seed": null draws one


def test_a_null_seed_draws_a_fresh_seed_each_run_and_a_number_repeats():
    a, b = Gateway({"seed": None}), Gateway({"seed": None})
    assert a.seed != b.seed
    assert Gateway({"seed": 7}).point("2025-03-01T12:00") == Gateway({"seed": 7}).point(
        "2025-03-01T12:00"
    )


def _shape(value):
    """The documented structure: keys in order, and each leaf's JSON type."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    return type(value).__name__


def test_the_reading_is_the_documented_reading():
    documented = json.loads(DOCUMENTED_READING.read_text())
    p = Gateway(load_config(DOCUMENTED_CONFIG) | {"seed": 1}).point("2024-06-15T14:30")
    want, got = _shape(documented), _shape(p)
    for key, kind in want.items():
        if isinstance(kind, dict):
            # every documented field, in the documented order, with its JSON type
            assert list(got[key])[: len(kind)] == list(kind), key
            assert {k: got[key][k] for k in kind} == kind, key
        else:
            assert got[key] == kind, key
    assert list(p)[:2] == ["timestamp", "device_id"] and p["device_id"] == "edge-gateway-001"


def test_the_reading_s_numbers_hold_together():
    g = Gateway(load_config(DOCUMENTED_CONFIG) | {"seed": 3})
    for p in g.points("2024-06-15T00:00", "2024-06-16T00:00"):
        s, b, h, gp = p["solar"], p["battery"], p["home_load"], p["grid_price"]
        parts = sum(v for k, v in h.items() if k != "total_load_kw")
        assert h["total_load_kw"] == pytest.approx(parts, abs=1e-9)
        flow = h["total_load_kw"] - s["generation_kw"] + b["power_kw"]
        assert p["net_grid_flow_kw"] == pytest.approx(flow, abs=1e-9)
        assert 10.0 - 1e-6 <= b["soc_percent"] <= 90.0 + 1e-6
        assert gp["time_of_use_period"] in ("peak", "shoulder", "off_peak")
        assert gp["feed_in_tariff"] == 0.05 and gp["demand_charge"] == 10.0
        assert 50 < gp["carbon_intensity_g_kwh"] < 600  # the Dutch-like grid
        assert s["panel_temp_celsius"] >= s["air_temp_celsius"] - 1e-9
        # 20 % at 25 degC, -0.4 %/degC
        assert s["efficiency_percent"] == pytest.approx(
            20.0 * (1 - 0.004 * (s["panel_temp_celsius"] - 25.0)), abs=2e-3
        )
    noon = g.point("2024-06-15T13:00")
    assert noon["solar"]["generation_kw"] > 1.0 and noon["solar"]["panel_temp_celsius"] > 25


def test_output_file_of_the_config_receives_the_readings(tmp_path, capsys):
    cfg = json.loads(DOCUMENTED_CONFIG.read_text())
    cfg["output_file"] = str(tmp_path / "readings.jsonl")
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    assert main(["simulate", "--once", "--config", str(path), "--at", "2024-06-15T14:30"]) == 0
    assert capsys.readouterr().out.count("{") == 0
    (line,) = (tmp_path / "readings.jsonl").read_text().splitlines()
    assert json.loads(line)["device_id"] == "edge-gateway-001"


def test_the_library_s_earlier_names_are_refused_with_the_documented_one():
    with pytest.raises(
        GatewayConfigError, match="'battery.max_charge_kw'.*'battery.max_charge_rate_kw'"
    ):
        validate_config({"battery": {"max_charge_kw": 5}})
    with pytest.raises(GatewayConfigError, match="percent"):
        validate_config({"battery": {"min_soc": 0.1, "max_soc": 1.0, "initial_soc": 0.5}})


# ------------------------------------------------------------------ issue 14, item 5


@pytest.mark.parametrize("text", ["null", "0", "[]", '"config"', "true"])
def test_a_config_file_that_is_not_an_object_is_refused(tmp_path, text):
    path = tmp_path / "config.json"
    path.write_text(text)
    with pytest.raises(GatewayConfigError, match=r"JSON object.*\{\}|\{\}.*JSON object"):
        load_config(path)


@pytest.mark.parametrize(
    "given, key, allowed",
    [
        ({"home_load": {"ev_charging_kw": 1e300}}, "home_load.ev_charging_kw", "[0, 350] kW"),
        ({"battery": {"max_charge_rate_kw": 1e9}}, "battery.max_charge_rate_kw", "[0, 5000] kW"),
        ({"solar": {"capacity_kw": 1e12}}, "solar.capacity_kw", "[0, 1000] kW"),
        ({"grid_price": {"peak_price": 1e6}}, "grid_price.peak_price", "[-20, 20] per kWh"),
        ({"home_load": {"base_load_kw": -1}}, "home_load.base_load_kw", "[0, 100] kW"),
        ({"interval_seconds": 1.5}, "interval_seconds", "whole number"),
        ({"seed": 10**40}, "seed", "[0, 9.22337e+18]"),
        ({"seed": -1}, "seed", "[0, 9.22337e+18]"),
        ({"seed": "42"}, "seed", "number"),
        ({"output_file": 5}, "output_file", "null or a file name"),
        ({"battery": {"min_soc": 150}}, "battery.min_soc", "[0, 100] %"),
    ],
)
def test_types_and_physical_ranges_are_checked_with_the_key_and_range(given, key, allowed):
    with pytest.raises(GatewayConfigError) as err:
        validate_config(given)
    assert repr(key) in str(err.value) and allowed in str(err.value)


def test_a_huge_integer_seed_in_a_file_is_a_named_error(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"seed": ' + "9" * 40 + "}")
    with pytest.raises(GatewayConfigError, match="'seed'.*out of range"):
        load_config(path)
    path.write_text('{"seed": ' + "9" * 5000 + "}")  # beyond Python's int-parsing limit
    with pytest.raises(GatewayConfigError, match="config.json"):
        load_config(path)


def test_a_utf16_file_is_a_named_error(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"seed": 1}', encoding="utf-16")
    with pytest.raises(GatewayConfigError, match="UTF-16.*save it as UTF-8"):
        load_config(path)
    path.write_bytes(b'{"device_id": "caf\xe9"}')  # Latin-1
    with pytest.raises(GatewayConfigError, match="not UTF-8"):
        load_config(path)


def test_a_utf8_bom_is_read(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"seed": 1}', encoding="utf-8-sig")
    assert load_config(path)["seed"] == 1


def test_a_directory_is_a_named_error(tmp_path):
    with pytest.raises(GatewayConfigError, match="is a directory.*--config"):
        load_config(tmp_path)


@pytest.mark.parametrize("depth", [4, 100_000])
def test_deep_nesting_is_a_named_error(tmp_path, depth):
    path = tmp_path / "config.json"
    path.write_text('{"solar": ' + "[" * depth + "]" * depth + "}")
    with pytest.raises(GatewayConfigError, match="levels|deep"):
        load_config(path)


@pytest.mark.parametrize(
    "content",
    ["null", '{"home_load": {"ev_charging_kw": 1e300}}', '{"seed": ' + "9" * 40 + "}"],
)
def test_the_cli_exits_2_with_the_message_and_no_traceback(tmp_path, capsys, content):
    path = tmp_path / "config.json"
    path.write_text(content)
    assert main(["simulate", "--once", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: config file") and "Traceback" not in err


def test_a_refused_key_is_named_with_its_file_and_line(tmp_path):
    doc = DOCUMENTED_CONFIG.read_text().replace('"ev_charging_kw": 7.2', '"ev_charging_kw": 1e300')
    path = tmp_path / "config.json"
    path.write_text(doc)
    line = 1 + doc.splitlines().index('    "ev_charging_kw": 1e300,')
    with pytest.raises(
        GatewayConfigError, match=f"config.json' line {line}: config key 'home_load"
    ):
        load_config(path)
