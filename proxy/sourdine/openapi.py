"""The OpenAPI 3.1 document of the local API. Written by hand, next to the routes; a test fails when a route is
missing from it, and schemathesis checks the live API against it."""

from __future__ import annotations

from typing import Any

from sourdine import __version__
from sourdine.platforms import ADAPTERS

_NUM = {"type": "number"}
_INT = {"type": "integer"}
_STR = {"type": "string"}
_OPT_NUM = {"type": ["number", "null"]}
_HOST = r"^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?)+$"


def _obj(properties: dict[str, Any], required: list[str] | None = None, closed: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties,
                              "required": list(properties) if required is None else required}
    if closed:
        schema["additionalProperties"] = False
    return schema


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERROR = _json(_ref("Error"), "An error, always in the same shape.")

SCHEMAS: dict[str, Any] = {
    "Error": _obj({"error": _obj({"code": _STR, "message": _STR, "details": {}})}),
    "Address": _obj({"host": _STR, "port": _INT}),
    "PlatformState": _obj({"enabled": {"type": "boolean"}, "collapse": _NUM, "hide": _NUM,
                           "toxic": {"enum": ["collapse", "hide", "keep"]}, "inbox": {"type": "boolean"}}),
    "Health": _obj({"responses": _INT, "posts": _INT, "last_ok": _OPT_NUM, "failures": _INT,
                    "last_failure": _OPT_NUM, "overruns": _INT}),
    "Cache": _obj({"size": _INT, "bound": {"type": ["integer", "null"]}}),
    "Status": _obj({
        "version": _STR,
        "proxy": _ref("Address"),
        "api": _ref("Address"),
        "platforms": {"type": "object", "additionalProperties": _ref("PlatformState")},
        "mastodon_instances": {"type": "array", "items": _STR},
        "counts": _obj({"seen": _INT, "collapsed": _INT, "hidden": _INT}),
        "errors": _INT,
        "overruns": _INT,
        "caches": {"type": "object", "additionalProperties": _ref("Cache")},
        "health": {"type": "object", "additionalProperties": _ref("Health")},
        "filtering": _obj({"active": {"type": "boolean"}, "until": {"type": ["string", "null"]}}),
        "native": _STR,
    }),
    "Global": _obj({"pac_direct_outside_hours": {"type": "boolean"}, "keep_excerpts": {"type": "boolean"},
                    "decisions_retention_days": {"type": "integer", "minimum": 1, "maximum": 3650},
                    "flag_allowed": {"type": "boolean"}}, required=[]),
    "Toxicity": _obj({"min_posts": _INT, "share": _NUM, "window_days": _NUM, "retention_days": _NUM},
                     required=[]),
    "Settings": _obj({
        "platforms": {"type": "object", "additionalProperties": _ref("PlatformState")},
        "mastodon_instances": {"type": "array", "items": _STR},
        "global": _ref("Global"),
        "toxicity": _ref("Toxicity"),
    }),
    "SettingsPatch": _obj({
        "platforms": {"type": "object", "propertyNames": {"enum": sorted(ADAPTERS)}, "additionalProperties": _obj(
            {"enabled": {"type": "boolean"}, "collapse": {"type": "number", "minimum": 0, "maximum": 1},
             "hide": {"type": "number", "minimum": 0, "maximum": 1},
             "toxic": {"enum": ["collapse", "hide", "keep"]}, "inbox": {"type": "boolean"}}, required=[])},
        "mastodon_instances": {"type": "array", "items": {
            "type": "string", "pattern": _HOST}},
        "global": _ref("Global"),
        "toxicity": _ref("Toxicity"),
    }, required=[]),
    "Window": _obj({"days": {"type": "array", "items": {"enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]},
                             "uniqueItems": True},
                    "start": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"},
                    "end": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}}),
    "Override": _obj({"kind": {"enum": ["pause", "filter"]}, "until": _STR, "since": _STR},
                     required=["kind", "until"]),
    "Schedule": _obj({"timezone": _STR, "windows": {"type": "array", "items": _ref("Window")},
                      "overrides": {"type": "array", "items": _ref("Override")}}, required=["timezone", "windows"]),
    "ScheduleState": _obj({"schedule": _ref("Schedule"), "active": {"type": "boolean"},
                           "until": {"type": ["string", "null"]}}),
    "Pause": _obj({"minutes": {"type": "integer", "minimum": 1, "maximum": 10080}}),
    "FilterUntil": _obj({"until": _STR}),
    "ListEntryIn": {"type": "object", "required": ["kind"], "properties": {
        "kind": {"enum": ["account", "person", "keyword"]}, "platform": _STR, "handle": _STR, "id": _STR,
        "accounts": {"type": "array", "items": {"type": "object"}}, "text": _STR, "regex": {"type": "boolean"},
        "action": {"enum": ["collapse", "hide"]}, "expires": _STR, "platforms": {"type": "array", "items": _STR},
        "note": _STR}, "additionalProperties": False},
    "ListEntry": {"type": "object", "required": ["key", "kind", "updated"], "properties": {
        "key": _STR, "kind": {"enum": ["account", "person", "keyword"]}, "updated": _STR}},
    "Mutes": _obj({"mutes": {"type": "array", "items": _ref("ListEntry")}}),
    "Allow": _obj({"allow": {"type": "array", "items": _ref("ListEntry")}}),
    "Suggestions": _obj({"suggestions": {"type": "array", "items": {"type": "object", "required": [
        "platform", "author_id", "evidence"]}}}),
    "Decide": _obj({"decision": {"enum": ["mute", "allow", "dismiss"]}, "action": {"enum": ["collapse", "hide"]}},
                   required=["decision"]),
    "Feedback": _obj({"feedback": {"enum": ["fine", "hostile"]}}),
    "ScoreRequest": _obj({"text": _STR, "lang": {"type": ["string", "null"]}}, required=["text"]),
    "Score": _obj({"lang": _STR, "negativity": _NUM, "outrage": _NUM, "score": _NUM,
                   "scored": {"type": "boolean"}, "reasons": {"type": "array", "items": _STR}}),
    "Decision": _obj({
        "platform": _STR, "post_id": _STR, "author_id": {"type": ["string", "null"]},
        "author": {"type": ["string", "null"]}, "lang": {"type": ["string", "null"]},
        "negativity": _OPT_NUM, "outrage": _OPT_NUM, "score": _OPT_NUM,
        "action": {"enum": ["keep", "collapse", "hide"]},
        "reason": {"type": ["string", "null"], "description": (
            "Why, for a person: the dimension that drove the score and the score compared with the threshold "
            "(\"outrage, score 0.82\"; \"outrage 0.82\" in decisions an older Sourdine recorded), or the rule "
            "that applied (\"muted: keyword:honte\", \"toxic connection: 7 of 12 recent posts hostile\", "
            "\"allowed: ...\").")},
        "first_seen": _NUM, "last_changed": _NUM, "feedback": {"enum": ["fine", "hostile", None]},
        "excerpt": {"type": ["string", "null"]},
        "url": {"type": ["string", "null"], "description": "The post's web page, when it can be told."},
    }),
    "Decisions": _obj({"decisions": {"type": "array", "items": _ref("Decision")}}),
    "Count": _obj({"platform": _STR, "seen": _INT, "collapsed": _INT, "hidden": _INT}, closed=False),
    "Stats": _obj({
        "days": _INT,
        "exposure": _obj({"today": _obj({"reached": _INT, "kept_away": _INT}),
                          "week": _obj({"reached": _INT, "kept_away": _INT}),
                          "by_day": {"type": "array", "items": _obj({"day": _STR, "reached": _INT,
                                                                     "kept_away": _INT})}}),
        "feedback": _obj({"fine": _INT, "hostile": _INT}),
        "by_reason": {"type": "array", "items": _obj({"day": _STR, "hour": _INT, "platform": _STR, "action": _STR,
                                                      "reason": {"type": "string", "description": (
                                                          "The reason without its figure: outrage, negativity, "
                                                          "muted, toxic connection, allowed.")},
                                                      "posts": _INT})},
        "by_day": {"type": "array", "items": {"allOf": [_ref("Count"), {"required": ["day"],
                                                                        "properties": {"day": _STR}}]}},
        "by_hour_today": {"type": "array", "items": {"allOf": [_ref("Count"), {"required": ["hour"],
                                                                               "properties": {"hour": _INT}}]}},
    }),
    "Client": _obj({"id": _STR, "name": _STR, "origin": _STR, "created": _NUM, "last_seen": _OPT_NUM}),
    "Clients": _obj({"clients": {"type": "array", "items": _ref("Client")}}),
    "PairRequest": _obj({"code": _STR, "name": _STR}, required=["code"]),
    "Paired": _obj({"token": _STR, "client": _ref("Client")}),
    "ImportReport": _obj({"imported": _INT, "unchanged": _INT, "duplicates": _INT,
                          "errors": {"type": "array", "items": _obj({"line": _INT, "error": _STR})},
                          "warnings": {"type": "array", "items": _obj({"line": _INT, "warning": _STR})}}),
    "Peer": _obj({"id": _STR, "name": _STR, "address": {"type": ["string", "null"]}, "fingerprint": _STR,
                  "created": _NUM, "last_seen": _OPT_NUM, "last_error": {"type": ["string", "null"]}}),
    "Peers": _obj({"listening": {"type": ["string", "null"]}, "paused": {"type": "boolean"},
                   "peers": {"type": "array", "items": _ref("Peer")}}),
    "PeerAccept": _obj({"code": _STR, "address": _STR}, required=["code"]),
    "SyncRequest": _obj({"pause": {"type": "boolean"}}, required=[]),
    "SyncResult": _obj({"paused": {"type": "boolean"}, "peers": {"type": "array", "items": {
        "type": "object", "required": ["id", "name", "ok"]}}}),
    "CodeIssued": _obj({"id": _STR, "code": _STR, "expires": _NUM}),
    "CodeState": _obj({"id": _STR, "state": {"enum": ["open", "paired", "spent"]}, "expires": _NUM,
                       "client": {"oneOf": [_ref("Client"), {"type": "null"}]}}),
}


