"""A small Lexicon validator: checks an XRPC response against the AT Protocol schemas in tests/data/bluesky.

Written for the tests from the Lexicon spec (https://atproto.com/specs/lexicon), for the types the feed and
thread responses use: object, ref, union, array, string (lengths, graphemes, formats, enum, const), integer,
boolean, unknown, blob, cid-link, bytes. It is strict where the spec lets a validator be:

- a union member must carry `$type`; an open union takes a type whose lexicon is not loaded (forward
  compatibility), never a type from a loaded lexicon that the union does not list;
- an object in a plain ref may carry any `$type` (real posts put "app.bsky.embed.external" on the inner
  `#external` object, and Bluesky's own validator accepts them);
- an `unknown` must be an object, and one whose `$type` names a loaded record lexicon (a post's `record`, a
  quoted post's `value`) is checked against it, as the app does before drawing a post.

`errors()` returns every problem as "path: message"; an empty list means the document is valid.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

import orjson

_FORMATS = {
    "did": re.compile(r"^did:[a-z]+:[A-Za-z0-9._:%-]*[A-Za-z0-9._-]$"),
    "handle": re.compile(
        r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$"
    ),
    "datetime": re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"),
    "uri": re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:[^\s]+$"),
    "cid": re.compile(r"^[A-Za-z0-9+/=]{8,}$"),
    "language": re.compile(r"^([a-zA-Z]{2,3}|i|x)(-[a-zA-Z0-9]{1,8})*$"),
    "nsid": re.compile(r"^[a-zA-Z]([a-zA-Z0-9-]{0,62})?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,62})?)+$"),
    "tid": re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$"),
    "record-key": re.compile(r"^[A-Za-z0-9._:~-]{1,512}$"),
}


def _at_identifier(value: str) -> bool:
    return bool(_FORMATS["did"].match(value) or _FORMATS["handle"].match(value))


def _at_uri(value: str) -> bool:
    """at://AUTHORITY[/COLLECTION[/RKEY]], the authority a DID or a handle, the collection an NSID."""
    if not value.startswith("at://") or len(value) > 8192:
        return False
    parts = value[5:].split("/")
    if len(parts) > 3 or not _at_identifier(parts[0]):
        return False
    if len(parts) >= 2 and not _FORMATS["nsid"].match(parts[1]):
        return False
    return len(parts) < 3 or bool(_FORMATS["record-key"].match(parts[2]))


def graphemes(text: str) -> int:
    """Grapheme clusters, closely enough for length limits.

    Combining marks, variation selectors, skin tones, tags and ZWJ sequences join the character before them;
    a pair of regional indicators is one flag.
    """
    count = 0
    joined = False
    regional = False
    for char in text:
        code = ord(char)
        if joined:
            joined = False
            continue
        if code == 0x200D:
            joined = True
            continue
        if (
            unicodedata.combining(char)
            or 0xFE00 <= code <= 0xFE0F
            or 0x1F3FB <= code <= 0x1F3FF
            or 0xE0020 <= code <= 0xE007F
        ):
            continue
        if 0x1F1E6 <= code <= 0x1F1FF:
            if regional:
                regional = False
                continue
            regional = True
        else:
            regional = False
        count += 1
    return count


