"""The mitmproxy addon: the only place that touches flows.

`sourdine run` builds it around a shared Runtime. Loaded on its own (`mitmdump -s .../sourdine/addon.py`),
it builds its own runtime from the `sourdine_home` option.

Fail open: any error while matching, decoding, parsing, scoring or rewriting leaves the response exactly as the
platform sent it. Logs name the platform and the endpoint, never the path, the query or any post text.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import socket
import time
import traceback
from urllib.parse import unquote, urlsplit

import orjson
from mitmproxy import ctx, exceptions, http, tcp, udp

from sourdine import budget, codec, settings
from sourdine.budget import Overrun
from sourdine.runtime import Runtime
from sourdine.settings import is_loopback

logger = logging.getLogger(__name__)

# Headers that describe the body as it came from the platform and would lie about a rewritten one. Last-Modified
# and Accept-Ranges too: a cache holding the rewrite could ask the platform for a range of it (If-Range: that date)
# and join the platform's bytes to Sourdine's.
_STALE_HEADERS = ("content-encoding", "etag", "last-modified", "accept-ranges", "content-md5", "digest",
                  "content-digest", "repr-digest")
_INSTANCE_PATHS = ("/api/v1/instance", "/api/v2/instance")
# Where each platform's web app asks who is signed in: the answer names the user's own account.
_WHOAMI = {
    "mastodon": ("/api/v1/accounts/verify_credentials",),
    "bluesky": ("/xrpc/com.atproto.server.getSession",),
}
# Web apps that name the signed-in account's numeric id in a cookie sent with every feed request.
_ID_COOKIES = {"facebook": "c_user", "instagram": "ds_user_id"}
_UTF8 = ("", "utf-8", "utf8", "us-ascii")  # the charsets Sourdine reads and writes a body in ("": none said)
_PARAMETER = re.compile(r''';\s*([^\s;=]+)\s*=\s*("(?:[^"\\]|\\.)*"?|[^;]*)''')  # a Content-Type's parameter
_REFUSED = b'{"error": {"code": "via_proxy", "message": "Sourdine\'s own ports are not reachable through its proxy"}}'
# Learned streaming hosts are capped, so a misbehaving instance cannot grow the decrypted set without bound.
_MAX_STREAMING_HOSTS = 64


def _path(flow: http.HTTPFlow) -> str:
    return flow.request.path.split("?", 1)[0]


def _free_later(objects: list, enable_gc: bool) -> None:
    """Free a parsed feed once the response is on its way, then let the cycle collector back in: a large feed is
    tens of thousands of objects, which take a millisecond or two to free (an X home timeline: 1.7 ms), and the
    browser need not wait for that. The collector stays out until then, or it would walk the whole feed."""

    def release() -> None:
        objects.clear()
        if enable_gc:
            gc.enable()

    try:
        asyncio.get_running_loop().call_soon(release)
    except RuntimeError:  # no event loop (a direct call): now
        release()


def initial_state(page: bytes) -> bytes | None:
    """The content of a Mastodon page's `<script id="initial-state" ...>`, found with a few `find`s: a regex took
    time with the square of the page's size on a page of such tags left open (a review: 2.5 s for 108 KB), on the
    event loop, and one with bounded attributes still 1 s a MB on a page of `<script `."""
    at = page.find(b' id="initial-state"')
    start = page.rfind(b"<script", 0, at) if at >= 0 else -1
    if start < 0 or page.find(b">", start, at) >= 0:
        return None
    opened = page.find(b">", at)
    end = page.find(b"</script>", opened) if opened >= 0 else -1
    return page[opened + 1:end] if end >= 0 else None


def _charset_at(content_type: str) -> tuple[str, int, int]:
    """The charset a Content-Type names, lower case, without quotes ("" for none), and where its value is. The
    first charset parameter counts, as browsers read it (WHATWG MIME Sniffing), and a quoted value of another
    parameter is skipped whole, semicolons and all."""
    for match in _PARAMETER.finditer(content_type):
        if match[1].lower() == "charset":
            return match[2].strip().strip("\"'").lower(), match.start(2), match.end(2)
    return "", -1, -1


def _charset(content_type: str) -> str:
    return _charset_at(content_type)[0]


def _accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header takes gzip: named (or as `x-gzip`, the same coding: RFC 9110, 8.4.1.3),
    and not with a quality of 0 ("gzip;q=0" refuses it)."""
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        if coding.strip().lower() not in ("gzip", "x-gzip"):
            continue
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    return float(value) > 0
                except ValueError:
                    return False
        return True
    return False