def _op(summary: str, ok: dict[str, Any], code: str = "200", *, body: str | None = None,
        params: list[dict[str, Any]] | None = None, public: bool = False) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {code: ok, "default": _ERROR}}
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    if params:
        op["parameters"] = params
    if public:
        op["security"] = []
    return op


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


_ID = [{"name": "id", "in": "path", "required": True, "schema": _STR}]

PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/status": {"get": _op("Whether Sourdine runs, where, its counts and each adapter's health.",
                                  _json(_ref("Status"), "The status."))},
    "/api/v1/settings": {
        "get": _op("The settings.", _json(_ref("Settings"), "The settings.")),
        "patch": _op("Change some settings; they apply to the next flow and are stored first.",
                     _json(_ref("Settings"), "The new settings."), body="SettingsPatch"),
    },
    "/api/v1/schedule": {
        "get": _op("The work hours, and whether Sourdine filters now and until when.",
                   _json(_ref("ScheduleState"), "The schedule.")),
        "put": _op("Replace the time zone and weekly windows (and the overrides, when given).",
                   _json(_ref("ScheduleState"), "The new schedule."), body="Schedule"),
    },
    "/api/v1/schedule/windows": {"post": _op("Add one weekly window.", _json(_ref("ScheduleState"),
                                                                          "The new schedule."), body="Window")},
    "/api/v1/schedule/pause": {"post": _op("Pause filtering for some minutes.",
                                           _json(_ref("ScheduleState"), "The new schedule."), body="Pause")},
    "/api/v1/schedule/filter-until": {"post": _op("Filter now until a local time (HH:MM) or an instant.",
                                                  _json(_ref("ScheduleState"), "The new schedule."),
                                                  body="FilterUntil")},
    "/api/v1/schedule/overrides": {"delete": _op("Drop the pause or filter-until: back to the weekly windows.",
                                                 _json(_ref("ScheduleState"), "The new schedule."))},
    "/api/v1/mutes": {
        "get": _op("The mute list (`?q=` searches keys and notes).", _json(_ref("Mutes"), "The mutes."),
                   params=[_query("q", _STR, "Search in keys and notes.")]),
        "post": _op("Mute an account, a person's accounts or a keyword (replaces an entry with the same key).",
                    _json(_ref("ListEntry"), "The entry as stored."), "201", body="ListEntryIn"),
    },
    "/api/v1/mutes/{key}": {"delete": _op("Remove a mute.", _json(_ref("Mutes"), "The mutes left."), params=[
        {"name": "key", "in": "path", "required": True, "schema": _STR}])},
    "/api/v1/allow": {
        "get": _op("The allow list (`?q=` searches keys and notes).", _json(_ref("Allow"), "The allow list."),
                   params=[_query("q", _STR, "Search in keys and notes.")]),
        "post": _op("Allow an account, a person's accounts or a keyword: never filtered.",
                    _json(_ref("ListEntry"), "The entry as stored."), "201", body="ListEntryIn"),
    },
    "/api/v1/allow/{key}": {"delete": _op("Remove an allow-list entry.", _json(_ref("Allow"), "The list left."),
                                          params=[{"name": "key", "in": "path", "required": True,
                                                   "schema": _STR}])},
    "/api/v1/connections": {"get": _op(
        "Toxic connections not decided on yet, with their evidence.", _json(_ref("Suggestions"), "Suggestions."))},
    "/api/v1/connections/{platform}/{author_id}": {"post": _op(
        "Mute, allow or dismiss a suggested author.", _json(_ref("Suggestions"), "The suggestions left."),
        body="Decide", params=[{"name": "platform", "in": "path", "required": True, "schema": _STR},
                               {"name": "author_id", "in": "path", "required": True, "schema": _STR}])},
    "/api/v1/authors/{platform}/{author_id}": {"delete": _op(
        "Forget an author: their record and every decision about their posts.",
        _json(_obj({"removed": _INT}), "How many rows went."),
        params=[{"name": "platform", "in": "path", "required": True, "schema": _STR},
                {"name": "author_id", "in": "path", "required": True, "schema": _STR}])},
    "/api/v1/purge": {"post": _op("Remove everything but settings, clients and lists.",
                                  _json(_obj({"removed": _INT}), "How many rows went."))},
    "/api/v1/decisions": {"get": _op(
        "The latest decisions, newest first; never the post's text.", _json(_ref("Decisions"), "Decisions."),
        params=[_query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "At most this many."),
                _query("action", _STR, "Comma-separated: keep, collapse, hide, flagged (allowed posts that would have "
                       "been filtered; default collapse,hide,flagged)."),
                _query("platform", _STR, "Only this platform."),
                _query("before", _NUM, "Only decisions changed before this time (seconds), for paging.")])},
    "/api/v1/decisions/{platform}/{post_id}/feedback": {"post": _op(
        '"This was fine" or "this was hostile" on one decision; "fine" on a toxic connection offers to allow them.',
        _json(_obj({"feedback": {"enum": ["fine", "hostile"]}, "offer": {
            "type": ["object", "null"], "required": ["path", "decision", "author_id"],
            "properties": {"path": _STR, "decision": {"enum": ["allow"]}, "author_id": _STR}}}), "Stored."),
        body="Feedback", params=[{"name": "platform", "in": "path", "required": True, "schema": _STR},
                                 {"name": "post_id", "in": "path", "required": True, "schema": _STR}])},
    "/api/v1/originals/{platform}/{post_id}": {"get": _op(
        "The original text of a post folded by replacing its text, kept in memory only: the extension reveals it.",
        _json(_obj({"platform": _STR, "id": _STR, "text": _STR}), "The original text."),
        params=[{"name": "platform", "in": "path", "required": True, "schema": _STR},
                {"name": "post_id", "in": "path", "required": True, "schema": _STR}])},
    "/api/v1/stats": {"get": _op(
        "Posts seen, folded and hidden per platform, per day and per hour today.", _json(_ref("Stats"), "Stats."),
        params=[_query("days", {"type": "integer", "minimum": 1, "maximum": 31}, "How many days (default 7).")])},
    "/api/v1/score": {"post": _op("Score a text.", _json(_ref("Score"), "The scores."), body="ScoreRequest")},
    "/api/v1/pair": {"post": _op(
        "An extension trades a one-time code for its token, from its own extension origin; no token.",
        _json(_ref("Paired"), "Paired."), "201", body="PairRequest", public=True)},
    "/api/v1/pair/codes": {"post": _op("Issue a one-time pairing code (local token only).",
                                       _json(_ref("CodeIssued"), "The code, shown once."), "201")},
    "/api/v1/pair/codes/{id}": {"get": _op("Whether a pairing code has paired (local token only).",
                                           _json(_ref("CodeState"), "Its state."), params=_ID)},
    "/api/v1/clients": {"get": _op("The paired extensions.", _json(_ref("Clients"), "The clients."))},
    "/api/v1/clients/{id}": {"delete": _op("Revoke a paired extension.",
                                           _json(_ref("Clients"), "The clients left."), params=_ID)},
    "/api/v1/export": {"get": _op(
        "The mute list or the allow list as a file: Sourdine's JSON, Mastodon's CSV or Bluesky's muted words and "
        "list subjects.",
        {"description": "The file (X-Sourdine-Skipped: how many entries the format cannot hold).", "content": {
            "application/json": {"schema": {"type": "object"}}, "text/csv": {"schema": _STR}}},
        params=[_query("format", {"enum": ["sourdine", "mastodon-csv", "bluesky"]}, "The file's format."),
                _query("list", {"enum": ["mutes", "allow"]}, "Which list.")])},
    "/api/v1/import": {"post": {
        **_op("Entries from a file (the raw file as the body, 20 MB at most) into a list: a malformed row is "
              "reported with its line and the rest goes in. Each row is counted once: imported, unchanged, a "
              "duplicate (a later row names the same entry, and wins) or an error.",
              _json(_ref("ImportReport"), "What went in."),
              params=[_query("format", {"enum": ["sourdine", "mastodon-csv", "mastodon-blocks-csv", "bluesky"]},
                             "The file's format."),
                      _query("list", {"enum": ["mutes", "allow"]}, "Which list.")]),
        "requestBody": {"required": True, "content": {
            "text/csv": {"schema": _STR}, "application/json": {"schema": {"type": "object"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}},
    "/api/v1/peers": {"get": _op("The paired devices, where this one listens for them, whether sync is paused "
                                 "(local token only).", _json(_ref("Peers"), "The peers."))},
    "/api/v1/peers/codes": {"post": _op("A one-time peer code for `sourdine peers accept` (local token only).",
                                        _json(_obj({"code": _STR, "expires": _NUM}), "The code, shown once."),
                                        "201")},
    "/api/v1/peers/accept": {"post": _op("Pair with the device that printed the code (local token only).",
                                         _json(_obj({"peer": _ref("Peer")}), "The new peer."), "201",
                                         body="PeerAccept")},
    "/api/v1/peers/{id}": {"delete": _op("Forget a peer (local token only).",
                                         _json(_obj({"peers": {"type": "array", "items": _ref("Peer")}}),
                                               "The peers left."), params=_ID)},
    "/api/v1/sync": {"post": _op("Sync with every peer now, or pause or resume syncing (local token only).",
                                 _json(_ref("SyncResult"), "One result per peer."), body="SyncRequest")},
    "/api/v1/openapi.json": {"get": _op("This document.", {"description": "OpenAPI 3.1.",
                                                           "content": {"application/json": {"schema": {
                                                               "type": "object"}}}})},
    "/proxy.pac": {"get": _op("Proxy auto-configuration for the browser; no token.",
                              {"description": "A PAC file.", "content": {"application/x-ns-proxy-autoconfig": {
                                  "schema": _STR}}}, public=True,
                              params=[_query("hosts", {"enum": ["now", "all"], "default": "now"},
                                             "now: the hosts routed at this moment; all: every platform's hosts, "
                                             "switched on or not, at any hour (what Firefox must be allowed to "
                                             "route)")])},
}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Sourdine local API", "version": __version__,
                 "description": "Steers Sourdine from its browser extension, its CLI and your scripts. Listens on "
                                "127.0.0.1 only; see the README for the checks every request goes through."},
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