class Lexicons:
    """The lexicon documents of one directory, by def id ("nsid" for main, "nsid#name" otherwise)."""

    def __init__(self, directory: Path) -> None:
        self.defs: dict[str, dict[str, Any]] = {}
        self.nsids: set[str] = set()
        for path in sorted(directory.glob("*.json")):
            lexicon = orjson.loads(path.read_bytes())
            nsid = lexicon["id"]
            self.nsids.add(nsid)
            for name, definition in lexicon["defs"].items():
                self.defs[nsid if name == "main" else f"{nsid}#{name}"] = definition

    def errors(self, nsid: str, doc: Any) -> list[str]:
        """Every way `doc` breaks the output schema of the query `nsid`."""
        found: list[str] = []
        query = self.defs.get(nsid)
        if query is None or query.get("type") != "query":
            return [f"$: no query lexicon {nsid}"]
        self._check(query["output"]["schema"], doc, nsid, "$", found)
        return found

    def record_errors(self, doc: Any) -> list[str]:
        """Every way `doc` breaks the record lexicon its `$type` names."""
        found: list[str] = []
        self._unknown(doc, "$", found)
        return found

    # -- internals --

    def _resolve(self, ref: str, nsid: str) -> str:
        if ref.startswith("#"):
            return f"{nsid}{ref}"
        return ref[:-5] if ref.endswith("#main") else ref

    def _ref(self, ref_id: str, value: Any, path: str, found: list[str]) -> None:
        definition = self.defs.get(ref_id)
        if definition is None:
            found.append(f"{path}: unknown ref {ref_id}")
            return
        nsid = ref_id.split("#")[0]
        if definition["type"] == "record":
            definition = definition["record"]
        self._check(definition, value, nsid, path, found)

    def _check(self, schema: dict[str, Any], value: Any, nsid: str, path: str, found: list[str]) -> None:
        kind = schema["type"]
        if kind == "ref":
            self._ref(self._resolve(schema["ref"], nsid), value, path, found)
        elif kind == "union":
            self._union(schema, value, nsid, path, found)
        elif kind == "object":
            self._object(schema, value, nsid, path, found)
        elif kind == "array":
            if not isinstance(value, list):
                found.append(f"{path}: expected an array")
                return
            self._length(schema, len(value), path, found)
            for i, item in enumerate(value):
                self._check(schema["items"], item, nsid, f"{path}[{i}]", found)
        elif kind == "string":
            self._string(schema, value, path, found)
        elif kind == "integer":
            if not isinstance(value, int) or isinstance(value, bool):
                found.append(f"{path}: expected an integer")
                return
            if "minimum" in schema and value < schema["minimum"]:
                found.append(f"{path}: {value} below minimum {schema['minimum']}")
            if "maximum" in schema and value > schema["maximum"]:
                found.append(f"{path}: {value} above maximum {schema['maximum']}")
            self._enum(schema, value, path, found)
        elif kind == "boolean":
            if not isinstance(value, bool):
                found.append(f"{path}: expected a boolean")
            elif "const" in schema and value != schema["const"]:
                found.append(f"{path}: must be {schema['const']}")
        elif kind == "unknown":
            self._unknown(value, path, found)
        elif kind == "blob":
            ok = isinstance(value, dict) and (
                (value.get("$type") == "blob" and isinstance(value.get("ref"), dict)
                 and isinstance(value["ref"].get("$link"), str) and isinstance(value.get("mimeType"), str)
                 and isinstance(value.get("size"), int))
                or (isinstance(value.get("cid"), str) and isinstance(value.get("mimeType"), str))
            )
            if not ok:
                found.append(f"{path}: not a blob")
        elif kind == "cid-link":
            if not (isinstance(value, dict) and isinstance(value.get("$link"), str)):
                found.append(f"{path}: not a cid-link")
        elif kind == "bytes":
            if not (isinstance(value, dict) and isinstance(value.get("$bytes"), str)):
                found.append(f"{path}: not bytes")
        else:
            found.append(f"{path}: schema type {kind!r} not supported by this checker")

    def _object(self, schema: dict[str, Any], value: Any, nsid: str, path: str, found: list[str]) -> None:
        if not isinstance(value, dict):
            found.append(f"{path}: expected an object")
            return
        nullable = set(schema.get("nullable", ()))
        for key in schema.get("required", ()):
            if key not in value:
                found.append(f"{path}: missing required {key!r}")
        for key, sub in schema.get("properties", {}).items():
            if key not in value:
                continue
            if value[key] is None and key in nullable:
                continue
            self._check(sub, value[key], nsid, f"{path}.{key}", found)

    def _union(self, schema: dict[str, Any], value: Any, nsid: str, path: str, found: list[str]) -> None:
        if not isinstance(value, dict) or not isinstance(value.get("$type"), str):
            found.append(f"{path}: a union member needs a $type")
            return
        own = self._resolve(value["$type"], value["$type"].split("#")[0])
        refs = {self._resolve(ref, nsid) for ref in schema["refs"]}
        if own in refs:
            self._ref(own, value, path, found)
        elif schema.get("closed") or own.split("#")[0] in self.nsids:
            found.append(f"{path}: $type {own} is not one of {sorted(refs)}")

    def _unknown(self, value: Any, path: str, found: list[str]) -> None:
        if not isinstance(value, dict):
            found.append(f"{path}: an unknown must be an object")
            return
        own = value.get("$type")
        if isinstance(own, str) and self.defs.get(own, {}).get("type") == "record":
            self._ref(own, value, path, found)

    def _string(self, schema: dict[str, Any], value: Any, path: str, found: list[str]) -> None:
        if not isinstance(value, str):
            found.append(f"{path}: expected a string")
            return
        size = len(value.encode())
        if "maxLength" in schema and size > schema["maxLength"]:
            found.append(f"{path}: {size} bytes, over maxLength {schema['maxLength']}")
        if "minLength" in schema and size < schema["minLength"]:
            found.append(f"{path}: {size} bytes, under minLength {schema['minLength']}")
        if "maxGraphemes" in schema or "minGraphemes" in schema:
            count = graphemes(value)
            if count > schema.get("maxGraphemes", count):
                found.append(f"{path}: {count} graphemes, over maxGraphemes {schema['maxGraphemes']}")
            if count < schema.get("minGraphemes", count):
                found.append(f"{path}: {count} graphemes, under minGraphemes {schema['minGraphemes']}")
        fmt = schema.get("format")
        if fmt == "at-identifier":
            if not _at_identifier(value):
                found.append(f"{path}: {value!r} is not an at-identifier")
        elif fmt == "at-uri":
            if not _at_uri(value):
                found.append(f"{path}: {value!r} is not an at-uri")
        elif fmt in _FORMATS:
            if not _FORMATS[fmt].match(value):
                found.append(f"{path}: {value!r} is not a {fmt}")
        elif fmt is not None:
            found.append(f"{path}: string format {fmt!r} not supported by this checker")
        self._enum(schema, value, path, found)

    @staticmethod
    def _length(schema: dict[str, Any], count: int, path: str, found: list[str]) -> None:
        if "maxLength" in schema and count > schema["maxLength"]:
            found.append(f"{path}: {count} items, over maxLength {schema['maxLength']}")
        if "minLength" in schema and count < schema["minLength"]:
            found.append(f"{path}: {count} items, under minLength {schema['minLength']}")

    @staticmethod
    def _enum(schema: dict[str, Any], value: Any, path: str, found: list[str]) -> None:
        if "enum" in schema and value not in schema["enum"]:
            found.append(f"{path}: {value!r} not in {schema['enum']}")
        if "const" in schema and value != schema["const"]:
            found.append(f"{path}: {value!r} is not {schema['const']!r}")
