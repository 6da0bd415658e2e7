"""`sourdine ca` and `sourdine doctor`: the CA's life from the CLI, and a check-up of an installation.

- `sourdine ca` shows where the CA certificate is, its fingerprints and expiry, and how to trust it and how to
  untrust it in each browser and system store.
- `sourdine ca rotate` makes a new CA with mitmproxy's own code, after confirmation, while Sourdine is
  stopped. The old certificate is kept beside the new one as `mitmproxy-ca-cert.pem.old-<UTC time>`, so
  that the user can still tell which one to remove from their browsers. The old key is overwritten, never
  kept: a rotation is made to end the old CA's power to sign, and a key left on disk would keep it.
- `sourdine doctor` checks the home's permissions, the running instance, that a feed through the proxy gets
  filtered (against a throwaway local server), and lists the hosts Sourdine decrypts.

Nothing here prints the token or the CA key.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import http.client
import http.server
import json
import os
import shlex
import shutil
import sqlite3
import stat
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from sourdine import home

# The files mitmproxy's CertStore.create_store writes that hold no key (see runner._private_ca).
PUBLIC_FILES = frozenset({"mitmproxy-ca-cert.pem", "mitmproxy-ca-cert.cer", "mitmproxy-ca-cert.p12"})
KEY_FILES = ("mitmproxy-ca.pem", "mitmproxy-ca.p12")
CONF_BASENAME = "mitmproxy"  # mitmproxy's file name prefix, which home.ca_cert names too
EXPIRY_WARNING = datetime.timedelta(days=30)
TIMEOUT = 10.0  # seconds, for every network step of `doctor`


# -- the parser ----------------------------------------------------------------------------------------------


def add_parsers(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: Sequence[argparse.ArgumentParser] = (),
) -> None:
    """Add the `ca` and `doctor` subcommands to `sourdine`'s subparsers."""
    ca = subparsers.add_parser(
        "ca", parents=list(parents), help="Show the CA certificate and how to trust it, or make a new CA.",
        description="Show where the CA certificate is, its fingerprints and expiry, and how to trust it and "
        "untrust it in Firefox, Chrome, macOS, Windows and Debian or Ubuntu. `sourdine ca rotate` makes a "
        "new CA (Sourdine must be stopped): the old certificate is kept beside it as *.old-<time>, its key "
        "is not. When the certificate is not that of the key Sourdine signs with (a rotation stopped "
        "midway), it is written again from the key file first.",
    )
    ca.add_argument("action", nargs="?", choices=["show", "rotate"], default="show",
                    help="show (the default), or rotate: make a new CA.")
    ca.add_argument("--yes", action="store_true", help="rotate: do not ask for confirmation.")
    ca.set_defaults(func=cmd_ca)

    doctor = subparsers.add_parser(
        "doctor", parents=list(parents), help="Check the installation and explain what is wrong.",
        description="Check the home directory's permissions, whether Sourdine runs and on which ports, that "
        "a feed sent through the proxy comes back filtered (from a test server on 127.0.0.1), and list the "
        "hosts Sourdine decrypts. One line per check: OK, WARN or FAIL, with a fix. Exit code 1 if any check "
        "fails.",
    )
    doctor.set_defaults(func=cmd_doctor)


# -- the certificate -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaInfo:
    path: Path
    subject: str
    sha256: str  # AB:CD:..., as browsers show it
    sha1: str  # ABCD..., what Windows calls the thumbprint and macOS's `security -Z` takes
    not_after: datetime.datetime

    @property
    def expired(self) -> bool:
        return self.not_after <= datetime.datetime.now(datetime.UTC)


def read_ca(path: Path) -> CaInfo:
    """The certificate at `path`; OSError when it cannot be read, ValueError when it is not a certificate."""
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return CaInfo(
        path=path,
        subject=cert.subject.rfc4514_string(),
        sha256=cert.fingerprint(hashes.SHA256()).hex(":").upper(),
        sha1=cert.fingerprint(hashes.SHA1()).hex().upper(),  # an identifier, as the stores use it
        not_after=cert.not_valid_after_utc,
    )


