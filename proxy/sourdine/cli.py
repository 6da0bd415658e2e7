"""The `sourdine` command."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import re
import shlex
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sourdine import __version__, budget, cli_ca, cli_score, cli_sync, home
from sourdine.model import PLATFORMS


def _whole(low: int, high: int, what: str) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high`, else a usage error naming `what` it should be."""
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {what}: {value!r}") from None
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{what} out of range ({low} to {high}): {number}")
        return number

    return parse


_port = _whole(0, 65535, "a port number")
_budget_ms = _whole(1, 600_000, "a whole number of milliseconds")


def _host(value: str) -> str:
    from sourdine.settings import normalise_host

    try:
        return normalise_host(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _cmd_run(args: argparse.Namespace) -> int:
    # The cycle collector stays out of start-up: the runner's imports and the lexicons make about 150,000 objects
    # that live as long as the process, and walking them again and again took a tenth of start-up's time.
    # runner.serve collects once, freezes them and lets the collector back in before the first response (a
    # start-up that fails ends the process, collector or not).
    gc.disable()
    from sourdine import runner

    return runner.run(home.resolve(args.home), args.proxy_port, args.api_port, args.mastodon_instance,
                      args.sync_port, args.sync_folder, args.budget_ms)


class CommandError(Exception):
    """A command cannot go on; the message says why, for a person."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Follows no redirect: a 3xx comes back as an HTTPError, its request sent nowhere else."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, ANN201 (urllib's signature)
        return None


def call_api(home_arg: str | None, method: str, path: str, body: dict | None = None, *, data: bytes | None = None,
             content_type: str = "application/json", raw: bool = False, timeout: float = 10) -> Any:
    """Call the running instance's API with the local token; CommandError when nothing runs or it refuses.
    `data` sends raw bytes of `content_type` instead of `body`; `raw` returns the answer's bytes, not its JSON."""
    where = home.resolve(home_arg)
    info = home.read_run_info(where)
    if info is None:
        raise CommandError(f"not running (home {where})")
    host, port = info["api"]
    if data is None and method in ("POST", "PUT", "PATCH"):
        data = json.dumps(body if body is not None else {}).encode()
    request = urllib.request.Request(
        f"http://{host}:{port}{path}", method=method, data=data,
        headers={"Authorization": f"Bearer {home.token(where)}", "Host": f"{host}:{port}",
                 "Content-Type": content_type},
    )
    # Straight to 127.0.0.1, whatever http_proxy says: the local token must never go through a proxy. Nor to
    # where a redirect points: urllib's own handler sends the request's headers, the token with them, on to it.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.read() if raw else json.load(response)
    except urllib.error.HTTPError as e:
        with e:
            if 300 <= e.code < 400:  # Sourdine's API never redirects
                raise CommandError(f"what answers on {host}:{port} answered with a redirect (HTTP {e.code}): not "
                                   f"Sourdine? ({where / 'run.json'} may be left from an earlier run, its port "
                                   "taken since by another program); nothing was sent on") from None
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


# Control characters, line and paragraph separators, and the bidirectional and other format controls.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")


def printable(line: str) -> str:
    """A line of text from elsewhere (an imported note, a handle a platform sent, a peer's name) for the terminal:
    those characters as escapes, so that it stays one line, reads in its order and cannot write to the terminal."""
    return _CONTROL.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), line)


