"""Tokens, one-time pairing codes and paired clients: plain values and pure rules, no I/O.

- A token is 256 random bits. Only its SHA-256 digest is kept, and digests are compared in constant time.
- A pairing code is 50 random bits in Crockford's base32 ("7KQ2M-XD9RA"): typed by a person, read aloud without
  ambiguity (O is 0, I and L are 1). It lives 5 minutes, pairs once, and dies after 5 wrong attempts.
- A client is one browser extension, bound to the exact origin it paired from.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32
CODE_LENGTH = 10  # 50 bits
CODE_LIFETIME = 300.0
CODE_ATTEMPTS = 5
# Chrome extension ids are 32 letters a-p; Firefox gives each installation a UUID.
EXTENSION_ORIGIN = re.compile(r"^(chrome-extension://[a-p]{32}|moz-extension://[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12})$")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def new_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def normalise_code(value: str) -> str:
    """The canonical form of a code as a person typed it: case, dashes, spaces and look-alikes forgiven."""
    table = str.maketrans({"O": "0", "I": "1", "L": "1"})
    raw = re.sub(r"[\s-]", "", value.upper()).translate(table)
    return f"{raw[:5]}-{raw[5:]}" if len(raw) == CODE_LENGTH else raw


def is_extension_origin(origin: str) -> bool:
    return EXTENSION_ORIGIN.match(origin) is not None


@dataclass(frozen=True, slots=True)
class Client:
    id: str
    name: str
    origin: str
    token_hash: str
    created: float
    last_seen: float | None = None

    def public(self) -> dict[str, object]:
        """What the API shows of a client: never the token or its digest."""
        return {"id": self.id, "name": self.name, "origin": self.origin, "created": self.created,
                "last_seen": self.last_seen}


@dataclass(slots=True)
class Code:
    id: str
    code_hash: str
    expires: float
    attempts: int = 0
    client_id: str | None = None  # set once it has paired

    def usable(self, now: float) -> bool:
        return self.client_id is None and now < self.expires and self.attempts < CODE_ATTEMPTS


@dataclass
class Codes:
    """The outstanding pairing codes of a running instance. Held in memory only: a code outlives no restart."""

    codes: dict[str, Code] = field(default_factory=dict)

    def issue(self, now: float) -> tuple[Code, str]:
        """A new code: the record and the code itself, which is shown once and never kept."""
        self.prune(now)
        code = new_code()
        record = Code(secrets.token_hex(8), digest(code), now + CODE_LIFETIME)
        self.codes[record.id] = record
        return record, code

    def redeem(self, value: str, now: float) -> Code | None:
        """The code record this value opens, or None. A wrong value counts as an attempt on every open code."""
        wanted = digest(normalise_code(value))
        found = None
        for record in self.codes.values():
            if record.usable(now) and same(record.code_hash, wanted):
                found = record
        if found is None:
            for record in self.codes.values():
                if record.usable(now):
                    record.attempts += 1
        return found

    def prune(self, now: float) -> None:
        for key in [k for k, r in self.codes.items() if now >= r.expires + CODE_LIFETIME]:
            del self.codes[key]
