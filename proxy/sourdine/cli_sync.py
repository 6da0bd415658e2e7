"""`sourdine import`, `export`, `peers` and `sync` (issue 7): thin calls to the running instance's API."""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from sourdine import lists
from sourdine.sync import formats

BATCH = 2000  # entries per import request: progress shows between them
BATCH_BYTES = 4 * 1024 * 1024  # and at most about so many bytes of JSON, well under the API's 20 MB a request
MB = 1024 * 1024
# What `sourdine import` reads of a file. Sourdine's own export takes about 108 bytes a Mastodon account mute (112
# a Bluesky DID, 79 an X account, 62 a keyword; a note more): past some 196,000 entries it outgrew the 20 MB the
# other formats keep, and an export could not be imported back (a review's finding). 128 MB holds about 1.2 million
# entries; the file is read whole, and parsed, in this process only, then sent in batches.
LIMITS = {"sourdine": 128 * MB}
LIMIT = 20 * MB


def seconds(value: str) -> float:
    """A --wait: seconds, 0 or more (a negative wait issued a code and said at once that it had expired)."""
    try:
        wait = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not wait >= 0:  # NaN too
        raise argparse.ArgumentTypeError(f"a wait is 0 seconds or more, not {value}")
    return wait


def _api():
    from sourdine.cli import CommandError, call_api

    return call_api, CommandError


def _cmd_export(args: argparse.Namespace) -> int:
    call_api, CommandError = _api()
    query = urllib.parse.urlencode({"format": args.format, "list": args.list})
    body = call_api(args.home, "GET", f"/api/v1/export?{query}", raw=True)
    if args.output in (None, "-"):
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    else:
        try:
            Path(args.output).write_bytes(body)
        except OSError as e:
            raise CommandError(f"cannot write {args.output}: {e.strerror or e}") from None
        print(f"Wrote {args.output}.", file=sys.stderr)
    return 0


def _so_far(imported: int, unchanged: int, batch: list[tuple[int, dict]], sent: list[int]) -> str:
    """What earlier batches (of the rows at `sent` lines) did, and where to go on from: the batch's first line, but
    for the rows after it that went with an earlier row naming the same entry (see _grouped)."""
    line = batch[0][0]
    ahead = sum(1 for done in sent if done >= line)
    besides = f", but for {ahead} rows that name the same entry as an earlier row" if ahead else ""
    return (f"; {imported} entries were imported and {unchanged} unchanged from the lines before {line}, none from "
            f"line {line} on{besides}")


def _identity(entry: dict, now: datetime) -> object:
    """The key the API gives an entry (a mute's and an allow entry's are alike): rows alike here go in the same
    batch, so that the API sees a file's duplicates together, lets the last win and counts the others. A row the
    API will refuse is grouped by an approximation of its key, or not at all."""
    try:
        return lists.parse_mute({k: v for k, v in entry.items() if k != "keep"}, now).key
    except (ValueError, TypeError, AttributeError):
        pass
    kind = entry.get("kind")
    if kind == "keyword" and isinstance(entry.get("text"), str):
        return kind, entry.get("regex") is True, " ".join(entry["text"].casefold().split())
    if kind == "account" and isinstance(entry.get("platform"), str):
        name = "handle" if "handle" in entry else "id"
        if isinstance(entry.get(name), str):
            return kind, entry["platform"].casefold(), name, entry[name].strip().removeprefix("@").casefold()
    if kind == "person" and isinstance(entry.get("id"), str):
        return kind, " ".join(entry["id"].casefold().split())
    return id(entry)  # left alone: the API reports what is wrong with it


def _grouped(entries: list[tuple[int, dict]]) -> tuple[list[tuple[int, dict]], list[object]]:
    """The rows in the file's order, each that names an entry an earlier row names moved to just after that row,
    and each row's identity (_identity)."""
    groups: dict[object, list[tuple[int, dict]]] = {}
    now = datetime.now(UTC)
    for row in entries:
        groups.setdefault(_identity(row[1], now), []).append(row)
    rows = [row for group in groups.values() for row in group]
    return rows, [key for key, group in groups.items() for _ in group]


def _batches(rows: list[tuple[int, dict]], identities: list[object]
             ) -> Iterator[tuple[list[tuple[int, dict]], list[str] | None]]:
    """The rows in batches, with their JSON: BATCH rows or BATCH_BYTES a batch, with the rows alike (see _grouped)
    kept together unless that takes the batch past four times BATCH_BYTES. A row whose JSON alone is past
    BATCH_BYTES comes on its own, without its JSON (None): it is that line's error, not sent (the API takes 20 MB
    a request, and no entry the API takes comes near 4 MB)."""
    batch: list[tuple[int, dict]] = []
    docs: list[str] = []
    size = 0
    for n, row in enumerate(rows):
        doc = json.dumps(row[1])
        if len(doc) > BATCH_BYTES:
            yield [row], None
            continue
        alike = bool(batch) and identities[n] == identities[n - 1] and size < 4 * BATCH_BYTES
        if batch and not alike and (len(batch) >= BATCH or size + len(doc) > BATCH_BYTES):
            yield batch, docs
            batch, docs, size = [], [], 0
        batch.append(row)
        docs.append(doc)
        size += len(doc) + 2
    if batch:
        yield batch, docs


