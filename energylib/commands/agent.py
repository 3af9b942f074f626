"""``energy agent ...``: the live agent and the kitchen kiosk.

* ``energy agent run [--once] [--dry-run] [--state-dir DIR]``: run the agent (collect,
  forecast, decide, log) until stopped; ``--once`` runs every job once and prints the decision.
* ``energy agent kiosk [--host HOST] [--port PORT] [--dashboard MODE]``: serve the read-only
  kiosk (``127.0.0.1`` by default; ``--host 0.0.0.0`` serves the LAN) and the owner's
  dashboard at ``/dashboard`` (this machine only unless ``--dashboard home|token``).
* ``energy agent status``: print the agent's last status (JSON).
* ``energy agent decisions [-n N]``: print the last N logged decisions (JSON lines).
* ``energy agent check-model FILE``: validate a model file as the agent would before swapping it in.
* ``energy agent publish-model FILE [--to URL] [--name NAME]``: validate a model file and
  publish it to the central store (``SUPABASE_DB_URL``) as the next version; agents that
  follow ``NAME`` download, validate and swap it in by themselves.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("agent", help="the live agent (collect, decide, log) and the kitchen kiosk")
    asub = p.add_subparsers(dest="agent_command", metavar="ACTION")

    run = asub.add_parser("run", help="run the agent until stopped (SIGTERM / Ctrl-C)")
    run.add_argument(
        "--once", action="store_true", help="run every job once, print the decision, exit"
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        default=True,
        help="has no effect: every run is a dry run, the agent only logs what it would do "
        "(no battery or charger integration ships yet)",
    )
    _common(run)
    run.set_defaults(func=cmd_run)

    kiosk = asub.add_parser(
        "kiosk", help="serve the read-only kiosk page and JSON / metrics endpoints"
    )
    kiosk.add_argument(
        "--host", default=None, help="bind address (default 127.0.0.1; 0.0.0.0 for the LAN)"
    )
    kiosk.add_argument("--port", type=int, default=None, help="TCP port (default 8080)")
    kiosk.add_argument(
        "--dashboard",
        choices=("loopback", "home", "token"),
        default=None,
        help="who may open /dashboard: this machine (default), the home network's private "
        "addresses, or any client with ENERGY_AGENT_DASHBOARD_TOKEN",
    )
    _common(kiosk)
    kiosk.set_defaults(func=cmd_kiosk)

    status = asub.add_parser("status", help="print the agent's last status as JSON")
    _common(status)
    status.set_defaults(func=cmd_status)

    dec = asub.add_parser("decisions", help="print the last logged decisions as JSON lines")
    dec.add_argument("-n", type=int, default=10, help="how many (default: %(default)s)")
    _common(dec)
    dec.set_defaults(func=cmd_decisions)

    chk = asub.add_parser(
        "check-model", help="validate a model file as the agent does before a swap"
    )
    chk.add_argument("path", help="exported model (.onnx, .pt)")
    chk.set_defaults(func=cmd_check_model)

    pub = asub.add_parser(
        "publish-model", help="validate a model file and publish it to the central store"
    )
    pub.add_argument("path", help="exported model (.onnx, .pt)")
    pub.add_argument("--to", metavar="URL", help="Postgres URL (default SUPABASE_DB_URL)")
    pub.add_argument(
        "--name", default="forecaster", help="model name agents follow (default %(default)s)"
    )
    pub.set_defaults(func=cmd_publish_model)

    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        default=None,
        metavar="DIR",
        help="data folder; the agent keeps its live cache, decision log and models in DIR/agent "
        "(default: ENERGY_AGENT_STATE_DIR, else ENERGYLIB_DATA_DIR/agent, else ./data/agent)",
    )
    # The agent's folder itself, as before --data-dir (kept for existing systemd units).
    p.add_argument("--state-dir", default=None, help=argparse.SUPPRESS)
    p.add_argument(
        "--market", choices=("amber", "entsoe"), default=None, help="price market (default amber)"
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def _settings(args: argparse.Namespace):
    # The library loads when this command runs, not when the CLI builds its parser (slow).
    from energylib.agent.config import load_agent_settings

    state_dir = args.state_dir or (f"{args.data_dir}/agent" if args.data_dir else None)
    return load_agent_settings(state_dir=state_dir, market=args.market)


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # urllib3 debug lines carry request headers; keep them out even in verbose mode.
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def cmd_run(args: argparse.Namespace) -> int:
    # The library loads when this command runs, not when the CLI builds its parser (slow).
    from energylib.agent.runner import build_agent

    _logging(args.verbose)
    try:
        settings = _settings(args)
        agent = build_agent(settings)
    except (ValueError, RuntimeError) as exc:
        print(f"agent: {exc}", file=sys.stderr)
        return 2
    if args.once:
        decision = agent.run_once()
        agent.write_status()
        agent.close()
        print(json.dumps(decision.as_dict(), default=str, indent=2))
        return 0
    agent.run_forever()
    return 0


def cmd_kiosk(args: argparse.Namespace) -> int:
    # The library loads when this command runs, not when the CLI builds its parser (slow).
    from energylib.agent.kiosk import serve

    _logging(args.verbose)
    try:
        settings = _settings(args)
        if args.dashboard:
            settings = settings.replace(dashboard=args.dashboard)
        serve(settings, host=args.host, port=args.port)
    except ValueError as exc:
        print(f"kiosk: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    # The library loads when this command runs, not when the CLI builds its parser (slow).
    from energylib.agent.runner import read_status

    status = read_status(_settings(args).state_dir)
    if status is None:
        print("agent: no status written yet (is the agent running?)", file=sys.stderr)
        return 1
    print(json.dumps(status, indent=2, default=str))
    return 0


def cmd_decisions(args: argparse.Namespace) -> int:
    # The library loads when this command runs, not when the CLI builds its parser (slow).
    from energylib.agent.decision_log import read_decisions

    for d in read_decisions(_settings(args).decisions_db, limit=args.n):
        print(json.dumps(d, default=str))
    return 0


def cmd_check_model(args: argparse.Namespace) -> int:
    # The library loads when this command runs, not when the CLI builds its parser (slow).
    from energylib.forecast.export import ModelFileError, validate_model_file

    try:
        summary = validate_model_file(args.path)
    except ModelFileError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2))
    return 0


def cmd_publish_model(args: argparse.Namespace) -> int:
    # The library loads when this command runs, not when the CLI builds its parser (slow).
    from energylib.agent.model_delivery import publish_model
    from energylib.forecast.export import ModelFileError, validate_model_file
    from energylib.store.postgres import PostgresSyncError, redact_url, resolve_url

    try:
        validate_model_file(args.path)
        url = resolve_url(args.to)
        version = publish_model(args.path, url, name=args.name)
    except (ModelFileError, FileNotFoundError) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    except PostgresSyncError as exc:
        print(f"publish failed: {exc}", file=sys.stderr)
        return 1
    print(f"published {args.path} as {args.name} v{version} to {redact_url(url)}")
    return 0
