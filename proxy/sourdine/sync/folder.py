"""The folder transport, for people who already sync a folder between their machines (Syncthing, Dropbox, a NAS).

Each device appends only to its own `ops-<device>.jsonl` in that folder and reads the other devices' files. A line
is one batch of rows, numbered, encrypted once for each paired peer (AES-GCM, with a key derived by HKDF from that
peer's pairing key, bound to the sending and the receiving device): the folder's host, or anyone who can read
the folder, sees no entry, and a line that fails to decrypt, repeats an earlier number or holds a row Sourdine
cannot use is ignored and reported, so someone who can write to the folder cannot slip entries in. Conflict
copies the sync tool makes (`ops-x.sync-conflict-....jsonl`, `ops-x (conflicted copy ...).jsonl`) are not read:
only `ops-<paired device id>.jsonl` is. The database itself never goes there; the folder holds only these files.
"""

from __future__ import annotations

import base64
import binascii
import errno
import json
import logging
import os
import re
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sourdine import home
from sourdine.sync import db as sync_db
from sourdine.sync import merge
from sourdine.sync.merge import Row

logger = logging.getLogger(__name__)

_NAME = re.compile(r"ops-([A-Za-z0-9_.-]{1,64})\.jsonl")
_CONFLICT = re.compile(r"sync-conflict|conflicted copy|conflict", re.IGNORECASE)
MAX_LINE = 16 * 1024 * 1024  # a line's bytes at most, as written (`batches`)
_WINDOW = MAX_LINE * 4  # what a read looks at past its offset: a longer line is skipped, unread
_HEAD = 64  # the bytes at the start of a file that tell it from another (a line starts with its random nonce)
# What opening a link with O_NOFOLLOW (ELOOP; EMLINK on the BSDs), a pipe without a reader for writing with
# O_NONBLOCK (ENXIO) and a folder (EISDIR) fail with.
_NOT_PLAIN = {errno.ELOOP, errno.EMLINK, errno.ENXIO, errno.EISDIR}


