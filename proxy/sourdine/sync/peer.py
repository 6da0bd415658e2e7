"""Peer sync between running instances: pairing by SPAKE2, then TLS with each side's pinned certificate.

Each instance has its own self-signed certificate (`<home>/sync/`). The sync listener is opt-in (`sourdine run
--sync-port`), on 127.0.0.1, separate from the API, and only speaks TLS 1.3.

Pairing: `peers add` on device A makes a one-time code (the listener's port and 60 random bits), valid 5 minutes
and for one attempt. `peers accept CODE` on device B runs SPAKE2 with A over TLS: someone who watches or answers
instead of A learns nothing that lets them test guesses of the code offline, and gets one online guess. Both sides
then prove they hold the SPAKE2 key over both certificates' fingerprints (as each saw them in TLS), so that a
relay in the middle fails, and each pins the other's certificate and keeps a sync key derived from it.

Sync: the caller sends the rows changed since the peer last acknowledged (local sequence numbers) and asks for
the rows since the last it got; both sides merge (see `merge`). Every message is bound to the peer three ways:
its pinned certificate (mutual TLS), an HMAC of the body with the sync key, and a counter that only goes up (a
replayed message is refused). A message with a malformed row, a stamp far in the future or a time outside a few
minutes is refused whole: nothing of it is applied.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import secrets
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
import sqlite_utils
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sourdine import home as home_mod
from sourdine import store
from sourdine.sync import db as sync_db
from sourdine.sync import folder as folder_mod
from sourdine.sync import merge
from sourdine.sync.live import Live
from sourdine.sync.merge import Row

logger = logging.getLogger(__name__)

CODE_SECONDS = 300
MESSAGE_WINDOW_MS = 5 * 60 * 1000  # a message's own time must be this close to ours
BATCH = 5000  # rows per message
MAX_MESSAGE = 64 * 1024 * 1024
MAX_PAIR = 64 * 1024  # a pairing answer: a certificate and a few fields
INTERVAL = 180.0  # background sync every 3 minutes
BACKOFF = (10.0, 900.0)  # first wait after a failure, longest wait
_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o, 1/l
_CODE = re.compile(r"(\d{1,5})-([a-z2-9]{4})-([a-z2-9]{4})-([a-z2-9]{4})")
_IDS = {"idA": b"sourdine-peer-add", "idB": b"sourdine-peer-accept"}


def _spake2() -> Any:
    """The spake2 package, imported at the first pairing rather than at start-up: its import computes its
    groups' constants with Python integers (3% of the instructions `sourdine run` ran to its ready line), and
    most sessions never pair."""
    import spake2

    return spake2


class SyncError(Exception):
    """A sync or pairing step failed; the message says why, for a person (never a code or a key)."""


# -- identity ------------------------------------------------------------------------------------------------


def _damaged(folder: Path) -> str:
    return (f"this device's sync identity (cert.pem and key.pem in {folder}) is missing or damaged: move both out of "
            "that folder and start Sourdine again to make a new one, then pair this device with your other devices "
            "again")


def identity(home: Path, device: str) -> tuple[bytes, bytes]:
    """This instance's certificate and key (PEM), made on first use; the key is readable by its owner only.
    SyncError, saying what to do, when they cannot be read back as a certificate and its own key, or written."""
    folder = home / "sync"
    try:
        return _identity(folder, device)
    except OSError as e:
        raise SyncError(f"this device's sync identity in {folder} cannot be read or written: {e.strerror}") from None


def _identity(folder: Path, device: str) -> tuple[bytes, bytes]:
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    if cert_path.exists() and key_path.exists():
        cert_pem, key_pem = cert_path.read_bytes(), key_path.read_bytes()
        try:
            der = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            public = x509.load_pem_x509_certificate(cert_pem).public_key().public_bytes(*der)
            if serialization.load_pem_private_key(key_pem, None).public_key().public_bytes(*der) != public:
                raise ValueError("the key is not the certificate's")
        except (ValueError, TypeError) as e:
            logger.debug("the sync identity cannot be read back: %s", e)
            raise SyncError(_damaged(folder)) from None
        return cert_pem, key_pem
    if not folder.is_dir():
        folder.mkdir(mode=0o700)
        home_mod.sync_folder(folder.parent)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"sourdine {device}")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650 * 2))
        # Its own trust anchor: each peer loads it as the only authority for this connection.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    # Each whole and on the disk before anything uses it (a peer pins the certificate): the key first, so that a
    # crash between the two leaves no certificate, and the pair is made again at the next start.
    home_mod.write_private(key_path, key_pem)
    home_mod.write_private(cert_path, cert_pem)
    return cert_pem, key_pem


def fingerprint(cert: bytes | str) -> str:
    """SHA-256 of a certificate's DER, from its PEM (or its DER)."""
    if isinstance(cert, str):
        cert = cert.encode()
    der = x509.load_pem_x509_certificate(cert).public_bytes(serialization.Encoding.DER) if cert.startswith(
        b"-----") else cert
    return hashlib.sha256(der).hexdigest()


