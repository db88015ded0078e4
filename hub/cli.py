"""The ``cites-hub`` command."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from hub import __version__, config as hub_config
from hub.envelope import MessageType
from hub.errors import HubError

log = logging.getLogger(__name__)

DEFAULT_URL = "http://127.0.0.1:8080"
API_KEY_ENV = "CITES_HUB_API_KEY"
TYPES = ", ".join(t.value for t in MessageType)
QUIET_LOGGERS = ("alembic", "httpx", "httpcore", "uvicorn.access")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cites-hub", description="Integration hub for CITES electronic permits.")
    parser.add_argument("--version", action="version", version=f"cites-hub {__version__}")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="logging threshold (default INFO)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the hub: API, workers and sweep")
    _config_options(run)
    run.add_argument("--role", choices=["all", "api", "worker"], default="all",
                     help="which parts this process runs (default all)")
    run.add_argument("--destination", action="append", default=None,
                     help="with --role worker: deliver only to this partner (repeatable)")
    run.add_argument("--port", type=int, default=None, help="API port (default: the configuration's, 8080)")
    run.set_defaults(func=cmd_run)

    send = commands.add_parser("send", help="send a message file to a running hub over its HTTP API")
    send.add_argument("file", type=Path, help="the XML payload")
    send.add_argument("--type", default="permit.issued", help=f"message type (default permit.issued); one of {TYPES}")
    send.add_argument("--url", default=DEFAULT_URL, help=f"the hub's base URL (default {DEFAULT_URL})")
    send.add_argument("--api-key-file", type=Path, default=None,
                      help=f"file holding the API key (default: ${API_KEY_ENV}, else the embedded hub's key file)")
    send.add_argument("--data-dir", type=Path, default=Path("cites-hub-data"), help="embedded hub's data folder")
    send.set_defaults(func=cmd_send)

    validate = commands.add_parser("validate", help="validate a message file and print its findings")
    validate.add_argument("file", type=Path, help="the XML document to check")
    validate.add_argument("--type", default="permit.issued", help=f"message type (default permit.issued); one of {TYPES}")
    validate.set_defaults(func=cmd_validate)

    trace = commands.add_parser("trace", help="print the journal's hop-by-hop timeline of one permit")
    trace.add_argument("permit", help="PARTY/NUMBER, e.g. FR/FR1202501030-R, or a number alone")
    _config_options(trace)
    trace.set_defaults(func=cmd_trace)

    demo = commands.add_parser("demo", help="run the embedded hub with simulators and send permits through it")
    demo.add_argument("--from-trade-csv", type=Path, default=None,
                      help="build permits from a CITES Trade Database shipment CSV (default: a built-in sample)")
    demo.add_argument("--limit", type=int, default=None, help="send at most this many permits")
    demo.add_argument("--data-dir", type=Path, default=Path("cites-hub-data") / "demo",
                      help="where the demo's journal is kept (emptied first; default cites-hub-data/demo)")
    demo.add_argument("--senders", type=int, default=4, help="concurrent HTTP senders (default 4)")
    demo.add_argument("--park", type=int, default=3,
                      help="Customs rejects this many deliveries, left parked for the console (default 3)")
    demo.add_argument("--config", type=Path, default=None,
                      help="a hub configuration whose partners and routes replace the embedded default's; "
                           "the permit store partner must exist and may send permit.issued")
    demo.set_defaults(func=cmd_demo)

    _register_parked(commands)

    adapters = commands.add_parser("adapters", help="list the adapters installed and their capabilities")
    adapters_commands = adapters.add_subparsers(dest="adapters_command", required=True, metavar="COMMAND")
    adapters_list = adapters_commands.add_parser("list", help="list every adapter found and its capabilities")
    adapters_list.set_defaults(func=cmd_adapters_list)

    _register_optional(commands)
    return parser


def _register_optional(commands: argparse._SubParsersAction) -> None:
    """Add the commands that other packages of the hub register themselves (signing, scaffolding)."""
    from adapters import scaffold
    from adapters.epix import exchange
    from monitoring import console
    from signing import cli as signing_cli

    signing_cli.register(commands)
    scaffold.register(commands)
    exchange.register(commands)
    console.register(commands)


def _register_parked(commands: argparse._SubParsersAction) -> None:
    parked = commands.add_parser("parked", help="list, show, replay or discard parked deliveries")
    actions = parked.add_subparsers(dest="parked_command", required=True, metavar="COMMAND")
    listing = actions.add_parser("list", help="parked deliveries, newest first")
    listing.add_argument("--destination", help="only this partner's")
    listing.add_argument("--limit", type=int, default=50)
    show = actions.add_parser("show", help="one delivery with its attempts and errors")
    replay = actions.add_parser("replay", help="deliver again, keeping the idempotency key")
    discard = actions.add_parser("discard", help="give up for good")
    for parser in (show, replay, discard):
        parser.add_argument("delivery_id")
    for parser in (replay, discard):
        parser.add_argument("--reason", required=True, help="why; recorded in the journal")
        parser.add_argument("--by", default=os.environ.get("USER", "operator"),
                            help="who acts (default: $USER); recorded in the journal")
    for parser in (listing, show, replay, discard):
        _config_options(parser)
        parser.set_defaults(func=cmd_parked)


def _config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=None, help="YAML configuration (default: embedded mode)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="data folder: journal, API keys (default: the configuration's, else cites-hub-data)")


def _load_config(args: argparse.Namespace) -> hub_config.HubConfig:
    if args.config is None:
        return hub_config.default_config(args.data_dir or Path("cites-hub-data"))
    config = hub_config.load(args.config)
    if args.data_dir is not None:
        config.data_dir = args.data_dir
    return config


def cmd_run(args: argparse.Namespace) -> int:
    from hub.runtime import Hub, api_key_path
    from hub.server import serve_forever
    from monitoring.console import ensure_first_admin

    config = _load_config(args)
    if args.port is not None:
        config.api.port = args.port
    hub = Hub(config)
    workers = args.role in ("all", "worker")
    hub.start(deliver=workers, sweep=workers, amqp_ingress=args.role in ("all", "api"),
              destinations=args.destination, serve=args.role in ("all", "api"))
    admin_password = ensure_first_admin(hub) if args.role in ("all", "api") else None
    if config.embedded:
        print(f"embedded hub: journal {config.journal_url}; API key of permit-store in "
              f"{api_key_path(config.data_dir, 'permit-store')}", file=sys.stderr)
    if args.role in ("all", "api"):
        print(f"operations console: http://{config.api.host}:{config.api.port}/console/"
              + (f" (first admin's password in {admin_password})" if admin_password else ""), file=sys.stderr)
    try:
        serve_forever(hub, api=args.role != "worker")
    except KeyboardInterrupt:
        pass
    finally:
        hub.stop()
    return 0


def _api_key(args: argparse.Namespace) -> str:
    if args.api_key_file is not None:
        return args.api_key_file.read_text(encoding="utf-8").strip()
    if os.environ.get(API_KEY_ENV):
        return os.environ[API_KEY_ENV]
    from hub.runtime import api_key_path

    path = api_key_path(args.data_dir, "permit-store")
    if not path.is_file():
        raise HubError(f"no API key: set ${API_KEY_ENV}, pass --api-key-file, or start the embedded hub "
                       f"(it writes {path})")
    return path.read_text(encoding="utf-8").strip()


def cmd_send(args: argparse.Namespace) -> int:
    import httpx

    payload = args.file.read_bytes()
    try:
        response = httpx.post(f"{args.url.rstrip('/')}/api/v1/messages", params={"message_type": args.type},
                              content=payload, headers={"X-API-Key": _api_key(args),
                                                        "Content-Type": "application/xml"}, timeout=30)
    except httpx.HTTPError as error:
        raise HubError(f"cannot reach the hub at {args.url}: {error}") from error
    print(json.dumps(response.json(), indent=2))
    return 0 if response.status_code == 202 else 1


def cmd_validate(args: argparse.Namespace) -> int:
    from hub import validation
    from hub.envelope import MessageType

    result = validation.validate(args.file.read_bytes(), MessageType.parse(args.type))
    if result.permit is not None:
        print(f"{args.file}: permit {result.permit.key}, {len(result.permit.items)} item(s), schema {result.schema}")
    for finding in result.findings:
        value = f" (value {finding.value!r}" + (f", expected {finding.expected})" if finding.expected else ")") \
            if finding.value is not None else ""
        print(f"  {finding.severity.value:7} {finding.path}: {finding.message}{value}")
    print("valid" if result.ok else "invalid")
    return 0 if result.ok else 1


def cmd_trace(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import OperationalError

    from hub.trace import print_timeline

    journal = _open_journal(args)
    party, _, number = args.permit.rpartition("/")
    try:
        return print_timeline(journal, party or None, number)
    except OperationalError as error:
        raise HubError(f"cannot read the journal {journal.url}: {error.orig}") from error
    finally:
        journal.close()


def _open_journal(args: argparse.Namespace):
    from hub.journal import Journal

    url = _load_config(args).journal_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise HubError(f"no journal at {url.removeprefix('sqlite:///')}; give the hub's --data-dir or --config")
    return Journal(url)


def cmd_parked(args: argparse.Namespace) -> int:
    """Operate on parked deliveries in the journal; a running hub's sweep sends replays within seconds."""
    from hub.journal import DeliveryState

    journal = _open_journal(args)
    try:
        if args.parked_command == "list":
            records = journal.list_deliveries(state=DeliveryState.PARKED, destination=args.destination,
                                              limit=args.limit)
            for record in records:
                print(f"{record.delivery_id}  {record.updated_at:%Y-%m-%d %H:%M:%S}  {record.destination:14} "
                      f"attempts={record.attempts}  {record.last_error}")
            print(f"{len(records)} parked")
            return 0
        if args.parked_command == "show":
            return _show_delivery(journal, args.delivery_id)
        act = journal.replay_delivery if args.parked_command == "replay" else journal.discard_delivery
        record = act(args.delivery_id, actor=args.by, reason=args.reason)
        print(f"delivery {record.delivery_id} to {record.destination}: {args.parked_command}ed by {args.by}")
        return 0
    finally:
        journal.close()


