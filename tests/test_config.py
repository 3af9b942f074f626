"""One typed settings model: every variable read, typed and validated at start-up."""

from pathlib import Path

import pytest
from pydantic import SecretStr

from energylib.agent.config import load_agent_settings
from energylib.config import Settings, SettingsError, load_settings, secret


def test_environment_wins_over_dotenv(tmp_path):
    env = tmp_path / ".env"
    env.write_text("AMBER_TOKEN=from-file\nAMBER_SITE_ID=site-file\nENERGYLIB_DATA_DIR=/tmp/x\n")
    s = load_settings(env, environ={"AMBER_TOKEN": "from-env"})
    assert secret(s.amber_token) == "from-env"
    assert s.amber_site_id == "site-file"
    assert s.data_dir == Path("/tmp/x")


def test_secrets_are_secret_types_and_never_appear_in_repr(tmp_path):
    s = load_settings(
        tmp_path / "missing.env",
        environ={
            "AMBER_TOKEN": "psk_secret123",
            "SUPABASE_DB_URL": "postgresql://u:pw@h/db",
            "ENTSOE_API_KEY": "k-123",
            "INFLUXDB_TOKEN": "influx-456",
            "SUPABASE_KEY": "sb-key-789",
        },
    )
    for name in (
        "amber_token",
        "supabase_db_url",
        "entsoe_api_key",
        "influxdb_token",
        "supabase_key",
    ):
        assert isinstance(getattr(s, name), SecretStr)
    text = repr(s) + str(s) + f"{s}" + s.model_dump_json()
    for value in ("psk_secret123", "pw@", "k-123", "influx-456", "sb-key-789"):
        assert value not in text
    assert "amber_token=***" in repr(s)


def test_defaults_without_any_configuration(tmp_path):
    s = load_settings(tmp_path / "missing.env", environ={})
    assert s.amber_token is None and s.entsoe_zone == "NL"
    assert s.processed_dir == s.data_dir / "processed"


SECRETS = (
    "AMBER_TOKEN",
    "ENTSOE_API_KEY",
    "SUPABASE_DB_URL",
    "SUPABASE_KEY",
    "INFLUXDB_TOKEN",
    "ENERGY_AGENT_DASHBOARD_TOKEN",
)

