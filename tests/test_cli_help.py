"""The CLI reads the same everywhere: one name per option, plain help, a description for every
command, the same exit code for the same kind of failure."""

from __future__ import annotations

import argparse
import re

import pytest

from energylib.cli import build_parser, main


def every_parser(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from every_parser(child, (*path, name))


PARSERS = list(every_parser(build_parser()))


def visible_options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions if a.help is not argparse.SUPPRESS for o in a.option_strings}


@pytest.mark.parametrize("path, parser", PARSERS, ids=[" ".join(p) or "energy" for p, _ in PARSERS])
def test_help_is_plain_text_and_every_command_is_described(path, parser):
    text = parser.format_help()
    assert not re.search(r"``|:(func|class|mod|meth):`", text), f"reST markup in {path} help"
    if path:
        assert parser.description, f"energy {' '.join(path)} has no description"


def test_one_name_for_the_data_folder_and_for_quiet():
    for path, parser in PARSERS:
        options = visible_options(parser)
        assert not options & {"--store", "--store-dir", "--state-dir", "--no-progress"}, path


def test_backfill_help_shows_only_the_sources_own_options():
    amber = dict(PARSERS)[("backfill", "amber")]
    options = visible_options(amber)
    assert {"--site", "--kind", "--resolution"} <= options
    assert not options & {"--zone", "--region"}
    assert "--zone" in visible_options(dict(PARSERS)[("backfill", "entsoe")])
    assert "--region" in visible_options(dict(PARSERS)[("backfill", "aemo")])


def test_old_option_names_still_parse():
    parser = build_parser()
    args = parser.parse_args(
        ["backfill", "aemo", "--start", "2025-01-01", "--end", "2025-01-02", "--no-progress"]
    )
    assert args.quiet is True
    args = parser.parse_args(["agent", "status", "--state-dir", "/tmp/x"])
    assert args.state_dir == "/tmp/x"


def test_no_token_exits_2_for_every_source(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)  # no .env
    for name in ("AMBER_TOKEN", "ENTSOE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    for source in ("amber", "entsoe"):
        rc = main(["backfill", source, "--start", "2025-01-01", "--end", "2025-01-02", "--quiet"])
        assert rc == 2, source
    err = capsys.readouterr().err
    assert "AMBER_TOKEN" in err and "ENTSOE_API_KEY" in err


def test_a_bad_setting_exits_2_naming_the_variable(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ENERGY_AGENT_KIOSK_PORT", "eighty")
    assert main(["agent", "status"]) == 2
    assert "ENERGY_AGENT_KIOSK_PORT='eighty' is not a number" in capsys.readouterr().err


def backfill(source: str, tmp_path, *options: str) -> int:
    days = ["--start", "2025-01-06", "--end", "2025-01-07"]
    return main(["backfill", source, *days, "--data-dir", str(tmp_path), "--quiet", *options])


def test_an_unknown_place_exits_2_for_every_source(monkeypatch, tmp_path, httpserver, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AMBER_TOKEN", "psk_test")
    monkeypatch.setenv("ENTSOE_API_KEY", "test-key")
    sites = [{"id": s, "status": "active", "nmi": "X", "channels": []} for s in ("A1", "B2")]
    httpserver.expect_request("/v1/sites").respond_with_json(sites)
    # Amber: two active sites and no --site; ENTSO-E: no such zone; AEMO: no such region
    assert backfill("amber", tmp_path, "--base-url", httpserver.url_for("/v1")) == 2
    assert backfill("entsoe", tmp_path, "--zone", "XX") == 2
    assert backfill("aemo", tmp_path, "--region", "XX1") == 2
    err = capsys.readouterr().err
    assert "AMBER_SITE_ID" in err and "'XX'" in err and "XX1" in err
    assert "Traceback" not in err
    assert not list(tmp_path.glob("processed/**/*.parquet"))  # nothing ran, nothing stored


def test_a_refused_token_exits_1_for_every_source(monkeypatch, tmp_path, httpserver, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AMBER_TOKEN", "psk_test")
    monkeypatch.setenv("ENTSOE_API_KEY", "test-key")
    httpserver.expect_request("/v1/sites/S1/prices").respond_with_data("no", status=401)
    httpserver.expect_request("/api").respond_with_data("Unauthorized", status=401)
    amber = ["--site", "S1", "--base-url", httpserver.url_for("/v1")]
    assert backfill("amber", tmp_path, *amber) == 1
    assert (
        backfill("entsoe", tmp_path, "--zone", "NL", "--base-url", httpserver.url_for("/api")) == 1
    )
    err = capsys.readouterr().err
    assert "AMBER_TOKEN" in err and "ENTSOE_API_KEY" in err  # each names what to fix
    assert err.count("--resume") >= 2  # and how to go on