class Refused(OSError):
    """A device's file in the folder (`name`) is not a regular file with one link (see `_open_file`)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} in the sync folder is not a regular file with one link")
        self.name = name


def _plain(st: os.stat_result) -> bool:
    """A regular file with one name: what a sync tool makes (see `_open_file`)."""
    return stat.S_ISREG(st.st_mode) and st.st_nlink == 1


def _open_file(path: Path, flags: int) -> int:
    """A descriptor on `path`, which must be a regular file with one link. Someone who can write to the folder can
    put a link or a pipe under a device's file name: a link is never followed (our lines would be appended to
    whatever file it names, or another file read in its place), nor a hard link to another file used (the same,
    for a file on the folder's own disk), and a pipe never waited on (an open that never returns would hold every
    later sync): each is `Refused`."""
    try:
        # O_BINARY (Windows): bytes as they are, no CRLF translation, so that offsets are the file's own.
        fd = os.open(path, flags | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
                     | getattr(os, "O_BINARY", 0), 0o600)
    except OSError as e:
        if e.errno in _NOT_PLAIN:  # a link (not followed), a pipe no one reads (not waited on), a folder
            raise Refused(path.name) from e
        raise
    try:
        if not _plain(os.fstat(fd)):
            raise Refused(path.name)
        if hasattr(os, "O_NONBLOCK"):
            os.set_blocking(fd, True)  # a regular file: reads and writes as usual from here
    except BaseException:
        os.close(fd)
        raise
    return fd


def _cut_part_line(fd: int, name: str) -> int:
    """Cut the end of our own file back to its last whole line, and return its size. Only this device writes its
    file, and it writes whole lines: bytes after the last newline are what a process killed in the middle of an
    append (or a power cut) left, which no reader has taken (a reader waits for a line's newline)."""
    size = os.fstat(fd).st_size
    end = size
    while end > 0:
        start = max(0, end - (1 if end == size else 1024 * 1024))  # its last byte first: a newline, as a rule
        os.lseek(fd, start, os.SEEK_SET)
        chunk = os.read(fd, end - start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            end = start + newline + 1
            break
        end = start
    if end < size:
        os.ftruncate(fd, end)
        home.flush_to_disk(fd)
        logger.warning("cut away the end of %s in the sync folder: part of a line, left by a write that was "
                       "stopped", name)
    return end


def line_key(pairing_key: bytes) -> AESGCM:
    """The folder's encryption key for one pair of devices, derived from their pairing key (its own label: it is
    never the key that signs peer messages)."""
    return AESGCM(HKDF(hashes.SHA256(), 32, None, b"sourdine folder line key v1").derive(pairing_key))


def _bound(sender: str, recipient: str) -> bytes:
    """What a line's encryption is bound to: a line moved to another device's file, or meant for another device,
    fails to decrypt."""
    return f"sourdine folder line\n{sender}\n{recipient}".encode()


def check_folder(folder: Path, home: Path) -> Path:
    """The folder, resolved; ValueError if it is Sourdine's home or inside it (the live database stays out)."""
    folder = folder.expanduser().resolve()
    home = home.resolve()
    if folder == home or home in folder.parents or folder in home.parents:
        raise ValueError(f"{folder}: the sync folder must be outside Sourdine's home, and not contain it")
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder")
    return folder


@dataclass
class Report:
    written: int = 0  # rows appended to our file
    read: int = 0  # lines accepted from the others' files
    ignored: int = 0  # lines refused (and logged)

    def to_dict(self) -> dict[str, int]:
        return {"written": self.written, "read": self.read, "ignored": self.ignored}


class Folder:
    """One device's view of the folder: `peers` maps a paired device id to its pairing key (bytes)."""

    def __init__(self, folder: Path, device: str) -> None:
        self.folder = folder
        self.device = device
        self.path = folder / f"ops-{device}.jsonl"
        self._refused: set[str] = set()  # names warned about, once each while they stay so

    # -- writing --

    def line(self, rows: list[Row], seq: int, peers: dict[str, bytes]) -> bytes:
        payload = json.dumps({"device": self.device, "seq": seq, "time": int(time.time() * 1000),
                              "rows": [r.to_wire() for r in rows]}, separators=(",", ":")).encode()
        boxes = {}
        for peer, key in sorted(peers.items()):
            nonce = os.urandom(12)
            sealed = line_key(key).encrypt(nonce, payload, _bound(self.device, peer))
            boxes[peer] = base64.b64encode(nonce + sealed).decode()
        return json.dumps({"boxes": boxes}, separators=(",", ":")).encode() + b"\n"

    def batches(self, rows: list[Row], peers: dict[str, bytes]) -> list[list[Row]]:
        """`rows` in runs whose line stays within MAX_LINE: a full state can be more than one line holds, and a
        reader skips a line longer than its window, unread (a review found a line of 81 MB that blocked the
        device's file for good)."""
        # A row's share of a line: its JSON, sealed once per peer, in base64 (4/3), with room for the rest.
        budget = MAX_LINE // (max(len(peers), 1) * 3 // 2 + 1) - 1024
        out: list[list[Row]] = [[]]
        size = 0
        for row in rows:
            length = len(json.dumps(row.to_wire(), separators=(",", ":"))) + 1
            if out[-1] and size + length > budget:
                out.append([])
                size = 0
            out[-1].append(row)
            size += length
        return out if out[-1] else []

    def append(self, data: bytes) -> None:
        """One whole line, appended and flushed to disk before the bookkeeping says it was written (and, the first
        time, the folder's entry for our file too). Refused (and nothing written) when our file is not a regular
        file with one link. When the line cannot be written whole (a full disk), the file is cut back to where it
        was: a part of a line would be joined to the next one and both lost to the readers. A part of a line that a
        process killed while writing it (or a power cut) left at the end is cut away first, for the same reason."""
        created = not self.path.exists()
        fd = _open_file(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT)
        try:
            size = _cut_part_line(fd, self.path.name)
            try:
                view = memoryview(data)
                while view:  # os.write may write less than it is given, and says how much
                    written = os.write(fd, view)
                    if written <= 0:
                        raise OSError(errno.ENOSPC, "the line could not be written whole")
                    view = view[written:]
                home.flush_to_disk(fd)
            except BaseException:
                try:
                    os.ftruncate(fd, size)
                    home.flush_to_disk(fd)
                except OSError:
                    logger.warning("could not cut %s back after a failed write", self.path.name)
                raise
        finally:
            os.close(fd)
        if created:
            home.sync_folder(self.path.parent)
        self._refused.discard(self.path.name)

    def check_own(self) -> None:
        """Refused when our file is there and is not a regular file with one link: so said at every sync, even
        one with nothing to write."""
        try:
            st = self.path.lstat()
        except FileNotFoundError:
            st = None
        if st is not None and not _plain(st):
            raise Refused(self.path.name)
        self._refused.discard(self.path.name)  # as it should be: said again if it is planted again

    def refused(self, name: str, message: str) -> None:
        """Log that the file `name` was refused, once while it stays so."""
        if name not in self._refused:
            self._refused.add(name)
            logger.warning("%s", message)

    # -- reading --

    def files(self, peers: dict[str, bytes]) -> dict[str, Path]:
        """The other devices' files: only `ops-<paired device>.jsonl`, never a conflict copy, nor anything but a
        regular file with one link under that name (a link, a pipe: see `_open_file`), which is reported once
        (and again if it comes back after a regular file)."""
        out = {}
        for path in self.folder.iterdir():
            match = _NAME.fullmatch(path.name)
            if match is None or _CONFLICT.search(path.name) or match[1] == self.device or match[1] not in peers:
                continue
            try:
                st = path.lstat()
            except FileNotFoundError:  # gone meanwhile
                continue
            if _plain(st):
                out[match[1]] = path
                self._refused.discard(path.name)
            else:
                self.refused(path.name, f"ignored {path.name} in the sync folder: not a regular file with one link")
        return out

    def read(self, device: str, path: Path, offset: int, last_seq: int, key: bytes, head: str = ""
             ) -> tuple[list[tuple[int, list[Row]]], int, int, str]:
        """The lines of `device`'s file after `offset`: ([(seq, rows)], bad lines, new offset, the file's head). A
        file shorter than `offset`, or whose first bytes are not `head` (those read with `offset`), was replaced: it
        is read again from the start (lines already seen are skipped by number; a file deleted and grown again
        past `offset` was read from its middle). Reading stops before a line whose clock is too far ahead, to try it
        again next time; a line that fails its check, is malformed or longer than the window is skipped for
        good."""
        with os.fdopen(_open_file(path, os.O_RDONLY), "rb") as f:
            now_head = f.read(_HEAD).hex()  # (not os.pread: Windows has none)
            if os.fstat(f.fileno()).st_size < offset or head and not now_head.startswith(head[:len(now_head)]):
                offset = 0
            f.seek(offset)
            data = f.read(_WINDOW)
            if len(data) == _WINDOW and b"\n" not in data:
                return [], *self._skip_long_line(f, path, offset), now_head
        out, bad = [], 0
        end = data.rfind(b"\n") + 1  # a line still being written waits for the next round
        seq = last_seq
        now = int(time.time() * 1000)
        pos = 0
        for raw in data[:end].split(b"\n")[:-1]:
            start, pos = pos, pos + len(raw) + 1
            if not raw.strip():
                continue
            try:
                parsed = self._parse(raw, device, key, now)
            except merge.Ahead as e:
                bad += 1
                logger.warning("a line of %s in the sync folder waits for the next round: %s", path.name, e)
                logger.debug("a line of %s waits: %s", path.name, merge.detail(e))
                return out, bad, offset + start, now_head
            except ValueError as e:
                bad += 1
                logger.warning("ignored a line of %s in the sync folder: %s", path.name, e)
                logger.debug("ignored a line of %s: %s", path.name, merge.detail(e))
                continue
            if parsed is None:
                continue
            rows, line_seq = parsed
            if line_seq <= seq:
                if line_seq < seq or offset != 0:
                    bad += 1
                    logger.warning("ignored a line of %s in the sync folder: a repeated line", path.name)
                continue
            seq = line_seq
            out.append((line_seq, rows))
        return out, bad, offset + end, now_head

    def _skip_long_line(self, f: Any, path: Path, offset: int) -> tuple[int, int]:
        """(bad lines, new offset) past a line longer than the window, once its end is there; (0, offset) while
        it is still being written."""
        where = offset + _WINDOW
        f.seek(where)
        while chunk := f.read(1024 * 1024):
            newline = chunk.find(b"\n")
            if newline >= 0:
                logger.warning("ignored a line of %s in the sync folder: longer than %d MB", path.name,
                               _WINDOW >> 20)
                return 1, where + newline + 1
            where += len(chunk)
        return 0, offset

    def _parse(self, raw: bytes, device: str, key: bytes, now: int) -> tuple[list[Row], int] | None:
        """The line's rows and number; None for a line that holds nothing for this device (written before the two
        were paired), which is no fault of the line's."""
        try:
            boxes = json.loads(raw)["boxes"]
            if not isinstance(boxes, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise ValueError("not a Sourdine line") from None
        box = boxes.get(self.device)
        if box is None:
            return None
        try:
            sealed = base64.b64decode(box, validate=True)
            payload = line_key(key).decrypt(sealed[:12], sealed[12:], _bound(device, self.device))
        except (InvalidTag, ValueError, TypeError, binascii.Error):
            raise ValueError("it does not decrypt with the pairing key") from None
        try:
            body = json.loads(payload)
            if body["device"] != device or not isinstance(body["seq"], int) or not isinstance(body["rows"], list):
                raise ValueError
            rows = [Row.from_wire(r) for r in body["rows"]]
        except (ValueError, KeyError, TypeError):
            raise ValueError("a malformed line") from None
        merge.check_all(rows, now)
        return rows, body["seq"]


def state(db: sqlite_utils.Database, device: str) -> tuple[int, int, str]:
    """(offset, last line number, the file's first bytes in hex) read so far from `device`'s file. The first bytes
    are kept under a key of their own, so that an older version, which reads [offset, seq], still can ("" where
    an older version read last)."""
    value = sync_db.get_state(db, f"folder:{device}")
    offset, seq = (json.loads(value) if value else (0, 0))
    return int(offset), int(seq), sync_db.get_state(db, f"folder-head:{device}") or ""


def set_state(db: sqlite_utils.Database, device: str, offset: int, seq: int, head: str = "") -> None:
    sync_db.set_state(db, f"folder:{device}", json.dumps([offset, seq]))
    sync_db.set_state(db, f"folder-head:{device}", head)


def our_state(db: sqlite_utils.Database) -> dict[str, Any]:
    """What we appended so far: the last line number and the sequence number of the rows it reached."""
    value = sync_db.get_state(db, "folder:self")
    return json.loads(value) if value else {"line": 0, "upto": 0}
