"""Settings from the environment and an untracked ``.env`` file: one typed model.

:class:`Settings` (pydantic-settings) reads every variable the library and the agent
know, the environment winning over ``.env``, converts each to its type and validates it
when it is built (at start-up): a bad value raises :class:`SettingsError`, which names
the variable, what is wrong and how to fix it.  Secrets (API tokens, database URLs with
passwords) are :class:`pydantic.SecretStr`: their ``repr`` is masked, so settings can be
logged or printed safely; :func:`secret` reads one where it is used.

The agent's settings (``ENERGY_AGENT_*``) are read here too; :mod:`energylib.agent.config`
turns them into the agent's runtime settings (its site, battery and EV), with the defaults
it documents.  To add a setting: a field here, with its variable as ``alias``.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from dotenv import dotenv_values
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The environment a settings build reads (None: ``os.environ``); tests pass their own.
_ENVIRON: ContextVar[dict | None] = ContextVar("energylib_environ", default=None)


class SettingsError(ValueError):
    """A setting has a bad value: names the variable and says how to fix it."""


class _Environment(EnvSettingsSource):
    """The environment, or the mapping a caller passed to :func:`load_settings`."""

    def _load_env_vars(self):  # noqa: ANN202 (pydantic-settings' own hook)
        environ = _ENVIRON.get()
        return super()._load_env_vars() if environ is None else dict(environ)


def _agent(name: str, **kw: Any) -> Any:
    """An ``ENERGY_AGENT_*`` field: unset (None) unless the variable is; the agent's own
    default applies where it is unset (:class:`energylib.agent.config.AgentSettings`)."""
    return Field(None, alias=f"ENERGY_AGENT_{name}", **kw)


class Settings(BaseSettings):
    """Every setting, typed.  Build with :func:`load_settings`.

    The library's variables (``ENERGYLIB_DATA_DIR``, ``AMBER_*``, ``ENTSOE_*``,
    ``SUPABASE_DB_URL``, ``SUPABASE_URL``/``SUPABASE_KEY``, ``INFLUXDB_*``) and the agent's (``ENERGY_AGENT_*``, documented in
    :mod:`energylib.agent.config`).  Fields are named as the variable, lower case (the
    agent's with an ``agent_`` prefix); secrets are :class:`~pydantic.SecretStr`.
    """

    model_config = SettingsConfigDict(
        frozen=True,
        extra="ignore",
        populate_by_name=True,
        env_ignore_empty=True,
        case_sensitive=True,
    )

    data_dir: Path = Field(PROJECT_ROOT / "data", alias="ENERGYLIB_DATA_DIR")
    amber_token: SecretStr | None = Field(None, alias="AMBER_TOKEN")
    amber_site_id: str | None = Field(None, alias="AMBER_SITE_ID")
    amber_base_url: str = Field("https://api.amber.com.au/v1", alias="AMBER_BASE_URL")
    entsoe_api_key: SecretStr | None = Field(None, alias="ENTSOE_API_KEY")
    entsoe_zone: str = Field("NL", alias="ENTSOE_ZONE")
    supabase_db_url: SecretStr | None = Field(None, alias="SUPABASE_DB_URL")
    # Supabase over its REST API (PostgREST), as the gateway documents its cloud sync.
    supabase_url: str | None = Field(None, alias="SUPABASE_URL")
    supabase_key: SecretStr | None = Field(None, alias="SUPABASE_KEY")
    supabase_schema: str = Field("energylib", alias="SUPABASE_SCHEMA", pattern=r"^[A-Za-z_]\w*$")
    # The edge gateway's documented InfluxDB variables (the older INFLUX_* names still work),
    # its cloud sync's, and its feature-engineering and model-training jobs'.
    influxdb_url: str = Field(
        "http://localhost:8086", validation_alias=AliasChoices("INFLUXDB_URL", "INFLUX_URL")
    )
    influxdb_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("INFLUXDB_TOKEN", "INFLUX_TOKEN")
    )
    influxdb_org: str = Field(
        "edge-gateway", validation_alias=AliasChoices("INFLUXDB_ORG", "INFLUX_ORG")
    )
    influxdb_bucket: str = Field(
        "der-data", validation_alias=AliasChoices("INFLUXDB_BUCKET", "INFLUX_BUCKET")
    )
    sync_batch_size: int = Field(5000, alias="SYNC_BATCH_SIZE", ge=1)
    sync_interval_seconds: int = Field(60, alias="SYNC_INTERVAL_SECONDS", ge=1)
    fe_site_id: str | None = Field(None, alias="FE_SITE_ID")
    fe_lookback_days: int = Field(30, alias="FE_LOOKBACK_DAYS", ge=1)
    fe_batch_size: int = Field(1000, alias="FE_BATCH_SIZE", ge=1)
    fe_rolling_window_days: int = Field(7, alias="FE_ROLLING_WINDOW_DAYS", ge=1)
    forecast_model_dir: Path | None = Field(None, alias="FORECAST_MODEL_DIR")
    forecast_test_size: float = Field(0.2, alias="FORECAST_TEST_SIZE", gt=0, lt=1)
    dashboard_token: SecretStr | None = Field(None, alias="ENERGY_AGENT_DASHBOARD_TOKEN")

    # The agent (energylib.agent.config documents each).
    agent_state_dir: Path | None = _agent("STATE_DIR")
    agent_models_dir: Path | None = _agent("MODELS_DIR")
    agent_market: Literal["amber", "entsoe"] | None = _agent("MARKET")
    agent_site: str | None = _agent("SITE")
    agent_timezone: str | None = _agent("TIMEZONE")
    agent_latitude: float | None = _agent("LATITUDE")
    agent_longitude: float | None = _agent("LONGITUDE")
    agent_stale_after_min: float | None = _agent("STALE_AFTER_MIN", gt=0)
    agent_collect_every_s: float | None = _agent("COLLECT_EVERY_S", gt=0)
    agent_decide_every_s: float | None = _agent("DECIDE_EVERY_S", gt=0)
    agent_weather_every_s: float | None = _agent("WEATHER_EVERY_S", gt=0)
    agent_backoff_max_s: float | None = _agent("BACKOFF_MAX_S", gt=0)
    agent_forecast_intervals: int | None = _agent("FORECAST_INTERVALS", gt=0)
    agent_horizon_hours: float | None = _agent("HORIZON_HOURS", gt=0)
    agent_policy: Literal["forecast", "price_threshold", "self_consumption", "mpc"] | None = _agent(
        "POLICY"
    )
    agent_switch_threshold: float | None = _agent("SWITCH_THRESHOLD", ge=0)
    agent_tariff: Literal["amber", "eu_dynamic", "flat"] | None = _agent("TARIFF")
    agent_tariff_options: str | None = _agent("TARIFF_OPTIONS")
    agent_charge_below_per_kwh: float | None = _agent("CHARGE_BELOW_PER_KWH")
    agent_discharge_above_per_kwh: float | None = _agent("DISCHARGE_ABOVE_PER_KWH")
    agent_battery_kwh: float | None = _agent("BATTERY_KWH", ge=0)
    agent_battery_kw: float | None = _agent("BATTERY_KW")
    agent_ev_charger_kw: float | None = _agent("EV_CHARGER_KW", ge=0)
    agent_pv_kw: float | None = _agent("PV_KW", ge=0)
    agent_pv_tilt_deg: float | None = _agent("PV_TILT_DEG", ge=0, le=90)
    agent_pv_azimuth_deg: float | None = _agent("PV_AZIMUTH_DEG", ge=0, lt=360)
    agent_pv_inverter_kw: float | None = _agent("PV_INVERTER_KW", gt=0)
    agent_weather: Literal["open-meteo", "clearsky"] | None = _agent("WEATHER")
    agent_weather_url: str | None = _agent("WEATHER_URL")
    agent_kiosk_host: str | None = _agent("KIOSK_HOST")
    agent_kiosk_port: int | None = _agent("KIOSK_PORT", gt=0, lt=65536)
    agent_cloud_sync_every_s: float | None = _agent("CLOUD_SYNC_EVERY_S", gt=0)
    agent_model_poll_every_s: float | None = _agent("MODEL_POLL_EVERY_S", gt=0)
    agent_model_name: str | None = _agent("MODEL_NAME")
    agent_dashboard: Literal["loopback", "home", "token"] | None = _agent("DASHBOARD")

    @field_validator("data_dir", "forecast_model_dir", "agent_state_dir", "agent_models_dir")
    @classmethod
    def _home(cls, path: Path | None) -> Path | None:
        return path.expanduser() if path is not None else None

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        # Keyword values, then the environment (or the caller's mapping), then .env.
        return (init_settings, _Environment(settings_cls), dotenv_settings)

    @property
    def processed_dir(self) -> Path:
        """Where the Parquet store lives."""
        return self.data_dir / "processed"

    @property
    def raw_dir(self) -> Path:
        """Where raw downloads and exports are kept."""
        return self.data_dir / "raw"

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={'***' if isinstance(v, SecretStr) else repr(v)}"
            for name, v in self
            if v is not None or not name.startswith("agent_")
        )
        return f"Settings({shown})"

    __str__ = __repr__


def secret(value: SecretStr | str | None) -> str | None:
    """The text of a secret setting (None where unset); call it only where the secret is used."""
    if isinstance(value, SecretStr):
        return value.get_secret_value() or None
    return value or None


def env_files(env_file: str | Path | None = None) -> Path | None:
    """The dotenv file read: ``env_file``, else ``.env`` in the working directory, else in the
    project root (None where there is none; a missing file is not an error)."""
    candidates = [Path(env_file)] if env_file else [Path.cwd() / ".env", PROJECT_ROOT / ".env"]
    return next((c for c in candidates if c.is_file()), None)


def load_settings(env_file: str | Path | None = None, environ: dict | None = None) -> Settings:
    """Read and validate every setting: the process environment wins over ``.env``.

    Parameters
    ----------
    env_file : path, optional
        A dotenv file; defaults to ``.env`` in the working directory, then in
        the project root.  A missing file is not an error.
    environ : dict, optional
        The environment to read (defaults to ``os.environ``); tests pass their own.

    Raises
    ------
    SettingsError
        A variable has a bad value; the message names it and says how to fix it.
    """
    token = _ENVIRON.set(environ)
    try:
        return Settings(_env_file=env_files(env_file))
    except ValidationError as err:
        raise SettingsError(_explain(err)) from None
    finally:
        _ENVIRON.reset(token)


def _explain(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        name = str(e["loc"][0]) if e["loc"] else "?"
        value = e.get("input")
        if e["type"] in ("float_parsing", "int_parsing", "int_from_float"):
            what = "is not a number" if e["type"] != "int_from_float" else "is not a whole number"
        elif e["type"] == "literal_error":
            what = f"is not one of {e['ctx']['expected']}"
        else:
            what = e["msg"].lower()
        lines.append(f"{name}={value!r} {what}; fix {name} in the environment or .env")
    return "; ".join(lines)


def read_environment(
    env_file: str | Path | None = None, environ: dict | None = None
) -> dict[str, str]:
    """The variables of ``.env`` overlaid by the environment (the environment wins), as text.

    For a tool that needs a variable the settings model does not know; settings themselves
    come from :func:`load_settings`.
    """
    environ = os.environ if environ is None else environ
    found = env_files(env_file)
    merged = {k: v for k, v in dotenv_values(found).items() if v is not None} if found else {}
    merged.update({k: v for k, v in environ.items() if v})
    return merged