def _cmd_list(args: argparse.Namespace) -> int:
    """sourdine mutes|allow add|remove|list."""
    path = "/api/v1/mutes" if args.command == "mutes" else "/api/v1/allow"
    if args.action == "list":
        body = call_api(args.home, "GET", f"{path}?q={urllib.parse.quote(args.value or '')}")
        entries = body["mutes"] if args.command == "mutes" else body["allow"]
        if not entries:
            print("The list is empty.")
        for e in entries:
            extra = "  ".join(f"{k}={e[k]}" for k in ("action", "expires", "platforms", "note") if k in e)
            print(printable(f"{e['key']}  {extra}".rstrip()))
        return 0
    if not args.value:
        raise CommandError(f"say what to {args.action}: an account (platform:handle) or a keyword")
    if args.action == "remove":
        call_api(args.home, "DELETE", f"{path}/{urllib.parse.quote(args.value, safe='')}")
        print(f"Removed {args.value}.")
        return 0
    platform, sep, handle = args.value.partition(":")
    if sep and platform in PLATFORMS and not args.keyword:
        entry: dict[str, object] = {"kind": "account", "platform": platform, "handle": handle}
    else:
        entry = {"kind": "keyword", "text": args.value}
        if args.regex:
            entry["regex"] = True
    for name in ("expires", "note"):
        if getattr(args, name):
            entry[name] = getattr(args, name)
    if args.command == "mutes" and args.hide:
        entry["action"] = "hide"
    added = call_api(args.home, "POST", path, entry)
    print(f"Added {added['key']}.")
    return 0


def _cmd_connections(args: argparse.Namespace) -> int:
    if args.action:
        if not args.platform or not args.author_id:
            raise CommandError("say which author: sourdine connections mute|allow|dismiss PLATFORM AUTHOR_ID")
        decision = {"mute": "mute", "allow": "allow", "dismiss": "dismiss"}[args.action]
        call_api(args.home, "POST", f"/api/v1/connections/{urllib.parse.quote(args.platform, safe='')}/"
                 f"{urllib.parse.quote(args.author_id, safe='')}", {"decision": decision})
        print(f"{args.action.capitalize()}d." if args.action != "mute" else "Muted.")
        return 0
    found = call_api(args.home, "GET", "/api/v1/connections")["suggestions"]
    if not found:
        print("No toxic connections to decide on.")
    for s in found:
        reasons = ", ".join(s.get("reasons", []))
        print(printable(f"{s['platform']} {s['author_id']} {s.get('handle', '')}: {s['evidence']}" +
                        (f" ({reasons})" if reasons else "")))
    return 0


def _bar(value: int, most: int, width: int = 30) -> str:
    return "█" * max(1 if value else 0, round(width * value / most)) if most else ""


def _cmd_stats(args: argparse.Namespace) -> int:
    """A readable summary of what was kept away, with small bars."""
    stats = call_api(args.home, "GET", f"/api/v1/stats?days={args.days}")
    exposure = stats["exposure"]
    for name, label in (("today", "Today"), ("week", "This week")):
        e = exposure[name]
        print(f"{label}: {e['kept_away']} hostile posts kept away, {e['reached']} reached you.")
    feedback = stats["feedback"]
    print(f"Your feedback: {feedback['fine']} 'this was fine', {feedback['hostile']} 'this was hostile'.")
    rows = stats["by_day"]
    if not rows:
        print("No posts seen yet.")
        return 0
    most = max(r["collapsed"] + r["hidden"] for r in rows) or 1
    print(f"\nFolded and hidden per day (last {stats['days']} days):")
    for r in rows:
        kept = r["collapsed"] + r["hidden"]
        print(f"  {r['day']}  {r['platform']:<9} {_bar(kept, most):<30} {r['collapsed']} folded, {r['hidden']} hidden "
              f"of {r['seen']}")
    return 0


def _cmd_feedback(args: argparse.Namespace) -> int:
    """"This was fine" or "this was hostile" on one decision."""
    answer = call_api(args.home, "POST", f"/api/v1/decisions/{urllib.parse.quote(args.platform, safe='')}/"
                      f"{urllib.parse.quote(args.post_id, safe='')}/feedback", {"feedback": args.verdict})
    print(f"Noted: {args.verdict}.")
    offer = answer.get("offer")
    if offer:
        # Sourdine before 2026-11-24 named the author only in the path, unquoted: all of it after the platform.
        author = offer.get("author_id") or offer["path"].split("/", 5)[-1]
        print(f"That post came from a toxic connection: to allow its author, run "
              f"sourdine connections allow {args.platform} {shlex.quote(author)}")
    return 0


