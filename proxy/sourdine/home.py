"""The home directory: where the database, mitmproxy's CA, the API token and run.json live."""

from __future__ import annotations

import base64
import contextlib
import errno
import functools
import json
import logging
import os
import re
import secrets
import shutil
import sys
from collections.abc import Collection
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def default_home() -> Path:
    """The user's data directory, per platform convention."""
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "Sourdine"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Sourdine"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "sourdine"


def resolve(arg: str | None) -> Path:
    """--home wins over $SOURDINE_HOME, which wins over the default."""
    if arg:
        return Path(arg).expanduser().resolve()
    if env := os.environ.get("SOURDINE_HOME"):
        return Path(env).expanduser().resolve()
    return default_home()


def ensure(home: Path) -> Path:
    """Create the home with mode 0700 if it does not exist. An existing folder keeps its mode: the secrets in
    it (token, CA key) are 0600 on their own, and `--home ~` must not lock the user's home folder."""
    if not home.is_dir():
        try:
            home.mkdir(mode=0o700, parents=True)
        except FileExistsError:  # made meanwhile by another process (two runs started at once), which sets its mode
            if not home.is_dir():
                raise
            return home
        os.chmod(home, 0o700)  # mkdir's mode is filtered by the umask
    return home


def db_path(home: Path) -> Path:
    return home / "sourdine.db"


def confdir(home: Path) -> Path:
    return home / "mitmproxy"


def ca_cert(home: Path) -> Path:
    """The CA certificate the user trusts in their browser (no key in it)."""
    return confdir(home) / "mitmproxy-ca-cert.pem"


def ca_key(home: Path) -> Path:
    """The CA's key and certificate in one file: what mitmproxy signs with."""
    return confdir(home) / "mitmproxy-ca.pem"


# The first certificate of a PEM file, its base64 in group 1 (as mitmproxy reads a CA file: the first one signs).
_FIRST_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.S)


def _first_cert(path: Path) -> bytes | None:
    """The DER bytes of the first certificate in a PEM file, None if it holds none that decodes. OSError."""
    match = _FIRST_CERT.search(path.read_bytes())
    if match is None:
        return None
    try:
        return base64.b64decode(b"".join(match.group(1).split()), validate=True)
    except ValueError:
        return None


def ca_cert_stale(home: Path) -> bool:
    """Whether the CA certificate the user is shown (ca_cert) is missing or another than the one mitmproxy
    signs with (in ca_key), as a rotation stopped between its moves leaves it: cli_ca.mend writes it again. The
    certificates are compared as DER, whatever their line ends and line lengths. A key file that is missing or
    holds no certificate is not this check's business (the start says so)."""
    try:
        signing = _first_cert(ca_key(home))
    except OSError:
        return False
    if signing is None:
        return False
    try:
        return _first_cert(ca_cert(home)) != signing
    except FileNotFoundError:
        return True
    except OSError:
        return False


def write_private(path: Path, data: bytes, durable: bool = True) -> None:
    """Write a file readable by its owner only, atomically: no moment where it exists with wider rights or half
    written. `durable`: once this returns, a power cut keeps it too (the file, then its folder's entry for it,
    synced to the disk; where a folder cannot be synced, as on Windows, the file alone); a file that is only a
    cache, or says what runs now, does without."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):  # left by a crash: it may have other rights
        os.unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if durable:
                flush_to_disk(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        sync_folder(path.parent)


# What a process that died while writing leaves: write_private's temporary files and cli_ca.rotate_ca's
# staging folder, each named after its process.
_LEFT_BEHIND = re.compile(r"\.(.+)\.([1-9][0-9]{0,9})\.tmp")  # a pid (Linux's are at most 2**22)


def sweep(folder: Path, names: Collection[str] | None = None) -> list[str]:
    """Remove from `folder` the temporary files (and folders) that processes which died mid-write left there,
    not those of a process still running; only those for the files `names` when given (a folder that may be the
    user's own, as `--home ~` makes the home), else all. The names removed."""
    try:
        entries = os.listdir(folder)
    except OSError:
        return []
    removed = []
    for entry in entries:
        match = _LEFT_BEHIND.fullmatch(entry)
        if match is None or (names is not None and match.group(1) not in names):
            continue
        pid = int(match.group(2))
        try:
            if pid == os.getpid() or pid_runs(pid) is not False:  # another user's (None) is left alone
                continue
        except ValueError:  # not a pid here: not a name Sourdine writes
            continue
        path = folder / entry
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                os.unlink(path)
        except OSError:
            continue
        removed.append(entry)
    return removed


def pid_runs(pid: int) -> bool | None:
    """Whether process `pid` still runs, asked without disturbing it: True while it runs, False once it is gone,
    None when the system will not say (another user's process, which a pid of Sourdine's own cannot be but a
    reused one can). ValueError for a number that cannot be a pid. Not by os.kill on Windows, where signal 0 is
    CTRL_C_EVENT: a Ctrl-C for the processes of a console."""
    if not 0 < pid < 2**31:
        raise ValueError(f"not a process id: {pid}")
    if sys.platform == "win32":
        return _windows_runs(pid, _kernel32())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return None
    return True


_STILL_ACTIVE = 259  # the exit code Windows reports for a process that has not exited
_ERROR_INVALID_PARAMETER = 87  # OpenProcess's answer for a pid that no process has


def _windows_runs(pid: int, kernel32: Any) -> bool | None:
    import ctypes

    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return False if ctypes.get_last_error() == _ERROR_INVALID_PARAMETER else None  # else: access denied
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return None
        return code.value == _STILL_ACTIVE  # (one that exited with 259 is taken as running)
    finally:
        kernel32.CloseHandle(handle)


@functools.cache
def _kernel32() -> Any:
    import ctypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]  # Windows only
    kernel32.OpenProcess.argtypes = (ctypes.c_ulong, ctypes.c_int, ctypes.c_ulong)
    kernel32.OpenProcess.restype = ctypes.c_void_p  # a handle is pointer-sized
    kernel32.GetExitCodeProcess.argtypes = (ctypes.c_void_p, ctypes.POINTER(ctypes.c_ulong))
    kernel32.GetExitCodeProcess.restype = ctypes.c_int
    kernel32.CloseHandle.argtypes = (ctypes.c_void_p,)
    kernel32.CloseHandle.restype = ctypes.c_int
    return kernel32