# Every variable the project documents, a valid value, the field it lands in and its value.
EVERY_VARIABLE = {
    "ENERGYLIB_DATA_DIR": ("/tmp/data", "data_dir", Path("/tmp/data")),
    "AMBER_TOKEN": ("psk_x", "amber_token", "psk_x"),
    "AMBER_SITE_ID": ("01SITE", "amber_site_id", "01SITE"),
    "AMBER_BASE_URL": ("http://127.0.0.1:1/v1", "amber_base_url", "http://127.0.0.1:1/v1"),
    "ENTSOE_API_KEY": ("key", "entsoe_api_key", "key"),
    "ENTSOE_ZONE": ("DE_LU", "entsoe_zone", "DE_LU"),
    "SUPABASE_DB_URL": ("postgresql://u:p@h/d", "supabase_db_url", "postgresql://u:p@h/d"),
    "SUPABASE_URL": ("https://ref.supabase.co", "supabase_url", "https://ref.supabase.co"),
    "SUPABASE_KEY": ("service-key", "supabase_key", "service-key"),
    "SUPABASE_SCHEMA": ("gateway", "supabase_schema", "gateway"),
    "INFLUXDB_URL": ("http://127.0.0.1:8086", "influxdb_url", "http://127.0.0.1:8086"),
    "INFLUXDB_TOKEN": ("tok", "influxdb_token", "tok"),
    "INFLUXDB_ORG": ("home", "influxdb_org", "home"),
    "INFLUXDB_BUCKET": ("energy", "influxdb_bucket", "energy"),
    "SYNC_BATCH_SIZE": ("1000", "sync_batch_size", 1000),
    "SYNC_INTERVAL_SECONDS": ("30", "sync_interval_seconds", 30),
    "FE_SITE_ID": ("home", "fe_site_id", "home"),
    "FE_LOOKBACK_DAYS": ("14", "fe_lookback_days", 14),
    "FE_BATCH_SIZE": ("250", "fe_batch_size", 250),
    "FE_ROLLING_WINDOW_DAYS": ("3", "fe_rolling_window_days", 3),
    "FORECAST_MODEL_DIR": ("/tmp/fm", "forecast_model_dir", Path("/tmp/fm")),
    "FORECAST_TEST_SIZE": ("0.25", "forecast_test_size", 0.25),
    "ENERGY_AGENT_DASHBOARD_TOKEN": ("dash", "dashboard_token", "dash"),
    "ENERGY_AGENT_STATE_DIR": ("/tmp/st", "agent_state_dir", Path("/tmp/st")),
    "ENERGY_AGENT_MODELS_DIR": ("/tmp/m", "agent_models_dir", Path("/tmp/m")),
    "ENERGY_AGENT_MARKET": ("entsoe", "agent_market", "entsoe"),
    "ENERGY_AGENT_SITE": ("home", "agent_site", "home"),
    "ENERGY_AGENT_TIMEZONE": ("Europe/Amsterdam", "agent_timezone", "Europe/Amsterdam"),
    "ENERGY_AGENT_LATITUDE": ("52.37", "agent_latitude", 52.37),
    "ENERGY_AGENT_LONGITUDE": ("4.9", "agent_longitude", 4.9),
    "ENERGY_AGENT_STALE_AFTER_MIN": ("20", "agent_stale_after_min", 20.0),
    "ENERGY_AGENT_COLLECT_EVERY_S": ("120", "agent_collect_every_s", 120.0),
    "ENERGY_AGENT_DECIDE_EVERY_S": ("30", "agent_decide_every_s", 30.0),
    "ENERGY_AGENT_WEATHER_EVERY_S": ("1800", "agent_weather_every_s", 1800.0),
    "ENERGY_AGENT_BACKOFF_MAX_S": ("600", "agent_backoff_max_s", 600.0),
    "ENERGY_AGENT_FORECAST_INTERVALS": ("24", "agent_forecast_intervals", 24),
    "ENERGY_AGENT_HORIZON_HOURS": ("12", "agent_horizon_hours", 12.0),
    "ENERGY_AGENT_POLICY": ("price_threshold", "agent_policy", "price_threshold"),
    "ENERGY_AGENT_SWITCH_THRESHOLD": ("0.1", "agent_switch_threshold", 0.1),
    "ENERGY_AGENT_TARIFF": ("eu_dynamic", "agent_tariff", "eu_dynamic"),
    "ENERGY_AGENT_TARIFF_OPTIONS": ("{}", "agent_tariff_options", "{}"),
    "ENERGY_AGENT_CLOUD_SYNC_EVERY_S": ("600", "agent_cloud_sync_every_s", 600.0),
    "ENERGY_AGENT_MODEL_POLL_EVERY_S": ("1200", "agent_model_poll_every_s", 1200.0),
    "ENERGY_AGENT_MODEL_NAME": ("prices", "agent_model_name", "prices"),
    "ENERGY_AGENT_DASHBOARD": ("home", "agent_dashboard", "home"),
    "ENERGY_AGENT_CHARGE_BELOW_PER_KWH": ("0.08", "agent_charge_below_per_kwh", 0.08),
    "ENERGY_AGENT_DISCHARGE_ABOVE_PER_KWH": ("0.4", "agent_discharge_above_per_kwh", 0.4),
    "ENERGY_AGENT_BATTERY_KWH": ("10", "agent_battery_kwh", 10.0),
    "ENERGY_AGENT_BATTERY_KW": ("4", "agent_battery_kw", 4.0),
    "ENERGY_AGENT_EV_CHARGER_KW": ("7", "agent_ev_charger_kw", 7.0),
    "ENERGY_AGENT_PV_KW": ("6.6", "agent_pv_kw", 6.6),
    "ENERGY_AGENT_PV_TILT_DEG": ("25", "agent_pv_tilt_deg", 25.0),
    "ENERGY_AGENT_PV_AZIMUTH_DEG": ("350", "agent_pv_azimuth_deg", 350.0),
    "ENERGY_AGENT_PV_INVERTER_KW": ("5", "agent_pv_inverter_kw", 5.0),
    "ENERGY_AGENT_WEATHER": ("clearsky", "agent_weather", "clearsky"),
    "ENERGY_AGENT_WEATHER_URL": (
        "http://127.0.0.1:2/v1",
        "agent_weather_url",
        "http://127.0.0.1:2/v1",
    ),
    "ENERGY_AGENT_KIOSK_HOST": ("0.0.0.0", "agent_kiosk_host", "0.0.0.0"),
    "ENERGY_AGENT_KIOSK_PORT": ("8081", "agent_kiosk_port", 8081),
}