def _cmd_forget(args: argparse.Namespace) -> int:
    removed = call_api(args.home, "DELETE", f"/api/v1/authors/{urllib.parse.quote(args.platform, safe='')}/"
                       f"{urllib.parse.quote(args.author_id, safe='')}")["removed"]
    print(f"Forgot that author ({removed} rows removed).")
    return 0


def _cmd_purge(args: argparse.Namespace) -> int:
    if not args.yes:
        raise CommandError("this removes every decision and author record: run again with --yes")
    removed = call_api(args.home, "POST", "/api/v1/purge")["removed"]
    print(f"Purged ({removed} rows removed); settings, clients and lists are kept.")
    return 0


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
        paired = time.strftime("%Y-%m-%d %H:%M", time.localtime(c["created"]))
        seen = (time.strftime("last seen %Y-%m-%d %H:%M", time.localtime(c["last_seen"]))
                if c.get("last_seen") is not None else "not used yet")
        print(f"{c['id']}  {c['origin']}  {c['name']}  (paired {paired}, {seen})")
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
        help="A Mastodon instance to filter, besides the well-known ones. Repeatable; saved in the settings. Give "
             "its host name: given as an IP address, every site served from that address is decrypted too.",
    )
    run.add_argument("--sync-port", type=_port, metavar="PORT",
                     help="Listen for paired peers (sourdine peers) on 127.0.0.1:PORT, over mutually authenticated "
                     "TLS; 0 picks a port. Off by default: without it, this device still syncs with peers that "
                     "listen.")
    run.add_argument("--sync-folder", metavar="DIR", type=Path,
                     help="Also sync with paired peers through a folder you already sync (Syncthing, Dropbox, a "
                     "NAS): this device appends to its own ops-<device>.jsonl there. Outside Sourdine's home.")
    run.add_argument("--budget-ms", type=_budget_ms, default=budget.DEFAULT_MS, metavar="MS",
                     help="The most time Sourdine spends filtering one response (default %(default)s ms). A "
                     "response that would take longer goes out as the platform sent it, and the overrun is counted "
                     "in the status. A slow machine may want more.")
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
    pair.add_argument("--wait", type=cli_sync.seconds, default=300.0, metavar="SECONDS",
                      help="How long to wait for the extension, 0 or more (default: the code's 5 minutes).")
    pair.set_defaults(func=_cmd_pair)

    clients = sub.add_parser("clients", parents=[common], help="List or revoke paired extensions.",
                             description="List the paired browser extensions, or revoke one: its token stops "
                             "working at once.")
    clients.add_argument("action", choices=["list", "revoke"], help="list, or revoke ID")
    clients.add_argument("id", nargs="?", help="The client to revoke (see `sourdine clients list`).")
    clients.set_defaults(func=_cmd_clients, takes={"list": (), "revoke": ("id",)})

    for name, what in (("mutes", "the mute list"), ("allow", "the allow list")):
        p = sub.add_parser(name, parents=[common], help=f"Add to, remove from or list {what}.",
                           description=f"Manage {what}. VALUE is an account as platform:handle (mastodon:user@"
                           "instance, bluesky:alice.bsky.social or a DID, x:screen_name) or a keyword or phrase; "
                           "for remove, the entry's key as `list` shows it.")
        p.add_argument("action", choices=["add", "remove", "list"])
        p.add_argument("value", nargs="?", help="The account or keyword (add), the key (remove), or a search (list).")
        p.add_argument("--keyword", action="store_true",
                       help="Read VALUE as a keyword even if it looks like an account.")
        p.add_argument("--regex", action="store_true", help="VALUE is an RE2 regular expression.")
        p.add_argument("--expires", metavar="WHEN", help="When it stops: 90m, 24h, 7d, 2w, or a date.")
        p.add_argument("--note", help="A note for yourself.")
        if name == "mutes":
            p.add_argument("--hide", action="store_true", help="Hide matching posts instead of folding them.")
        p.set_defaults(func=_cmd_list)

    connections = sub.add_parser(
        "connections", parents=[common], help="Toxic connections: list the suggestions; mute, allow or dismiss.",
        description="List the toxic connections you have not decided on, with their evidence, or decide on one.")
    connections.add_argument("action", nargs="?", choices=["mute", "allow", "dismiss"])
    connections.add_argument("platform", nargs="?")
    connections.add_argument("author_id", nargs="?")
    connections.set_defaults(func=_cmd_connections, takes={None: (), **{
        action: ("platform", "author_id") for action in ("mute", "allow", "dismiss")}})

    stats = sub.add_parser("stats", parents=[common], help="A summary of what was kept away, with small charts.",
                           description="How many hostile posts were kept away and how many reached you, per day and "
                           "platform, with bars.")
    stats.add_argument("--days", type=int, default=7, choices=range(1, 32), metavar="DAYS",
                       help="How many days (1 to 31, default 7).")
    stats.set_defaults(func=_cmd_stats)

    feedback = sub.add_parser("feedback", parents=[common], help="Say a decision was fine, or the post hostile.",
                              description="Mark one decision (see GET /api/v1/decisions) as fine or hostile; the "
                              "counts show in sourdine stats.")
    feedback.add_argument("verdict", choices=["fine", "hostile"])
    feedback.add_argument("platform")
    feedback.add_argument("post_id")
    feedback.set_defaults(func=_cmd_feedback)

    forget = sub.add_parser("forget", parents=[common], help="Forget an author: their record and decisions.",
                            description="Remove an author's record and every decision about their posts.")
    forget.add_argument("platform")
    forget.add_argument("author_id")
    forget.set_defaults(func=_cmd_forget)

    purge = sub.add_parser("purge", parents=[common], help="Remove every decision and author record.",
                           description="Remove everything but the settings, the paired extensions and the lists.")
    purge.add_argument("--yes", action="store_true", help="Really do it.")
    purge.set_defaults(func=_cmd_purge)

    cli_score.add_parser(sub, parents=[common])
    cli_ca.add_parsers(sub, parents=[common])
    cli_sync.add_parsers(sub, parents=[common])
    return parser


