"""Mute and allow lists: entries parsed at the edge, compiled into one immutable `Lists` for the hot path.

An entry names accounts (one account, or a `person` group of accounts on several platforms) or a keyword.
Each is keyed by a normalised identity (`account:<platform>:<handle>`, `person:<id>`, `keyword:<text>`,
after NFKC normalisation and case folding), which is how the store and sync tell entries apart, and which
`Lists` gives as the reason of a match. A regex is keyed `keyword:/<regex>/`, after NFKC only: case folding
would change its meaning (`\\S` is not `\\s`).

Handles, per platform:
- Mastodon: the `acct`, `user@instance` (a leading @ is dropped). A bare `user` is refused: it names no
  instance. A post whose author is local (the API gives a bare acct) is matched as `user@<host of its url>`.
  Account ids differ from server to server, so they are refused.
- Bluesky: the DID (`did:plc:...`, `did:web:...`), matched against the author's DID, or the handle
  (`alice.bsky.social`), matched against the author's handle. A DID survives a change of handle.
- X: the screen name (1-15 of A-Z, a-z, 0-9, _; any case), or the numeric user id (`"id": "12"`).
- Other platforms: any handle or id without spaces, compared after case folding.

Keywords match whole words, whatever their case and the accents of Latin letters ("ecoeurant" matches
"Écœurant", "honte" matches "HONTE" and "l'honte" but neither "éhonté" nor "hontes"), after NFKC (full-width
and styled letters count as plain ones, "𝐡𝐨𝐧𝐭𝐞" is "honte"). In a word of Latin letters, Cyrillic and Greek
letters drawn like Latin ones count as those ("іdiot", with a Ukrainian і, is "idiot"); a word wholly in Cyrillic
or Greek stays as it is ("рор" is not "pop").
Apostrophes, hyphens and underscores separate words, so French elision (l', d', qu', n') does not hide a word;
a phrase matches across any run of spaces or punctuation, and its hashtag: "stop the count" matches
"#StopTheCount" (the words run together, so "the rapist" also matches "#therapist"). A letter is a Latin,
Greek or Cyrillic letter or a digit; a keyword with no such letter ("日本"), or with a symbol that words cannot
hold ("c++", "C#", an emoji), is refused: a regex can match it. Invisible format characters in a post (zero-width
spaces, soft hyphens) do not split its words, and symbols such as "™" do not stick to them. Keywords are
looked up word by word in a trie, so thousands of them cost about what a few do, to build and to match, however
many words they share.

A keyword may be a regular expression (`"regex": true`), run by RE2, whose cost is linear in the text: no
backtracking. It is searched, case-insensitively, in the text without accents (write "ecoeurant", not
"écœurant"), and, where the text holds invisible characters or look-alikes, in it also as keywords read it (so
"honte" finds "ho\u200bnte" and "idiot" finds "іdiot", while a regex for an emoji joined by U+200D, or for the
Cyrillic letters themselves, still finds them). Backreferences and lookaround do not exist in RE2 and are
refused, and so is a regex that matches an empty text (it would match every post). Only the first 10,000
characters of a post are searched.

Each entry has an optional expiry ("90m", "24h", "7d" or "7j", "2w", counted from the `now` given to the
parser; an ISO date: until the end of that day in the parser's `tz`; or an ISO instant), stored as an aware
UTC instant; an optional platform scope; a note; and, for mutes, an action:
"collapse" (the default) or "hide". When several mutes match, the strongest action wins ("hide" over "collapse");
among equals, an account named by its handle, then one named by its id (an X id, a Bluesky DID), then a person,
then a keyword, then a regex, and among those of one kind the first key in alphabetical order. The choice
depends on the entries alone, not on the order they were added, loaded or synced in, so every device names
the same one at every start: an X account muted both as `alice` and as id 12, to the same action, is reported
as `account:x:alice`. An allowed post's reason is likewise the first allow entry in that order.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

import re2

from sourdine.model import INVISIBLE, PLATFORMS, Post, plain_letters

MuteAction = Literal["collapse", "hide"]
MUTE_ACTIONS: tuple[MuteAction, ...] = ("collapse", "hide")
KINDS = ("account", "person", "keyword")

SCAN_LIMIT = 10_000  # characters of a post that keywords and regexes search
MAX_KEYWORD = 200
MAX_REGEX = 500
# What a paired device accepts of an entry (sync.merge checks a peer's rows against these): one larger would be
# refused by every peer, and every later sync with it.
MAX_KEY = 1_000  # characters of its key
MAX_ENTRY = 16 * 1024  # characters of its JSON
_REGEX_CHUNK = 32  # regexes per RE2 set: each may use up to 1 MB
_FOREVER = float("inf")


# -- entries -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Account:
    """One account on one platform, its handle normalised (see the module's docstring)."""

    platform: str
    handle: str

    @property
    def key(self) -> str:
        return f"account:{self.platform}:{self.handle}"


@dataclass(frozen=True, slots=True)
class AccountEntry:
    """An account, or a person: a group of accounts (`person` is then their id)."""

    accounts: tuple[Account, ...]
    person: str | None = None
    action: MuteAction | None = None
    expires: datetime | None = None
    platforms: frozenset[str] | None = None
    note: str = ""

    @property
    def key(self) -> str:
        return f"person:{self.person}" if self.person is not None else self.accounts[0].key

    def to_dict(self) -> dict[str, object]:
        """The canonical JSON object: `parse_mute`/`parse_allow` read it back to an equal entry."""
        if self.person is None:
            first = self.accounts[0]
            out: dict[str, object] = {"kind": "account", "platform": first.platform, **_handle_field(first)}
        else:
            accounts = [{"platform": a.platform, **_handle_field(a)} for a in self.accounts]
            out = {"kind": "person", "id": self.person, "accounts": accounts}
        return out | _common_dict(self)


@dataclass(frozen=True, slots=True)
class KeywordEntry:
    """A word or phrase (its text NFKC-normalised and case-folded), or an RE2 regular expression."""

    text: str
    regex: bool = False
    action: MuteAction | None = None
    expires: datetime | None = None
    platforms: frozenset[str] | None = None
    note: str = ""

    @property
    def key(self) -> str:
        return f"keyword:/{self.text}/" if self.regex else f"keyword:{self.text}"

    def to_dict(self) -> dict[str, object]:
        """The canonical JSON object: `parse_mute`/`parse_allow` read it back to an equal entry."""
        out: dict[str, object] = {"kind": "keyword", "text": self.text}
        if self.regex:
            out["regex"] = True
        return out | _common_dict(self)


Entry = AccountEntry | KeywordEntry


def _handle_field(account: Account) -> dict[str, str]:
    if account.handle.startswith("id:"):
        return {"id": account.handle[3:]}
    return {"handle": account.handle}


def _common_dict(entry: Entry) -> dict[str, object]:
    out: dict[str, object] = {}
    if entry.action is not None:
        out["action"] = entry.action
    if entry.expires is not None:
        out["expires"] = entry.expires.isoformat()
    if entry.platforms is not None:
        out["platforms"] = sorted(entry.platforms)
    if entry.note:
        out["note"] = entry.note
    return out


# -- normalisation -------------------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """NFKC and case folding, as identity keys use them: "Ｓｔｒａßｅ" -> "strasse"."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


_MARKS = re.compile("[\u0300-\u036f]+")
# Letters NFKD does not take apart, folded to their base letters like accents, and ligatures spelled out.
_SPELLED = {"ø": "o", "ł": "l", "đ": "d", "ħ": "h", "ŧ": "t", "ı": "i", "ŀ": "l",
            "œ": "oe", "æ": "ae", "ß": "ss", "ĳ": "ij"}
_SPECIAL = re.compile(f"[{''.join(_SPELLED)}]")


# A run of more than 30 characters that are neither letters, digits nor spaces: where combining marks can pile up.
_LONG_RUN = re.compile(r"[^\w\s]{31,}")
_CGJ = "\u034f"  # the combining grapheme joiner: a mark that blocks reordering, and that _MARKS takes out again


def _break_run(match: re.Match[str]) -> str:
    run = match.group()
    return _CGJ.join(run[i : i + 30] for i in range(0, len(run), 30))


def fold(text: str) -> str:
    """The text as keywords and regexes see it: NFKC, case-folded, without accents, ligatures spelled out
    ("Œ" -> "oe"). NFKD then case folding gives what NFKC, case folding and NFKD give, for every code point, at
    a fraction of the cost; str.translate is slow outside ASCII, so the rare special letters go through a regex.

    NFKD puts each run of combining marks in order by insertion, in time quadratic in the run: 10,000 marks
    after one letter ("zalgo" text) took 320 ms, past a page's budget (a review's finding). As in Unicode's
    stream-safe form (UAX #15), a joiner goes after every 30 characters of a long run of marks or symbols first,
    and comes out with the accents; only the order of marks past the 30th, which no keyword spells, can differ.
    Looking for such runs costs about half as much again as folding, so texts of 300 characters or fewer, whose
    runs cost at most about 0.2 ms, are folded as they are."""
    if text.isascii():
        return text.lower()
    if len(text) > 300 and _LONG_RUN.search(text) is not None:
        text = _LONG_RUN.sub(_break_run, text)
    text = _MARKS.sub("", unicodedata.normalize("NFKD", text).casefold())
    return _SPECIAL.sub(_spell, text) if _SPECIAL.search(text) else text


def _spell(match: re.Match[str]) -> str:
    return _SPELLED[match.group()]


def _re2_options(max_mem: int) -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    options.max_mem = max_mem
    return options


_REGEX_OPTIONS = _re2_options(1 << 20)
_SET_OPTIONS = _re2_options(32 << 20)


# -- parsing -------------------------------------------------------------------------------------------------


def parse_mute(data: Mapping[str, object], now: datetime, tz: tzinfo = UTC) -> Entry:
    """A mute entry from its JSON object. Relative expiries count from `now`; dates and naive instants are in
    `tz`.

    Raises ValueError naming the bad field.
    """
    return _parse(data, mute=True, now=now, tz=tz)


def parse_allow(data: Mapping[str, object], now: datetime, tz: tzinfo = UTC) -> Entry:
    """An allow-list entry from its JSON object (as `parse_mute`, without an action)."""
    return _parse(data, mute=False, now=now, tz=tz)


_FIELDS = {
    "account": {"kind", "platform", "handle", "id"},
    "person": {"kind", "id", "accounts"},
    "keyword": {"kind", "text", "regex"},
}
# The fields every kind of entry may have (an import keeps them where its format cannot say them).
COMMON_FIELDS = ("action", "expires", "platforms", "note")
_COMMON = frozenset(COMMON_FIELDS)


def canonical(entry: Mapping[str, object]) -> str:
    """An entry's JSON in one spelling, so that equal entries compare equal as text (how sync stores and sends it)."""
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _parse(data: Mapping[str, object], *, mute: bool, now: datetime, tz: tzinfo) -> Entry:
    entry = _parse_fields(data, mute=mute, now=now, tz=tz)
    if len(entry.key) > MAX_KEY:
        raise ValueError(f"{'id' if entry.key.startswith('person:') else 'handle'}: at most {MAX_KEY} characters")
    if len(canonical(entry.to_dict())) > MAX_ENTRY:
        raise ValueError(f"note: the entry is too large to sync (at most {MAX_ENTRY} characters in all)")
    return entry


def _parse_fields(data: Mapping[str, object], *, mute: bool, now: datetime, tz: tzinfo) -> Entry:
    if not isinstance(data, Mapping):
        raise ValueError("entry: must be a JSON object")
    if now.tzinfo is None:
        raise ValueError("now: must be an aware datetime")
    kind = data.get("kind")
    if kind not in KINDS:
        raise ValueError(f"kind: must be one of {', '.join(KINDS)}, not {kind!r}")
    unknown = sorted(set(data) - _FIELDS[kind] - _COMMON)
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown field for a {kind} entry")
    action = _str(data, "action", "collapse" if mute else None)
    if mute and action not in MUTE_ACTIONS:
        raise ValueError(f"action: must be one of {', '.join(MUTE_ACTIONS)}, not {action!r}")
    if not mute and action is not None:
        raise ValueError("action: allow entries have no action")
    common = {
        "action": action,
        "expires": _expires(data.get("expires"), now, tz),
        "platforms": _platforms(data.get("platforms")),
        "note": _str(data, "note", "") or "",
    }
    if kind == "keyword":
        regex = data.get("regex", False)
        if not isinstance(regex, bool):
            raise ValueError("regex: must be true or false")
        text = _str(data, "text", None)
        if text is None:
            raise ValueError("text: a keyword entry needs its text")
        return KeywordEntry(_regex(text) if regex else _keyword(text), regex, **common)  # type: ignore[arg-type]
    if kind == "account":
        return AccountEntry((_account(data, ""),), None, **common)  # type: ignore[arg-type]
    person = _str(data, "id", None)
    person = " ".join(normalise(person).split()) if person is not None else ""
    if not person:
        raise ValueError("id: a person entry needs an id naming the person")
    accounts = data.get("accounts")
    if not isinstance(accounts, list) or not accounts:
        raise ValueError("accounts: a person entry needs a non-empty list of accounts")
    parsed = tuple(dict.fromkeys(_account(a, f"accounts[{i}].") for i, a in enumerate(accounts)))
    return AccountEntry(parsed, person, **common)  # type: ignore[arg-type]


def _str(data: Mapping[str, object], name: str, default: str | None) -> str | None:
    value = data.get(name, default)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name}: must be a string")
    if value is not None and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:  # a lone surrogate ("\ud800" in JSON), which no UTF-8 store can hold
            raise ValueError(f"{name}: not valid text (a lone surrogate at character {e.start + 1})") from None
    return value


