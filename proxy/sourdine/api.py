"""The local aiohttp API. Every request is hostile until its Host, Origin and token are checked, in this order:

1. Binding: the API listens on 127.0.0.1 only, and the addon refuses proxied requests to it.
2. Host must be exactly 127.0.0.1:<port>, localhost:<port> or [::1]:<port>: this defeats DNS rebinding, where a
   page's own host name is pointed at 127.0.0.1.
3. Origin, when present, must be one recorded at pairing (exact string; "null" refused). The one exception is
   POST /api/v1/pair, which takes an extension origin that brings a valid one-time code. CORS preflights are
   answered for recorded origins only.
4. Token: `Authorization: Bearer <token>` (never a query string or a cookie). A paired extension's token is valid
   only with its own origin; the local token (the home's `token` file, for the CLI and scripts) only without one.
   Only digests are kept, compared in constant time. Failed attempts are slowed, per origin.
5. Bodies: JSON only, 64 KB at most, unknown fields refused.

Refusals are logged with a reason code; changes as audit events (client, route, summary). Never a token, a code
or post text.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import secrets
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from datetime import time as dtime
from urllib.parse import quote

from aiohttp import web

from sourdine import authors, links, lists, native, openapi, pairing, schedule, settings, store
from sourdine.model import Post
from sourdine.pairing import Client
from sourdine.runtime import Runtime

logger = logging.getLogger(__name__)
audit = logging.getLogger("sourdine.audit")

RUNTIME = web.AppKey("runtime", Runtime)
BACKOFF = web.AppKey("backoff", OrderedDict)
SETTINGS_LOCK = web.AppKey("settings_lock", asyncio.Lock)
BACKOFF_STEPS = web.AppKey("backoff_steps", tuple)
CLIENT = web.RequestKey("client", object)  # a paired Client, or LOCAL
# Called after each committed edit of a replicated value (lists, connection decisions, schedule): sync starts.
EDITED = web.AppKey("edited", list)
LOCAL = "local"  # the CLI and scripts, which use the home's token
MAX_BODY = 64 * 1024


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: object = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def error_body(code: str, message: str, details: object = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details}}


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place where failures become HTTP answers, all in the same JSON shape."""
    try:
        return await handler(request)
    except ApiError as e:
        logger.info("refused %s %s: %s", request.method, _route(request), e.code)
        return _error_response(request, e.status, error_body(e.code, e.message, e.details))
    except web.HTTPException as e:
        if e.status < 400:
            raise
        code = e.reason.lower().replace(" ", "_")
        logger.info("refused %s %s: %s", request.method, _route(request), code)
        if isinstance(e, web.HTTPMethodNotAllowed):
            # The methods the path takes, in the message and in Allow (which a 405 must carry, RFC 9110 15.5.6).
            allowed = ", ".join(sorted(e.allowed_methods))
            response = _error_response(request, e.status, error_body(
                code, f"{request.method} is not allowed here: use {allowed}", {"allowed": sorted(e.allowed_methods)}))
            response.headers["Allow"] = allowed
            return response
        return _error_response(request, e.status, error_body(code, e.reason))
    except sqlite3.DatabaseError as e:
        if type(e) not in (sqlite3.OperationalError, sqlite3.DatabaseError):  # a constraint, a bug: internal
            logger.exception("API handler failed")
            return _error_response(request, 500, error_body("internal", "internal error"))
        # The database refused a write (or a read): locked by another program, a full disk, a read-only file. The
        # routes change memory only after their write commits, so nothing changed. sqlite's words hold no user data.
        logger.warning("%s %s: the database refused: %s", request.method, _route(request), e)
        return _error_response(request, 503, error_body(
            "storage_unavailable", f"{_storage_trouble(str(e))}; nothing was changed, try again once that is fixed",
            {"sqlite": str(e)}))
    except Exception:
        logger.exception("API handler failed")
        return _error_response(request, 500, error_body("internal", "internal error"))


def _error_response(request: web.Request, status: int, body: dict) -> web.Response:
    """An error answer, readable by the caller when its origin may read answers at all."""
    response = web.json_response(body, status=status)
    origin = request.headers.get("Origin")
    if origin is not None and (
        origin in request.app[RUNTIME].origins() or (_pairing_call(request) and pairing.is_extension_origin(origin))
    ):
        _cors(response, origin)
    return response