def flush_to_disk(fd: int) -> None:
    """Have the system write a file's data (or a folder's entries) to the disk: os.fsync, but on macOS, where
    fsync leaves the data in the drive's own cache, which a power cut empties, fcntl's F_FULLFSYNC (os.fsync
    where the file system refuses it). OSError when the system cannot."""
    if sys.platform == "darwin":
        import fcntl

        try:
            fcntl.fcntl(fd, fcntl.F_FULLFSYNC)
            return
        except OSError:
            pass
    os.fsync(fd)


def sync_folder(folder: Path) -> None:
    """Sync a folder's entries to the disk (after a file was created or renamed in it), where the system lets a
    folder be synced: not on Windows, where opening one fails, nor on every file system."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        flush_to_disk(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def token(home: Path) -> str:
    """The local API token, created on first use (mode 0600)."""
    path = home / "token"
    try:
        value = path.read_text().strip()
        if value:
            return value
    except FileNotFoundError:
        pass
    value = secrets.token_urlsafe(32)
    write_private(path, (value + "\n").encode())
    return value


_HELD_WINDOWS = (errno.EACCES, errno.EDEADLK)  # what msvcrt.locking raises for a byte another process locked


def hold(home: Path) -> Any | None:
    """Take the home's run lock (`run.lock`, locked for as long as the returned file stays open, which the system
    lets go of when the process ends, however it ends), or None when another process holds it. run.json alone
    did not keep a second `sourdine run` out: it is written at the end of start-up, and two runs started within
    those seconds both went on (two processes with their own lists in memory on one database, and on a first
    start each made a CA and a token of its own, one of them not the one on disk). Where the file system takes
    no locks, the file is returned unlocked, with a warning."""
    handle = open(home / "run.lock", "a+b")  # noqa: SIM115 (held open on purpose)
    try:
        if sys.platform == "win32":
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if isinstance(e, BlockingIOError) or (sys.platform == "win32" and e.errno in _HELD_WINDOWS):
            handle.close()
            return None
        # A file system that takes no locks (some network mounts): the run goes on, as before there was a lock.
        logger.warning("cannot lock %s (%s): two runs started at once on this home are not kept apart",
                       handle.name, e.strerror or e)
    return handle


def write_run_info(home: Path, info: dict[str, Any]) -> None:
    write_private(home / "run.json", json.dumps(info).encode(), durable=False)  # a stale one is ignored anyway


def read_run_info(home: Path) -> dict[str, Any] | None:
    """What the running instance wrote, or None when nothing runs: a stale file counts as none, whose pid is gone,
    or is now another user's process, or is not a number a process can have."""
    try:
        info = json.loads((home / "run.json").read_text())
        pid = info["pid"]
        if type(pid) is not int or not pid_runs(pid):
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info


def remove_run_info(home: Path, pid: int) -> None:
    """Remove run.json if it is this process's (another instance may have started since)."""
    try:
        if json.loads((home / "run.json").read_text()).get("pid") != pid:
            return
    except (OSError, ValueError, AttributeError):
        return
    (home / "run.json").unlink(missing_ok=True)