def _keyword(text: str) -> str:
    # Without the invisible characters matching takes out (_prepare): "ho\u200bnte" is "honte", one entry, which
    # removing "honte" removes. Kept in, they made entries that looked alike, each muting "honte" on its own.
    key = " ".join(normalise(INVISIBLE.sub("", text)).split())
    if not key:
        raise ValueError("text: a keyword cannot be empty")
    if len(key) > MAX_KEYWORD:
        raise ValueError(f"text: a keyword has at most {MAX_KEYWORD} characters")
    if len(key) > 1 and key[0] == "/" and key[-1] == "/":
        raise ValueError(f"text: {text!r} looks like a regular expression; set \"regex\": true")
    symbols = sorted({c for i, c in enumerate(key) if unicodedata.category(c)[0] == "S"
                      or c in "#@" and i and not key[i - 1].isspace()})
    if symbols:
        raise ValueError(f"text: {text!r} holds {' '.join(symbols)}, which whole-word matching skips (\"c++\" would "
                         "match every \"c\"); use a regex")
    if not words_of(key):
        raise ValueError(f"text: {text!r} has no letter or digit to match as a word (Latin, Greek or Cyrillic); "
                         "use a regex")
    return key


def legacy_key(key: str) -> str:
    """The key this version gives an entry that an older one keyed `key`: a keyword without the invisible
    characters it kept, an X id as its number (both since 2026-11-25), a Reddit handle without the "u/" that
    Reddit writes before it (since 2026-11-25: "u/name" matched no post). Any other key as it is. An entry stored or
    sent under its old key is still its entry (sync.merge checks a peer's rows with this)."""
    if key.startswith("keyword:") and not (key.startswith("keyword:/") and key.endswith("/") and len(key) > 9):
        return "keyword:" + " ".join(normalise(INVISIBLE.sub("", key[8:])).split())
    ident = key[13:]
    if key.startswith("account:x:id:") and ident.isascii() and ident.isdigit():
        return f"account:x:id:{int(ident)}"
    if key.startswith("account:reddit:") and not key.startswith("account:reddit:id:"):
        return "account:reddit:" + _REDDIT_PREFIX.sub("", key[15:], count=1)
    return key