def _when(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def describe_ca(info: CaInfo) -> str:
    expiry = f"{_when(info.not_after)}" + (" (EXPIRED: run `sourdine ca rotate`)" if info.expired else "")
    return (
        f"CA certificate: {info.path}\n"
        f"  same certificate for Windows: {info.path.with_suffix('.cer').name}, beside it\n"
        f"  name:        {info.subject} (stores list it as \"mitmproxy\")\n"
        f"  SHA-256:     {info.sha256}\n"
        f"  SHA-1:       {info.sha1} (the \"thumbprint\" on Windows)\n"
        f"  valid until: {expiry}\n"
    )


def guide(cert: Path, untrust_sha1: str) -> str:
    """How to trust `cert`, and untrust the CA whose SHA-1 is `untrust_sha1`, per browser and system."""
    cer = f'"{cert.with_suffix(".cer")}"'  # a Windows prompt's quoting
    pem = shlex.quote(str(cert))  # a macOS home has a space in it: "Application Support"
    return f"""\
Trust it in each browser or system you use, and untrust it the same way when you stop using Sourdine.
Every Sourdine CA is named "mitmproxy": check the SHA-256 above before you delete one.

Firefox (its own store, on every system)
  trust:   Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import...,
           choose {cert}, tick "Trust this CA to identify websites".
  untrust: same Authorities list > mitmproxy > mitmproxy > Delete or Distrust... > OK.
Chrome, Chromium, Edge on Linux (the NSS store in ~/.pki/nssdb; certutil is in libnss3-tools), then restart it
  trust:   certutil -d sql:$HOME/.pki/nssdb -A -t "C,," -n sourdine -i {pem}
  untrust: certutil -d sql:$HOME/.pki/nssdb -D -n sourdine
           (imported from Settings > Privacy and security > Security > Manage certificates instead? Delete
           "mitmproxy" there.)
macOS (Chrome, Edge and Safari use the system keychain)
  trust:   sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain {pem}
  untrust: sudo security delete-certificate -Z {untrust_sha1} /Library/Keychains/System.keychain
Windows (Chrome and Edge use the system store), in an administrator prompt
  trust:   certutil -addstore Root {cer}
  untrust: certutil -delstore Root {untrust_sha1}
Debian, Ubuntu system store (curl, Python and other command-line tools; not Firefox)
  trust:   sudo cp {pem} /usr/local/share/ca-certificates/sourdine.crt && sudo update-ca-certificates
  untrust: sudo rm /usr/local/share/ca-certificates/sourdine.crt && sudo update-ca-certificates --fresh
"""


def cmd_ca(args: argparse.Namespace, stdin: IO[str] | None = None, stdout: IO[str] | None = None) -> int:
    """Run `sourdine ca [show|rotate]`. Returns the exit code; CommandError when it cannot go on."""
    from sourdine.cli import CommandError

    stdin = stdin if stdin is not None else sys.stdin
    stdout = stdout if stdout is not None else sys.stdout
    where = home.resolve(args.home)
    if args.action == "rotate":
        return _rotate(where, args.yes, stdin, stdout)
    path = home.ca_cert(where)
    try:
        mended = None
        if home.ca_cert_stale(where):  # what is shown is the CA that signs: written again from its key file
            with _writing(where, lambda which: (
                    f"{path} is not the certificate of the CA Sourdine signs with, and Sourdine is running with this "
                    f"home ({which}), which writes the CA's files at its start: stop it (Ctrl-C where it runs), then "
                    "run `sourdine ca` again to have it written again from the key file.")):
                mended = mend(where)
    except (OSError, ValueError) as e:
        raise CommandError(f"{path} is not the CA certificate Sourdine signs with, and cannot be written again "
                           f"from {home.ca_key(where).name}: {getattr(e, 'strerror', None) or e}") from None
    if mended is not None:
        stdout.write(f"{path.name} was not the certificate of the CA Sourdine signs with (a rotation stopped "
                     f"midway?): written again from {home.ca_key(where).name}"
                     + (f"; the one that was on show is kept as {mended.kept.name}" if mended.kept else "") + ".\n\n")
    if not path.exists():
        raise CommandError(f"no CA certificate yet at {path}: `sourdine run` creates it on its first start")
    try:
        info = read_ca(path)
    except (OSError, ValueError) as e:
        raise CommandError(f"cannot read the CA certificate {path}: {e}") from None
    stdout.write(describe_ca(info) + "\n" + guide(path, info.sha1))
    return 0


# -- rotation ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rotation:
    new: CaInfo
    old: CaInfo | None  # None when there was no CA yet, or it could not be read
    kept: Path | None  # where the old certificate was kept


def _running(where: Path) -> str:
    """How a `sourdine run` using the home is named: its pid, from run.json, or, before it wrote one, as what
    holds the home's lock then (a run starting, or another `sourdine ca` writing the CA)."""
    info = home.read_run_info(where)
    return f"pid {info.get('pid')}" if info is not None else "still starting, or another `sourdine ca` is writing"


def _refuse_if_running(where: Path) -> None:
    from sourdine.cli import CommandError

    if home.read_run_info(where) is not None:
        raise CommandError(
            f"Sourdine is running with this home ({_running(where)}): it holds the current CA in memory "
            "and would go on signing with it. Stop it first (Ctrl-C where it runs), then run "
            "`sourdine ca rotate` again."
        )


@contextlib.contextmanager
def _writing(where: Path, refusal: Callable[[str], str]) -> Iterator[None]:
    """Hold the home's run lock (home.hold) while the CA's files are written: a `sourdine run` holds it from the
    start of its start-up, before it writes run.json, and loads or makes the CA meanwhile. CommandError, with
    `refusal(<which run>)`, when a run holds it; the run cannot start until the lock is let go."""
    from sourdine.cli import CommandError

    try:
        lock = home.hold(where)
    except OSError as e:
        raise CommandError(f"cannot use {where} as Sourdine's home: {e.strerror or e}") from None
    if lock is None:
        raise CommandError(refusal(_running(where)))
    try:
        yield
    finally:
        lock.close()


def rotate_ca(where: Path, now: datetime.datetime | None = None,
              before_swap: Callable[[], None] = lambda: None) -> Rotation:
    """Make a new CA in the home's confdir with mitmproxy's own code; keep the old certificate, not its key.

    The new files are made in a private folder inside the confdir, checked, then moved over the old ones one
    by one with os.replace, so that the key file is never missing nor half written. `before_swap` runs just
    before the first move (a last check that Sourdine did not start meanwhile).
    """
    from mitmproxy import certs
    from mitmproxy import options as mitm_options

    key_size = getattr(mitm_options, "KEY_SIZE", 2048)  # what `sourdine run` gets: mitmproxy's default

    now = now or datetime.datetime.now(datetime.UTC)
    home.ensure(where)
    confdir = home.confdir(where)
    if not confdir.is_dir():
        confdir.mkdir(mode=0o700)
        home.sync_folder(where)
    home.sweep(confdir)  # a rotation that died left its staging folder, with a key in it
    current = home.ca_cert(where)
    try:
        old = read_ca(current) if current.exists() else None
    except (OSError, ValueError):
        old = None
    # Named after this process, as write_private names its files: a later start sweeps it if this one dies
    # (home.sweep), and one left by a dead process that had this pid goes first.
    staging = confdir / f".rotate.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700)
    try:
        certs.CertStore.create_store(staging, CONF_BASENAME, key_size)
        made = sorted(p for p in staging.iterdir() if p.is_file())
        for path in made:
            if path.name not in PUBLIC_FILES:
                os.chmod(path, 0o600)
        # Make sure mitmproxy will load what it made before anything is replaced.
        certs.CertStore.from_files(staging / f"{CONF_BASENAME}-ca.pem",
                                   staging / f"{CONF_BASENAME}-dhparam.pem")
        new = read_ca(staging / current.name)
        before_swap()
        kept = _keep_old(current, now)
        # Each file on the disk before it takes the old one's place (mitmproxy writes them without syncing): a
        # power cut never leaves a CA half written. The key file first: from this moment mitmproxy loads the new
        # CA. The certificate the user is shown last: until it is in place, the next start (or `sourdine ca`)
        # writes the files in between again from the key file (mend). The folder is synced after each step, so
        # that a power cut keeps them in this order too.
        for path in made:
            with open(path, "r+b") as f:  # writable: Windows flushes a file only through a handle that can write
                home.flush_to_disk(f.fileno())
        key_file = staging / home.ca_key(where).name
        between = [path for path in made if path.name not in (key_file.name, current.name)]
        for step in ([key_file], between, [staging / current.name]):
            for path in step:
                os.replace(path, confdir / path.name)
            home.sync_folder(confdir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Rotation(new=CaInfo(current, new.subject, new.sha256, new.sha1, new.not_after), old=old, kept=kept)


def _keep_old(current: Path, now: datetime.datetime) -> Path | None:
    """A copy of the certificate file `current` beside it, as `<name>.old-<UTC time>` (numbered when that is
    taken), so that the user can still tell which certificate to untrust; None when there is none. A copy kept
    before (by the rotation that a crash then cut short) is not made twice."""
    if not current.exists():
        return None
    data = current.read_bytes()
    for earlier in sorted(current.parent.glob(f"{current.name}.old-*")):
        with contextlib.suppress(OSError):
            if stat.S_ISREG(earlier.lstat().st_mode) and earlier.read_bytes() == data:
                return earlier
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    kept = current.with_name(f"{current.name}.old-{stamp}")
    n = 1
    while kept.exists():
        kept = current.with_name(f"{current.name}.old-{stamp}-{n}")
        n += 1
    home.write_private(kept, data)  # on the disk before the files it stands for are replaced
    return kept


@dataclass(frozen=True, slots=True)
class Mended:
    written: list[str]  # the names written again, the shown certificate last
    kept: Path | None  # where the certificate that was on show was kept


def mend(where: Path, now: datetime.datetime | None = None) -> Mended | None:
    """Write the CA's certificate files (and the key's PKCS #12 copy) again from the key file mitmproxy signs
    with, when the certificate the user is shown is not that one (home.ca_cert_stale): what a rotation stopped
    by a crash or a power cut between its moves leaves, or a key file put there by hand. The certificate that
    was on show is kept as `<name>.old-<UTC time>`, as a rotation keeps it. None when nothing was stale.
    OSError when a file cannot be written, ValueError when the key file does not load (an encrypted key
    included, which mitmproxy cannot load either)."""
    if not home.ca_cert_stale(where):
        return None
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    confdir = home.confdir(where)
    pem = home.ca_key(where).read_bytes()
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError as e:  # a key that asks for a password
        raise ValueError(str(e)) from None
    cert = x509.load_pem_x509_certificate(pem)
    if not isinstance(key, pkcs12.PKCS12PrivateKeyTypes):
        raise ValueError("the CA's key is of a kind PKCS #12 cannot hold")
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    name = CONF_BASENAME.encode()
    none = serialization.NoEncryption()
    # As mitmproxy's CertStore.create_store writes them.
    files = {
        f"{CONF_BASENAME}-ca-cert.cer": cert_pem,
        f"{CONF_BASENAME}-ca-cert.p12": pkcs12.serialize_key_and_certificates(name, None, cert, None, none),
        f"{CONF_BASENAME}-ca.p12": pkcs12.serialize_key_and_certificates(name, key, cert, None, none),
        home.ca_cert(where).name: cert_pem,
    }
    kept = _keep_old(home.ca_cert(where), now or datetime.datetime.now(datetime.UTC))
    for file_name, data in files.items():
        home.write_private(confdir / file_name, data)
    return Mended(list(files), kept)


def _confirm(where: Path, stdin: IO[str], stdout: IO[str]) -> bool:
    stdout.write(
        f"Make a new CA for {where}?\n"
        "Browsers and systems that trust the current one will show certificate errors on the platforms'\n"
        "sites until you trust the new one. [y/N] "
    )
    stdout.flush()
    answer = stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _rotate(where: Path, yes: bool, stdin: IO[str], stdout: IO[str]) -> int:
    from sourdine.cli import CommandError

    _refuse_if_running(where)
    if not yes:
        if not _isatty(stdin):
            raise CommandError("`sourdine ca rotate` asks for confirmation, and there is no terminal to ask "
                               "on; add --yes to rotate without asking")
        if not _confirm(where, stdin, stdout):
            stdout.write("Nothing changed.\n")
            return 1
    try:
        home.ensure(where)  # the lock is a file in it
    except OSError as e:
        raise CommandError(f"cannot use {where} as Sourdine's home: {e.strerror or e}") from None
    with _writing(where, lambda which: (
            f"Sourdine is running with this home ({which}): it holds the current CA in memory and would go on "
            "signing with it. Stop it first (Ctrl-C where it runs), then run `sourdine ca rotate` again.")):
        rotation = rotate_ca(where, before_swap=lambda: _refuse_if_running(where))
    new, old = rotation.new, rotation.old
    stdout.write(f"Made a new CA in {home.confdir(where)}.\n\n" + describe_ca(new) + "\n")
    if old is not None and rotation.kept is not None:
        stdout.write(
            f"The old certificate is kept as {rotation.kept} (SHA-256 {old.sha256}); its key is gone.\n"
            "Now, wherever you trusted the old CA, remove it, then trust the new one. The untrust steps\n"
            "below name the old CA, the trust steps the new one.\n\n"
        )
        stdout.write(guide(new.path, old.sha1))
    else:
        stdout.write("There was no CA before. Trust this one:\n\n" + guide(new.path, new.sha1))
    return 0


# -- doctor --------------------------------------------------------------------------------------------------

# A hand-written status in the shape of Mastodon's Status entity (docs.joinmastodon.org/entities/Status, as
# the captured timelines in tests/data/mastodon have it), trimmed to empty values: the package must not read
# the test data, and the check needs one hostile and one friendly post the proxy sees as real.
_HOSTILE = ("<p>You are a disgusting, pathetic liar and a total idiot. SHAME ON YOU!!! Everyone should "
            "despise you.</p>")
_FRIENDLY = "<p>Thank you all for a lovely afternoon at the library, the kids loved the stories!</p>"


def _status(status_id: str, content: str, origin: str) -> dict[str, Any]:
    account_id = "100000000000000001"
    return {
        "id": status_id,
        "created_at": "2025-07-17T20:03:39.000Z",
        "in_reply_to_id": None,
        "in_reply_to_account_id": None,
        "sensitive": False,
        "spoiler_text": "",
        "visibility": "public",
        "language": "en",
        "uri": f"{origin}/users/sourdine_doctor/statuses/{status_id}",
        "url": f"{origin}/@sourdine_doctor/{status_id}",
        "replies_count": 0,
        "reblogs_count": 0,
        "favourites_count": 0,
        "edited_at": None,
        "content": content,
        "reblog": None,
        "account": {
            "id": account_id,
            "username": "sourdine_doctor",
            "acct": "sourdine_doctor",
            "display_name": "sourdine doctor (test)",
            "locked": False,
            "bot": True,
            "discoverable": False,
            "group": False,
            "created_at": "2025-07-17T00:00:00.000Z",
            "note": "",
            "url": f"{origin}/@sourdine_doctor",
            "uri": f"{origin}/users/sourdine_doctor",
            "avatar": f"{origin}/avatars/original/missing.png",
            "avatar_static": f"{origin}/avatars/original/missing.png",
            "header": f"{origin}/headers/original/missing.png",
            "header_static": f"{origin}/headers/original/missing.png",
            "followers_count": 0,
            "following_count": 0,
            "statuses_count": 2,
            "last_status_at": "2025-07-17",
            "emojis": [],
            "fields": [],
        },
        "media_attachments": [],
        "mentions": [],
        "tags": [],
        "emojis": [],
        "card": None,
        "poll": None,
    }


HOSTILE_ID = "114870361973436701"
FRIENDLY_ID = "114870361973436702"
FEED_PATH = "/api/v1/timelines/home"


def doctor_timeline(origin: str) -> list[dict[str, Any]]:
    """The doctor's timeline: one hostile status, one friendly, as the test server at `origin` serves them."""
    return [_status(HOSTILE_ID, _HOSTILE, origin), _status(FRIENDLY_ID, _FRIENDLY, origin)]


class _TestServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _TestHandler)
        self.hits: list[str] = []
        self.body = json.dumps(doctor_timeline(f"http://127.0.0.1:{self.server_address[1]}")).encode()


class _TestHandler(http.server.BaseHTTPRequestHandler):
    server: _TestServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.server.hits.append(self.path)
        if self.path != FEED_PATH:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        pass


@dataclass(frozen=True, slots=True)
class Check:
    level: str  # OK, WARN or FAIL
    what: str
    fix: str = ""

    def line(self) -> str:
        return f"{self.level:<5} {self.what}" + (f" -- fix: {self.fix}" if self.fix else "")


def check_permissions(where: Path) -> list[Check]:
    """The home 0700, its CA folder 0700, the token, the CA key and the database 0600, all the user's own."""
    if where.exists() and not where.is_dir():
        return [Check("FAIL", f"home {where} is a file, not a folder", "give --home a folder, or move the file away")]
    if not where.is_dir():
        return [Check("FAIL", f"home {where} does not exist", "start Sourdine once: sourdine run")]
    if os.name == "nt":
        return [Check("OK", f"home {where} (permissions are not checked on Windows)")]
    checks = []
    expected = [(where, 0o700, "WARN", "home"), (home.confdir(where), 0o700, "WARN", "CA folder")]
    expected += [(where / "token", 0o600, "FAIL", "API token")]
    expected += [(home.confdir(where) / name, 0o600, "FAIL", "CA key") for name in KEY_FILES]
    expected += [(home.db_path(where), 0o600, "WARN", "database")]
    for path, mode, level, label in expected:
        try:
            info = path.stat()
        except FileNotFoundError:
            if label in ("API token", "CA key"):
                checks.append(Check("WARN", f"{label} {path} does not exist yet",
                                    "start Sourdine once (sourdine run) to create it"))
            continue
        actual = stat.S_IMODE(info.st_mode)
        if info.st_uid != os.getuid():
            checks.append(Check(level, f"{label} {path} belongs to another user (uid {info.st_uid})",
                                f"chown {os.getuid()} {shlex.quote(str(path))}"))
        elif actual & 0o077:
            checks.append(Check(level, f"{label} {path} is mode {actual:04o}: others can get at it",
                                f"chmod {mode:o} {shlex.quote(str(path))}"))
        else:
            checks.append(Check("OK", f"{label} {path} is mode {actual:04o}"))
    return checks


def check_ca(where: Path) -> Check:
    path = home.ca_cert(where)
    if not path.exists():
        return Check("WARN", f"no CA certificate yet at {path}", "start Sourdine once: sourdine run")
    try:
        info = read_ca(path)
    except (OSError, ValueError) as e:
        return Check("FAIL", f"cannot read the CA certificate {path}: {e}", "sourdine ca rotate")
    if home.ca_cert_stale(where):
        return Check("FAIL", f"{path} is not the certificate of the CA Sourdine signs with (a rotation stopped "
                             "midway?)", "sourdine ca: writes it again from the CA's key file; trust it again")
    if info.expired:
        return Check("FAIL", f"the CA certificate expired on {_when(info.not_after)}",
                     "sourdine ca rotate, then trust the new CA")
    if info.not_after - datetime.datetime.now(datetime.UTC) < EXPIRY_WARNING:
        return Check("WARN", f"the CA certificate expires on {_when(info.not_after)}",
                     "sourdine ca rotate, then trust the new CA")
    return Check("OK", f"CA certificate SHA-256 {info.sha256}, valid until {_when(info.not_after)}")


def check_running(home_arg: str | None, where: Path) -> tuple[Check, dict[str, Any] | None]:
    """Whether Sourdine runs on this home, on which ports, and whether its API answers the local token."""
    from sourdine.cli import CommandError, call_api

    info = home.read_run_info(where)
    if info is None:
        fix = f"start it: sourdine run --home {shlex.quote(str(where))}"
        return Check("FAIL", "Sourdine is not running with this home", fix), None
    proxy, api = info.get("proxy"), info.get("api")
    if not (isinstance(proxy, list) and len(proxy) == 2 and isinstance(api, list) and len(api) == 2):
        return Check("FAIL", f"{where / 'run.json'} does not say where Sourdine listens",
                     "restart Sourdine"), None
    where_line = f"proxy on {proxy[0]}:{proxy[1]}, API on http://{api[0]}:{api[1]}"
    try:
        status = call_api(home_arg, "GET", "/api/v1/status")
    except CommandError as e:
        return Check("FAIL", f"Sourdine runs (pid {info['pid']}, {where_line}) but its API: {e}",
                     "look at its log; restart it"), None
    if [status["proxy"]["host"], status["proxy"]["port"]] != list(proxy):
        return Check("WARN", f"run.json says the proxy is on {proxy[0]}:{proxy[1]}, the API says "
                     f"{status['proxy']['host']}:{status['proxy']['port']}", "restart Sourdine"), status
    return Check("OK", f"Sourdine {status.get('version', '')} runs (pid {info['pid']}): {where_line}"), status


def _is_folded(status: dict[str, Any]) -> bool:
    return any(
        isinstance(f, dict) and str((f.get("filter") or {}).get("title", "")).startswith("Sourdine")
        for f in status.get("filtered") or []
    )


def check_filtering(proxy: tuple[str, int], status: dict[str, Any] | None) -> Check:
    """Fetch the test timeline from a throwaway server on 127.0.0.1 through the proxy; check what came back.

    The proxy is spoken to directly (absolute-form request): no proxy or no_proxy variable can go around it.
    """
    server = _TestServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    port = server.server_address[1]
    url = f"http://127.0.0.1:{port}{FEED_PATH}"
    try:
        conn = http.client.HTTPConnection(proxy[0], proxy[1], timeout=TIMEOUT)
        try:
            conn.request("GET", url, headers={"Host": f"127.0.0.1:{port}", "Accept": "application/json"})
            response = conn.getresponse()
            code, body = response.status, response.read()
        finally:
            conn.close()
    except (OSError, http.client.HTTPException) as e:
        return Check("FAIL", f"no answer from the proxy on {proxy[0]}:{proxy[1]}: {e}", "restart Sourdine")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)
    if FEED_PATH not in server.hits:
        return Check("FAIL", f"the proxy did not reach the test server on 127.0.0.1:{port} (HTTP {code})",
                     "look at Sourdine's log (--log-level INFO)")
    if code != 200:
        return Check("FAIL", f"the test feed came back with HTTP {code}", "look at Sourdine's log")
    try:
        statuses = {s["id"]: s for s in json.loads(body)}
    except (ValueError, TypeError, KeyError):
        return Check("FAIL", "the test feed came back unreadable", "look at Sourdine's log")
    original = {s["id"]: s for s in doctor_timeline(f"http://127.0.0.1:{port}")}
    if statuses.get(FRIENDLY_ID) != original[FRIENDLY_ID]:
        return Check("FAIL", "the friendly test post came back changed or missing",
                     "check the thresholds: sourdine status")
    hostile = statuses.get(HOSTILE_ID)
    if hostile is None:
        outcome = "hidden"
    elif _is_folded(hostile):
        outcome = "folded"
    else:
        mastodon = ((status or {}).get("platforms") or {}).get("mastodon") or {}
        if mastodon.get("enabled") is False:
            why, fix = "Mastodon filtering is off", "turn it on (PATCH /api/v1/settings or the extension)"
        else:
            why, fix = "filtering is paused or the thresholds are too high", "check sourdine status"
        return Check("FAIL", f"the hostile test post came back untouched: {why}", fix)
    return Check("OK", f"a feed through the proxy is filtered: the hostile test post came back {outcome}, "
                 "the friendly one unchanged")


