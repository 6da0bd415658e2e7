"""The lexicons' tables, kept in a file between runs: building them from rules/lexicons (110,000 lines) takes
about 0.1 s of every start-up, reading them back about half that.

The file is `lexicons.marshal` in the folder given (`sourdine run`: `<home>/cache`): a key, the SHA-256 of the
rest, then the tables as `marshal` writes them. The key covers what the tables are built from: the Python and
marshal versions, the digest of the package's sources (sourdine.native.digest, as the compiled build's stamp)
and every file under the lexicons' folder, by name and bytes (1.4 MB: a few milliseconds; a modification time
can miss an edit made within its resolution). Tables under another key are built again and replace them; a file
that is damaged, or cannot be read or written, is only a slower start (a warning in the log), and so is any
other error in keeping them; an error in building them (a bad lexicon file) is raised as without a folder. The
file is written whole under a temporary name, then renamed over the old one, so that a start never reads half of
one.

Not compiled: it handles files and `marshal`'s values, of any type until checked; the compiled scorer's classes
check what they are given as they are made from them.
"""

from __future__ import annotations

import hashlib
import logging
import marshal
import os
import sys
from pathlib import Path
from typing import Any

from sourdine import home
from sourdine.scoring import core
from sourdine.scoring.lexicon import Entry, Lexicon, lookup_of

logger = logging.getLogger(__name__)

NAME = "lexicons.marshal"
_DIGEST = 32  # bytes of a SHA-256, the key's and the payload's


def kept_or_built(root: Path, folder: Path) -> core.State:
    """The scorer's state from the tables kept in `folder` when they are those of today's lexicons (`root`) and
    code, else built from the files, and kept there. Nothing in keeping them raises (a warning, and the tables are
    built); an error in building them is raised as it is without a folder."""
    wanted: bytes | None = None
    try:
        wanted = key(root)
        tables = read(folder, wanted)
        if tables is not None:
            plains, other, counts, short, read_words = tables
            lexicons = {plain[0]: from_plain(plain) for plain in plains}
            if sorted(lexicons) != sorted(core.LANGS):
                raise ValueError("not the scored languages")
            return core._assemble(lexicons, other, counts, short, read_words)
    except Exception as e:  # of another shape, or a bug here: built again, and kept anew
        logger.warning("the lexicons' kept tables do not load (%s): built again", type(e).__name__)
    lexicons, other, counts, short, read_words = core._build(root)
    if wanted is not None:
        try:
            write(folder, wanted, ([to_plain(lex) for lex in lexicons.values()], other, counts, short, read_words))
        except Exception as e:  # write() says why for a file that cannot be written: this is anything else
            logger.warning("the lexicons' tables cannot be kept (%s)", type(e).__name__)
    return core._assemble(lexicons, other, counts, short, read_words)


def to_plain(lex: Lexicon) -> tuple[Any, ...]:
    """A lexicon as the plain values `marshal` writes: its entries as tuples, without `lookup` (made again from
    them)."""
    return (lex.lang, {k: tuple(e) for k, e in lex.entries.items()}, lex.valence, lex.boosters, lex.booster_starts,
            lex.negators, lex.contrast, lex.second_person, lex.modifiers, lex.stopwords, lex.emoji,
            lex.outrage_emoji, lex.emoji_chars, lex.learned)


def from_plain(plain: tuple[Any, ...]) -> Lexicon:
    """The lexicon `to_plain` gave. Raises (TypeError, ValueError) on values of another shape."""
    (lang, raw, valence, boosters, booster_starts, negators, contrast, second_person, modifiers, stopwords, emoji,
     outrage_emoji, emoji_chars, learned) = plain
    entries = {k: Entry(*fields) for k, fields in raw.items()}
    return Lexicon(lang=lang, entries=entries, valence=valence, boosters=boosters, booster_starts=booster_starts,
                   negators=negators, contrast=contrast, second_person=second_person, modifiers=modifiers,
                   stopwords=stopwords, emoji=emoji, outrage_emoji=outrage_emoji, emoji_chars=emoji_chars,
                   learned=learned, lookup=lookup_of(entries))


def key(root: Path) -> bytes:
    """What the tables built from `root` (rules/lexicons) depend on, as 32 bytes. Paths as the file system has
    them (a name that is not UTF-8 is still a name)."""
    from sourdine import native

    h = hashlib.sha256(f"{sys.version}\0{marshal.version}\0{native.digest()}\0".encode() + os.fsencode(root))
    for path in sorted(root.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            h.update(b"\0" + os.fsencode(path.relative_to(root)) + b"\0" + str(len(data)).encode() + b"\0")
            h.update(data)
    return h.digest()


def read(folder: Path, wanted: bytes) -> Any | None:
    """The tables kept in `folder` under the key `wanted`, or None (none kept, another key, damaged)."""
    try:
        data = (folder / NAME).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        logger.warning("the lexicons' kept tables cannot be read (%s): built again", e.strerror)
        return None
    if data[:_DIGEST] != wanted:
        return None
    payload = memoryview(data)[2 * _DIGEST:]  # not a copy of 2 MB
    if data[_DIGEST:2 * _DIGEST] != hashlib.sha256(payload).digest():
        logger.warning("the lexicons' kept tables are damaged: built again")
        return None
    try:
        return marshal.loads(payload)
    except (EOFError, ValueError, TypeError) as e:
        logger.warning("the lexicons' kept tables are damaged (%s): built again", type(e).__name__)
        return None


def write(folder: Path, key: bytes, tables: Any) -> None:
    """Keep `tables` in `folder` under `key`, replacing what was there (not synced to the disk: a file a power cut
    damaged is built again, its digest wrong)."""
    try:
        payload = marshal.dumps(tables)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        home.write_private(folder / NAME, key + hashlib.sha256(payload).digest() + payload, durable=False)
    except (OSError, ValueError) as e:  # ValueError: a value marshal cannot write
        logger.warning("the lexicons' tables cannot be kept (%s): the next start builds them again",
                       getattr(e, "strerror", None) or type(e).__name__)
