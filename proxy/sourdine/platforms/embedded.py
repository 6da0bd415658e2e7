"""A JSON document embedded in an HTML page's script (`var ytInitialData = {...};`), found with the HTML parser,
read with orjson, and written back in place: the rest of the page stays byte for byte as sent."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import orjson

from sourdine import budget
from sourdine.platforms.htmlsplice import OffsetParser, Splice


@dataclass(slots=True)
class Embedded:
    splice: Splice
    start: int  # the JSON text's span in the page
    end: int
    data: Any

    def result(self) -> bytes:
        # Inside a script, "</" would end the script and "<!--" would open a comment: escape both, as JSON allows.
        new = orjson.dumps(self.data).replace(b"</", b"<\\/").replace(b"<!--", b"\\u003c!--")
        self.splice.cut(self.start, self.end)
        self.splice.insert(self.start, new.decode())
        return self.splice.result()


class _Scripts(OffsetParser):
    def __init__(self, text: str, names: tuple[str, ...]) -> None:
        super().__init__(text)
        self.names = names
        self.found: tuple[int, int] | None = None  # span of the script's content holding one of the names
        self._content_start = -1

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script" and self.found is None:
            self._content_start = self.start_tag_end(self.here())

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._content_start >= 0:
            start, end = self._content_start, self.here()
            self._content_start = -1
            if self.found is None and any(n in self.text[start:end] for n in self.names):
                self.found = (start, end)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} in the page's data, which orjson would write back as null")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e999
        raise ValueError("a number past a double's range in the page's data, which orjson would write back as null")
    return value


def _int64(text: str) -> int:
    value = int(text)
    if not -(2**63) <= value < 2**64:
        raise ValueError("an integer past 64 bits in the page's data, which orjson cannot write back")
    return value


# The standard decoder reads what JavaScript reads and orjson refuses: NaN, Infinity, numbers past a double's
# range, integers past 64 bits. Written back, the first three would become null and the last would fail; the
# page is left as it came instead (a review found NaN written back as null, 2026-11-25).
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite, parse_int=_int64)


def find(body: bytes, names: tuple[str, ...]) -> Embedded | None:
    """The first JSON object assigned to one of `names` in a script of the page (`var NAME = {...};`,
    `window["NAME"] = {...};`), or None."""
    splice = Splice.of(body)
    parser = _Scripts(splice.text, names)
    parser.run()
    if parser.found is None:
        return None
    start, end = parser.found
    text = splice.text
    for name in names:
        at = text.find(name, start, end)
        if at < 0:
            continue
        equals = text.find("=", at + len(name), end)
        brace = text.find("{", equals, end) if equals >= 0 else -1
        if brace < 0 or text[at + len(name):equals].strip(" \t\"']") != "":
            continue
        # Most often the object runs to the script's last ";": orjson reads that at once. Otherwise the
        # standard decoder finds where the object ends.
        stop = len(text[brace:end].rstrip().rstrip(";").rstrip()) + brace
        # Neither parse is started when it could not end within the response's time budget (sourdine.budget).
        budget.check((end - brace) / 1e6 * budget.PARSE_MS_PER_MB)
        try:
            data = orjson.loads(text[brace:stop])
        except orjson.JSONDecodeError:
            # json's decoder took 1.3 times orjson's time on X's capture, within the rate's margin; it may read on
            # past the script, to the end of the text.
            budget.check((len(text) - brace) / 1e6 * budget.PARSE_MS_PER_MB)
            data, stop = _DECODER.raw_decode(text, brace)
            if stop > end:
                return None
        return Embedded(splice, brace, stop, data)
    return None
