"""Import and export files: Mastodon's CSV, Bluesky's muted words and moderation lists, and Sourdine's own JSON.

Pure: bytes in, list-entry objects (as `lists.parse_mute` reads them) out, each with the line it came from, and
errors with their line; entries in, bytes out. A malformed row is one error: the rest of the file still goes in.

- `mastodon-csv`: Mastodon's muted accounts export, `Account address,Hide notifications`. "Hide notifications"
  true reads as the hide action, false as collapse (and is written back so). Files without the header, one address
  a line (Mastodon's older exports), are read too.
- `mastodon-blocks-csv`: Mastodon's blocked accounts (one address a line, or under an `Account address` header):
  each becomes a mute with the hide action.
- `bluesky`: a muted-words preference (`{"items": [{value, targets, actorTarget, expiresAt}]}`, alone or inside
  the `preferences` of app.bsky.actor.getPreferences), a moderation list's subjects (app.bsky.graph.getList's
  `items[].subject`), or both in one object as Sourdine writes them. A muted word becomes a keyword (Sourdine's
  keywords match words and their hashtag, so `targets` is not kept; `actorTarget` "exclude-following" cannot be
  honoured: Sourdine does not know whom the user follows); a subject becomes a Bluesky account (its DID).
- `sourdine`: `{"sourdine": 1, "list": ..., "entries": [...]}`, one entry a line, as `Entry.to_dict()` gives them.
  An entry may also carry `"keep"`, a list of fields (`action`, `expires`, `platforms`, `note`) that an entry
  already listed under its key keeps when the file does not say them: `sourdine import` sends the entries it read
  from the other formats so.

The other formats cannot hold every field of an entry, so an entry they name that is already listed keeps what
they cannot say (see `KEEP`): re-importing Mastodon's CSV does not wipe a mute's note, scope or expiry, nor make a
temporary mute permanent. Sourdine's own format says every field: a field left out there is its default. What a
format reads more broadly than it was written (a Bluesky word muted for those not followed only) is a warning.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sourdine.lists import COMMON_FIELDS, AccountEntry, Entry, KeywordEntry

IMPORT_FORMATS = ("sourdine", "mastodon-csv", "mastodon-blocks-csv", "bluesky")
EXPORT_FORMATS = ("sourdine", "mastodon-csv", "bluesky")
MASTODON_HEADER = ["Account address", "Hide notifications"]
MUTED_WORDS = "app.bsky.actor.defs#mutedWordsPref"
# What each format cannot say of an entry, so that one already listed keeps it: (format, kind of entry).
KEEP = {
    "mastodon-csv": ["expires", "platforms", "note"],  # the action is said ("Hide notifications")
    "mastodon-blocks-csv": ["expires", "platforms", "note"],  # a block is a hide mute
    "bluesky-word": ["action", "platforms", "note"],  # its expiry is said (expiresAt, or none)
    "bluesky-subject": ["action", "expires", "platforms", "note"],
}


@dataclass
class Parsed:
    """What a file holds: (line, entry object) pairs, (line, message) errors, and (line, message) warnings about
    entries read as well as Sourdine can, but not quite as the file meant them."""

    entries: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[tuple[int, str]] = field(default_factory=list)


def read(fmt: str, data: bytes, list_name: str) -> Parsed:
    """The entries of an import file. ValueError when the file as a whole cannot be read (not UTF-8, not JSON, a
    format that does not fit the list)."""
    if fmt not in IMPORT_FORMATS:
        raise ValueError(f"format: one of {', '.join(IMPORT_FORMATS)}, not {fmt!r}")
    if list_name not in ("mute", "allow"):
        raise ValueError(f"list: mutes or allow, not {list_name!r}")
    if fmt == "mastodon-blocks-csv" and list_name != "mute":
        raise ValueError("format: blocks are imported into the mute list")
    _check_encoding(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"the file is not UTF-8 text (byte {e.start})") from None
    if fmt in ("mastodon-csv", "mastodon-blocks-csv"):
        return _read_mastodon(text, blocks=fmt == "mastodon-blocks-csv", mute=list_name == "mute")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"line {e.lineno}: not valid JSON ({e.msg})") from None
    except RecursionError:
        raise ValueError("not valid JSON (nested too deeply)") from None
    if not isinstance(doc, dict):
        raise ValueError("line 1: the file must hold a JSON object")
    if fmt == "sourdine":
        plural = "mutes" if list_name == "mute" else "allow"
        if "list" in doc and doc["list"] not in (plural, list_name):  # "mute" too, as a person may write it
            # An export of the allow list imported into the mute list would mute the very people allowed.
            raise ValueError(f"line 1: this file is an export of the {doc['list']!r} list, not of {plural!r}")
        return _read_sourdine(text, doc)
    return _read_bluesky(text, doc, "muted" if list_name == "mute" else "allowed")


# Encodings a text file may be in that are not UTF-8 (as Windows tools write them): their byte order mark, the
# stride of their code units, where a code unit of an ASCII character holds its letter, and the iconv name.
_WIDE = (  # UTF-32 first: its marks begin as UTF-16's do
    (b"\xff\xfe\x00\x00", 4, 0, "UTF-32LE"),
    (b"\x00\x00\xfe\xff", 4, 3, "UTF-32BE"),
    (b"\xff\xfe", 2, 0, "UTF-16LE"),
    (b"\xfe\xff", 2, 1, "UTF-16BE"),
)


def _check_encoding(data: bytes) -> None:
    """ValueError for a file in UTF-16 or UTF-32, with or without its byte order mark, and for any other file that
    holds a NUL byte. ASCII text in UTF-16 without its mark is valid UTF-8 with a NUL every other byte: read so,
    every row was an error of its own."""
    head = data[:4096]
    for bom, stride, letter, name in _WIDE:
        sample = head[len(bom):] if head.startswith(bom) else head
        sample = sample[:len(sample) - len(sample) % stride]
        units = len(sample) // stride
        # Without a mark: most code units are one ASCII byte and NULs (the rare other character is not).
        ascii_like = sum(1 for i in range(0, len(sample), stride)
                         if sample[i + letter] and not any(sample[i + j] for j in range(stride) if j != letter))
        if head.startswith(bom) or units >= 2 and ascii_like * 10 >= units * 9:
            raise ValueError(f"this file is {name} text, not UTF-8: save it as UTF-8 (in a text editor, or with "
                             f"iconv -f {name} -t UTF-8) and import it again")
    nul = data.find(0)
    if nul >= 0:
        raise ValueError(f"the file holds a NUL byte (byte {nul}): it is not a text file")


# -- Mastodon ------------------------------------------------------------------------------------------------


def _read_mastodon(text: str, blocks: bool, mute: bool) -> Parsed:
    out = Parsed()
    reader = csv.reader(io.StringIO(text, newline=""))
    first = True
    for row in _rows(reader, out):
        line, cells = row
        if first and cells and cells[0].strip().lower() == "account address":
            first = False
            # Into the mute list, only the file meant for it: Mastodon's following export has the same first
            # column, and its "Show boosts" read as "Hide notifications" would mute everyone followed.
            columns = [c.strip() for c in cells if c.strip()]
            expected = ["Account address"] if blocks else ["Account address", "Hide notifications"]
            if mute and [c.lower() for c in columns] != [c.lower() for c in expected]:
                raise ValueError(f"line {line}: the columns are {', '.join(columns)}, not those of Mastodon's "
                                 f"{'blocked' if blocks else 'muted'} accounts export ({', '.join(expected)})")
            continue
        first = False
        address = cells[0].strip().removeprefix("@") if cells else ""
        if not address:
            out.errors.append((line, "no account address"))
            continue
        if any("\n" in c or "\r" in c for c in cells):
            # A quote left open reads every line after it into one value: say so, rather than quote the rest of
            # the file back as one bad address.
            out.errors.append((line, "a quote opened here is never closed: the lines from here on were read as "
                                     "one value, and none of them was imported"))
            continue
        entry: dict[str, Any] = {"kind": "account", "platform": "mastodon", "handle": address,
                                 "keep": KEEP["mastodon-blocks-csv" if blocks else "mastodon-csv"]}
        if mute:
            if blocks:
                entry["action"] = "hide"
            else:
                flag = cells[1].strip().lower() if len(cells) > 1 else "false"
                if flag not in ("true", "false", ""):
                    out.errors.append((line, f"Hide notifications: true or false, not {cells[1]!r}"))
                    continue
                entry["action"] = "hide" if flag == "true" else "collapse"
        out.entries.append((line, entry))
    return out


def _rows(reader: Any, out: Parsed) -> Iterable[tuple[int, list[str]]]:
    """Non-empty CSV rows with the line each starts on; a row the csv module cannot read is an error."""
    line = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            out.errors.append((reader.line_num, f"not a CSV row ({e})"))
            line = reader.line_num + 1
            continue
        start, line = line, reader.line_num + 1
        if any(c.strip() for c in cells):
            yield start, cells


def _mastodon_address(entry: AccountEntry) -> str | None:
    account = entry.accounts[0]
    return account.handle if entry.person is None and account.platform == "mastodon" else None


# -- Bluesky -------------------------------------------------------------------------------------------------


def _read_bluesky(text: str, doc: dict[str, Any], done: str) -> Parsed:
    """`done`: what the list does with a word ("muted", "allowed"), for the warnings."""
    out = Parsed()
    words: list[Any] | None = None
    word_lines: list[int] = []
    prefs = doc.get("preferences")
    if isinstance(prefs, list):
        for pref in prefs:
            if isinstance(pref, dict) and pref.get("$type") == MUTED_WORDS and isinstance(pref.get("items"), list):
                words = pref["items"]
                word_lines = _item_lines(text, "items", len(words), after='"' + MUTED_WORDS + '"')
    items = doc.get("items")
    subjects: list[Any] = []
    subject_lines: list[int] = []
    # Muted words when some item has a value and none a subject: then an item without its value is that row's
    # error (one such item made every word of the file an error, read as list subjects).
    if isinstance(items, list) and words is None and any(isinstance(i, dict) and "value" in i for i in items) \
            and not any(isinstance(i, dict) and "subject" in i for i in items):
        words, word_lines = items, _item_lines(text, "items", len(items))
    elif isinstance(items, list):
        subjects, subject_lines = items, _item_lines(text, "items", len(items))
    if isinstance(doc.get("subjects"), list):
        subjects, subject_lines = doc["subjects"], _item_lines(text, "subjects", len(doc["subjects"]))
    if words is None and not subjects:
        raise ValueError("line 1: no muted words (items with a value, or a mutedWordsPref in preferences) and no "
                         "list subjects (items with a subject) in this file")
    for i, word in enumerate(words or []):
        line = word_lines[i]
        try:
            entry, warning = _muted_word(word, done)
        except ValueError as e:
            out.errors.append((line, str(e)))
            continue
        out.entries.append((line, entry))
        if warning:
            out.warnings.append((line, warning))
    for i, item in enumerate(subjects):
        line = subject_lines[i]
        subject = item.get("subject", item) if isinstance(item, dict) else item
        if isinstance(subject, str):
            subject = {"did": subject}
        if not isinstance(subject, dict) or not isinstance(subject.get("did") or subject.get("handle"), str):
            out.errors.append((line, "a list subject names an account by its did (or handle)"))
            continue
        did = subject.get("did")
        out.entries.append((line, {"kind": "account", "platform": "bluesky",
                                   "handle": did if isinstance(did, str) else subject["handle"],
                                   "keep": KEEP["bluesky-subject"]}))
    return out


def _muted_word(word: Any, done: str) -> tuple[dict[str, Any], str]:
    """A keyword entry, and where Sourdine applies it more broadly than Bluesky would ("" when nowhere)."""
    if not isinstance(word, dict) or not isinstance(word.get("value"), str):
        raise ValueError("a muted word is an object with a value")
    value = word["value"].strip()
    targets = word.get("targets", ["content", "tag"])
    if not isinstance(targets, list):
        raise ValueError("targets: must be a list")
    broader = []
    if targets == ["tag"]:
        value = value.removeprefix("#")
        broader.append(f"muted in tags only on Bluesky, it is {done} in posts' text too (Sourdine's keywords "
                       "match a word and its hashtag alike)")
    if word.get("actorTarget") == "exclude-following":
        broader.append(f"muted on Bluesky for accounts you do not follow only, it is {done} in everyone's posts "
                       "(Sourdine does not know whom you follow)")
    entry: dict[str, Any] = {"kind": "keyword", "text": value, "keep": KEEP["bluesky-word"]}
    expires = word.get("expiresAt")
    if expires is not None:
        if not isinstance(expires, str):
            raise ValueError("expiresAt: must be a date and time")
        entry["expires"] = expires
    return entry, "; ".join(broader)


def _bluesky_word(entry: KeywordEntry) -> dict[str, Any]:
    word: dict[str, Any] = {"value": entry.text, "targets": ["content", "tag"], "actorTarget": "all"}
    if entry.expires is not None:
        word["expiresAt"] = entry.expires.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return word


# -- Sourdine ------------------------------------------------------------------------------------------------


def _read_sourdine(text: str, doc: dict[str, Any]) -> Parsed:
    out = Parsed()
    entries = doc.get("entries")
    if doc.get("sourdine") != 1 or not isinstance(entries, list):
        raise ValueError('line 1: not a Sourdine export ({"sourdine": 1, "entries": [...]})')
    lines = _item_lines(text, "entries", len(entries))
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            out.errors.append((lines[i], "an entry is a JSON object"))
        else:
            out.entries.append((lines[i], {k: v for k, v in entry.items() if k != "key"}))
    return out


_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[\s,]*")


def _item_lines(text: str, name: str, count: int, after: str | None = None) -> list[int]:
    """The line each item of the array `name` starts on (after the first occurrence of `after`, when given).
    When the array cannot be found so, items are numbered from 1 instead."""
    start = text.find(after) if after else 0
    for match in re.finditer(r'"' + re.escape(name) + r'"\s*:\s*\[', text[max(start, 0):]):
        pos = max(start, 0) + match.end()
        lines = []
        line, counted = text.count("\n", 0, pos) + 1, pos  # counted incrementally: large files stay linear
        try:
            while len(lines) < count:
                pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
                line += text.count("\n", counted, pos)
                counted = pos
                lines.append(line)
                _, pos = _DECODER.raw_decode(text, pos)
        except ValueError:
            continue
        if text[_SPACE.match(text, pos).end():][:1] == "]":  # type: ignore[union-attr]
            return lines
    return list(range(1, count + 1))


# -- export --------------------------------------------------------------------------------------------------


@dataclass
class Exported:
    body: bytes
    content_type: str
    filename: str
    skipped: int  # entries this format cannot hold


def write(fmt: str, entries: Iterable[Entry], list_name: str, now: datetime) -> Exported:
    """An export file of `entries` (the list `list_name`, "mute" or "allow")."""
    entries = list(entries)
    plural = "mutes" if list_name == "mute" else "allow"
    if fmt == "sourdine":
        lines = [json.dumps(e.to_dict(), ensure_ascii=False, sort_keys=True) for e in entries]
        head = json.dumps({"sourdine": 1, "list": plural, "exported": now.astimezone(UTC).isoformat()})[:-1]
        body = head + ', "entries": [\n' + ",\n".join(lines) + "\n]}\n"
        return Exported(body.encode(), "application/json", f"sourdine-{plural}.json", 0)
    if fmt == "mastodon-csv":
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(MASTODON_HEADER)
        written = 0
        for e in entries:
            address = _mastodon_address(e) if isinstance(e, AccountEntry) else None
            if address is not None:
                writer.writerow([address, "true" if e.action == "hide" else "false"])
                written += 1
        return Exported(buffer.getvalue().encode(), "text/csv", f"sourdine-{plural}-mastodon.csv",
                        len(entries) - written)
    if fmt == "bluesky":
        words = [_bluesky_word(e) for e in entries if isinstance(e, KeywordEntry) and not e.regex]
        subjects = [{"handle" if not a.handle.startswith("did:") else "did": a.handle} for e in entries
                    if isinstance(e, AccountEntry) and e.person is None
                    for a in e.accounts if a.platform == "bluesky"]
        doc = {"preferences": [{"$type": MUTED_WORDS, "items": words}], "subjects": subjects}
        body = json.dumps(doc, ensure_ascii=False, indent=1)
        return Exported(body.encode(), "application/json", f"sourdine-{plural}-bluesky.json",
                        len(entries) - len(words) - len(subjects))
    raise ValueError(f"format: one of {', '.join(EXPORT_FORMATS)}, not {fmt!r}")


@dataclass
class Plan:
    """What an import changes: the entries to write by key, how many are already there as they are, how many rows
    name an entry a later row of the file names again (that row wins), the errors. Each row is counted once:
    imported, unchanged, duplicate or an error."""

    write: dict[str, Entry]
    unchanged: int
    errors: list[tuple[int, str]]
    warnings: list[tuple[int, str]] = field(default_factory=list)
    duplicates: int = 0

    def report(self) -> dict[str, Any]:
        return {"imported": len(self.write), "unchanged": self.unchanged, "duplicates": self.duplicates,
                "errors": [{"line": line, "error": message} for line, message in sorted(self.errors)],
                "warnings": [{"line": line, "warning": message} for line, message in sorted(self.warnings)]}


def plan(parsed: Parsed, list_name: str, existing: Mapping[str, Entry], now: datetime, tz: Any = UTC) -> Plan:
    """Parse each entry as the API does; an entry equal to the stored one is unchanged, an expired one an error.
    An entry already listed (and not expired) keeps the fields its `keep` names that the file does not say. When
    a file names one key twice, its last row wins, and the rows before it are counted as duplicates."""
    from sourdine import lists

    parse = lists.parse_mute if list_name == "mute" else lists.parse_allow
    out = Plan({}, 0, list(parsed.errors))
    seen: set[str] = set()
    taken: set[int] = set()  # the lines of entries imported or unchanged: only theirs have warnings
    for line, data in parsed.entries:
        try:
            data, keep = _keep(data)
            entry = parse(data, now, tz)
            current = existing.get(entry.key)
            if keep and current is not None and (current.expires is None or current.expires > now):
                said = current.to_dict()
                kept = {name: said[name] for name in keep if name in said and name not in data}
                if kept:
                    entry = parse(data | kept, now, tz)
        except ValueError as e:
            message = str(e)  # it quotes the bad value, which a file can make as long as itself
            out.errors.append((line, message if len(message) <= 300 else message[:299] + "…"))
            continue
        if entry.expires is not None and entry.expires <= now:
            out.errors.append((line, "expires: this is already in the past"))
            continue
        if entry.key in seen:
            out.duplicates += 1
        seen.add(entry.key)
        taken.add(line)
        if current is not None and current.to_dict() == entry.to_dict():
            out.write.pop(entry.key, None)
            continue
        out.write[entry.key] = entry
    out.unchanged = sum(1 for key in seen if key not in out.write)
    out.warnings = [(line, message) for line, message in parsed.warnings if line in taken]
    return out


def _keep(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The entry without its `keep`, and the fields `keep` names; ValueError for a `keep` that is not a list of
    those fields."""
    if "keep" not in data:
        return data, []
    keep = data["keep"]
    if not isinstance(keep, list) or not all(isinstance(name, str) and name in COMMON_FIELDS for name in keep):
        raise ValueError(f"keep: a list of the fields an entry already listed keeps ({', '.join(COMMON_FIELDS)})")
    return {name: value for name, value in data.items() if name != "keep"}, keep
