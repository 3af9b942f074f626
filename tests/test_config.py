from pathlib import Path

from energylib.config import load_settings


def test_environment_wins_over_dotenv(tmp_path):
    env = tmp_path / ".env"
    env.write_text("AMBER_TOKEN=from-file\nAMBER_SITE_ID=site-file\nENERGYLIB_DATA_DIR=/tmp/x\n")
    s = load_settings(env, environ={"AMBER_TOKEN": "from-env"})
    assert s.amber_token == "from-env"
    assert s.amber_site_id == "site-file"
    assert s.data_dir == Path("/tmp/x")


def test_secrets_never_appear_in_repr(tmp_path):
    s = load_settings(
        tmp_path / "missing.env",
        environ={"AMBER_TOKEN": "psk_secret123", "SUPABASE_DB_URL": "postgresql://u:pw@h/db"},
    )
    text = repr(s) + str(s) + f"{s}"
    assert "psk_secret123" not in text and "pw@" not in text
    assert "amber_token='***'" in text


def test_defaults_without_any_configuration(tmp_path):
    s = load_settings(tmp_path / "missing.env", environ={})
    assert s.amber_token is None and s.entsoe_zone == "NL"
    assert s.processed_dir == s.data_dir / "processed"