def _regex(text: str) -> str:
    pattern = unicodedata.normalize("NFKC", text)
    if not pattern.strip():
        raise ValueError("text: a regex cannot be empty")
    if len(pattern) > MAX_REGEX:
        raise ValueError(f"text: a regex has at most {MAX_REGEX} characters")
    try:
        compiled = re2.compile(_fold_pattern(pattern), _REGEX_OPTIONS)
    except re2.error as e:
        message = e.args[0].decode() if e.args and isinstance(e.args[0], bytes) else str(e)
        raise ValueError(f"text: {text!r} is not a valid RE2 regex ({message}); RE2 has no backreferences "
                         "or lookaround") from None
    if compiled.search("") is not None:
        raise ValueError(f"text: the regex {text!r} matches an empty text, so it would match every post")
    return pattern


def _fold_pattern(pattern: str) -> str:
    """Accents and ligatures out of a regex, as `fold` takes them out of the text; case is left to RE2."""
    if pattern.isascii():
        return pattern
    return _SPECIAL.sub(_spell, _MARKS.sub("", unicodedata.normalize("NFKD", pattern)))


_DURATION = re.compile(r"\s*(\d{1,6})\s*(m|min|h|d|j|w)\s*", re.IGNORECASE)
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "j": "days", "w": "weeks"}