@web.middleware
async def hardening(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Headers on every answer: never sniffed as a script, never embeddable by another site."""
    response = await handler(request)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def _route(request: web.Request) -> str:
    """The route's pattern, never the path itself (ids and handles stay out of the log)."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "(no route)"


def _pairing_call(request: web.Request) -> bool:
    """A pairing request or its CORS preflight (which matches no route: the route takes POST only)."""
    return request.path == "/api/v1/pair" and request.method in ("POST", "OPTIONS")


def _host_allowed(host: str, port: int) -> bool:
    return host in {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}


def _cors(response: web.StreamResponse, origin: str) -> None:
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Vary"] = "Origin"


async def _slow_down(request: web.Request, key: str) -> None:
    """Failed authentication waits longer each time for the same origin: 0.1 s, 0.2 s ... up to 5 s."""
    backoff = request.app[BACKOFF]
    failures = backoff.pop(key, 0) + 1
    backoff[key] = failures
    while len(backoff) > 1024:
        backoff.popitem(last=False)
    first, most = request.app[BACKOFF_STEPS]
    await asyncio.sleep(min(first * 2 ** (failures - 1), most))


def _bearer(request: web.Request) -> str | None:
    """The bearer token, or None. Tokens are ASCII: a header whose bytes are not UTF-8 (which aiohttp hands over as
    surrogates) or any other non-ASCII value is no token, refused as a wrong one is, never an internal error."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token and token.isascii() else None


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    if not _host_allowed(request.headers.get("Host", ""), runtime.listen.api[1]):
        raise ApiError(403, "bad_host", "this API answers only to its own loopback address")
    origin = request.headers.get("Origin")
    open_route = _route(request) in OPEN_ROUTES
    if origin is not None:
        if origin == "null":
            raise ApiError(403, "bad_origin", "an opaque origin may not call this API")
        if origin not in runtime.origins() and not (_pairing_call(request) and pairing.is_extension_origin(origin)):
            raise ApiError(403, "bad_origin", "this origin has not paired with Sourdine")
    if request.headers.get("Sec-Fetch-Site", "none") not in ("none", "same-origin") or request.headers.get(
        "Sec-Fetch-Dest", "empty"
    ) not in ("empty", "document"):
        # A page's <script src>, <img> or no-cors fetch: browsers say so, and none of them may read anything here.
        pairing_call = _pairing_call(request) and origin is not None and pairing.is_extension_origin(origin)
        if not pairing_call and (origin is None or origin not in runtime.origins()):
            raise ApiError(403, "bad_fetch", "this API is not for web pages")
    if request.method == "OPTIONS":
        if origin is None:
            raise ApiError(403, "bad_origin", "a preflight needs an origin")
        response = web.Response(status=204)
        _cors(response, origin)
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE"
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
        return response
    if not open_route:
        token = _bearer(request)
        client: Client | str | None = None
        if token is not None:
            digest = pairing.digest(token)
            if origin is None:
                client = LOCAL if pairing.same(digest, runtime.token_hash) else None
            else:
                found = runtime.clients.get(digest)
                client = found if found is not None and pairing.same(found.origin, origin) else None
        if client is None:
            await _slow_down(request, origin or "(no origin)")
            raise ApiError(401, "unauthorized", "a valid API token is required")
        request.app[BACKOFF].pop(origin or "(no origin)", None)
        request[CLIENT] = client
        if isinstance(client, Client):
            runtime.saw(client, time.time())
        if _route(request) in CLI_ONLY and client != LOCAL:
            raise ApiError(403, "cli_only", "this is done from the sourdine command, not from an extension")
    if request.method in ("POST", "PUT", "PATCH") and request.content_type != "application/json" and (
            _route(request) not in RAW_BODY_ROUTES):
        raise ApiError(415, "unsupported_media_type", "send JSON, with Content-Type: application/json")
    response = await handler(request)
    if origin is not None:
        _cors(response, origin)
    return response


def who(request: web.Request) -> str:
    client = request.get(CLIENT)
    return client.id if isinstance(client, Client) else str(client)


class _Twice(ValueError):
    pass


def _one_value_per_name(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """A JSON object whose names are all different: one given twice ({"text": "a", "text": "b"}) is refused rather
    than read as its last value, which is not what every client would have meant."""
    out: dict[str, object] = {}
    for name, value in pairs:
        if name in out:
            raise _Twice(name)
        out[name] = value
    return out


async def json_body(request: web.Request, allowed: dict[str, type | tuple[type, ...]], required: set[str]) -> dict:
    """The request's JSON object, checked: only `allowed` fields, of their types, with the `required` ones."""
    if request.content_type != "application/json" or (request.charset or "utf-8").lower() not in ("utf-8", "utf8"):
        raise ApiError(415, "unsupported_media_type", "send JSON in UTF-8, with Content-Type: application/json")
    try:
        raw = await request.read()
    except web.HTTPException:
        raise
    except Exception:  # a body that cannot be decoded (a bad Content-Encoding...) is the client's error
        raise ApiError(400, "bad_body", "the body could not be read") from None
    try:
        body = json.loads(raw.decode("utf-8"), object_pairs_hook=_one_value_per_name)
        # "\ud800" escapes decode to lone surrogates, which no UTF-8 store can hold: refuse them here.
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except _Twice as e:
        raise ApiError(400, "bad_json", f"the field {e.args[0]!r} is given twice in one object",
                       {"field": e.args[0]}) from None
    except (ValueError, RecursionError):
        raise ApiError(400, "bad_json", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "the body must be a JSON object")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ApiError(400, "unknown_fields", f"unknown field(s): {', '.join(unknown)}", {"fields": unknown})
    missing = sorted(required - set(body))
    if missing:
        raise ApiError(400, "missing_fields", f"missing field(s): {', '.join(missing)}", {"fields": missing})
    for name, value in body.items():
        # bool is an int to isinstance: a number field refuses true, but a field of any type (object) is checked
        # by its own parser.
        if not isinstance(value, allowed[name]) or isinstance(value, bool) and allowed[name] not in (bool, object):
            raise ApiError(400, "bad_field", f"field {name!r} has the wrong type", {"field": name})
    return body


async def committed(request: web.Request, fn) -> object:
    """Run a write in the store's writer and wait until it is committed: nothing is acknowledged before. A client
    revoked since its request passed the guard (while its body came in, or while it waited for a lock) writes
    nothing; a route that changes memory before its write checks first (`_still_authorised`)."""
    _still_authorised(request)
    return await asyncio.wrap_future(request.app[RUNTIME].writer.submit(fn))


def _storage_trouble(message: str) -> str:
    """What the user can act on, from sqlite's message for a failed write."""
    if "locked" in message or "busy" in message:
        return "the database is locked by another program (a backup, a database browser?)"
    if "full" in message:
        return "the disk that holds Sourdine's database is full"
    if "readonly" in message or "read-only" in message:
        return "Sourdine's database cannot be written (read-only file or folder)"
    if "malformed" in message or "not a database" in message:
        return "Sourdine's database is damaged"
    return "Sourdine's database could not be written"


# -- routes -------------------------------------------------------------------------------------------------


async def status(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    counts = runtime.engine.counts
    snapshot = runtime.snapshot
    return web.json_response(
        {
            "version": runtime.version,
            "proxy": {"host": runtime.listen.proxy[0], "port": runtime.listen.proxy[1]},
            "api": {"host": runtime.listen.api[0], "port": runtime.listen.api[1]},
            "platforms": settings_state(runtime)["platforms"],
            "mastodon_instances": list(snapshot.mastodon_instances),
            "counts": {"seen": counts.seen, "collapsed": counts.collapsed, "hidden": counts.hidden},
            "errors": sum(h.failures for h in runtime.engine.health.values()),
            "overruns": sum(h.overruns for h in runtime.engine.health.values()),
            "caches": runtime.engine.caches(),
            "health": {name: h.to_dict() for name, h in runtime.engine.health.items()},
            "filtering": _filtering(runtime),
            # "compiled", or "pure Python" and why (sourdine.native).
            "native": native.state,
        }
    )


def _filtering(runtime: Runtime) -> dict[str, object]:
    """Whether Sourdine filters right now, and until when: the extension shows this and never computes it."""
    active, until = runtime.filtering()
    return {"active": active, "until": schedule.format_instant(until) if until else None}


def schedule_state(runtime: Runtime) -> dict[str, object]:
    return {"schedule": schedule.to_json(runtime.snapshot.schedule), **_filtering(runtime)}


async def get_schedule(request: web.Request) -> web.Response:
    return web.json_response(schedule_state(request.app[RUNTIME]))


async def _change_schedule(request: web.Request, change) -> web.Response:
    """Apply `change(current schedule, now) -> new schedule` under the settings lock: stored, then live."""
    runtime = request.app[RUNTIME]
    async with request.app[SETTINGS_LOCK]:
        now = datetime.now(UTC)
        try:
            new = change(schedule.prune(runtime.snapshot.schedule, now), now)
            schedule.check_overrides(new, now)
            stored = schedule.to_json(new)
            settings.with_user(runtime.snapshot, schedule=stored)
        except schedule.ScheduleError as e:
            raise ApiError(400, "bad_field", str(e), {"field": e.field}) from None
        row = {"list": "setting", "key": "schedule", "entry": stored, "stamp": runtime.clock.tick().encode(),
               "device": runtime.clock.node, "deleted": 0}  # the schedule replicates (issue 7)
        await committed(request, lambda db: (store.save_settings(db, {"schedule": stored}),
                                             store.put_list_entry(db, row)))
        runtime.stamps[("setting", "schedule")] = row["stamp"]
        runtime.swap(settings.with_user(runtime.snapshot, schedule=stored))
        _edited(request)
        audit.info("%s: %s %s: schedule changed", who(request), request.method, _route(request))
    return web.json_response(schedule_state(runtime))


async def put_schedule(request: web.Request) -> web.Response:
    """Replace the time zone and the weekly windows (and the overrides, when given)."""
    body = await json_body(request, {"timezone": str, "windows": list, "overrides": list}, {"timezone", "windows"})

    def change(current, now):
        if "overrides" not in body:
            body["overrides"] = schedule.to_json(current)["overrides"]
        return schedule.parse_schedule(body)

    return await _change_schedule(request, change)


async def add_window(request: web.Request) -> web.Response:
    """Add one weekly window, atomically (two clients adding at once both get theirs)."""
    body = await json_body(request, {"days": list, "start": str, "end": str}, {"days", "start", "end"})

    def change(current, now):
        data = schedule.to_json(current)
        if "schedule" not in request.app[RUNTIME].snapshot.user or current.windows == schedule.ALWAYS.windows:
            # No work hours yet means "always": the first window added replaces that. So does a stored "always"
            # (a pause and a resume store it), or the window added would have no effect at all.
            data["windows"] = []
        data["windows"].append(body)
        try:
            return schedule.parse_schedule(data)
        except schedule.ScheduleError as e:
            raise schedule.ScheduleError(e.field.replace(f"windows[{len(data['windows']) - 1}].", ""),
                                         str(e).split(": ", 1)[-1]) from None

    return await _change_schedule(request, change)


async def pause_filtering(request: web.Request) -> web.Response:
    """No filtering for `minutes` ("pause 30 min")."""
    body = await json_body(request, {"minutes": int}, {"minutes"})
    return await _change_schedule(request, lambda current, now: schedule.pause(current, now, body["minutes"]))


async def filter_until(request: web.Request) -> web.Response:
    """Filtering now until a local time ("18:00") or an instant ("2026-11-22T18:00:00Z")."""
    body = await json_body(request, {"until": str}, {"until"})

    def change(current, now):
        text = body["until"]
        if len(text) == 5:
            minutes = schedule.parse_time(text, "until")
            return schedule.filter_until(current, now, dtime(minutes // 60, minutes % 60))
        return schedule.filter_until(current, now, schedule.parse_instant(text, "until"))

    return await _change_schedule(request, change)


async def clear_overrides(request: web.Request) -> web.Response:
    """Back to the weekly windows alone."""
    return await _change_schedule(request, lambda current, now: schedule.clear_overrides(current))


def settings_state(runtime: Runtime) -> dict:
    snapshot = runtime.snapshot
    return {
        "platforms": {
            name: {"enabled": s.enabled, "collapse": s.thresholds.collapse, "hide": s.thresholds.hide,
                   "toxic": s.toxic_action, "inbox": s.inbox}
            for name, s in snapshot.platforms.items()
        },
        "mastodon_instances": list(snapshot.mastodon_instances),
        "global": {"pac_direct_outside_hours": bool(snapshot.user.get("pac_direct_outside_hours", False)),
                   "keep_excerpts": bool(snapshot.user.get("keep_excerpts", False)),
                   "decisions_retention_days": int(snapshot.user.get("decisions_retention_days", 30)),
                   "flag_allowed": bool(snapshot.user.get("flag_allowed", False))},
        "toxicity": runtime.engine.authors.settings.to_dict() if runtime.engine.authors is not None
        else authors.DEFAULTS.to_dict(),
    }


async def get_settings(request: web.Request) -> web.Response:
    return web.json_response(settings_state(request.app[RUNTIME]))


_PLATFORM_FIELDS: dict[str, type | tuple[type, ...]] = {
    "enabled": bool, "collapse": (int, float), "hide": (int, float), "toxic": str, "inbox": bool}


async def patch_settings(request: web.Request) -> web.Response:
    """Change some settings. Stored in sqlite before the answer, applied to the next flow, the new state returned."""
    runtime = request.app[RUNTIME]
    body = await json_body(request, {"platforms": dict, "mastodon_instances": list, "global": dict, "toxicity": dict},
                           set())
    if "mastodon_instances" in body and request[CLIENT] != LOCAL:
        raise ApiError(403, "cli_only", "Mastodon instances change what is decrypted: use sourdine run "
                       "--mastodon-instance")
    async with request.app[SETTINGS_LOCK]:
        user = dict(runtime.snapshot.user)
        changed: dict[str, object] = {}
        if "platforms" in body:
            platforms = {name: dict(values) for name, values in user.get("platforms", {}).items()}
            for name, values in body["platforms"].items():
                where = f"platforms.{name}"
                if name not in runtime.snapshot.platforms:
                    raise ApiError(400, "bad_field", f"unknown platform {name!r}", {"field": where})
                if not isinstance(values, dict):
                    raise ApiError(400, "bad_field", f"{where} must be an object", {"field": where})
                for key, value in values.items():
                    expected = _PLATFORM_FIELDS.get(key)
                    if expected is None or not isinstance(value, expected) or (
                        isinstance(value, bool) and expected is not bool
                    ):
                        raise ApiError(400, "bad_field", f"{where}.{key}: bad field or value",
                                       {"field": f"{where}.{key}"})
                platforms[name] = {**platforms.get(name, {}), **values}
            changed["platforms"] = platforms
        toxicity = None
        if "toxicity" in body:
            try:
                # Onto the settings in force: a stored value an older version allowed is already clamped there,
                # and must not be blamed on this change.
                live = authors.stored_toxicity(user.get("toxicity", {}))[0].to_dict()
                toxicity = authors.parse_toxicity({**live, **body["toxicity"]})
            except ValueError as e:
                raise ApiError(400, "bad_field", str(e), {"field": "toxicity"}) from None
            changed["toxicity"] = toxicity.to_dict()
        for key, value in body.get("global", {}).items():
            try:
                settings.check_global(key, value)
            except ValueError:
                raise ApiError(400, "bad_field", f"global.{key}: bad field or value", {"field": f"global.{key}"}) \
                    from None
            changed[key] = value
        if "mastodon_instances" in body:
            try:
                hosts = [settings.normalise_host(h) for h in body["mastodon_instances"] if isinstance(h, str)]
            except ValueError as e:
                raise ApiError(400, "bad_field", str(e), {"field": "mastodon_instances"}) from None
            if len(hosts) != len(body["mastodon_instances"]):
                raise ApiError(400, "bad_field", "mastodon_instances must be host names",
                               {"field": "mastodon_instances"})
            changed["mastodon_instances"] = list(dict.fromkeys(hosts))
        try:
            settings.build({**user, **changed})
        except (ValueError, OverflowError) as e:
            raise ApiError(400, "bad_value", str(e), {"field": _bad_threshold(user, changed)}) from None
        if changed:
            forget_excerpts = changed.get("keep_excerpts") is False

            def write(db) -> None:
                store.save_settings(db, changed)
                if forget_excerpts:  # turning excerpts off erases the ones kept so far, in the same transaction
                    db.execute("UPDATE decisions SET excerpt = NULL WHERE excerpt IS NOT NULL")

            await committed(request, write)
            # Built again on what is live now: the addon may have learnt a streaming host meanwhile.
            runtime.swap(settings.build({**runtime.snapshot.user, **changed}))
            if toxicity is not None and runtime.engine.authors is not None:
                runtime.engine.authors.settings = toxicity
            audit.info("%s: %s: changed %s", who(request), _route(request), ", ".join(sorted(changed)))
    return web.json_response(settings_state(runtime))


def _bad_threshold(user: dict, changed: dict) -> str:
    """The field of the first platform whose new thresholds do not hold together."""
    for name, values in changed.get("platforms", {}).items():
        try:
            settings.build({**user, "platforms": {name: values}})
        except (ValueError, OverflowError):
            if values.get("toxic", "collapse") not in settings.TOXIC_ACTIONS:
                return f"platforms.{name}.toxic"
            for key in ("collapse", "hide"):  # the one out of range, as the message names it
                if key in values and not _from_0_to_1(values[key]):
                    return f"platforms.{name}.{key}"
            return f"platforms.{name}.hide" if "hide" in values else f"platforms.{name}.collapse"
    return "platforms"


def _from_0_to_1(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value <= 1.0


def _still_authorised(request: web.Request) -> None:
    """A client revoked while its request waited is refused before anything is written."""
    client = request.get(CLIENT)
    if isinstance(client, Client) and client.token_hash not in request.app[RUNTIME].clients:
        raise ApiError(401, "unauthorized", "this client has been revoked")


def _edited(request: web.Request) -> None:
    for callback in request.app[EDITED]:
        callback()


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "bad_param", f"{name} must be a whole number", {"field": name}) from None
    if not low <= value <= high:
        raise ApiError(400, "bad_param", f"{name} must be from {low} to {high}", {"field": name})
    return value


async def decisions(request: web.Request) -> web.Response:
    """The most recent decisions, newest first: by default the folded and hidden posts, with their reasons."""
    runtime = request.app[RUNTIME]
    limit = _int_param(request, "limit", 100, 1, 1000)
    actions = request.query.get("action", "collapse,hide,flagged").split(",")
    if not actions or any(a not in store.DECISION_FILTERS for a in actions):
        raise ApiError(400, "bad_param", f"action is a comma-separated list of {', '.join(store.DECISION_FILTERS)}",
                       {"field": "action"})
    platform = request.query.get("platform")
    if platform is not None and platform not in runtime.snapshot.platforms:
        raise ApiError(400, "bad_param", f"unknown platform {platform!r}", {"field": "platform"})
    before = request.query.get("before")
    try:
        before_ts = float(before) if before is not None else None
        if before_ts is not None and not math.isfinite(before_ts):
            raise ValueError
    except ValueError:
        raise ApiError(400, "bad_param", "before must be a time in seconds", {"field": "before"}) from None
    rows = await asyncio.to_thread(store.read_decisions, runtime.writer.path, actions, platform, before_ts, limit)
    instances = runtime.snapshot.mastodon_instances
    for row in rows:
        row["url"] = links.post_link(row["platform"], row["post_id"], row["author"], instances)
    return web.json_response({"decisions": rows})


async def stats(request: web.Request) -> web.Response:
    """Posts seen, folded and hidden per platform, per day over the last `days` days and per hour today."""
    runtime = request.app[RUNTIME]
    days = _int_param(request, "days", 7, 1, 31)
    collapse = {name: s.thresholds.collapse for name, s in runtime.snapshot.platforms.items()}
    return web.json_response(await asyncio.to_thread(store.read_stats, runtime.writer.path, days, collapse))


async def original(request: web.Request) -> web.Response:
    """The original text of a post whose text Sourdine replaced (Facebook, YouTube...), from memory: the
    extension's "show anyway". Kept only while Sourdine runs, a bounded number of posts."""
    platform, post_id = request.match_info["platform"], request.match_info["post_id"]
    text = request.app[RUNTIME].engine.originals.get(platform, post_id)
    if text is None:
        raise ApiError(404, "not_found", "no folded text kept for that post")
    return web.json_response({"platform": platform, "id": post_id, "text": text})


async def feedback(request: web.Request) -> web.Response:
    """"This was fine" or "this was hostile", on one decision. "Fine" on a toxic connection's post offers to allow
    that author (the answer says so)."""
    runtime = request.app[RUNTIME]
    body = await json_body(request, {"feedback": str}, {"feedback"})
    if body["feedback"] not in ("fine", "hostile"):
        raise ApiError(400, "bad_field", "feedback is fine or hostile", {"field": "feedback"})
    platform, post_id = request.match_info["platform"], request.match_info["post_id"]
    found = await committed(request, lambda db: store.set_feedback(db, platform, post_id, body["feedback"]))
    if not found:
        raise ApiError(404, "not_found", "no decision on that post")
    row = await asyncio.to_thread(store.read_decision, runtime.writer.path, platform, post_id)
    offer = None
    if body["feedback"] == "fine" and row and (row["reason"] or "").startswith("toxic connection"):
        # Each part quoted whole: an author id may hold a "/" (the route's part then reads it back decoded).
        offer = {"path": f"/api/v1/connections/{quote(platform, safe='')}/{quote(row['author_id'], safe='')}",
                 "decision": "allow", "author_id": row["author_id"]}
    audit.info("%s: %s: feedback %s", who(request), _route(request), body["feedback"])
    return web.json_response({"feedback": body["feedback"], "offer": offer})


async def proxy_pac(request: web.Request) -> web.Response:
    """A proxy auto-config file: the enabled platforms' hosts go through Sourdine, everything else direct.

    The DIRECT fallback keeps pages working when Sourdine is not running. It holds no secret."""
    runtime = request.app[RUNTIME]
    hosts = request.query.get("hosts", "now")
    if hosts not in ("now", "all"):
        raise ApiError(400, "bad_param", "hosts: now or all", {"field": "hosts"})
    every = hosts == "all"
    return web.Response(text=render_pac(runtime, every), content_type="application/x-ns-proxy-autoconfig")


def render_pac(runtime: Runtime, every: bool = False) -> str:
    """The PAC of the moment; with `every`, one that routes every platform's hosts whatever is switched on and
    whatever the hour: what Firefox must be allowed to route before routing is turned on, as the PAC of the
    moment may list fewer hosts than a later one (a platform switched on, work hours starting)."""
    snapshot = runtime.snapshot
    if not every and snapshot.user.get("pac_direct_outside_hours") and not runtime.filtering()[0]:
        return ("// Sourdine: outside work hours, everything goes direct.\n"
                'function FindProxyForURL(url, host) {\n  return "DIRECT";\n}\n')
    enabled = {name for name, s in snapshot.platforms.items() if s.enabled or every}
    exact = sorted(h for h, p in snapshot.hosts.items() if p in enabled and not h.startswith("*."))
    suffixes = sorted(h[1:] for h, p in snapshot.hosts.items() if p in enabled and h.startswith("*."))
    proxy = f"PROXY {runtime.listen.proxy[0]}:{runtime.listen.proxy[1]}; DIRECT"
    return (
        "// Sourdine: send the feeds it filters through its proxy, everything else direct.\n"
        "function FindProxyForURL(url, host) {\n"
        "  host = host.toLowerCase();\n"
        f"  var hosts = {json.dumps(dict.fromkeys(exact, 1))};\n"
        f"  var suffixes = {json.dumps(suffixes)};\n"
        f"  if (hosts.hasOwnProperty(host)) return {json.dumps(proxy)};\n"
        "  for (var i = 0; i < suffixes.length; i++) {\n"
        f"    if (dnsDomainIs(host, suffixes[i])) return {json.dumps(proxy)};\n"
        "  }\n"
        '  return "DIRECT";\n'
        "}\n"
    )


async def score_text(request: web.Request) -> web.Response:
    from sourdine import scoring

    body = await json_body(request, {"text": str, "lang": (str, type(None))}, {"text"})
    return web.json_response(scoring.score(body["text"], body.get("lang")).to_dict())


async def new_code(request: web.Request) -> web.Response:
    """Issue a one-time pairing code (the CLI's `sourdine pair`)."""
    record, code = request.app[RUNTIME].codes.issue(time.time())
    audit.info("%s: %s: pairing code issued", who(request), _route(request))
    return web.json_response({"id": record.id, "code": code, "expires": record.expires}, status=201)


async def code_state(request: web.Request) -> web.Response:
    """Whether a code has paired yet, and with which origin (the CLI polls this)."""
    runtime = request.app[RUNTIME]
    record = runtime.codes.codes.get(request.match_info["id"])
    if record is None:
        raise ApiError(404, "not_found", "no such pairing code")
    client = next((c for c in runtime.clients.values() if c.id == record.client_id), None)
    now = time.time()
    state = "paired" if record.client_id else "open" if record.usable(now) else "spent"
    return web.json_response({"id": record.id, "state": state, "expires": record.expires,
                              "client": client.public() if client else None})


async def pair(request: web.Request) -> web.Response:
    """An extension trades a one-time code for its own token, bound to its origin."""
    runtime = request.app[RUNTIME]
    origin = request.headers.get("Origin", "")
    if not pairing.is_extension_origin(origin):
        raise ApiError(403, "bad_origin", "only a browser extension pairs, from its own origin")
    body = await json_body(request, {"code": str, "name": str}, {"code"})
    record = runtime.codes.redeem(body["code"], time.time())
    if record is None:
        await _slow_down(request, origin)
        raise ApiError(403, "bad_code", "this code is wrong, expired or already used")
    token = pairing.new_token()
    name = "".join(ch for ch in str(body.get("name") or "") if ch.isprintable())[:100] or "browser extension"
    client = Client(secrets.token_hex(8), name, origin, pairing.digest(token), time.time())
    # Spent now, before any await: the same code sent twice at once pairs once.
    record.client_id = client.id
    try:
        await committed(request, lambda db: store.add_client(db, client))
    except Exception:
        record.client_id = None
        raise
    runtime.clients[client.token_hash] = client
    audit.info("%s: %s: client %s paired", client.id, _route(request), client.id)
    return web.json_response({"token": token, "client": client.public()}, status=201)


async def list_clients(request: web.Request) -> web.Response:
    clients = sorted(request.app[RUNTIME].clients.values(), key=lambda c: c.created)
    return web.json_response({"clients": [c.public() for c in clients]})


async def revoke_client(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    client_id = request.match_info["id"]
    found = next((c for c in runtime.clients.values() if c.id == client_id), None)
    if found is None:
        raise ApiError(404, "not_found", "no such client")
    _still_authorised(request)  # a revoker revoked meanwhile revokes nothing
    # Out of the live table first: a request already past the guard with its token must not write after this.
    runtime.clients.pop(found.token_hash, None)
    try:
        # Not through `committed`, whose check would now refuse an extension that revokes itself ("Forget the
        # pairing"), and leave it paired: the check is done above, before the client left the table.
        await asyncio.wrap_future(runtime.writer.submit(lambda db: store.remove_client(db, client_id)))
    except Exception:
        runtime.clients[found.token_hash] = found
        raise
    audit.info("%s: %s: client %s revoked", who(request), _route(request), client_id)
    return web.json_response({"clients": [c.public() for c in runtime.clients.values()]})


_ENTRY_FIELDS: dict[str, type | tuple[type, ...]] = {
    name: object for name in ("kind", "platform", "handle", "id", "accounts", "text", "regex", "action", "expires",
                              "platforms", "note")}


def _list_name(request: web.Request) -> str:
    return "mute" if request.path.startswith("/api/v1/mutes") else "allow"


def list_state(runtime: Runtime, name: str, query: str = "") -> list[dict]:
    needle = query.casefold()
    out = []
    for key, entry in sorted(runtime.entries[name].items()):
        if needle and needle not in key.casefold() and needle not in entry.note.casefold():
            continue
        out.append({"key": key, **entry.to_dict(), "updated": runtime.stamps.get((name, key))})
    return out


async def get_list(request: web.Request) -> web.Response:
    """The mute list or the allow list (`?q=` searches keys and notes)."""
    name = _list_name(request)
    return web.json_response({f"{name}s" if name == "mute" else name: list_state(
        request.app[RUNTIME], name, request.query.get("q", ""))})


async def _write_entry(request: web.Request, name: str, key: str, entry: lists.Entry | None) -> None:
    """Store an entry (or its tombstone) with a fresh clock stamp, then make it live. Under the settings lock,
    so that parallel edits are stamped and applied in one order."""
    runtime = request.app[RUNTIME]
    async with request.app[SETTINGS_LOCK]:
        entries = {**runtime.entries[name]}
        if entry is None:
            entries.pop(key, None)
        else:
            entries[key] = entry
        # Compiled before anything is stored, off the event loop: a list RE2 cannot compile is refused, and
        # the proxy never waits on a compile.
        candidate = {**runtime.entries, name: entries}
        try:
            compiled = await asyncio.to_thread(
                lists.compile_lists, candidate["mute"].values(), candidate["allow"].values(), datetime.now(UTC))
        except ValueError as e:
            raise ApiError(400, "bad_entry", str(e)) from None
        stamp = runtime.clock.tick().encode()
        row = {"list": name, "key": key, "entry": entry.to_dict() if entry is not None else {}, "stamp": stamp,
               "device": runtime.clock.node, "deleted": int(entry is None)}
        await committed(request, lambda db: store.put_list_entry(db, row))
        runtime.stamps[(name, key)] = stamp
        runtime.entries[name] = entries
        runtime.engine.lists = compiled
        _edited(request)
    audit.info("%s: %s %s: %s %s", who(request), request.method, _route(request),
               "removed" if entry is None else "set", name)


async def add_entry(request: web.Request) -> web.Response:
    """Add (or replace) a mute or an allow-list entry: an account, a person's accounts, or a keyword."""
    name = _list_name(request)
    body = await json_body(request, _ENTRY_FIELDS, {"kind"})
    parse = lists.parse_mute if name == "mute" else lists.parse_allow
    now = datetime.now(UTC)
    try:
        # Dates and naive instants are in the user's own time zone, the one of their work hours.
        entry = parse(body, now, schedule.zone(request.app[RUNTIME].snapshot.schedule.timezone))
    except ValueError as e:
        raise ApiError(400, "bad_entry", str(e)) from None
    if entry.expires is not None and entry.expires <= now:
        raise ApiError(400, "bad_entry", "expires: this is already in the past", {"field": "expires"})
    await _write_entry(request, name, entry.key, entry)
    runtime = request.app[RUNTIME]
    return web.json_response({"key": entry.key, **entry.to_dict(), "updated": runtime.stamps[(name, entry.key)]},
                             status=201)


async def remove_entry(request: web.Request) -> web.Response:
    name = _list_name(request)
    key = request.match_info["key"]
    runtime = request.app[RUNTIME]
    if key not in runtime.entries[name]:
        raise ApiError(404, "not_found", f"no such {name} entry")
    await _write_entry(request, name, key, None)
    return web.json_response({f"{name}s" if name == "mute" else name: list_state(runtime, name)})


async def connections(request: web.Request) -> web.Response:
    """Toxic connections the user has not decided on, with their evidence: counts, typical reasons, when seen."""
    runtime = request.app[RUNTIME]
    book = runtime.engine.authors
    # "Muted" and "allowed" hold only while the list entry does: the lists below are the truth for those, so
    # an author whose mute or allow entry was removed is undecided again. A dismissal stands on its own.
    dismissed = {key: d for key, d in runtime.author_decisions.items() if d.kind == "dismissed"}
    found = book.suggestions(dismissed, time.time()) if book is not None else []
    own = runtime.engine.own  # the user's own accounts: their records go when learnt (Runtime.learn_own); a guard
    found = [s for s in found if s.author_id not in own.get(s.platform, ())]
    listed = runtime.engine.lists
    if listed is not None:
        # An account already on the allow list or the mute list is decided on: not a suggestion.
        now = datetime.now(UTC)
        found = [s for s in found if listed.check(
            Post("", s.author_id, s.handle, "", "", None), s.platform, now) == (None, None)]
    return web.json_response({"suggestions": [s.to_dict() for s in found]})


# The platforms whose posts name their author by a user name, which a toxic connection's mute or allow entry lists
# them by (Mastodon's ids differ from server to server: its handle always). On the others, a post names its author by
# a display name ("Jean Dupont" on Facebook and LinkedIn, a channel's name on YouTube), which many accounts share
# and which an account entry cannot hold when it has a space: those, and an author whose record has no handle,
# are listed by their id. X by its id too: a screen name changes, its id does not.
_LISTED_BY_HANDLE = frozenset({"mastodon", "bluesky", "reddit", "instagram", "threads"})


async def decide_connection(request: web.Request) -> web.Response:
    """Mute, allow or dismiss a suggested author. A dismissed author comes back only if they get worse."""
    runtime = request.app[RUNTIME]
    body = await json_body(request, {"decision": str, "action": str}, {"decision"})
    platform, author_id = request.match_info["platform"], request.match_info["author_id"]
    book = runtime.engine.authors
    record = book.get(platform, author_id) if book is not None else None
    if record is None:
        raise ApiError(404, "not_found", "Sourdine has no record of this author")
    decision = body["decision"]
    if "action" in body and (decision != "mute" or body["action"] not in lists.MUTE_ACTIONS):
        raise ApiError(400, "bad_field", f"action is one of {', '.join(lists.MUTE_ACTIONS)}, with decision mute only",
                       {"field": "action"})
    now = time.time()
    if decision == "dismiss":
        chosen = authors.dismissal(record, book.settings, now)
    elif decision in ("mute", "allow"):
        by_handle = platform in _LISTED_BY_HANDLE and (record.handle or platform == "mastodon")
        data: dict[str, object] = {"kind": "account", "platform": platform,
                                   "handle" if by_handle else "id": record.handle if by_handle else author_id,
                                   "note": "from a toxic-connection suggestion"}
        if decision == "mute":
            data["action"] = body.get("action", "collapse")
        try:
            entry = (lists.parse_mute if decision == "mute" else lists.parse_allow)(data, datetime.now(UTC))
        except ValueError as e:
            raise ApiError(400, "bad_entry", f"this account cannot be listed from its record ({e}); add it with "
                           "its full handle", {"field": "decision"}) from None
        await _write_entry(request, "mute" if decision == "mute" else "allow", entry.key, entry)
        chosen = authors.AuthorDecision("muted" if decision == "mute" else "allowed")
    else:
        raise ApiError(400, "bad_field", "decision is mute, allow or dismiss", {"field": "decision"})
    key = f"author:{platform}:{author_id}"
    async with request.app[SETTINGS_LOCK]:
        stamp = runtime.clock.tick().encode()
        row = {"list": "connection", "key": key, "stamp": stamp, "device": runtime.clock.node, "deleted": 0,
               "entry": {"kind": chosen.kind, "share": chosen.share, "hostile": chosen.hostile}}
        await committed(request, lambda db: store.put_list_entry(db, row))
        runtime.stamps[("connection", key)] = stamp
        runtime.author_decisions[(platform, author_id)] = chosen
        _edited(request)
    audit.info("%s: %s %s: %s", who(request), request.method, _route(request), chosen.kind)
    return await connections(request)


async def forget(request: web.Request) -> web.Response:
    """`sourdine forget`: remove an author's record and every decision about their posts."""
    runtime = request.app[RUNTIME]
    platform, author_id = request.match_info["platform"], request.match_info["author_id"]
    async with request.app[SETTINGS_LOCK]:
        _still_authorised(request)
        if runtime.engine.authors is not None:
            runtime.engine.authors.forget(platform, author_id)
        removed = await committed(request, lambda db: store.forget_author(db, platform, author_id))
    audit.info("%s: %s: an author was forgotten", who(request), _route(request))
    return web.json_response({"removed": removed})


async def purge(request: web.Request) -> web.Response:
    """`sourdine purge`: remove everything but settings, clients and lists."""
    runtime = request.app[RUNTIME]
    async with request.app[SETTINGS_LOCK]:
        _still_authorised(request)
        if runtime.engine.authors is not None:
            runtime.engine.authors.clear()
        removed = await committed(request, store.purge)
    audit.info("%s: %s: purged", who(request), _route(request))
    return web.json_response({"removed": removed})


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(openapi.document())


OPEN_ROUTES = frozenset({"/api/v1/pair", "/proxy.pac"})
RAW_BODY_ROUTES = frozenset({"/api/v1/import"})  # the file itself, any type, with its own size limit
CLI_ONLY = frozenset({"/api/v1/pair/codes", "/api/v1/pair/codes/{id}"})


def create_app(runtime: Runtime, backoff: tuple[float, float] = (0.1, 5.0)) -> web.Application:
    """The API app. `backoff` is the first wait after a failed authentication and the longest one, in seconds."""
    # Bodies are small JSON documents: 64 KB is plenty, and anything larger is refused with 413.
    app = web.Application(middlewares=[hardening, errors, guard], client_max_size=MAX_BODY)
    app[RUNTIME] = runtime
    app[BACKOFF] = OrderedDict()
    app[BACKOFF_STEPS] = backoff
    app[SETTINGS_LOCK] = asyncio.Lock()
    app[EDITED] = []
    app.router.add_get("/api/v1/status", status)
    app.router.add_get("/api/v1/settings", get_settings)
    app.router.add_patch("/api/v1/settings", patch_settings)
    app.router.add_get("/api/v1/schedule", get_schedule)
    app.router.add_put("/api/v1/schedule", put_schedule)
    app.router.add_post("/api/v1/schedule/windows", add_window)
    app.router.add_post("/api/v1/schedule/pause", pause_filtering)
    app.router.add_post("/api/v1/schedule/filter-until", filter_until)
    app.router.add_delete("/api/v1/schedule/overrides", clear_overrides)
    for path in ("/api/v1/mutes", "/api/v1/allow"):
        app.router.add_get(path, get_list)
        app.router.add_post(path, add_entry)
        app.router.add_delete(path + "/{key:.+}", remove_entry)
    app.router.add_get("/api/v1/connections", connections)
    app.router.add_post("/api/v1/connections/{platform}/{author_id}", decide_connection)
    app.router.add_delete("/api/v1/authors/{platform}/{author_id}", forget)
    app.router.add_post("/api/v1/purge", purge)
    app.router.add_get("/api/v1/decisions", decisions)
    app.router.add_post("/api/v1/decisions/{platform}/{post_id}/feedback", feedback)
    app.router.add_get("/api/v1/originals/{platform}/{post_id}", original)
    app.router.add_get("/api/v1/stats", stats)
    app.router.add_get("/proxy.pac", proxy_pac)
    app.router.add_get("/api/v1/openapi.json", openapi_json)
    app.router.add_post("/api/v1/score", score_text)
    app.router.add_post("/api/v1/pair", pair)
    app.router.add_post("/api/v1/pair/codes", new_code)
    app.router.add_get("/api/v1/pair/codes/{id}", code_state)
    app.router.add_get("/api/v1/clients", list_clients)
    app.router.add_delete("/api/v1/clients/{id}", revoke_client)
    from sourdine import api_sync  # import and export, peers and sync (issue 7); it imports this module

    api_sync.add_routes(app)
    return app