def _mac(key: bytes, *parts: bytes | str) -> str:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        mac.update(len(data).to_bytes(4, "big") + data)
    return mac.hexdigest()


# -- peers ---------------------------------------------------------------------------------------------------


@dataclass
class Peer:
    id: str  # the peer's device id
    name: str
    address: str | None  # host:port of its sync listener, when it has one
    cert: str  # its pinned certificate (PEM)
    key: str  # the sync key (hex), derived at pairing
    created: float
    last_seen: float | None = None
    last_error: str | None = None
    got: int = 0  # the peer's sequence number up to which we have its rows
    sent: int = 0  # our sequence number up to which it has acknowledged ours
    recv_n: int = 0  # the highest message counter received from it

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.cert)

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "address": self.address, "fingerprint": self.fingerprint[:16],
                "created": self.created, "last_seen": self.last_seen, "last_error": self.last_error}


def save_peer(db: sqlite_utils.Database, peer: Peer) -> None:
    store.upsert(db, "peers", asdict(peer), ("id",))


FOLDER_FULL = "folder-full"  # sync_state: the peers owed a folder line with the full state (a JSON list of ids)


def _owed(db: sqlite_utils.Database) -> set[str]:
    try:
        return set(json.loads(sync_db.get_state(db, FOLDER_FULL) or "[]"))
    except (ValueError, TypeError):
        return set()


@dataclass
class _Pending:
    password: bytes
    expires: float
    spake: Any = None
    key: bytes | None = None
    used: bool = False


def parse_code(code: str) -> tuple[int, bytes]:
    """(port, password) from a code as `peers add` prints it. ValueError if it is not one."""
    match = _CODE.fullmatch(code.strip().lower().replace(" ", "-"))
    if match is None or not 0 < int(match[1]) < 65536:
        raise ValueError("this is not a peer code (PORT-xxxx-xxxx-xxxx)")
    return int(match[1]), "".join(match.groups()[1:]).encode()


_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def _shown(text: str) -> str:
    """Some of what a person typed, for an error message: quoted, escaped, at most 80 characters."""
    return repr(text if len(text) <= 80 else text[:80] + "...")


