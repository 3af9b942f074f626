"""Settings from the environment and an untracked ``.env`` file.

Secrets (API tokens, database URLs with passwords) are read here and nowhere
else.  ``Settings`` never shows them: its ``repr`` masks every secret, so a
settings object can be logged or printed safely.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

from dotenv import dotenv_values

SECRET_FIELDS = frozenset(
    {"amber_token", "entsoe_api_key", "supabase_db_url", "influxdb_token", "dashboard_token"}
)

# setting name -> environment variable
ENV_KEYS = {
    "data_dir": "ENERGYLIB_DATA_DIR",
    "amber_token": "AMBER_TOKEN",
    "amber_site_id": "AMBER_SITE_ID",
    "amber_base_url": "AMBER_BASE_URL",
    "entsoe_api_key": "ENTSOE_API_KEY",
    "entsoe_zone": "ENTSOE_ZONE",
    "supabase_db_url": "SUPABASE_DB_URL",
    # the edge gateway's documented InfluxDB variables, and its cloud sync's
    "influxdb_url": "INFLUXDB_URL",
    "influxdb_token": "INFLUXDB_TOKEN",
    "influxdb_org": "INFLUXDB_ORG",
    "influxdb_bucket": "INFLUXDB_BUCKET",
    "sync_batch_size": "SYNC_BATCH_SIZE",
    "sync_interval_seconds": "SYNC_INTERVAL_SECONDS",
    # the gateway's documented feature-engineering and model-training variables
    "fe_site_id": "FE_SITE_ID",
    "fe_lookback_days": "FE_LOOKBACK_DAYS",
    "fe_rolling_window_days": "FE_ROLLING_WINDOW_DAYS",
    "forecast_model_dir": "FORECAST_MODEL_DIR",
    "forecast_test_size": "FORECAST_TEST_SIZE",
    "dashboard_token": "ENERGY_AGENT_DASHBOARD_TOKEN",
}

# settings that are whole numbers: (minimum, what the value is)
INT_FIELDS = {
    "sync_batch_size": (1, "rows per sync batch"),
    "sync_interval_seconds": (1, "seconds"),
    "fe_lookback_days": (1, "days"),
    "fe_rolling_window_days": (1, "days"),
}

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, repr=False)
class Settings:
    """Runtime settings.  Build with :func:`load_settings`."""

    data_dir: Path = PROJECT_ROOT / "data"
    amber_token: str | None = None
    amber_site_id: str | None = None
    amber_base_url: str = "https://api.amber.com.au/v1"
    entsoe_api_key: str | None = None
    entsoe_zone: str = "NL"
    supabase_db_url: str | None = None
    influxdb_url: str = "http://localhost:8086"
    influxdb_token: str | None = None
    influxdb_org: str = "edge-gateway"
    influxdb_bucket: str = "der-data"
    sync_batch_size: int = 5000
    sync_interval_seconds: int = 60
    fe_site_id: str | None = None
    fe_lookback_days: int = 30
    fe_rolling_window_days: int = 7
    forecast_model_dir: Path | None = None
    forecast_test_size: float = 0.2
    dashboard_token: str | None = None

    @property
    def processed_dir(self) -> Path:
        """Where the Parquet store lives."""
        return self.data_dir / "processed"

    @property
    def raw_dir(self) -> Path:
        """Where raw downloads and exports are kept."""
        return self.data_dir / "raw"

    def __repr__(self) -> str:
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS and value:
                value = "***"
            parts.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(parts)})"

    __str__ = __repr__


def read_environment(
    env_file: str | Path | None = None, environ: dict | None = None
) -> dict[str, str]:
    """The variables of ``.env`` overlaid by the environment (the environment wins).

    ``env_file`` defaults to ``.env`` in the working directory, then in the
    project root; a missing file is not an error.  Every settings loader
    (this module's, the agent's) reads through here.
    """
    environ = os.environ if environ is None else environ
    candidates = [Path(env_file)] if env_file else [Path.cwd() / ".env", PROJECT_ROOT / ".env"]
    merged: dict[str, str] = {}
    for candidate in candidates:
        if candidate.is_file():
            merged = {k: v for k, v in dotenv_values(candidate).items() if v is not None}
            break
    merged.update({k: v for k, v in environ.items() if v})
    return merged


def load_settings(env_file: str | Path | None = None, environ: dict | None = None) -> Settings:
    """Read settings: the process environment wins over ``.env``.

    Parameters
    ----------
    env_file : path, optional
        A dotenv file; defaults to ``.env`` in the working directory, then in
        the project root.  A missing file is not an error.
    environ : dict, optional
        The environment to read (defaults to ``os.environ``); tests pass their own.
    """
    env = read_environment(env_file, environ)
    values: dict[str, object] = {name: env[key] for name, key in ENV_KEYS.items() if env.get(key)}
    for name in ("data_dir", "forecast_model_dir"):
        if name in values:
            values[name] = Path(str(values[name])).expanduser()
    if "forecast_test_size" in values:
        try:
            values["forecast_test_size"] = float(str(values["forecast_test_size"]))
        except ValueError:
            values["forecast_test_size"] = -1.0
        if not 0.0 < values["forecast_test_size"] < 1.0:
            raise ValueError(
                f"FORECAST_TEST_SIZE={env['FORECAST_TEST_SIZE']!r} must be a fraction between 0 "
                "and 1 (the share of the data held out for testing); fix it in the environment or .env"
            )
    for name, (lowest, what) in INT_FIELDS.items():
        if name in values:
            text = str(values[name]).strip()
            if not text.isdigit() or int(text) < lowest:
                raise ValueError(
                    f"{ENV_KEYS[name]}={text!r} must be a whole number >= {lowest} ({what}); "
                    "fix it in the environment or .env"
                )
            values[name] = int(text)
    return Settings(**values)
