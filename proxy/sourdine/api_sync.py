"""API routes of issue 7: import and export of the lists, peers and sync. Registered by `api.create_app`, behind
the same guard (Host, Origin, token) as every route; peers and sync are for the local token (the CLI) only.

- `GET /api/v1/export?format=sourdine|mastodon-csv|bluesky&list=mutes|allow` answers the file.
- `POST /api/v1/import?format=sourdine|mastodon-csv|mastodon-blocks-csv|bluesky&list=mutes|allow` takes the raw
  file as the body (any content type, 20 MB at most) and answers `{"imported": n, "unchanged": n, "duplicates": n,
  "errors": [{"line": n, "error": "..."}]}`: a malformed row is reported with its line and the rest goes in, in one
  transaction, acknowledged once committed. Each row counts once: a row naming an entry that a later row names
  again is a duplicate (the last row wins).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from sourdine import schedule, store
from sourdine.api import (
    CLIENT,
    EDITED,
    LOCAL,
    RUNTIME,
    SETTINGS_LOCK,
    ApiError,
    _edited,
    _route,
    _still_authorised,
    audit,
    json_body,
    who,
)
from sourdine.sync import formats
from sourdine.sync.folder import Folder, check_folder
from sourdine.sync.live import Live
from sourdine.sync.peer import INTERVAL, Sync, SyncError, parse_address

LIVE = web.AppKey("live", Live)
SYNC = web.AppKey("sync", object)  # the Sync service once the runner starts one, else None
MAX_IMPORT = 20 * 1024 * 1024
_LISTS = {"mutes": "mute", "allow": "allow"}


def _choice(request: web.Request, name: str, allowed: tuple[str, ...]) -> str:
    value = request.query.get(name)
    if value not in allowed:
        raise ApiError(400, "bad_field", f"{name}: one of {', '.join(allowed)}", {"field": name})
    return value


async def export_list(request: web.Request) -> web.Response:
    """The mute list or the allow list as a file in the format asked for."""
    fmt = _choice(request, "format", formats.EXPORT_FORMATS)
    name = _LISTS[_choice(request, "list", tuple(_LISTS))]
    entries = [entry for _, entry in sorted(request.app[RUNTIME].entries[name].items())]
    out = formats.write(fmt, entries, name, datetime.now(UTC))
    response = web.Response(body=out.body, content_type=out.content_type, charset="utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{out.filename}"'
    response.headers["X-Sourdine-Skipped"] = str(out.skipped)  # entries this format cannot hold
    return response


async def _read_limited(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "too_large", f"an import file has at most {limit // (1024 * 1024)} MB")
    chunks, size = [], 0
    try:
        async for chunk in request.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "too_large", f"an import file has at most {limit // (1024 * 1024)} MB")
            chunks.append(chunk)
    except ApiError:
        raise
    except Exception:  # a body that cannot be decoded (a bad Content-Encoding...) is the client's error
        raise ApiError(400, "bad_body", "the body could not be read") from None
    return b"".join(chunks)


async def import_list(request: web.Request) -> web.Response:
    """Entries from a file into a list: new and changed ones stored with fresh stamps, the others counted."""
    fmt = _choice(request, "format", formats.IMPORT_FORMATS)
    name = _LISTS[_choice(request, "list", tuple(_LISTS))]
    raw = await _read_limited(request, MAX_IMPORT)
    try:
        parsed = await asyncio.to_thread(formats.read, fmt, raw, name)
    except ValueError as e:
        raise ApiError(400, "bad_file", str(e)) from None
    runtime = request.app[RUNTIME]
    tz = schedule.zone(runtime.snapshot.schedule.timezone)
    async with request.app[SETTINGS_LOCK]:
        # The live dict, not a copy (600,000 entries a batch): the runtime replaces its dicts, never changes them.
        plan = await asyncio.to_thread(formats.plan, parsed, name, runtime.entries[name], datetime.now(UTC), tz)
        if plan.write:
            try:
                await request.app[LIVE].write_local(name, plan.write, lambda: _still_authorised(request))
            except ValueError as e:
                raise ApiError(400, "bad_entry", str(e)) from None
    if plan.write:
        _edited(request)
    audit.info("%s: %s %s: %d imported into %s", who(request), request.method, _route(request), len(plan.write),
               name)
    return web.json_response(plan.report())


# -- peers and sync ------------------------------------------------------------------------------------------


def _sync(request: web.Request) -> Sync:
    """The sync service, for the local token only (the CLI): peers are not the extension's business."""
    if request[CLIENT] != LOCAL:
        raise ApiError(403, "cli_only", "this is done from the sourdine command, not from an extension")
    service = request.app[SYNC]
    if service is None:
        raise ApiError(409, "sync_off", "sync is not running in this instance")
    return service