def _saved_settings(where: Path) -> tuple[dict[str, Any], str]:
    """The user's saved settings, read-only, and a note when they could not be read."""
    path = home.db_path(where)
    if not path.exists():
        return {}, ""
    try:
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5)) as conn:
            rows = conn.execute("SELECT key, value FROM settings").fetchall()
        return {key: json.loads(value) for key, value in rows}, ""
    except (sqlite3.Error, ValueError) as e:
        return {}, f" (saved settings unreadable: {e}; shipped defaults shown)"


def check_hosts(where: Path) -> list[Check]:
    """The hosts whose HTTPS Sourdine decrypts, one line per platform; every other host passes encrypted."""
    from sourdine import settings

    user, note = _saved_settings(where)
    try:
        snapshot = settings.build(user)
    except ValueError as e:
        return [Check("FAIL", f"the saved settings do not parse: {e}",
                      "fix them with PATCH /api/v1/settings")]
    checks = []
    for platform in snapshot.rules:
        hosts = [h for h, p in snapshot.hosts.items() if p == platform]
        state = "" if snapshot.platforms[platform].enabled else ", filtering off"
        checks.append(Check("OK", f"decrypted for {platform}{state}: {', '.join(hosts)}{note}"))
    return checks


def check_compiled(status: dict[str, Any] | None) -> Check:
    """Whether scoring and filtering run compiled (sourdine.native): in the running Sourdine, from its status,
    or else as `sourdine run` from this installation would. Pure Python works the same, about half as fast."""
    from sourdine import native

    running = status is not None and isinstance(status.get("native"), str)
    state = status["native"] if running else native.state  # type: ignore[index]
    who = "the running Sourdine's" if running else "this installation's"
    if state == "compiled":
        return Check("OK", f"{who} scoring and filtering are compiled (mypyc)")
    fix = "./scripts/run, or scripts/build-native in the source checkout (needs a C compiler)"
    if running and native.state == "compiled":
        fix = "restart Sourdine: this installation's build is current"
    return Check("WARN", f"{who} scoring and filtering run as {state}", fix)


def doctor(home_arg: str | None) -> list[Check]:
    """Every check, in order."""
    where = home.resolve(home_arg)
    checks = [*check_permissions(where), check_ca(where)]
    running, status = check_running(home_arg, where)
    checks.append(running)
    checks.append(check_compiled(status))
    if status is not None:
        checks.append(check_filtering((status["proxy"]["host"], int(status["proxy"]["port"])), status))
    else:
        checks.append(Check("WARN", "filtering not checked: Sourdine must run for that", "sourdine run"))
    checks += check_hosts(where)
    return checks


def cmd_doctor(args: argparse.Namespace, stdout: IO[str] | None = None) -> int:
    """Run `sourdine doctor`: one line per check; exit code 1 if any failed."""
    stdout = stdout if stdout is not None else sys.stdout
    checks = doctor(args.home)
    for check in checks:
        stdout.write(check.line() + "\n")
    return 1 if any(c.level == "FAIL" for c in checks) else 0
