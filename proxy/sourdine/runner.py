"""`sourdine run`: mitmproxy and the API on one event loop, in one process.

Start-up order: home and token, database and settings, the proxy, the API, then run.json and the ready line.
A port already in use stops start-up with a clear message (exit code 2). Ctrl-C or SIGTERM flushes pending
writes, removes run.json and exits 0.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import secrets
import signal
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from aiohttp import web

from sourdine import api, home, lean, native, scoring, settings, store
from sourdine.addon import Sourdine
from sourdine.runtime import Listen, Runtime

logger = logging.getLogger(__name__)

EXIT_PORT_IN_USE = 2
EXIT_CANNOT_START = 1


class StartupError(Exception):
    """Sourdine cannot start; the message says why, for a person."""

    def __init__(self, message: str, code: int = EXIT_CANNOT_START) -> None:
        super().__init__(message)
        self.code = code


def _private_ca(confdir: Path) -> None:
    """mitmproxy writes its CA key files 0600 already; make sure, since they sign for every platform."""
    for path in confdir.glob("mitmproxy-ca*"):
        if path.name not in ("mitmproxy-ca-cert.pem", "mitmproxy-ca-cert.cer", "mitmproxy-ca-cert.p12"):
            os.chmod(path, 0o600)


class _Held(logging.Filter):
    """Keeps a logger's records instead of letting them through, for as long as it is one of its filters."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        self.records.append(record)
        return False


def _culprit(user: dict) -> str:
    """The first stored setting that does not build on its own (the settings, if none does)."""
    for key, value in user.items():
        try:
            settings.build({key: value})
        except Exception:
            return key
    return "settings"


def prepare_settings(where: Path, instances: list[str]) -> tuple[dict, list, Iterator[dict], list]:
    """Open (and migrate) the database, add the instances given on the command line; the user's settings, the
    paired clients, the author rows (read as they are iterated) and the list rows."""
    db = store.open_db(home.db_path(where))
    try:
        user = store.load_settings(db)
        if instances:
            known = list(user.get("mastodon_instances", []))
            for value in instances:
                host = settings.normalise_host(value)
                if host not in known:
                    known.append(host)
            user["mastodon_instances"] = known
            store.save_settings(db, {"mastodon_instances": known})
        try:
            snapshot = settings.build(user)  # refuse to start on saved settings that do not parse
        except (TypeError, AttributeError) as e:  # a value of the wrong shape: say which one
            raise ValueError(f"{_culprit(user)}: the stored value has the wrong shape ({type(e).__name__})") from e
        for host in snapshot.mastodon_instances:
            if _is_address(host):  # mitmproxy matches allow_hosts against the address a connection goes to, too
                logger.warning("the Mastodon instance %s is an IP address: every site served from that address is "
                               "decrypted too; give its host name instead", host)
        if "device_id" not in user:
            # This installation's name in list stamps, so that edits from two devices are told apart.
            user["device_id"] = secrets.token_hex(6)
            store.save_settings(db, {"device_id": user["device_id"]})
        # The author rows are read as the book is built (store.iter_authors), after this connection closes.
        return user, store.load_clients(db), store.iter_authors(home.db_path(where)), store.load_lists(db)
    finally:
        db.close()