def _show_delivery(journal, delivery_id: str) -> int:
    from hub.trace import format_event

    record = journal.get_delivery(delivery_id)
    if record is None:
        print(f"delivery {delivery_id} is not in the journal")
        return 1
    print(f"delivery {record.delivery_id} of message {record.message_id}")
    print(f"  destination {record.destination} ({record.adapter}), state {record.state}, "
          f"attempts {record.attempts}, idempotency key {record.idempotency_key}")
    print(f"  last error: {record.last_error}")
    previous = None
    for event in journal.delivery_events(delivery_id):
        print("  " + format_event(event, previous))
        previous = event
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from hub.demo import run_demo

    config = hub_config.load(args.config) if args.config is not None else None
    return run_demo(csv_path=args.from_trade_csv, data_dir=args.data_dir, limit=args.limit, senders=args.senders,
                    config=config, park=args.park)


def cmd_adapters_list(args: argparse.Namespace) -> int:
    from adapters import registry

    for name, entry in sorted(registry.discover().items()):
        try:
            capabilities = registry.load(name).capabilities()
        except HubError as error:
            print(f"{name:14} {entry.origin:12} cannot be loaded: {error}")
            continue
        print(f"{name:14} {entry.origin:12} {','.join(capabilities['directions']):17} "
              f"signs={'yes' if capabilities['signs'] else 'no':3} formats={','.join(capabilities['formats'])}")
        print(f"{'':28}message types: {', '.join(capabilities['message_types'])}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    # Their INFO lines (one per HTTP request, one per migration plugin) would drown the hub's own.
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(args.log_level)))
    try:
        return args.func(args)
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as command-line tools do.
        sys.stderr.close()
        return 0
    except HubError as error:
        print(f"cites-hub: {error}", file=sys.stderr)
        return 2
    except FileNotFoundError as error:
        print(f"cites-hub: file not found: {error.filename}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
