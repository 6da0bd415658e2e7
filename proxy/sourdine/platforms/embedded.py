"""A JSON document embedded in an HTML page's script (`var ytInitialData = {...};`), found with the HTML parser,
read with orjson, and written back in place: the rest of the page stays byte for byte as sent."""

from __future__ import annotations

import json
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
            data, stop = json.JSONDecoder().raw_decode(text, brace)
            if stop > end:
                return None
        return Embedded(splice, brace, stop, data)
    return None