def _is_address(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


async def serve(where: Path, proxy_port: int, api_port: int, instances: list[str], sync_port: int | None = None,
                sync_folder: Path | None = None, budget_ms: int | None = None) -> int:
    # Everything Sourdine writes (database, CA, token) is for this user's eyes only.
    os.umask(0o077)
    interval = _sync_interval()
    try:
        home.ensure(where)
        run_lock = home.hold(where)
        other = home.read_run_info(where) or ({} if run_lock is None else None)
        token = home.token(where) if other is None else ""
    except OSError as e:
        raise StartupError(f"cannot use {where} as Sourdine's home: {e.strerror or e}") from e
    if other is not None:
        if run_lock is not None:
            run_lock.close()
        if "pid" not in other:  # the lock is held, and no run.json yet: a run starting, or `sourdine ca` writing
            raise StartupError("another Sourdine process is using this home (a `sourdine run` starting, or a "
                               "`sourdine ca` command writing the CA); wait for it or stop it, or give another --home")
        raise StartupError(f"Sourdine already runs with this home (pid {other['pid']}); stop it first, or give "
                           "another --home")
    # In the home (which may be a folder of the user's), only what Sourdine writes there; its own folders whole.
    for folder, names in ((where, ("token", "run.json")), (where / "sync", None), (home.confdir(where), None),
                          (where / "cache", None)):
        if left := home.sweep(folder, names):
            logger.info("removed what processes that stopped mid-write left in %s: %s", folder, ", ".join(left))
    try:
        user, clients, author_rows, list_rows = prepare_settings(where, instances)
        writer = store.Writer(home.db_path(where))
        runtime = Runtime.create(where, token, user, writer, clients, author_rows, list_rows, user["device_id"])
    except store.NewerDatabase as e:  # nothing written to it
        raise StartupError(str(e)) from e
    except sqlite3.OperationalError as e:  # locked, full, unreadable: the file itself may be fine
        raise StartupError(f"cannot use {home.db_path(where)}: {e}") from e
    except sqlite3.DatabaseError as e:  # not a database, or a damaged one
        raise StartupError(f"{home.db_path(where)} cannot be read as Sourdine's database ({e}); move it away to "
                           "start afresh") from e
    except OSError as e:
        raise StartupError(f"cannot open {home.db_path(where)}: {e.strerror or e}") from e
    except ValueError as e:  # a stored setting that does not parse (edited by hand, or damaged): nothing changed
        raise StartupError(f"bad setting: {e}") from e
    writer.start()

    # The addons first: mitmproxy.master would import all of mitmproxy's addons (lean.py).
    mitm_addons = lean.mitmproxy_addons()
    from mitmproxy import master as mitm_master
    from mitmproxy import options as mitm_options

    lean.skip_message_checks()  # mitmproxy's debug check of each message's types, which `python -O` leaves out

    opts = mitm_options.Options()
    master = mitm_master.Master(opts)
    master.addons.add(*mitm_addons)
    master.addons.add(Sourdine(runtime))
    confdir = home.confdir(where)
    confdir.mkdir(mode=0o700, exist_ok=True)
    if not home.ca_key(where).exists():
        # The first start: the CA made here, synced to the disk, rather than by mitmproxy, which does not sync it.
        from sourdine import cli_ca

        try:
            cli_ca.rotate_ca(where)
        except (OSError, ValueError) as e:  # a full disk, a folder that cannot be written
            await master.done()
            writer.close()
            raise StartupError(f"cannot make the CA in {confdir}: {getattr(e, 'strerror', None) or e}") from e
    elif home.ca_cert_stale(where):
        from sourdine import cli_ca

        try:
            mended = cli_ca.mend(where)
        except (OSError, ValueError) as e:  # the key file's own trouble, if any, is said below
            logger.warning("the CA certificate %s is not the one Sourdine signs with, and cannot be written again: "
                           "%s", home.ca_cert(where), getattr(e, "strerror", None) or e)
        else:
            if mended is not None:
                logger.warning("the CA's files in %s were not all of the CA Sourdine signs with (a `sourdine ca "
                               "rotate` stopped midway?): %s written again from %s%s", confdir,
                               ", ".join(mended.written), home.ca_key(where).name,
                               f"; the certificate that was on show kept as {mended.kept.name}" if mended.kept else "")
    # What mitmproxy's addons report while they take these options is held back: a CA that cannot be read is
    # said below in one line, not as mitmproxy's traceback.
    held = _Held()
    logging.getLogger("mitmproxy.addonmanager").addFilter(held)
    try:
        opts.update(
            listen_host="127.0.0.1",
            listen_port=proxy_port,
            confdir=str(confdir),
            allow_hosts=runtime.snapshot.allow_hosts(),
            # Bodies larger than this are streamed untouched; no feed page comes near it.
            stream_large_bodies="16m",
            **({} if budget_ms is None else {"sourdine_budget_ms": budget_ms}),
        )
    finally:
        logging.getLogger("mitmproxy.addonmanager").removeFilter(held)
    if getattr(master.addons.get("tlsconfig"), "certstore", None) is None:
        errors = [record.exc_info[1] for record in held.records if record.exc_info and record.exc_info[1]]
        for record in held.records:
            logger.debug("%s", record.getMessage(), exc_info=record.exc_info)
        await master.done()
        writer.close()
        unreadable = next((e for e in errors if isinstance(e, OSError)), None)
        if unreadable is not None:  # the files may be sound: no new CA to trust again for a permission
            raise StartupError(f"cannot read the CA in {confdir}: {unreadable.strerror or unreadable}")
        raise StartupError(f"the CA in {confdir} cannot be read as one (damaged?): `sourdine ca rotate` makes a new "
                           "one, which you then trust again in your browser")
    for record in held.records:
        logging.getLogger(record.name).handle(record)
    runtime.on_change.append(lambda snapshot: opts.update(allow_hosts=snapshot.allow_hosts()))
    _private_ca(confdir)

    proxyserver = master.addons.get("proxyserver")
    # mitmproxy's own report of a port it cannot take suggests one of its options (`--mode regular@PORT`), which
    # `sourdine run` does not have: held back, and said below in one line of Sourdine's.
    quiet = _Held()
    logging.getLogger("mitmproxy.addons.proxyserver").addFilter(quiet)
    try:
        listening = await proxyserver.setup_servers() and proxyserver.listen_addrs()
    finally:
        logging.getLogger("mitmproxy.addons.proxyserver").removeFilter(quiet)
    for record in quiet.records:
        if listening:
            logging.getLogger(record.name).handle(record)
        else:
            logger.debug("mitmproxy: %s", record.getMessage())
    if not listening:
        writer.close()
        raise StartupError(
            f"cannot listen on 127.0.0.1:{proxy_port} for the proxy: is the port already in use?", EXIT_PORT_IN_USE
        )
    proxy_addr = proxyserver.listen_addrs()[0][:2]

    # aiohttp logs a malformed request's raw header line at ERROR, which can hold a token: keep it quiet.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    app = api.create_app(runtime)
    app_runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await app_runner.setup()
    site = web.TCPSite(app_runner, "127.0.0.1", api_port)
    try:
        await site.start()
    except OSError as e:
        await app_runner.cleanup()
        await master.done()
        writer.close()
        raise StartupError(
            f"cannot listen on 127.0.0.1:{api_port} for the API: {e.strerror}", EXIT_PORT_IN_USE
        ) from e
    api_addr = app_runner.addresses[0][:2]
    runtime.listen = Listen(proxy=proxy_addr, api=api_addr)
    # The same port on IPv6 loopback too, where the machine has it; 127.0.0.1 is what everything is told.
    try:
        await web.TCPSite(app_runner, "::1", api_addr[1]).start()
    except OSError:
        logger.debug("no IPv6 loopback for the API")

    from sourdine import api_sync
    from sourdine.sync.peer import SyncError

    try:  # peers and sync (issue 7); the listener only with --sync-port
        sync = await api_sync.start_sync(app, where, user["device_id"], sync_port, interval, sync_folder)
    except (OSError, ValueError, SyncError) as e:
        await app_runner.cleanup()
        await master.done()
        writer.close()
        if isinstance(e, ValueError):
            raise StartupError(f"bad --sync-folder: {e}") from e
        if isinstance(e, SyncError):  # its identity: the listener cannot prove who it is
            raise StartupError(f"cannot listen for peers: {e}") from e
        raise StartupError(f"cannot listen on 127.0.0.1:{sync_port} for peers: {e.strerror}", EXIT_PORT_IN_USE) from e
    runtime.listen.sync = ("127.0.0.1", sync.port or 0)

    stop = asyncio.Event()
    restore_signals = stop_on_signals(asyncio.get_running_loop(), stop)

    await master.running()
    home.write_run_info(
        where, {"pid": os.getpid(), "proxy": list(proxy_addr), "api": list(api_addr), "version": runtime.version,
                "sync": ["127.0.0.1", sync.port] if sync.port else None}
    )
    print(f"sourdine: proxy on {proxy_addr[0]}:{proxy_addr[1]}, API on http://{api_addr[0]}:{api_addr[1]}",
          flush=True)
    print(f"sourdine: CA certificate: {home.ca_cert(where)}", flush=True)

    # Load the lexicons and the language detector's tables now rather than on the first feed: from the tables
    # kept at an earlier start, while the lexicons and the code are the same.
    scoring.keep_tables_in(where / "cache")
    scoring.score("warm up: not bad", "en")
    # Everything allocated so far lives as long as the process: keep it out of the collector's way, which keeps
    # its pauses off the responses. The collector was off through start-up (cli._cmd_run): this one collection
    # frees start-up's garbage (about 2,800 objects in cycles, 0.6 MB), then it is back on.
    gc.collect()
    gc.freeze()
    gc.enable()
    # Full collections walk every long-lived object (the score cache, author records): 30 to 60 ms that would land
    # on a response. They run when the proxy is idle instead (Runtime.collect_when_idle); the young generations
    # keep their automatic schedule.
    threshold0, threshold1, _ = gc.get_threshold()
    gc.set_threshold(threshold0, threshold1, 1_000_000)
    # The last line of start-up: from here the event loop is free, and the first response waits on nothing.
    print(f"sourdine: scoring and filtering {native.state}", flush=True)  # "compiled", or "pure Python" and why
    runtime.collected_at = time.monotonic()
    saver = asyncio.create_task(runtime.save_authors_forever())
    try:
        await stop.wait()
    finally:
        logger.info("stopping")
        saver.cancel()
        await sync.stop()
        await master.done()
        await app_runner.cleanup()
        runtime.save_authors(time.time())
        runtime.save_seen()
        await asyncio.to_thread(writer.close)
        home.remove_run_info(where, os.getpid())
        run_lock.close()  # after run.json is gone: the next run may start
        restore_signals()
    return 0


def stop_on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> Callable[[], None]:
    """Ctrl-C and SIGTERM (and Ctrl-Break on Windows) set `stop`, and the run ends cleanly. Through the loop where
    it can take signals; else (Windows' proactor loop, which cannot) through signal.signal, as mitmproxy does.
    What puts the handlers before back (the loop puts its own back when it closes)."""
    signals = [signal.SIGINT, signal.SIGTERM, *([signal.SIGBREAK] if hasattr(signal, "SIGBREAK") else [])]
    try:
        for sig in signals:
            loop.add_signal_handler(sig, stop.set)
        return lambda: None
    except NotImplementedError:
        before = {sig: signal.getsignal(sig) for sig in signals}
        for sig in signals:
            signal.signal(sig, lambda _sig, _frame: loop.call_soon_threadsafe(stop.set))

        def restore() -> None:  # a Ctrl-C after the loop has closed must not call into it
            for sig, handler in before.items():
                signal.signal(sig, handler)

        return restore


def _sync_interval() -> float:
    """Seconds between background syncs: $SOURDINE_SYNC_INTERVAL when set (tests), else 3 minutes."""
    from sourdine.sync.peer import INTERVAL

    raw = os.environ.get("SOURDINE_SYNC_INTERVAL")
    try:
        return max(1.0, float(raw)) if raw else INTERVAL
    except ValueError:
        raise StartupError(f"SOURDINE_SYNC_INTERVAL must be a number of seconds, not {raw!r}") from None


def run(where: Path, proxy_port: int, api_port: int, instances: list[str], sync_port: int | None = None,
        sync_folder: Path | None = None, budget_ms: int | None = None) -> int:
    lean.tune_malloc()  # before any thread starts
    try:
        return asyncio.run(serve(where, proxy_port, api_port, instances, sync_port, sync_folder, budget_ms))
    except StartupError as e:
        print(f"sourdine: {e}", file=sys.stderr)
        return e.code