def _expires(value: object, now: datetime, tz: tzinfo) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("expires: must be a string such as \"24h\", \"7d\" or \"2026-12-31\"")
    duration = _DURATION.fullmatch(value)
    try:
        if duration:
            amount = int(duration[1])
            if amount == 0:
                raise ValueError
            return (now + timedelta(**{_UNITS[duration[2].lower()]: amount})).astimezone(UTC)
        if len(value.strip()) == 10:
            day = date.fromisoformat(value.strip())
            return datetime.combine(day + timedelta(days=1), time(), tz).astimezone(UTC)
        instant = datetime.fromisoformat(value.strip())
        return (instant if instant.tzinfo else instant.replace(tzinfo=tz)).astimezone(UTC)
    except ValueError:
        raise ValueError(f"expires: {value!r} is not a duration (90m, 24h, 7d, 2w), an ISO date or an ISO "
                         "instant") from None
    except OverflowError:  # a date or a duration that reads well, past what a date can hold
        raise ValueError(f"expires: {value!r} is outside the dates Sourdine can keep (0001-01-02 to 9999-12-30); "
                         "leave \"expires\" out for an entry that never expires") from None


def _platform(value: object, field: str) -> str:
    name = normalise(value) if isinstance(value, str) else value
    if name not in PLATFORMS:
        raise ValueError(f"{field}: unknown platform {value!r} (known: {', '.join(PLATFORMS)})")
    return name  # type: ignore[return-value]


def _platforms(value: object) -> frozenset[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise ValueError("platforms: must be a non-empty list of platforms (leave it out for all platforms)")
    return frozenset(_platform(p, "platforms") for p in value)


_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"(?:{_LABEL}\.)+[a-z][a-z0-9-]*[a-z0-9]")
_MASTODON_USER = re.compile(r"[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?")
_DID = re.compile(r"did:(?:plc:[a-z2-7]{24}|web:" + _DOMAIN.pattern + ")")
_X_NAME = re.compile(r"[a-z0-9_]{1,15}")