def _safe_traceback(e: BaseException) -> str:
    """Where an error happened, without its message: messages can carry post text."""
    return "".join(traceback.format_tb(e.__traceback__)) + type(e).__name__


def streaming_host(doc: object) -> str | None:
    """The host of a Mastodon instance's streaming API, from its /api/v1 or /api/v2 instance document."""
    if not isinstance(doc, dict):
        return None
    url = (doc.get("urls") or {}).get("streaming_api") if isinstance(doc.get("urls"), dict) else None
    conf = doc.get("configuration")
    if url is None and isinstance(conf, dict) and isinstance(conf.get("urls"), dict):
        url = conf["urls"].get("streaming")
    if not isinstance(url, str) or not url:
        return None
    try:
        return settings.normalise_host(urlsplit(url).hostname or "")
    except ValueError:
        return None


# mitmproxy's connection handler logs, at INFO, the raw bytes of a request head it could not read (cookies, tokens),
# of a malformed request line (a handle, a query) and of data a server sent after its response (post text): a
# record's text is cut where a bytes literal starts. Every layer logs through that one logger.
_PROXY_LOGGER = "mitmproxy.proxy.server"
_BYTES_LITERAL = re.compile(r"""(?<![\w'"])b['"]""")


class _NoRawBytes(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not format: left to logging, which reports it
            return True
        found = _BYTES_LITERAL.search(message)
        if found is not None:
            record.msg, record.args = message[:found.start()] + "(the bytes are not logged)", ()
        return True


_NO_RAW_BYTES = _NoRawBytes()


class Sourdine:
    def __init__(self, runtime: Runtime | None = None) -> None:
        self.runtime = runtime
        self._standalone = runtime is None
        self._saver: asyncio.Task | None = None

    def load(self, loader) -> None:
        logging.getLogger(_PROXY_LOGGER).addFilter(_NO_RAW_BYTES)  # once: a filter is added only if it is not there
        loader.add_option(
            "sourdine_home", str, "",
            "Sourdine's home directory, holding its database and token. Empty means $SOURDINE_HOME, or else "
            "the user's data directory. Used only when the addon is loaded with mitmdump -s.",
        )
        loader.add_option(
            "sourdine_max_body", int, codec.DEFAULT_LIMIT,
            "The largest feed body, in bytes after decompression, that Sourdine reads. A larger one passes "
            "through unchanged.",
        )
        loader.add_option(
            "sourdine_budget_ms", int, budget.DEFAULT_MS,
            "The most time, in milliseconds, that Sourdine spends filtering one response or streaming message. "
            "One that would take longer goes out unchanged, and the overrun is counted in the status.",
        )

    def configure(self, updated: set[str]) -> None:
        if "sourdine_max_body" in updated and ctx.options.sourdine_max_body <= 0:
            raise exceptions.OptionsError("sourdine_max_body must be a positive number of bytes")
        if "sourdine_budget_ms" in updated and ctx.options.sourdine_budget_ms <= 0:
            raise exceptions.OptionsError("sourdine_budget_ms must be a positive number of milliseconds")
        if self._standalone and "sourdine_home" in updated and self.runtime is None:
            from sourdine import home, store

            try:
                where = home.ensure(home.resolve(ctx.options.sourdine_home or None))
                db = store.open_db(home.db_path(where))
                user = store.load_settings(db)
                clients, list_rows = store.load_clients(db), store.load_lists(db)
                author_rows = store.iter_authors(home.db_path(where))
                db.close()
                self.runtime = Runtime.create(where, home.token(where), user, store.Writer(home.db_path(where)),
                                              clients, author_rows, list_rows, user.get("device_id", "mitmdump"))
            except (OSError, ValueError) as e:
                raise exceptions.OptionsError(f"Sourdine cannot use its home directory: {e}") from e

    def running(self) -> None:
        if self._standalone and self.runtime is not None:
            # Requests carry cookies, tokens and handles: mitmdump must not print flows.
            if "flow_detail" in ctx.options:
                ctx.options.update(flow_detail=0)
            self.runtime.writer.start()
            self._saver = asyncio.get_running_loop().create_task(self.runtime.save_authors_forever())
            if not ctx.options.allow_hosts and not ctx.options.ignore_hosts:
                ctx.options.update(allow_hosts=self.runtime.snapshot.allow_hosts())
                self.runtime.on_change.append(lambda s: ctx.options.update(allow_hosts=s.allow_hosts()))

    def done(self) -> None:
        if self._standalone and self.runtime is not None:
            if self._saver is not None:
                self._saver.cancel()
            self.runtime.save_authors(time.time())
            self.runtime.writer.close()

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if self.runtime is None:
            return
        if self._to_self(flow.request.host, flow.request.port):
            flow.response = http.Response.make(403, _REFUSED, {"content-type": "application/json"})
            logger.info("refused via_proxy: a request to Sourdine's own port")
            return
        try:
            path = _path(flow)
            snapshot = self.runtime.snapshot
            # Outside work hours (or paused), feeds pass through untouched.
            route = snapshot.route(flow.request.scheme, flow.request.host, path) if self.runtime.filtering()[0] \
                else None
            if route is None:
                if (
                    path in _INSTANCE_PATHS
                    and flow.request.scheme == "https"
                    and snapshot.platform_of(flow.request.host) == "mastodon"
                    and flow.request.host.lower() not in snapshot.mastodon_streaming_hosts
                ):
                    flow.metadata["sourdine"] = {"platform": "mastodon", "endpoint": "instance",
                                                 "host": flow.request.host.lower()}
                    return
                platform = snapshot.platform_of(flow.request.host)
                if platform is not None and path in _WHOAMI.get(platform, ()):
                    flow.metadata["sourdine"] = {"platform": platform, "endpoint": "whoami"}
                elif platform == "mastodon" and flow.request.method == "GET" and not path.startswith("/api/"):
                    # Mastodon's web app is told who is signed in by its page, not by an API call.
                    flow.metadata["sourdine"] = {"platform": platform, "endpoint": "page"}
                return
            platform, endpoint = route
            flow.metadata["sourdine"] = {"platform": platform, "endpoint": endpoint}
            if platform == "x":
                # X names the signed-in account in its twid cookie ("u=<id>", URL-encoded).
                twid = unquote(flow.request.cookies.get("twid", ""))
                if twid.startswith("u=") and twid[2:].isdigit():
                    self._learn_own("x", twid[2:])
            elif platform in _ID_COOKIES:
                own = flow.request.cookies.get(_ID_COOKIES[platform], "")
                if own.isascii() and own.isdigit():
                    self._learn_own(platform, own)
            if endpoint != "streaming" and _accepts_gzip(flow.request.headers.get("accept-encoding", "")):
                # Never make mitmproxy re-encode brotli while the browser waits: gzip decodes fast, and a
                # rewritten body goes to the local browser uncompressed.
                flow.request.headers["accept-encoding"] = "gzip"
        except Exception as e:
            flow.metadata.pop("sourdine", None)
            logger.warning("sourdine: request matching failed (%s); flow left alone", type(e).__name__)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        """Under `sourdine run`, a response Sourdine will not read goes to the browser as it comes. mitmproxy holds
        a body until its end otherwise, and an event stream (Server-Sent Events) of unknown length never ends: the
        page saw no live update. Loaded into one's own mitmproxy, Sourdine leaves that to its other addons."""
        response = flow.response
        if self._standalone or response is None or response.stream or response.status_code == 101:
            return
        meta = flow.metadata.get("sourdine")
        content_type = response.headers.get("content-type", "").lower()  # media types are case-insensitive
        # A Mastodon web app's request that is not for an API is read only for a page's signed-in account (the
        # scripts, styles and images of the app go as they come).
        if meta is None or "text/event-stream" in content_type or meta["endpoint"] == "page" and (
                "html" not in content_type):
            response.stream = True

    def _own_ports(self) -> set[int]:
        listen = self.runtime.listen if self.runtime is not None else None
        return {listen.api[1], listen.proxy[1], listen.sync[1]} - {0} if listen is not None else set()

    def _to_self(self, host: str, port: int) -> bool:
        """Whether a destination is Sourdine's own API, proxy or sync port on this machine.

        The API is for the extension and local tools, the sync listener for paired devices: nothing reaches them
        through the proxy, neither as a proxied request nor through a CONNECT tunnel (mitmproxy's CVE-2025-23217
        was its own loopback API reachable this way).
        """
        return port in self._own_ports() and is_loopback(host)

    def http_connect(self, flow: http.HTTPFlow) -> None:
        if self._to_self(flow.request.host, flow.request.port):
            flow.response = http.Response.make(403, _REFUSED, {"content-type": "application/json"})
            logger.info("refused via_proxy: a tunnel to Sourdine's own port")

    async def server_connect(self, data) -> None:
        """The last line of defence, for every upstream connection, tunnels passed through unread included.

        A name that resolves to this machine (a hosts-file entry, localtest.me, *.nip.io) is as dangerous as
        127.0.0.1 itself, so on Sourdine's own ports the name is resolved here, and the connection is pinned to
        the address that was checked (DNS cannot change its answer between the check and the connect)."""
        address = data.server.address
        if not address or self.runtime is None:
            return
        host, port = str(address[0]), int(address[1])
        if port not in self._own_ports():
            return
        if is_loopback(host):
            self._refuse_connect(data)
            return
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):  # UnicodeError: a name IDNA cannot encode (a lone surrogate)
            return  # mitmproxy's own connect will fail the same way
        addresses = [info[4][0] for info in infos]
        if any(is_loopback(a) for a in addresses):
            self._refuse_connect(data)
        elif addresses:
            data.server.address = (addresses[0], port)

    @staticmethod
    def _refuse_connect(data) -> None:
        data.server.error = "Sourdine's own ports are not reachable through its proxy"
        logger.info("refused via_proxy: an upstream connection to Sourdine's own port")

    def response(self, flow: http.HTTPFlow) -> None:
        meta = flow.metadata.get("sourdine")
        if not meta or self.runtime is None or flow.response is None or flow.error:
            return
        response = flow.response
        if response.status_code != 200 or not response.raw_content:
            return
        if meta["endpoint"] == "page" and meta["platform"] == "mastodon":
            self._learn_own_from_page(response)
            return
        runtime = self.runtime
        content_type = response.headers.get("content-type", "json")
        adapter = runtime.engine.adapters.get(meta["platform"])
        kinds = getattr(adapter, "ENDPOINT_CONTENT_TYPES", {}).get(meta["endpoint"])
        media = content_type.lower()  # "Application/JSON" is JSON (RFC 9110: case-insensitive)
        if not any(kind in media for kind in kinds or getattr(adapter, "CONTENT_TYPES", ("json",))):
            return
        charset = _charset(content_type)
        if charset not in _UTF8:
            return  # Sourdine reads and writes UTF-8: a body said to be in another charset goes out as it came
        started = time.perf_counter()
        deadline = started + ctx.options.sourdine_budget_ms / 1000
        runtime = self.runtime
        runtime.last_busy = time.monotonic()
        parsed: list = []
        # The cycle collector stays out of a feed's parse: a feed is tens of thousands of small objects, which set
        # off collections that double orjson's time. A parsed feed holds no cycles; refcounting frees it.
        gc_enabled = gc.isenabled()
        gc.disable()
        try:
            if meta["endpoint"] in ("instance", "whoami"):
                body = codec.decode(
                    response.raw_content, response.headers.get("content-encoding"), ctx.options.sourdine_max_body
                )
                if budget.over(deadline, len(body) / 1e6 * budget.PARSE_MS_PER_MB):
                    raise Overrun  # past the budget, or could not be parsed within it
                doc = orjson.loads(body)
                if meta["endpoint"] == "instance":
                    self._learn_streaming_host(meta["host"], doc)
                    return
                own = doc.get("id" if meta["platform"] == "mastodon" else "did") if isinstance(doc, dict) else None
                if isinstance(own, str) and own:
                    self._learn_own(meta["platform"], own)
                return
            # A body seen lately (the same bytes) is not decoded nor parsed again: see Engine.filter_encoded.
            new = runtime.engine.filter_encoded(
                runtime.snapshot, meta["platform"], meta["endpoint"], response.raw_content,
                response.headers.get("content-encoding"), ctx.options.sourdine_max_body, deadline, parsed,
            )
        except Overrun:
            self._overran(meta, started)
            return
        except Exception as e:
            runtime.engine.failed(meta["platform"])
            logger.warning(
                "sourdine: %s %s response left unchanged: %s", meta["platform"], meta["endpoint"], type(e).__name__
            )
            logger.debug("sourdine: filter failure at\n%s", _safe_traceback(e))
            return
        finally:
            _free_later(parsed, gc_enabled)
        meta["ms"] = (time.perf_counter() - started) * 1000
        if new is None:
            return
        for name in _STALE_HEADERS:
            response.headers.pop(name, None)
        if charset == "us-ascii" and not new.isascii():
            # Written out as UTF-8 (orjson does not escape): the label says so, or a reader honouring it garbles.
            _, start, end = _charset_at(content_type)
            response.headers["content-type"] = f"{content_type[:start]}utf-8{content_type[end:]}"
        response.content = new
        meta["rewritten"] = True

    def tcp_message(self, flow: tcp.TCPFlow) -> None:
        """A connection to a platform's host that is not HTTP (mitmproxy relays it as raw TCP): as for a
        WebSocket, only the message at hand is kept (websocket_message)."""
        del flow.messages[:-1]

    def udp_message(self, flow: udp.UDPFlow) -> None:
        """The same for UDP."""
        del flow.messages[:-1]

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        if flow.websocket is None:
            return
        # mitmproxy keeps every message of a WebSocket in its flow for as long as the socket is open (for its own
        # UI, which `sourdine run` has not), and relays the message it made, not the list's last: a stream open
        # all day would hold all of them (20,000 Mastodon updates: 97 MB). No addon of `sourdine run` reads them,
        # so only the message at hand is kept, whatever the socket (under mitmdump, a flow saved with -w holds
        # that one: the README says so).
        del flow.websocket.messages[:-1]
        meta = flow.metadata.get("sourdine")
        if not meta or meta["endpoint"] != "streaming" or self.runtime is None:
            return
        message = flow.websocket.messages[-1]
        if message.from_client or not message.is_text:
            return
        runtime = self.runtime
        # A stream stays open for hours: the platform switched off, or work hours over, apply to it at once.
        settings_now = runtime.snapshot.platforms.get(meta["platform"])
        if settings_now is None or not settings_now.enabled or not runtime.filtering()[0]:
            return
        started = time.perf_counter()
        # As for a response: a collection that falls due while the message is filtered runs after it has gone on.
        gc_enabled = gc.isenabled()
        gc.disable()
        try:
            new = runtime.engine.filter_event(runtime.snapshot, meta["platform"], "streaming", message.text,
                                              started + ctx.options.sourdine_budget_ms / 1000)
        except Overrun:
            self._overran(meta, started)
            return
        except Exception as e:
            runtime.engine.failed(meta["platform"])
            logger.warning("sourdine: %s streaming message left unchanged: %s", meta["platform"], type(e).__name__)
            return
        finally:
            _free_later([], gc_enabled)
        if new == "":
            message.drop()
        elif new is not None:
            message.text = new

    def _overran(self, meta: dict, started: float) -> None:
        assert self.runtime is not None
        self.runtime.engine.overran(meta["platform"])
        meta["overrun"] = True
        logger.warning("sourdine: %s %s left unchanged: filtering passed its time budget (%.0f ms spent)",
                       meta["platform"], meta["endpoint"], (time.perf_counter() - started) * 1000)

    def _learn_own_from_page(self, response: http.Response) -> None:
        """The signed-in account of a Mastodon web page: `meta.me` in its initial-state script."""
        try:
            if "html" not in response.headers.get("content-type", "").lower():
                return
            page = codec.decode(response.raw_content, response.headers.get("content-encoding"), 4 * 1024 * 1024)
            state = initial_state(page)
            if state is None:
                return
            me = orjson.loads(state).get("meta", {}).get("me")
            if isinstance(me, str) and me:
                self._learn_own("mastodon", me)
        except Exception as e:  # the page goes out untouched whatever happens here
            logger.debug("sourdine: no signed-in account read from a page: %s", type(e).__name__)

    def _learn_own(self, platform: str, account_id: str) -> None:
        """Remember one of the user's own accounts on a platform, so that their inbox is left alone (and any record
        of theirs counted before goes: Runtime.learn_own)."""
        assert self.runtime is not None
        if self.runtime.learn_own(platform, account_id):
            logger.info("sourdine: learnt the user's own %s account", platform)
            logger.debug("sourdine: own %s account %s", platform, account_id)

    def _learn_streaming_host(self, instance: str, doc: object) -> None:
        """Decrypt an instance's streaming host too, if it is the instance's own host or one under it.

        Only an instance's own name space is trusted: an instance document naming any other host (a bank, a
        mail provider) is ignored, and learned hosts never teach further hosts.
        """
        assert self.runtime is not None
        host = streaming_host(doc)
        snapshot = self.runtime.snapshot
        if host is None or host in snapshot.hosts or not host.endswith("." + instance):
            return
        if len(snapshot.mastodon_streaming_hosts) >= _MAX_STREAMING_HOSTS:
            return
        hosts = [*snapshot.mastodon_streaming_hosts, host]
        self.runtime.swap(settings.with_user(snapshot, mastodon_streaming_hosts=hosts), mastodon_streaming_hosts=hosts)
        logger.info("sourdine: now also decrypting a Mastodon streaming host")
        logger.debug("sourdine: streaming host %s", host)


addons = [Sourdine()]