def _cmd_import(args: argparse.Namespace) -> int:
    """Read the file here (so that progress can show), send its entries in batches as Sourdine JSON, and report
    errors with the file's own line numbers."""
    call_api, CommandError = _api()
    limit = LIMITS.get(args.format, LIMIT)
    try:
        with open(args.file, "rb") as f:
            data = f.read(limit + 1)  # no more: /dev/zero or a huge file is refused, not read into memory
    except OSError as e:
        raise CommandError(f"cannot read {args.file}: {e.strerror}") from None
    if len(data) > limit:
        raise CommandError(f"an import file in this format has at most {limit // MB} MB" if limit == LIMIT else
                           f"an import file in Sourdine's format has at most {limit // MB} MB (about 1.2 million "
                           "entries)")
    name = "mute" if args.list == "mutes" else "allow"
    try:
        parsed = formats.read(args.format, data, name)
    except ValueError as e:
        raise CommandError(f"{args.file}: {e}") from None
    errors = list(parsed.errors)
    imported = unchanged = duplicates = 0
    rows, identities = _grouped(parsed.entries)
    total = len(rows)
    query = urllib.parse.urlencode({"format": "sourdine", "list": args.list})
    start = time.monotonic()
    done = 0
    sent: list[int] = []  # the lines of the rows sent
    for index, (batch, docs) in enumerate(_batches(rows, identities)):
        if docs is None:
            errors.append((batch[0][0], f"this entry is too large to import (past {BATCH_BYTES // MB} MB)"))
            continue
        # One entry a line after a one-line head: the API's line n is the batch's entry n - 1.
        doc = '{"sourdine": 1, "entries": [\n' + ",\n".join(docs) + "\n]}"
        try:
            answer = call_api(args.home, "POST", f"/api/v1/import?{query}", data=doc.encode(), timeout=60)
        except CommandError as e:
            if not index:
                raise
            # Earlier batches are in: say so, and where to go on from.
            raise CommandError(f"{e}{_so_far(imported, unchanged, batch, sent)}") from None
        if not answer["imported"] and not answer["unchanged"] and any(
                e["error"].startswith("keep: unknown field") for e in answer["errors"]):
            # A Sourdine started before `keep` existed refuses every entry that has one: of this batch (whose
            # entries from the other formats all have one), nothing went in.
            raise CommandError("the running Sourdine is older than this command: restart it (sourdine run), then "
                               f"import again{_so_far(imported, unchanged, batch, sent) if index else ''}")
        imported += answer["imported"]
        unchanged += answer["unchanged"]
        duplicates += answer.get("duplicates", 0)  # a Sourdine from before 2026-11-25 does not count them
        errors += [(batch[e["line"] - 2][0], e["error"]) for e in answer["errors"]]
        sent.extend(line for line, _ in batch)
        if sys.stderr.isatty() or args.progress:
            done += len(batch)
            print(f"\r{done}/{total} rows ({done * 100 // max(total, 1)}%)", end="" if done < total else "\n",
                  file=sys.stderr, flush=True)
    for line, message in sorted(errors):
        print(f"{args.file}:{line}: {message}", file=sys.stderr)
    refused = {line for line, _ in errors}
    warnings = [(line, message) for line, message in parsed.warnings if line not in refused]  # of entries taken
    for line, message in warnings:
        print(f"{args.file}:{line}: warning: {message}", file=sys.stderr)
    warned = f", {len(warnings)} warnings" if warnings else ""
    print(f"Imported {imported}, unchanged {unchanged}, {duplicates} duplicates, {len(errors)} errors{warned}, in "
          f"{time.monotonic() - start:.1f} s.")
    return 1 if errors and not imported and not unchanged else 0


def _ago(when: float | None) -> str:
    if not when:
        return "never"
    seconds = max(0, time.time() - when)
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 129600:
        return f"{seconds / 3600:.0f} h ago"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(when))