# A command's optional value after its action (`mutes add VALUE`, `clients revoke ID`, `peers accept CODE`): argparse
# takes the positionals it finds before the first option, so `mutes add --hide zebra` left "zebra" unrecognised.
_LATE_VALUES = ("value", "id", "platform", "author_id")


def _unexpected(parser: argparse.ArgumentParser, args: argparse.Namespace, extra: list[str], forced: bool) -> None:
    """Refuse (exit 2) a word no value of the command takes: one left over, or one an action that takes no value
    was given (`peers add stray`: the subcommand's value, optional for the other actions, was ignored). A command's
    `takes` says which of its optional values each action takes."""
    options = [word for word in extra if word.startswith("-") and not forced]
    if options:
        parser.error(f"unrecognized arguments: {' '.join(options)}")
    takes = getattr(args, "takes", None)
    if takes is not None:
        taken = takes.get(getattr(args, "action", None), ())
        extra = [getattr(args, name) for name in _LATE_VALUES
                 if name not in taken and getattr(args, name, None) is not None] + extra
    if extra:
        parser.error(f"unexpected argument{'s' if len(extra) > 1 else ''}: {' '.join(extra)}")


def _home_is_a_file(args: argparse.Namespace) -> str | None:
    """What to say when the home given is a file, not a folder (every command but score uses the home)."""
    if args.command == "score":
        return None
    where = home.resolve(args.home)
    if not where.exists() or where.is_dir():
        return None
    given = "--home" if args.home else "$SOURDINE_HOME" if os.environ.get("SOURDINE_HOME") else "the default home"
    return (f"{where} is a file, not a folder: Sourdine's home ({given}) must be a folder, which is created if it "
            "does not exist")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    forced = extra[:1] == ["--"]  # what came after "--" is values, whatever they look like
    if forced:
        extra = extra[1:]
    for name in _LATE_VALUES:
        if extra and getattr(args, name, "") is None and (forced or not extra[0].startswith("-")):
            setattr(args, name, extra.pop(0))
    _unexpected(parser, args, extra, forced)
    if (said := _home_is_a_file(args)) is not None:
        print(f"sourdine: {said}", file=sys.stderr)
        return 1
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