def parse_address(address: str) -> tuple[str, int]:
    """(host, port) from a peer's sync address as `peers accept --address` takes it: `HOST:PORT`, the host a name,
    an IPv4 address or an IPv6 address in brackets, the port 1 to 65535. ValueError saying what is wrong."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not host:
        raise ValueError(f"not HOST:PORT (an IPv6 address in brackets: [::1]:PORT): {_shown(address)}")
    if not port_text.isascii() or not port_text.isdigit():
        raise ValueError(f"the port is not a number: {_shown(port_text)}")
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"the port is out of range (1 to 65535): {port}")
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ValueError(f"not an IPv6 address: {_shown(host)}") from None
        return host, port
    if ":" in host or "[" in host or "]" in host:
        raise ValueError(f"an IPv6 address goes in brackets ([::1]:PORT): {_shown(host)}")
    name = host[:-1] if host.endswith(".") else host  # a fully qualified name may end with a dot
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"not a host name (letters, digits and hyphens, in dot-separated parts of 1 to 63 "
                         f"characters that neither start nor end with a hyphen) nor an IP address: {_shown(host)}")
    if labels[-1].isdigit():  # as a URL reads it: a name whose last part is a number is an IPv4 address
        try:
            ipaddress.IPv4Address(name)
        except ValueError:
            raise ValueError(f"not an IPv4 address: {_shown(host)}") from None
    return host, port


# -- the service ---------------------------------------------------------------------------------------------


class Sync:
    """Peers, the listener, and the loop that syncs in the background."""

    def __init__(self, live: Live, home: Path, device: str, name: str | None = None,
                 interval: float = INTERVAL, backoff: tuple[float, float] = BACKOFF,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.live = live
        self.home = home
        self.device = device
        self.name = name or socket.gethostname()[:60] or device
        self.interval = interval
        self.backoff = backoff
        self.monotonic = monotonic  # the clock the schedule of syncs and backoffs goes by
        self.peers: dict[str, Peer] = {}
        self.pending: _Pending | None = None
        self.paused = False
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task | None = None
        self._failures: dict[str, int] = {}
        self._next: dict[str, float] = {}
        self._last_n = 0
        self._sync_lock = asyncio.Lock()
        self._server_ctx: ssl.SSLContext | None = None
        self.damaged: str | None = None  # what is wrong with this device's identity: no pairing, no sync until fixed
        try:
            self.cert, self.key = identity(home, device)
        except SyncError as e:  # filtering goes on; sync says why it cannot (start, and each attempt)
            self.cert, self.key, self.damaged = b"", b"", str(e)
        self.folder: folder_mod.Folder | None = None
        # Peers paired since the last folder line with the full state: the next one carries it, sealed for them
        # too. Kept in the database with the pairing (a restart before that line must not drop it).
        self._folder_full: set[str] = set()

    # -- set-up --

    def load(self, db: sqlite_utils.Database) -> None:
        self.peers = {row["id"]: Peer(**row) for row in db["peers"].rows}
        # Past every number used, by the peer messages and by the folder lines: a clock set back is not a repeat.
        self._last_n = max(int(sync_db.get_state(db, "send_n") or 0), int(folder_mod.our_state(db)["line"]))
        self.paused = sync_db.get_state(db, "paused") == "1"
        self._folder_full = _owed(db)

    async def pause(self, paused: bool) -> None:
        """Pause or resume syncing, kept in the database before it is answered: a pause stays across a restart
        or a crash until it is resumed."""
        await self._committed(lambda db: sync_db.set_state(db, "paused", "1" if paused else "0"))
        self.paused = paused

    async def start(self, port: int | None) -> None:
        """Start the background loop, and the listener when a port is given (0 picks one)."""
        if port is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
            self._load_chain(ctx)
            ctx.verify_mode = ssl.CERT_OPTIONAL  # pairing comes without a certificate; sync requires one
            for peer in self.peers.values():
                try:
                    ctx.load_verify_locations(cadata=peer.cert)
                except (ssl.SSLError, ValueError):  # stored by an older version, or damaged: this one alone fails
                    logger.warning("peer %s: its certificate cannot be read; pair with it again", peer.id)
            self._server_ctx = ctx
            app = web.Application(client_max_size=MAX_MESSAGE)
            app.router.add_post("/v1/pair/start", self._pair_start)
            app.router.add_post("/v1/pair/finish", self._pair_finish)
            app.router.add_post("/v1/sync", self._serve_sync)
            self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", port, ssl_context=ctx)
            await site.start()
            self.port = self._runner.addresses[0][1]
        elif self.damaged is not None:  # with a listener, _load_chain raised it already, for the start-up error
            logger.warning("%s", self.damaged)
        soon = self.monotonic() + 2.0
        self._next = {peer_id: soon for peer_id in self.peers}
        self._task = asyncio.create_task(self._forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._runner is not None:
            await self._runner.cleanup()

    def _load_chain(self, ctx: ssl.SSLContext) -> None:
        # ssl wants files: the key is read from its 0600 file, never written anywhere else.
        folder = self.home / "sync"
        if self.damaged is not None:
            raise SyncError(self.damaged)
        try:
            ctx.load_cert_chain(folder / "cert.pem", folder / "key.pem")
        except (ssl.SSLError, OSError) as e:  # damaged or removed by hand since the start
            logger.debug("the sync identity cannot be loaded: %s", e)
            raise SyncError(_damaged(folder)) from None

    def _client_ctx(self, peer: Peer | None) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.check_hostname = False  # the certificate is pinned: it is the only authority loaded
        if peer is None:  # pairing: the server's certificate is checked by SPAKE2's key confirmation instead
            ctx.verify_mode = ssl.CERT_NONE
        else:
            ctx.load_verify_locations(cadata=peer.cert)
            self._load_chain(ctx)
        return ctx

    async def _committed(self, fn) -> Any:
        return await self.live.committed(fn)

    # -- pairing --

    def new_code(self) -> tuple[str, float]:
        if self.port is None:
            raise SyncError("this instance does not listen for peers: start it with --sync-port")
        groups = ["".join(secrets.choice(_ALPHABET) for _ in range(4)) for _ in range(3)]
        expires = time.time() + CODE_SECONDS
        self.pending = _Pending("".join(groups).encode(), expires)
        return f"{self.port}-{'-'.join(groups)}", expires

    def _pending(self) -> _Pending:
        pending = self.pending
        if pending is None or time.time() > pending.expires:
            raise web.HTTPForbidden(reason="no pairing under way")
        return pending

    async def _pair_start(self, request: web.Request) -> web.Response:
        pending = self._pending()
        if pending.used:
            raise web.HTTPForbidden(reason="no pairing under way")
        spake2 = _spake2()  # before the code is spent: a failed import is not a wrong guess
        pending.used = True  # one attempt per code: a wrong guess spends it
        try:
            body = json.loads(await request.read())
            inbound = base64.b64decode(body["msg"], validate=True)
            spake = spake2.SPAKE2_A(pending.password, **_IDS)
            outbound = spake.start()
            pending.key = spake.finish(inbound)
        except Exception:
            self.pending = None
            raise web.HTTPBadRequest(reason="bad pairing message") from None
        return web.json_response({"msg": base64.b64encode(outbound).decode()})

    async def _pair_finish(self, request: web.Request) -> web.Response:
        pending = self._pending()
        self.pending = None
        try:
            body = json.loads(await request.read())
            cert, device, name, port, mac = (body[k] for k in ("cert", "device", "name", "port", "mac"))
            if not isinstance(cert, str) or not cert.startswith("-----BEGIN CERTIFICATE-----"):
                raise ValueError("not a certificate")
            their_fp = fingerprint(cert)  # and read as one
        except Exception:
            raise web.HTTPBadRequest(reason="bad pairing message") from None
        key = pending.key
        ours = fingerprint(self.cert)
        if key is None or not hmac.compare_digest(mac, _mac(key, "accept", their_fp, ours)):
            logger.warning("a pairing attempt failed: wrong code")
            raise web.HTTPForbidden(reason="wrong code")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", str(device)) or device == self.device:
            raise web.HTTPBadRequest(reason="bad device id")
        address = f"{request.remote}:{int(port)}" if isinstance(port, int) and 0 < port < 65536 else None
        peer = Peer(device, "".join(c for c in str(name) if c.isprintable())[:60] or device, address, cert,
                    _mac(key, "sync key"), time.time())
        await self._add_peer(peer)
        return web.json_response({"cert": self.cert.decode(), "device": self.device, "name": self.name,
                                  "mac": _mac(key, "add", ours, their_fp)})

    async def _add_peer(self, peer: Peer) -> None:
        old = self.peers.get(peer.id)
        if old is not None:  # paired again: keep what it has seen
            peer.got, peer.sent, peer.recv_n = old.got, old.sent, old.recv_n
        def save(db: sqlite_utils.Database) -> None:
            save_peer(db, peer)
            sync_db.set_state(db, FOLDER_FULL, json.dumps(sorted(_owed(db) | {peer.id})))

        await self._committed(save)
        self.peers[peer.id] = peer
        self._folder_full.add(peer.id)
        self._next[peer.id] = 0.0
        self.live.edited.set()  # a first exchange soon
        if self._server_ctx is not None:
            self._server_ctx.load_verify_locations(cadata=peer.cert)
        logger.info("paired with peer %s", peer.id)

    async def accept(self, code: str, address: str | None = None) -> Peer:
        """Finish pairing with the device that printed `code`."""
        if self.damaged is not None:
            raise SyncError(self.damaged)
        try:
            port, password = parse_code(code)
            if address is not None:
                parse_address(address)
        except ValueError as e:
            raise SyncError(str(e)) from None
        where = address or f"127.0.0.1:{port}"
        spake = _spake2().SPAKE2_B(password, **_IDS)
        ours = fingerprint(self.cert)
        try:
            server_fp = await self._server_fingerprint(where)
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
                # Both requests to the certificate seen first; SPAKE2's confirmation then proves whose it is.
                first = await self._pair_post(session, where, "start", {
                    "msg": base64.b64encode(spake.start()).decode()}, server_fp)
                key = spake.finish(base64.b64decode(first["msg"], validate=True))
                second = await self._pair_post(session, where, "finish", {
                    "cert": self.cert.decode(), "device": self.device, "name": self.name, "port": self.port,
                    "mac": _mac(key, "accept", ours, server_fp)}, server_fp)
        except SyncError:
            raise
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise SyncError(f"could not reach the other device at {where}: {type(e).__name__}") from None
        except Exception as e:
            logger.debug("pairing failed", exc_info=True)
            raise SyncError("the other device answered with something that is not a pairing message") from e
        their_fp = fingerprint(second.get("cert", ""))
        if their_fp != server_fp or not hmac.compare_digest(
                str(second.get("mac")), _mac(key, "add", server_fp, ours)):
            raise SyncError("the other device could not prove it knows the code: not paired")
        device = str(second.get("device", ""))
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", device):
            raise SyncError("the other device sent a bad device id")
        peer = Peer(device, "".join(c for c in str(second.get("name", "")) if c.isprintable())[:60] or device,
                    where, second["cert"], _mac(key, "sync key"), time.time())
        await self._add_peer(peer)
        return peer

    async def _server_fingerprint(self, where: str) -> str:
        host, _, port = where.rpartition(":")
        _, writer = await asyncio.wait_for(asyncio.open_connection(
            host.strip("[]"), int(port), ssl=self._client_ctx(None)), 10)
        try:
            return fingerprint(writer.get_extra_info("ssl_object").getpeercert(binary_form=True))
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()

    async def _pair_post(self, session: aiohttp.ClientSession, where: str, step: str, body: dict,
                         server_fp: str) -> dict:
        async with session.post(f"https://{where}/v1/pair/{step}", json=body,
                                ssl=aiohttp.Fingerprint(bytes.fromhex(server_fp))) as r:
            if r.status == 403:
                raise SyncError("the other device refused: the code is wrong, expired or already used")
            if r.status != 200:
                raise SyncError(f"the other device refused pairing (HTTP {r.status})")
            return json.loads(await _read_capped(r, MAX_PAIR))

    async def remove(self, peer_id: str) -> bool:
        """Unpair a peer. It is forgotten here first, then in the database: an exchange with it under way stores
        nothing after that (its bookkeeping checks that the peer is still paired, in its own transaction, which the
        writer runs before or after this one), or it would write the peer back and apply its rows (a review's
        finding)."""
        peer = self.peers.pop(peer_id, None)  # its certificate stays loaded until restart, but matches no peer
        if peer is None:
            return False
        try:
            await self._committed(lambda db: db.execute("DELETE FROM peers WHERE id = ?", [peer_id]))
        except BaseException:
            self.peers.setdefault(peer_id, peer)
            raise
        return True

    def _still_paired(self, peer: Peer) -> None:
        """In an exchange's bookkeeping: ValueError (its transaction rolled back, nothing applied) when the peer
        was removed meanwhile."""
        if self.peers.get(peer.id) is not peer:
            raise ValueError("this peer was removed")

    # -- messages --

    async def _next_n(self) -> int:
        """A message (or folder line) number above every one used before, saved before it is used, so that after a
        restart with the clock set back the next one still goes up (a peer refuses a lower one as a repeat)."""
        n = self._last_n = max(self._last_n + 1, time.time_ns() // 1000)
        await self._committed(lambda db: sync_db.set_state(db, "send_n", str(n)))
        return n

    async def _outgoing(self, since: int, full: bool) -> tuple[list[Row], int, str | None]:
        def read(db):
            rows, upto = sync_db.since(db, 0 if full else since, 10**9 if full else BATCH)
            h = sync_db.horizon(db)
            return rows, upto, h.encode() if h else None
        return await self._committed(read)

    async def _serve_sync(self, request: web.Request) -> web.Response:
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        peer = next((p for p in self.peers.values() if der and p.fingerprint == fingerprint(der)), None)
        if peer is None:
            raise web.HTTPForbidden(reason="not a paired peer")
        raw = await request.read()
        key = bytes.fromhex(peer.key)
        if not hmac.compare_digest(request.headers.get("X-Sourdine-Mac", ""), _mac(key, raw)):
            logger.warning("refused a sync message from peer %s: wrong key", peer.id)
            raise web.HTTPUnauthorized(reason="wrong key")
        try:
            body, rows = self._parse(raw, peer)
        except ValueError as e:
            logger.warning("refused a sync message from peer %s: %s", peer.id, e)
            logger.debug("refused a sync message from peer %s: %s", peer.id, merge.detail(e))
            return web.json_response({"error": str(e)}, status=409 if "replayed" in str(e) else 400)
        n, now = body["n"], time.time()
        peer.recv_n = n  # at once: the same message sent twice at the same time is applied once

        def bookkeeping(db: sqlite_utils.Database, before: int) -> None:
            self._still_paired(peer)
            peer.recv_n, peer.got, peer.last_seen, peer.last_error = n, body["upto"], now, None
            peer.sent = max(peer.sent, body["since"]) if not body["full"] else body["since"]
            if body["since"] >= before:  # it had all of ours: what we just stored came from it
                peer.sent = sync_db.max_seq(db)
            save_peer(db, peer)

        try:
            await self.live.merge_remote(rows, bookkeeping, body["full"], body["horizon"])
        except ValueError as e:
            logger.warning("refused a sync message from peer %s: %s", peer.id, e)
            logger.debug("refused a sync message from peer %s: %s", peer.id, merge.detail(e))
            return web.json_response({"error": str(e)}, status=400)
        out, upto, horizon = await self._outgoing(body["since"], body["full"])
        out = merge.answer(out, rows, body["full"])
        answer = json.dumps({"n": n, "upto": upto, "horizon": horizon,
                             "rows": [r.to_wire() for r in out]}).encode()
        return web.Response(body=answer, content_type="application/json",
                            headers={"X-Sourdine-Mac": _mac(key, b"answer", answer)})

    def _parse(self, raw: bytes, peer: Peer) -> tuple[dict, list[Row]]:
        """A peer's message, checked before anything is applied. ValueError says what is wrong."""
        try:
            body = json.loads(raw)
        except ValueError:
            raise ValueError("not JSON") from None
        if not isinstance(body, dict) or set(body) - {"horizon"} != {"device", "n", "time", "since", "upto", "full",
                                                                      "rows"}:
            raise ValueError("not a sync message")
        if body["device"] != peer.id:
            raise ValueError("sent for another device")
        for name in ("n", "time", "since", "upto"):
            if not isinstance(body[name], int) or isinstance(body[name], bool) or body[name] < 0:
                raise ValueError(f"{name}: not a count")
        if body["n"] <= peer.recv_n:
            raise ValueError("a replayed message")
        if abs(body["time"] - time.time() * 1000) > MESSAGE_WINDOW_MS:
            raise ValueError("its time is too far from ours")
        if not isinstance(body["full"], bool) or not isinstance(body["rows"], list):
            raise ValueError("full or rows: wrong type")
        horizon = body.get("horizon")  # in a full exchange: the newest tombstone the sender collected
        if horizon is not None and not isinstance(horizon, str):
            raise ValueError("horizon: wrong type")
        body["horizon"] = merge.Stamp.decode(horizon) if horizon else None
        rows = [Row.from_wire(r) for r in body["rows"]]
        merge.check_all(rows, int(time.time() * 1000))
        return body, rows

    async def sync_peer(self, peer: Peer) -> dict[str, Any]:
        """One exchange with a peer, repeated while either side has more than a batch to send."""
        if peer.address is None:
            raise SyncError("this peer has no listener: it syncs with us")
        sent = received = 0
        key = bytes.fromhex(peer.key)
        full = merge.lapsed(peer.last_seen * 1000 if peer.last_seen else None, int(time.time() * 1000))
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            for _ in range(100):
                rows, upto, mine = await self._outgoing(peer.sent, full)
                n = await self._next_n()
                message = {"device": self.device, "n": n, "time": int(time.time() * 1000),
                           "since": 0 if full else peer.got, "upto": upto, "full": full,
                           "rows": [r.to_wire() for r in rows]}
                if full and mine:  # so that the peer drops what we removed and collected (merge.full_exchange)
                    message["horizon"] = mine
                raw = json.dumps(message).encode()
                try:
                    async with session.post(f"https://{peer.address}/v1/sync", data=raw, ssl=self._client_ctx(peer),
                                            headers={"X-Sourdine-Mac": _mac(key, raw),
                                                     "Content-Type": "application/json"}) as r:
                        answer = await _read_capped(r, MAX_MESSAGE)
                        status, mac = r.status, r.headers.get("X-Sourdine-Mac", "")
                except (TimeoutError, aiohttp.ClientError, OSError) as e:
                    raise SyncError(f"unreachable ({type(e).__name__})") from None
                if status != 200:
                    raise SyncError(f"refused our message (HTTP {status})")
                if not hmac.compare_digest(mac, _mac(key, b"answer", answer)):
                    raise SyncError("its answer is not signed with our pairing key")
                try:
                    body = json.loads(answer)
                    if body["n"] != n or not isinstance(body["upto"], int) or not isinstance(body["rows"], list):
                        raise ValueError("not an answer to our message")
                    theirs = [Row.from_wire(x) for x in body["rows"]]
                    merge.check_all(theirs, int(time.time() * 1000))
                    horizon = merge.Stamp.decode(body["horizon"]) if body.get("horizon") else None
                except (ValueError, KeyError, TypeError) as e:
                    logger.debug("a bad answer from peer %s: %s", peer.id, merge.detail(e))
                    raise SyncError(f"sent a bad answer ({e})") from None
                def bookkeeping(db: sqlite_utils.Database, before: int, upto=upto, their_upto=body["upto"]) -> None:
                    self._still_paired(peer)
                    peer.sent, peer.got, peer.last_seen, peer.last_error = upto, their_upto, time.time(), None
                    if upto >= before:  # nothing stored here since we read: what we just stored came from it
                        peer.sent = sync_db.max_seq(db)
                    save_peer(db, peer)

                try:
                    await self.live.merge_remote(theirs, bookkeeping, full, horizon)
                except ValueError as e:
                    raise SyncError(str(e)) from None
                sent += len(rows)
                received += len(theirs)
                full = False
                if len(rows) < BATCH and len(theirs) < BATCH:
                    break
        return {"sent": sent, "received": received}

    async def sync_folder(self) -> folder_mod.Report:
        """Append our changes to our file in the sync folder, then merge the paired devices' files."""
        report = folder_mod.Report()
        folder = self.folder
        if folder is None or not self.peers:
            return report
        keys = {pid: bytes.fromhex(p.key) for pid, p in self.peers.items()}
        owed = set(self._folder_full)  # a peer paired from here on is owed the full state still
        full = bool(owed)

        def prepare(db):
            ours = folder_mod.our_state(db)
            rows, upto = sync_db.since(db, 0 if full else ours["upto"], 10**9)
            return rows, upto

        rows, upto = await self._committed(prepare)
        refused: folder_mod.Refused | None = None  # our file: nothing written, but the others' files are read
        try:
            await asyncio.to_thread(folder.check_own)
            for batch in folder.batches(rows, keys):
                n = await self._next_n()
                await asyncio.to_thread(folder.append, folder.line(batch, n, keys))
                report.written += len(batch)
            if rows:
                await self._committed(lambda db: sync_db.set_state(db, "folder:self", json.dumps(
                    {"line": n, "upto": upto})))
        except folder_mod.Refused as e:
            refused = e
        if refused is None and owed:
            def paid(db: sqlite_utils.Database) -> None:
                sync_db.set_state(db, FOLDER_FULL, json.dumps(sorted(_owed(db) - owed)))

            await self._committed(paid)
            self._folder_full -= owed
        for device, path in (await asyncio.to_thread(folder.files, keys)).items():
            was, last, head_was = await self._committed(lambda db, device=device: folder_mod.state(db, device))
            try:
                lines, bad, offset, head = await asyncio.to_thread(folder.read, device, path, was, last,
                                                                   keys[device], head_was)
            except folder_mod.Refused as e:  # replaced since `files` looked: skipped this time, like any such file
                folder.refused(e.name, f"ignored {e.name} in the sync folder: not a regular file with one link")
                continue
            except FileNotFoundError:  # gone since `files` looked
                continue
            report.ignored += bad
            # Saved too when the lines read held nothing for us (written for another device, before we paired):
            # read again from the old offset at every round, a window full of them hid every line after it.
            if lines or bad or (offset, head) != (was, head_was):
                seq = lines[-1][0] if lines else last
                theirs = [r for _, batch in lines for r in batch]
                def bookkeeping(db: sqlite_utils.Database, _before: int, device=device, offset=offset, seq=seq,
                                head=head) -> None:
                    if device not in self.peers:
                        raise ValueError("this peer was removed")
                    folder_mod.set_state(db, device, offset, seq, head)

                try:
                    await self.live.merge_remote(theirs, bookkeeping)
                except ValueError as e:  # removed meanwhile, or a row its line's check let through and now refused
                    logger.warning("did not apply lines of %s from the sync folder: %s", path.name, e)
                    continue
                report.read += len(lines)
        if refused is not None:
            raise refused
        return report

    async def sync_all(self, due_only: bool = False) -> list[dict[str, Any]]:
        """Sync with every peer that has a listener (`due_only`: those not waiting out a backoff), now; one result
        per peer (and one for the folder)."""
        results = []
        async with self._sync_lock:
            if self.folder is not None:
                try:
                    report = await self.sync_folder()
                    results.append({"id": "folder", "name": f"folder {self.folder.folder}", "ok": True,
                                    "sent": report.written, "received": report.read, "ignored": report.ignored})
                except folder_mod.Refused as e:  # said once in the log; in every answer
                    self.folder.refused(e.name, f"the sync folder could not be used: {e}")
                    results.append({"id": "folder", "name": f"folder {self.folder.folder}", "ok": False,
                                    "error": f"the sync folder could not be used: {e}"})
                except (OSError, ValueError) as e:
                    logger.warning("the sync folder could not be used: %s", type(e).__name__)
                    results.append({"id": "folder", "name": f"folder {self.folder.folder}", "ok": False,
                                    "error": f"the sync folder could not be used ({type(e).__name__})"})
            for peer in list(self.peers.values()):
                if peer.address is None or due_only and self._next.get(peer.id, 0.0) > self.monotonic():
                    continue
                try:
                    counts = await self.sync_peer(peer)
                except SyncError as e:
                    self._failed(peer, str(e))
                    results.append({"id": peer.id, "name": peer.name, "ok": False, "error": str(e)})
                except Exception:
                    logger.exception("sync with peer %s failed", peer.id)
                    self._failed(peer, "internal error")
                    results.append({"id": peer.id, "name": peer.name, "ok": False, "error": "internal error"})
                else:
                    self._failures.pop(peer.id, None)
                    self._next[peer.id] = self.monotonic() + self.interval
                    results.append({"id": peer.id, "name": peer.name, "ok": True, **counts})
        return results

    def _failed(self, peer: Peer, error: str) -> None:
        failures = self._failures.get(peer.id, 0) + 1
        self._failures[peer.id] = failures
        first, most = self.backoff
        self._next[peer.id] = self.monotonic() + min(first * 2 ** (failures - 1), most)
        peer.last_error = error
        logger.info("sync with peer %s failed: %s", peer.id, error)

    async def _forever(self) -> None:
        """Every `interval`, and soon after each local edit; a peer that failed waits out its backoff."""
        edited = self.live.edited
        collected = 0.0
        while True:
            now = self.monotonic()
            due = [t for t in self._next.values()] or [now + self.interval]
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(edited.wait(), max(1.0, min(min(due), now + self.interval) - now))
            if edited.is_set():
                edited.clear()
                await asyncio.sleep(1.0)  # gather a burst of edits into one exchange
                edited.clear()
                for peer_id in self.peers:  # an edit is worth trying now, except for peers in backoff
                    if not self._failures.get(peer_id):
                        self._next[peer_id] = 0.0
            if self.paused:
                continue
            now = self.monotonic()
            due_peers = [p for p in self.peers.values() if p.address and self._next.get(p.id, 0.0) <= now]
            if due_peers or self.folder is not None:
                try:
                    await self.sync_all(due_only=True)
                except Exception:
                    logger.exception("background sync failed")
            if time.time() - collected > 6 * 3600:
                collected = time.time()
                try:
                    await self._collect()
                except Exception:
                    logger.exception("could not collect old tombstones")

    async def _collect(self) -> None:
        now_ms = int(time.time() * 1000)
        waiting = [p.sent for p in self.peers.values()
                   if not merge.lapsed(p.last_seen * 1000 if p.last_seen else p.created * 1000, now_ms)]
        seen = min(waiting) if waiting else None
        gone = await self._committed(lambda db: sync_db.collect(db, now_ms, seen))
        if gone:
            logger.info("collected %d old tombstones", gone)


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """A response's body, read up to `limit` + 1 bytes: a larger one is refused (SyncError), before it is checked
    or parsed."""
    if response.content_length is not None and response.content_length > limit:
        raise SyncError("its answer is too large")
    chunks, size = [], 0
    while size <= limit:
        chunk = await response.content.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise SyncError("its answer is too large")
    return b"".join(chunks)


def load_peers(path: Path) -> list[dict[str, Any]]:
    db = store.open_db(path)
    try:
        return list(db["peers"].rows)
    finally:
        db.close()