def test_every_existing_variable_still_works(tmp_path):
    environ = {name: raw for name, (raw, _, _) in EVERY_VARIABLE.items()}
    s = load_settings(tmp_path / "missing.env", environ=environ)
    for name, (_, field, expected) in EVERY_VARIABLE.items():
        value = getattr(s, field)
        assert (secret(value) if name in SECRETS else value) == expected, name
    agent = load_agent_settings(tmp_path / "missing.env", environ=environ)
    assert (agent.market, agent.site.name, agent.policy, agent.kiosk_port) == (
        "entsoe",
        "home",
        "price_threshold",
        8081,
    )
    assert agent.battery.capacity_kwh == 10 and agent.ev.charger_kw == 7
    assert agent.models_path == Path("/tmp/m") and agent.weather == "clearsky"


#: The names the InfluxDB settings had before the gateway's documented INFLUXDB_* (still read).
OLD_NAMES = {
    "INFLUX_URL": "influxdb_url",
    "INFLUX_TOKEN": "influxdb_token",
    "INFLUX_ORG": "influxdb_org",
    "INFLUX_BUCKET": "influxdb_bucket",
}


def _variables(field) -> set[str]:
    if field.alias:
        return {field.alias}
    return {str(c) for c in field.validation_alias.choices}


def test_the_model_knows_every_documented_variable():
    known = set().union(*(_variables(f) for f in Settings.model_fields.values()))
    assert set(EVERY_VARIABLE) | set(OLD_NAMES) == known


def test_the_older_influx_names_still_work_and_the_documented_ones_win(tmp_path):
    environ = {old: f"old-{old}" for old in OLD_NAMES}
    s = load_settings(tmp_path / "missing.env", environ=environ)
    for old, field in OLD_NAMES.items():
        assert secret(getattr(s, field)) == f"old-{old}"
    environ["INFLUXDB_BUCKET"] = "documented"
    assert load_settings(tmp_path / "missing.env", environ=environ).influxdb_bucket == "documented"


@pytest.mark.parametrize(
    "variable, raw, words",
    [
        ("ENERGY_AGENT_KIOSK_PORT", "eighty", "is not a number"),
        ("ENERGY_AGENT_DECIDE_EVERY_S", "-5", "greater than 0"),
        ("ENERGY_AGENT_WEATHER", "rain", "is not one of"),
        ("ENERGY_AGENT_BATTERY_KWH", "-1", "greater than or equal to 0"),
    ],
)
def test_a_bad_value_names_its_variable_and_how_to_fix_it(tmp_path, variable, raw, words):
    env = tmp_path / ".env"
    env.write_text(f"{variable}={raw}\n")
    with pytest.raises(SettingsError) as err:
        load_settings(env, environ={})
    message = str(err.value)
    assert message.startswith(f"{variable}={raw!r}") and words in message
    assert f"fix {variable} in the environment or .env" in message
