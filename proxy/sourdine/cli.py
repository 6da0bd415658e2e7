"""The `sourdine` command."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import urllib.error
import urllib.request

from sourdine import __version__, cli_score, home


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {port}")
    return port


def _host(value: str) -> str:
    from sourdine.settings import normalise_host

    try:
        return normalise_host(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _cmd_run(args: argparse.Namespace) -> int:
    from sourdine import runner

    return runner.run(home.resolve(args.home), args.proxy_port, args.api_port, args.mastodon_instance)


def _cmd_status(args: argparse.Namespace) -> int:
    where = home.resolve(args.home)
    info = home.read_run_info(where)
    if info is None:
        print(f"sourdine: not running (home {where})", file=sys.stderr)
        return 1
    host, port = info["api"]
    request = urllib.request.Request(
        f"http://{host}:{port}/api/v1/status", headers={"Authorization": f"Bearer {home.token(where)}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            status = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as e:
        print(f"sourdine: the running instance did not answer: {e}", file=sys.stderr)
        return 1
    print(json.dumps(status, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--home",
        metavar="DIR",
        help="Sourdine's home directory (database, CA, token). Default: $SOURDINE_HOME, else the user's data "
        f"directory ({home.default_home()}).",
    )
    common.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="How much to log on stderr (default WARNING). Post text is never logged; "
                        "handles only at DEBUG.")

    parser = argparse.ArgumentParser(
        prog="sourdine",
        description="Sourdine: a local proxy that folds or hides outrage and negativity in social media feeds.",
    )
    parser.add_argument("--version", action="version", version=f"sourdine {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run", parents=[common], help="Start the proxy and the local API.",
        description="Start the filtering proxy and the local API on 127.0.0.1, in one process. Point the browser "
        "at the proxy and trust the CA certificate printed at start-up.",
    )
    run.add_argument("--proxy-port", type=_port, default=8080, help="The proxy's port (default 8080; 0 picks one).")
    run.add_argument("--api-port", type=_port, default=8787, help="The API's port (default 8787; 0 picks one).")
    run.add_argument(
        "--mastodon-instance", action="append", default=[], metavar="HOST", type=_host,
        help="A Mastodon instance to filter, besides the well-known ones. Repeatable; saved in the settings.",
    )
    run.set_defaults(func=_cmd_run)

    status = sub.add_parser("status", parents=[common], help="Show the running instance's status.",
                            description="Ask the running Sourdine for its status, as JSON.")
    status.set_defaults(func=_cmd_status)

    cli_score.add_parser(sub, parents=[common])
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level, logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return int(args.func(args) or 0)