def _account(data: object, prefix: str) -> Account:
    """One account: a platform, and a handle or an id. Errors name fields after `prefix` ("accounts[0].")."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{prefix.rstrip('.')}: must be an object with a platform and a handle or an id")
    if prefix:
        unknown = sorted(set(data) - {"platform", "handle", "id"})
        if unknown:
            raise ValueError(f"{prefix}{unknown[0]}: unknown field for an account")
    platform = _platform(data.get("platform"), f"{prefix}platform")
    handle, ident = data.get("handle"), data.get("id")
    if (handle is None) == (ident is None):
        raise ValueError(f"{prefix}handle: give either a handle or an id")
    name, value = ("handle", handle) if handle is not None else ("id", ident)
    if not isinstance(value, str):
        raise ValueError(f"{prefix}{name}: must be a string")
    clean = normalise(value).strip()
    normalised = _HANDLES.get(platform, _other)(clean.removeprefix("@") if name == "handle" else clean, name)
    if normalised is None:
        hint = _HINTS.get((platform, name), "")
        raise ValueError(f"{prefix}{name}: {value!r} is not a valid {platform} {name}{hint}")
    return Account(platform, normalised)


def _mastodon(value: str, name: str) -> str | None:
    if name == "id":
        return None
    user, at, domain = value.partition("@")
    if not at:
        return None
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    if _MASTODON_USER.fullmatch(user) and _DOMAIN.fullmatch(domain) and len(domain) <= 253:
        return f"{user}@{domain}"
    return None


def _bluesky(value: str, name: str) -> str | None:
    if value.startswith("did:"):
        return value if _DID.fullmatch(value) else None
    if name == "handle" and _DOMAIN.fullmatch(value) and len(value) <= 253:
        return value
    return None


def _x(value: str, name: str) -> str | None:
    if name == "id":
        # The number, as X writes its ids: "007" is the account 7, which a post by 7 names "7".
        return f"id:{int(value)}" if value.isascii() and value.isdigit() and len(value) <= 20 else None
    return value if _X_NAME.fullmatch(value) else None


def _other(value: str, name: str) -> str | None:
    if not value or len(value) > 100 or any(c.isspace() or not c.isprintable() for c in value):
        return None
    return f"id:{value}" if name == "id" else value


def _reddit(value: str, name: str) -> str | None:
    # Reddit writes its users "u/name" (or "/u/name"); its posts name them without the prefix.
    return _other(_REDDIT_PREFIX.sub("", value, count=1) if name == "handle" else value, name)


_REDDIT_PREFIX = re.compile(r"\A/?u/(?=.)")  # at the start only: "reddit.com/u/name" is no handle
_HANDLES = {"mastodon": _mastodon, "bluesky": _bluesky, "x": _x, "reddit": _reddit}
_HINTS = {
    ("mastodon", "handle"): ": write user@instance, as in alice@mastodon.social",
    ("mastodon", "id"): ": Mastodon ids differ from server to server; give the handle user@instance",
    ("bluesky", "handle"): ": write a handle (alice.bsky.social) or a DID (did:plc:...)",
    ("bluesky", "id"): ": a Bluesky id is a DID (did:plc:... or did:web:...)",
    ("x", "handle"): ": a screen name has 1 to 15 letters, digits or underscores",
    ("x", "id"): ": an X id is a number",
}


# -- the compiled lists --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rule:
    allow: bool
    action: MuteAction | None
    reason: str
    expires: float
    platforms: frozenset[str] | None
    rank: tuple[bool, int, str]  # its entry's `_precedence`: of several that match one post, the lowest is reported


def _rule_of(entry: Entry, allow: bool) -> _Rule:
    """The compiled form of one entry of the allow list (`allow`) or of the mutes, as compiling and
    `Lists.updated` both make it."""
    expires = entry.expires.timestamp() if entry.expires is not None else _FOREVER
    action = None if allow else (entry.action or "collapse")
    return _Rule(allow, action, entry.key, expires, entry.platforms, _precedence(entry))


def _precedence(entry: Entry) -> tuple[bool, int, str]:
    """Where an entry stands when several match one post, lowest first: the strongest action ("hide"), then its
    kind (an account by its handle, by its id, a person, a keyword, a regex), then its key."""
    if isinstance(entry, AccountEntry):
        if entry.person is not None:
            kind = 2
        else:
            account = entry.accounts[0]
            by_id = account.handle.startswith("id:") or account.platform == "bluesky" and account.handle.startswith(
                "did:")
            kind = 1 if by_id else 0
    else:
        kind = 4 if entry.regex else 3
    return entry.action != "hide", kind, entry.key


# An http(s) URL whose authority is a bare host name, as a post's URL is: its host, found with one match. urlsplit
# is Python code behind a cache that the URL of every new post misses: several times as slow.
_PLAIN_HOST = re.compile(r"https?://([a-zA-Z0-9.-]+)(?:[/?#]|\Z)")


def url_host(url: str) -> str | None:
    """`urlsplit(url).hostname`: the host lower-cased, None when there is none, ValueError where urlsplit raises
    it. Quicker on a URL that starts "https://host/"."""
    m = _PLAIN_HOST.match(url)
    if m is not None:
        return m.group(1).lower()  # any: the group always takes part in a match, so it is a str
    return urlsplit(url).hostname


def _post_handles(post: Post, platform: str) -> Iterator[str]:
    """The keys an entry's handle may take for this post's author."""
    if platform == "mastodon":
        acct = post.author.lower().removeprefix("@")
        if "@" not in acct and post.url:
            with suppress(ValueError):  # a malformed url names no instance; the bare acct then matches nothing
                acct = f"{acct}@{url_host(post.url) or ''}"
        elif not acct.isascii():
            user, _, domain = acct.partition("@")
            with suppress(UnicodeError):
                acct = f"{user}@{domain.encode('idna').decode('ascii')}"
        yield acct
    elif platform == "bluesky":
        yield post.author.lower()
        yield post.author_id.lower()
    elif platform == "x":
        yield post.author.lower()
        yield f"id:{post.author_id}"
    else:
        yield normalise(post.author).removeprefix("@")
        yield f"id:{normalise(post.author_id)}"


def _sets(patterns: list[tuple[str, _Rule]], size: int) -> tuple[tuple[re2.Set, tuple[_Rule, ...]], ...]:
    """RE2 sets of `size` patterns at most, each with the rules its match indices stand for."""
    out = []
    for start in range(0, len(patterns), size):
        chunk = patterns[start : start + size]
        compiled = re2.Set.SearchSet(_SET_OPTIONS)
        try:
            for pattern, _ in chunk:
                compiled.Add(pattern)
            compiled.Compile()
        except re2.error:
            raise ValueError("keywords: too many or too complex to compile together; remove some") from None
        out.append((compiled, tuple(rule for _, rule in chunk)))
    return tuple(out)


class _Step:
    """One step of the plain keywords' trie: the words it spans (the first is its key in the step before, or in the
    lists' first words), the keywords that end after them, as (their entry's order, rule), and the steps that go on
    from there, keyed by their first word. A run of words that no keyword branches from or ends in is one step,
    compared with a post's words in one slice: a post's words are each looked up once, however many keywords
    share their first words (500 keywords "the wordN thing" cost 50 ms on a post of 2,500 "the", compiled, when each
    was compared in turn: a review's finding). A step is changed only while the lists that hold it are built."""

    __slots__ = ("words", "rules", "next")

    def __init__(self, words: tuple[str, ...], rules: tuple[tuple[int, _Rule], ...],
                 next: dict[str, _Step] | None) -> None:
        self.words = words
        self.rules = rules
        self.next = next


def _put(steps: dict[str, _Step], tokens: tuple[str, ...], order: int, rule: _Rule) -> None:
    """Put a keyword's words into the trie `steps` (changed in place), the entry's `order` and `rule` at its end."""
    n = len(tokens)
    at = 0
    while True:
        word = tokens[at]
        step = steps.get(word)
        if step is None:
            steps[word] = _Step(tokens[at:] if at else tokens, ((order, rule),), None)
            return
        words = step.words
        m = len(words)
        k = 1  # the words of the step that the keyword shares, past the first
        while k < m and at + k < n and words[k] == tokens[at + k]:
            k += 1
        if k < m:  # the keyword leaves the step, or ends, inside it: split it there
            step.next = {words[k]: _Step(words[k:], step.rules, step.next)}
            step.words = words[:k]
            step.rules = ()
        at += k
        if at == n:
            step.rules = (*step.rules, (order, rule))
            return
        if step.next is None:
            step.next = {}
        steps = step.next


def _end(steps: dict[str, _Step], tokens: tuple[str, ...]) -> _Step | None:
    """The step of the trie where the keyword of these words ends, if it is in it."""
    at = 0
    while True:
        step = steps.get(tokens[at])
        if step is None or tokens[at : at + len(step.words)] != step.words:
            return None
        at += len(step.words)
        if at == len(tokens):
            return step
        if step.next is None:
            return None
        steps = step.next


def _copied(step: _Step) -> _Step:
    """A step and all the steps after it, copied: lists made from others change their copies, never the steps the
    others hold."""
    after = step.next
    return _Step(step.words, step.rules, None if after is None else {w: _copied(s) for w, s in after.items()})


class Lists:
    """Mutes and the allow list, compiled for fast lookups. Immutable: compile again when an entry changes."""

    __slots__ = ("_accounts", "_account_platforms", "_words", "_tags", "_regexes", "_regex_rules", "_last")

    def __init__(self, mutes: Iterable[Entry], allows: Iterable[Entry], now: datetime) -> None:
        accounts: dict[tuple[str, str], list[_Rule]] = {}
        # Plain keywords are found in a trie of their words (_Step), from their first word; a phrase's hashtag form
        # ("#stopthecount") by the whole tag, as (the entry's order, the rule).
        words: dict[str, _Step] = {}
        tags: dict[str, list[tuple[int, _Rule]]] = {}
        regexes: list[tuple[str, _Rule]] = []
        cutoff = now.timestamp()
        order = 0
        for allow, entries in ((True, allows), (False, mutes)):
            for entry in entries:
                rule = _rule_of(entry, allow)
                if rule.expires <= cutoff:
                    continue
                if isinstance(entry, AccountEntry):
                    for account in entry.accounts:
                        accounts.setdefault((account.platform, account.handle), []).append(rule)
                elif entry.regex:
                    regexes.append((_fold_pattern(entry.text), rule))
                else:
                    tokens = words_of(entry.text)
                    if tokens:  # parsing refuses a keyword without words; an old row might still hold one
                        order += 1
                        _put(words, tokens, order, rule)
                        if len(tokens) > 1:
                            tags.setdefault("".join(tokens), []).append((order, rule))
        self._accounts = {k: tuple(v) for k, v in accounts.items()}
        self._account_platforms = frozenset(platform for platform, _ in accounts)
        self._words = words
        self._tags = {k: tuple(v) for k, v in tags.items()}
        self._regexes = _sets(regexes, _REGEX_CHUNK)
        self._regex_rules = tuple(regexes)
        self._last = order  # the order of the last keyword

    def updated(self, allow: bool, changed: Iterable[Entry], listed: Mapping[str, Entry], now: datetime
                ) -> Lists | None:
        """These lists with `changed` entries of one list (the allow list when `allow`) put in, without compiling
        the others again: an import into a long list compiled all of it for each batch. `listed`: that list's
        entries as these lists were compiled from them. A new entry comes after the others of its list, a listed
        one keeps its place: what `check` says is then what compiling every entry again would say. None when an
        entry cannot be put in its place (a person's accounts changed, or these lists left it out as expired):
        compile them all again. ValueError as compiling does, when RE2 cannot compile the regexes together."""
        accounts = dict(self._accounts)
        words = dict(self._words)
        copied: set[str] = set()  # the first words whose steps these lists copied, to change them
        tags = dict(self._tags)
        regexes = list(self._regex_rules)
        platforms = set(self._account_platforms)
        order = self._last
        regexes_changed = False
        cutoff = now.timestamp()
        for entry in changed:
            key = entry.key
            rule = _rule_of(entry, allow)
            old = listed.get(key)
            if old is None and rule.expires <= cutoff:
                continue  # left out, as compiling leaves it out
            if isinstance(entry, AccountEntry):
                if old is not None and (not isinstance(old, AccountEntry) or old.accounts != entry.accounts):
                    return None
                for account in entry.accounts:
                    where = (account.platform, account.handle)
                    found = _replaced(accounts.get(where, ()), key, allow, rule, old is not None)
                    if found is None:
                        return None
                    accounts[where] = found
                    platforms.add(account.platform)
            elif entry.regex:
                regexes_changed = True
                if old is None:
                    regexes.append((_fold_pattern(entry.text), rule))
                    continue
                at = [i for i, (_, r) in enumerate(regexes) if r.reason == key and r.allow == allow]
                if len(at) != 1:  # none, or two entries that report one key (see _replaced)
                    return None
                regexes[at[0]] = (regexes[at[0]][0], rule)
            else:
                tokens = words_of(entry.text)
                if not tokens:
                    return None
                first = tokens[0]
                if first not in copied:
                    shared = words.get(first)
                    if shared is not None:
                        words[first] = _copied(shared)
                    copied.add(first)
                if old is None:
                    order += 1
                    _put(words, tokens, order, rule)
                    if len(tokens) > 1:
                        tag = "".join(tokens)
                        tags[tag] = (*tags.get(tag, ()), (order, rule))
                    continue
                # Entries of one key have one text, so the listed entry's rule ends where this one's words do.
                end = _end(words, tokens)
                ending = end.rules if end is not None else ()
                at = [i for i, (_, r) in enumerate(ending) if r.reason == key and r.allow == allow]
                if end is None or len(at) != 1:
                    return None
                kept = ending[at[0]][0]
                end.rules = (*ending[:at[0]], (kept, rule), *ending[at[0] + 1:])
                if len(tokens) > 1:
                    tag = "".join(tokens)
                    tags[tag] = tuple((kept, rule) if r.reason == key and r.allow == allow else (o, r)
                                      for o, r in tags.get(tag, ()))
        out = Lists((), (), now)
        out._accounts = accounts
        out._account_platforms = frozenset(platforms)
        out._words = words
        out._tags = tags
        out._regexes = _sets(regexes, _REGEX_CHUNK) if regexes_changed else self._regexes
        out._regex_rules = tuple(regexes)
        out._last = order
        return out

    def check(
        self, post: Post, platform: str, now: datetime, hits: Sequence[_Rule] | None = None
    ) -> tuple[str | None, tuple[MuteAction, str] | None]:
        """What the allow list and the mutes say of a post, in one pass: (allowed, muted), as `allowed` and
        `muted` give them. `hits`: what `matches` gave for this post and these lists, if the caller kept it."""
        rules = self.matches(post, platform) if hits is None else hits
        if not rules:
            return None, None
        t = now.timestamp()
        allowed: _Rule | None = None
        muted: _Rule | None = None
        for rule in rules:
            if rule.expires <= t or (rule.platforms is not None and platform not in rule.platforms):
                continue
            if rule.allow:
                if allowed is None or rule.rank < allowed.rank:
                    allowed = rule
            elif muted is None or rule.rank < muted.rank:
                muted = rule
        return (allowed.reason if allowed is not None else None,
                (muted.action, muted.reason) if muted is not None else None)  # type: ignore[return-value]

    def muted(self, post: Post, platform: str, now: datetime) -> tuple[MuteAction, str] | None:
        """The action and the key of the mute that applies to this post, or None; of several, the first in the
        order the module's docstring gives ("hide" first)."""
        return self.check(post, platform, now)[1]

    def allowed(self, post: Post, platform: str, now: datetime) -> str | None:
        """The key of the allow-list entry that protects this post (of several, the first in the module's order),
        or None."""
        return self.check(post, platform, now)[0]

    def matches(self, post: Post, platform: str) -> tuple[_Rule, ...]:
        """Every entry whose account or text matches the post, whatever its expiry and scope: `check` sorts
        those out. It depends only on the post and these lists, so a caller may keep it while both stay."""
        return tuple(self._rules(post, platform))

    def _rules(self, post: Post, platform: str) -> list[_Rule]:
        hits: list[_Rule] = []
        if platform in self._account_platforms:
            for handle in _post_handles(post, platform):
                found = self._accounts.get((platform, handle))
                if found:
                    hits.extend(found)
        if (self._words or self._regexes) and post.text:
            text = post.text[:SCAN_LIMIT]
            if self._words:
                hits.extend(self._keyword_hits(text))
            if self._regexes:
                readings = _folded_bytes(text)
                for compiled, rules in self._regexes:
                    indices = compiled.Match(readings[0])
                    if len(readings) > 1:  # Match gives None, not [], for no match
                        indices = list({*(indices or ()), *(compiled.Match(readings[1]) or ())})
                    if indices:
                        hits.extend(rules[i] for i in sorted(indices))
        return hits

    def _keyword_hits(self, text: str) -> list[_Rule]:
        """The plain keywords found in a text, each once, in the order the entries were given."""
        tokens, tagged = _post_words(text)
        words, tags = self._words, self._tags
        found: dict[int, _Rule] = {}
        n = len(tokens)
        for i, token in enumerate(tokens):
            step = words.get(token)
            at = i
            while step is not None:  # down the trie, as far as the post's words follow it
                spanned = step.words
                k = len(spanned)
                if k > 1 and tokens[at : at + k] != spanned:
                    break
                for order, rule in step.rules:
                    found[order] = rule
                at += k
                after = step.next
                if after is None or at == n:
                    break
                step = after.get(tokens[at])
        if tags:
            for tag in tagged:
                for order, rule in tags.get(tag, ()):
                    found[order] = rule
        return [found[order] for order in sorted(found)] if found else []


# A word for keywords, in folded text: digits, Latin letters (an accent NFKD could not take off stays), Greek and
# Cyrillic. Everything else (spaces, punctuation, emoji, other scripts) separates words.
_LETTERS = ("0-9a-z\u00aa\u00b5\u00ba\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u0370-\u03ff\u0400-\u04ff"
            "\u1e00-\u1eff")
_WORDS = re.compile(f"[{_LETTERS}]+")
_TAGS = re.compile(f"#([{_LETTERS}]+)")


# Before folding: invisible format characters (soft hyphens, zero-width spaces and joiners) go (model.INVISIBLE, as the
# scorer takes them out), so that they cannot split a word ("ho\u200bnte" is "honte"); symbols that NFKC spells
# with letters ("™" is "TM") become spaces, so that they do not stick to the word before them ("honte™" holds
# "honte"); Cyrillic and Greek look-alikes in a Latin word read as the Latin letters they pass for (model.latinise:
# "іdiot", with a Ukrainian і, is "idiot"). Both as the scorer reads them (model.plain_letters).
_LETTERLIKE = re.compile("[" + "".join(chr(c) for c in range(0x2100, 0x2150)
                                       if unicodedata.category(chr(c)) == "So") + "]")


def _prepare(text: str) -> str:
    if text.isascii():
        return text.lower()
    return fold(_LETTERLIKE.sub(" ", plain_letters(text)))


def words_of(text: str) -> tuple[str, ...]:
    """A keyword's words, as posts are matched against it: folded (case, accents, ligatures, NFKC)."""
    return tuple(_WORDS.findall(_prepare(text)))


@lru_cache(maxsize=1024)
def _post_words(text: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """A post's words, folded as keywords are, and its hashtags (the words right after a "#"); remembered, since
    the same posts come back as the user scrolls."""
    folded = _prepare(text)
    return tuple(_WORDS.findall(folded)), frozenset(_TAGS.findall(folded)) if "#" in folded else frozenset()


@lru_cache(maxsize=1024)
def _folded_bytes(text: str) -> tuple[bytes, ...]:
    """A post's text as regexes see it, accents removed; and, when it holds invisible characters or look-alikes,
    also as keywords read it, without them ("ho\u200bnte" and "іdiot" escaped the regexes `honte` and `idiot`).
    Both: a regex for what keywords read past (an emoji joined by U+200D, Cyrillic letters) still finds it.
    Remembered likewise."""
    folded = fold(text).encode("utf-8", "replace")
    plain = plain_letters(text)
    if plain == text:
        return (folded,)
    return folded, fold(plain).encode("utf-8", "replace")


def _replaced(rules: tuple[_Rule, ...], key: str, allow: bool, rule: _Rule, listed: bool
              ) -> tuple[_Rule, ...] | None:
    """An account's rules with `rule` in the place of the listed entry's, or after them. None when the listed
    entry has no rule there, or when two rules report its key: an entry an older version stored under an older
    spelling of its key (`legacy_key`) reports the current one, beside the entry stored under it since, and which
    of the two is this entry's cannot be told here (a review found the other one replaced)."""
    if not listed:
        return (*rules, rule)
    at = [i for i, r in enumerate(rules) if r.reason == key and r.allow == allow]
    if len(at) != 1:
        return None
    return (*rules[:at[0]], rule, *rules[at[0] + 1:])


def compile_lists(mutes: Iterable[Entry], allows: Iterable[Entry], now: datetime) -> Lists:
    """The lists for the hot path; entries already expired at `now` are left out."""
    return Lists(mutes, allows, now)