async def list_peers(request: web.Request) -> web.Response:
    service = _sync(request)
    return web.json_response({"listening": f"127.0.0.1:{service.port}" if service.port else None,
                              "paused": service.paused,
                              "peers": [p.public() for p in sorted(service.peers.values(), key=lambda p: p.created)]})


async def peer_code(request: web.Request) -> web.Response:
    """A one-time peer code, for `sourdine peers accept` on the other device; shown once, never logged."""
    service = _sync(request)
    try:
        code, expires = service.new_code()
    except SyncError as e:
        raise ApiError(409, "not_listening", str(e)) from None
    audit.info("%s: %s: peer code issued", who(request), _route(request))
    return web.json_response({"code": code, "expires": expires}, status=201)


async def accept_peer(request: web.Request) -> web.Response:
    service = _sync(request)
    body = await json_body(request, {"code": str, "address": str}, {"code"})
    address = body.get("address")
    if address is not None:
        try:
            parse_address(address)
        except ValueError as e:
            raise ApiError(400, "bad_field", f"address: {e}", {"field": "address"}) from None
    try:
        peer = await service.accept(body["code"], address)
    except SyncError as e:
        raise ApiError(400, "pairing_failed", str(e)) from None
    audit.info("%s: %s: paired with peer %s", who(request), _route(request), peer.id)
    return web.json_response({"peer": peer.public()}, status=201)


async def remove_peer(request: web.Request) -> web.Response:
    service = _sync(request)
    if not await service.remove(request.match_info["id"]):
        raise ApiError(404, "not_found", "no such peer")
    audit.info("%s: %s: peer removed", who(request), _route(request))
    return web.json_response({"peers": [p.public() for p in service.peers.values()]})


async def sync_now(request: web.Request) -> web.Response:
    """Sync with every peer now (`{}`), or pause (`{"pause": true}`) or resume (`{"pause": false}`)."""
    service = _sync(request)
    body = await json_body(request, {"pause": bool}, set())
    results = []
    if "pause" in body:
        await service.pause(body["pause"])
        if not service.paused:
            results = await service.sync_all()
    else:
        results = await service.sync_all()
    return web.json_response({"paused": service.paused, "peers": results})


def add_routes(app: web.Application) -> None:
    live = Live(app[RUNTIME], app[SETTINGS_LOCK])
    app[LIVE] = live
    app[SYNC] = None
    app[EDITED].append(live.edited.set)
    app.router.add_get("/api/v1/export", export_list)
    app.router.add_post("/api/v1/import", import_list)
    app.router.add_get("/api/v1/peers", list_peers)
    app.router.add_post("/api/v1/peers/codes", peer_code)
    app.router.add_post("/api/v1/peers/accept", accept_peer)
    app.router.add_delete("/api/v1/peers/{id}", remove_peer)
    app.router.add_post("/api/v1/sync", sync_now)


async def start_sync(app: web.Application, home: Path, device: str, port: int | None,
                     interval: float = INTERVAL, folder: Path | None = None) -> Sync:
    """The sync service of a running instance: its peers loaded, its listener started when `port` is given, the
    sync folder used when given (ValueError if it cannot be)."""
    runtime = app[RUNTIME]
    service = Sync(app[LIVE], home, device, interval=interval)
    if folder is not None:
        service.folder = Folder(check_folder(folder, home), device)
    db = store.open_db(runtime.writer.path)
    try:
        service.load(db)
    finally:
        db.close()
    await service.start(port)
    app[SYNC] = service
    return service