def _cmd_peers(args: argparse.Namespace) -> int:
    from sourdine.cli import printable

    call_api, CommandError = _api()
    if args.action == "add":
        issued = call_api(args.home, "POST", "/api/v1/peers/codes")
        known = {p["id"] for p in call_api(args.home, "GET", "/api/v1/peers")["peers"]}
        print(f"Peer code: {issued['code']}", flush=True)
        print("On the other device, run: sourdine peers accept CODE (within 5 minutes). Waiting...", flush=True)
        deadline = min(issued["expires"], time.time() + args.wait)
        while time.time() < deadline:
            time.sleep(0.5)
            peers = call_api(args.home, "GET", "/api/v1/peers")["peers"]
            new = [p for p in peers if p["id"] not in known]
            if new:
                print(f"Paired with {new[0]['name']} ({new[0]['id']}).")
                return 0
        print("sourdine: the code was not used in time, or a wrong code was tried; run `sourdine peers add` again",
              file=sys.stderr)
        return 1
    if args.action == "accept":
        if not args.value:
            raise CommandError("give the code that `sourdine peers add` printed on the other device")
        body = {"code": args.value}
        if args.address:
            body["address"] = args.address
        peer = call_api(args.home, "POST", "/api/v1/peers/accept", body, timeout=30)["peer"]
        print(f"Paired with {peer['name']} ({peer['id']}).")
        return 0
    if args.action == "remove":
        if not args.value:
            raise CommandError("say which peer to remove: sourdine peers remove ID")
        call_api(args.home, "DELETE", f"/api/v1/peers/{urllib.parse.quote(args.value, safe='')}")
        print(f"Removed peer {args.value}.")
        return 0
    state = call_api(args.home, "GET", "/api/v1/peers")
    print(f"Listening for peers on {state['listening']}." if state["listening"] else
          "Not listening for peers (start with --sync-port to let peers reach this device).")
    if state["paused"]:
        print("Sync is paused.")
    if not state["peers"]:
        print("No peers.")
    for p in state["peers"]:
        error = f"  last error: {p['last_error']}" if p.get("last_error") else ""
        print(printable(f"{p['id']}  {p['name']}  {p['address'] or '(reaches us)'}  last seen "
                        f"{_ago(p['last_seen'])}{error}"))
    return 0


def _cmd_sync(args: argparse.Namespace) -> int:
    call_api, _ = _api()
    body = {"pause": True} if args.pause else {"pause": False} if args.resume else {}
    answer = call_api(args.home, "POST", "/api/v1/sync", body, timeout=60)
    if args.pause or args.resume:
        print("Sync paused." if answer["paused"] else "Sync resumed.")
        return 0
    failed = 0
    for p in answer["peers"]:
        if p["ok"]:
            print(f"{p['name']}: sent {p['sent']}, received {p['received']}.")
        else:
            failed += 1
            print(f"{p['name']}: {p['error']}")
    if not answer["peers"]:
        print("No peers to sync with (sourdine peers add).")
    return 1 if failed else 0


def add_parsers(sub, parents) -> None:
    export = sub.add_parser(
        "export", parents=parents, help="Export the mute list or the allow list to a file.",
        description="Write a list as Sourdine's JSON, Mastodon's CSV (accounts) or Bluesky's muted words and list "
        "subjects. Entries a format cannot hold are left out.")
    export.add_argument("--format", choices=formats.EXPORT_FORMATS, default="sourdine",
                        help="The file's format (default sourdine).")
    export.add_argument("--list", choices=["mutes", "allow"], default="mutes", help="Which list (default mutes).")
    export.add_argument("-o", "--output", metavar="FILE", help="Where to write (default: standard output).")
    export.set_defaults(func=_cmd_export)

    imp = sub.add_parser(
        "import", parents=parents, help="Import entries from a file into the mute list or the allow list.",
        description="Read Sourdine's JSON, Mastodon's muted accounts CSV, Mastodon's blocked accounts (as hide "
        "mutes) or Bluesky's muted words and moderation-list subjects. A malformed row is reported with its line; "
        "the rest goes in. An entry already listed keeps what the file's format cannot say of it (a note, a scope, "
        "an expiry, an action); a Bluesky word muted more narrowly than Sourdine can mute it is a warning. A file has "
        "at most 20 MB, or 128 MB in Sourdine's own format (about 1.2 million entries).")
    imp.add_argument("file", help="The file to import.")
    imp.add_argument("--format", choices=formats.IMPORT_FORMATS, required=True, help="The file's format.")
    imp.add_argument("--list", choices=["mutes", "allow"], default="mutes", help="Which list (default mutes).")
    imp.add_argument("--progress", action="store_true", help="Show progress even when stderr is not a terminal.")
    imp.set_defaults(func=_cmd_import)

    peers = sub.add_parser(
        "peers", parents=parents, help="Pair with another device's Sourdine, list or remove peers.",
        description="`peers add` prints a code; `peers accept CODE` on the other device finishes pairing (SPAKE2: "
        "the code cannot be guessed offline, and serves once). `peers list` shows when each peer was last seen.")
    peers.add_argument("action", choices=["add", "accept", "list", "remove"])
    peers.add_argument("value", nargs="?", help="The code (accept) or the peer's id (remove).")
    peers.add_argument("--address", metavar="HOST:PORT",
                       help="accept: where the other device's sync listener is, if not 127.0.0.1 and the code's "
                       "port (an SSH tunnel, say).")
    peers.add_argument("--wait", type=seconds, default=300.0, metavar="SECONDS",
                       help="add: how long to wait for the other device, 0 or more (default 5 minutes).")
    peers.set_defaults(func=_cmd_peers, takes={"add": (), "list": (), "accept": ("value",), "remove": ("value",)})

    sync = sub.add_parser("sync", parents=parents, help="Sync with every peer now, or pause and resume syncing.",
                          description="Exchange the changes since each peer last synced. Sourdine also syncs in "
                          "the background every few minutes and after each edit.")
    group = sync.add_mutually_exclusive_group()
    group.add_argument("--pause", action="store_true", help="Stop syncing until --resume, across restarts.")
    group.add_argument("--resume", action="store_true", help="Sync again, at once.")
    sync.set_defaults(func=_cmd_sync)
