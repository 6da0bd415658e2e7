"""The `sourdine` command."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from sourdine import __version__, cli_ca, cli_score, home


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


class CommandError(Exception):
    """A command cannot go on; the message says why, for a person."""


def call_api(home_arg: str | None, method: str, path: str) -> dict:
    """Call the running instance's API with the local token; CommandError when nothing runs or it refuses."""
    where = home.resolve(home_arg)
    info = home.read_run_info(where)
    if info is None:
        raise CommandError(f"not running (home {where})")
    host, port = info["api"]
    request = urllib.request.Request(
        f"http://{host}:{port}{path}", method=method, data=b"{}" if method in ("POST", "PUT", "PATCH") else None,
        headers={"Authorization": f"Bearer {home.token(where)}", "Host": f"{host}:{port}",
                 "Content-Type": "application/json"},
    )
    # Straight to 127.0.0.1, whatever http_proxy says: the local token must never go through a proxy.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as e:
        with e:
            try:
                message = json.load(e)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = e.reason
        raise CommandError(f"the API refused: {message} (HTTP {e.code})") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise CommandError(f"the running instance did not answer: {e}") from None


def _cmd_status(args: argparse.Namespace) -> int:
    print(json.dumps(call_api(args.home, "GET", "/api/v1/status"), indent=2))
    return 0


def _cmd_pair(args: argparse.Namespace) -> int:
    issued = call_api(args.home, "POST", "/api/v1/pair/codes")
    minutes = max(1, round((issued["expires"] - time.time()) / 60))
    print(f"Pairing code: {issued['code']}", flush=True)
    print(f"Type it in the Sourdine extension's options page within {minutes} minutes. Waiting...", flush=True)
    deadline = min(issued["expires"], time.time() + args.wait)
    while time.time() < deadline:
        time.sleep(0.5)
        state = call_api(args.home, "GET", f"/api/v1/pair/codes/{issued['id']}")
        if state["state"] == "paired":
            client = state["client"]
            print(f"Paired: {client['name']} from {client['origin']} (client {client['id']}).")
            return 0
        if state["state"] == "spent":
            break
    print("sourdine: the code was not used in time, or too many wrong codes were tried; run `sourdine pair` again",
          file=sys.stderr)
    return 1


def _cmd_clients(args: argparse.Namespace) -> int:
    if args.action == "revoke":
        if not args.id:
            raise CommandError("say which client to revoke: sourdine clients revoke ID")
        call_api(args.home, "DELETE", f"/api/v1/clients/{urllib.parse.quote(args.id, safe='')}")
        print(f"Revoked client {args.id}.")
        return 0
    clients = call_api(args.home, "GET", "/api/v1/clients")["clients"]
    if not clients:
        print("No paired clients.")
    for c in clients:
        seen = time.strftime("%Y-%m-%d %H:%M", time.localtime(c["created"]))
        print(f"{c['id']}  {c['origin']}  {c['name']}  (paired {seen})")
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

    pair = sub.add_parser(
        "pair", parents=[common], help="Pair the browser extension: print a one-time code and wait for it.",
        description="Print a one-time pairing code for the Sourdine browser extension, then wait until an "
        "extension uses it and say which one paired. The code is valid for 5 minutes, once, and dies after 5 "
        "wrong attempts.",
    )
    pair.add_argument("--wait", type=float, default=300.0, metavar="SECONDS",
                      help="How long to wait for the extension (default: the code's 5 minutes).")
    pair.set_defaults(func=_cmd_pair)

    clients = sub.add_parser("clients", parents=[common], help="List or revoke paired extensions.",
                             description="List the paired browser extensions, or revoke one: its token stops "
                             "working at once.")
    clients.add_argument("action", choices=["list", "revoke"], help="list, or revoke ID")
    clients.add_argument("id", nargs="?", help="The client to revoke (see `sourdine clients list`).")
    clients.set_defaults(func=_cmd_clients)

    cli_score.add_parser(sub, parents=[common])
    cli_ca.add_parsers(sub, parents=[common])
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level, logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args) or 0)
    except CommandError as e:
        print(f"sourdine: {e}", file=sys.stderr)
        return 1
