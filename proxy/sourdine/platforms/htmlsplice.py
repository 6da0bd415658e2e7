"""HTML read by a real parser, rewritten by splicing the original text at the offsets the parser reports.

The parser is the standard library's `html.parser.HTMLParser`: a permissive, tag-soup tolerant tokenizer that
reads what browsers read (unclosed tags, unquoted attributes, scripts). It does not build or re-serialise a
tree, so everything Sourdine does not change stays byte for byte as the platform sent it: attribute order and
quoting, whitespace, comments, `<template>` contents.

A `Splice` holds the page's text and the edits to make: cut a range, or insert text at an offset. Edits are
applied last to first, so each offset is that of the original text. A cut wins over any edit inside it.

`Splice.of` decodes the body as UTF-8. `Splice.of_bytes` reads it byte for byte (as Latin-1: one character a
byte, every offset a byte's), which is faster to read and to write back and keeps the text one byte a character
whatever the page holds (emoji would make a UTF-8 string four bytes a character). HTML's markup is ASCII, so
tags are where they are either way; what is read from the text (`Splice.text_of`) is decoded as UTF-8 then.
"""

from __future__ import annotations

import html.parser
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from html import escape
from html.parser import HTMLParser

from sourdine import budget

__all__ = ["Splice", "OffsetParser", "attribute"]

_updatepos = HTMLParser.updatepos  # html.parser's own, which OffsetParser.updatepos wraps
_start_tag_end = HTMLParser.check_for_whole_start_tag  # and the one OffsetParser.check_for_whole_start_tag wraps
# The regex html.parser's check_for_whole_start_tag matches a start tag with, where that function returns the
# match's end plus one when a `>` follows it, plus two when `/>` does (CPython up to its releases of mid-2025);
# None where it does otherwise, and the tag is then found by calling that function on parts of the text.
_LOCATE: re.Pattern[str] | None = getattr(html.parser, "locatestarttagend_tolerant", None)
if "locatestarttagend_tolerant" not in _start_tag_end.__code__.co_names:
    _LOCATE = None
# What html.parser's steps that read no clock take, at worst, doubled as in sourdine.budget (2026-11-24, timeit):
# the line-start table, 0.22 µs a line; reading a start tag's attributes once its end is found, 0.27 to 0.53 µs a
# character of the tag (`a="b" ` to `a `, over 300,000 attributes). Unescaping text: budget.check_unescape.
_LINE_MS = 0.0005
# A start tag's attributes: what html.parser takes to find where the tag ends (one regex match), then to read them
# (one Python step each) grows with how many there are, and each follows one of the characters that may come
# before an attribute's name: whitespace (as the regex's `\s` reads it), `/` or a quote. Timed on start tags of
# 600 KB and 3 MB of each shape (`<div a a a ...`, `a=b`, `a="b"`, `a/`, ...), 2026-11-24: the match took 0.79 µs
# at most for each of those characters, and 6.5 ns a character besides; reading the attributes 1.5 µs for each of
# those characters; doubled as in sourdine.budget. A tag is first looked for in the next 2,048 characters (see
# OffsetParser.check_for_whole_start_tag): 1.5 ms at most goes unchecked.
_FIND_SEP_MS = 0.0016
_FIND_CHAR_MS = 0.000015
_READ_SEP_MS = 0.003
_PROBE = 2048
_ASCII_SEPARATORS = b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f /\"'"
_WIDE_SPACES = ("\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f"
                "\u205f\u3000")  # the rest of what `\s` reads in a str pattern


def _separators(text: str) -> int:
    """How many characters of `text` may come before an attribute's name in html.parser's reading of a tag."""
    count = budget.count_any(text, _ASCII_SEPARATORS)
    if not text.isascii():
        count += sum(text.count(space) for space in _WIDE_SPACES)
    return count


def _quotes_closed(text: str, start: int, end: int, bound: int) -> bool:
    """Whether each quote (of either kind) in `text[start:end]` has one of its kind after it, before `bound`."""
    for quote in "\"'":
        last = text.rfind(quote, start, end)
        if last >= 0 and text.find(quote, last + 1, bound) < 0:
            return False
    return True


@dataclass(slots=True)
class Splice:
    text: str
    cuts: list[tuple[int, int]] = field(default_factory=list)
    inserts: list[tuple[int, str]] = field(default_factory=list)
    bytewise: bool = False  # the text is the body's bytes read as Latin-1

    @classmethod
    def of(cls, body: bytes) -> Splice:
        # surrogateescape: bytes that are not UTF-8 go back out exactly as they came.
        return cls(body.decode("utf-8", "surrogateescape"))

    @classmethod
    def of_bytes(cls, body: bytes) -> Splice:
        return cls(body.decode("latin-1"), bytewise=True)

    def text_of(self, part: str) -> str:
        """A part of the text, as the characters it stands for."""
        if self.bytewise and not part.isascii():
            return part.encode("latin-1").decode("utf-8", "replace")
        return part

    def cut(self, start: int, end: int) -> None:
        self.cuts.append((start, end))

    def insert(self, offset: int, text: str) -> None:
        if self.bytewise:
            text = text.encode("utf-8").decode("latin-1")
        self.inserts.append((offset, text))

    @property
    def changed(self) -> bool:
        return bool(self.cuts or self.inserts)

    def result(self) -> bytes:
        """The text with every edit made, as bytes."""
        cuts = sorted(self.cuts)
        merged: list[tuple[int, int]] = []
        for start, end in cuts:
            if merged and start < merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        starts = [s for s, _ in merged]

        def inside_cut(offset: int) -> bool:
            i = bisect_right(starts, offset) - 1
            return i >= 0 and merged[i][0] < offset < merged[i][1]

        edits: list[tuple[int, int, str]] = [(s, e, "") for s, e in merged]
        edits += [(o, o, t) for o, t in self.inserts if not inside_cut(o)]
        # Last first; at one offset, an insertion goes before a cut that starts there.
        edits.sort(key=lambda e: (e[0], e[1]), reverse=True)
        text = self.text
        parts: list[str] = []
        tail = len(text)
        for start, end, new in edits:
            parts.append(text[end:tail])
            parts.append(new)
            tail = start
        parts.append(text[:tail])
        if self.bytewise:
            return "".join(reversed(parts)).encode("latin-1")
        return "".join(reversed(parts)).encode("utf-8", "surrogateescape")


class OffsetParser(HTMLParser):
    """An HTMLParser that knows the offset, in the text it was given, of the tag being handled."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.text = text
        # HTMLParser counts lines by "\n" alone, and so do these line starts: a page of a million lines is not read
        # when the table could not be made in time.
        budget.check(text.count("\n") * _LINE_MS)
        starts = [0]
        find = text.find
        i = find("\n")
        while i >= 0:
            starts.append(i + 1)
            i = find("\n", i + 1)
        self._line_starts = starts
        self._steps = 0
        self._every = 1023  # the budget is read at every 1,024th step (see updatepos)

    def updatepos(self, i: int, j: int) -> int:
        # html.parser calls this at each step: for the text before a tag or comment (often none), and again past
        # it, at a few hundred thousand a second: a 3 MB page of nothing but tags took three seconds. The
        # response's time budget is read here, every 1,024 steps (about 500 tags; budget.check raises Overrun once
        # it has passed). Reading a page of ordinary markup takes 6% longer with it (17% through super(): 30,000
        # tags, timeit).
        self._steps += 1
        if not self._steps & self._every:
            budget.check()
        return _updatepos(self, i, j)

    def check_for_whole_start_tag(self, i: int) -> int:
        # html.parser finds where a start tag ends in one regex match, then reads its attributes one Python step
        # each: 0.17 and 0.3 s for a tag of 300,000 (`<div a a a ...`). Where a tag ends cannot be told without
        # that match (a `>` inside quotes does not end it), so the match is made on the next 2,048 characters
        # first, then on twice as many while it could not tell, each not started when it could not end in time,
        # nor the attributes read when they could not be. A match made on a part of the text is html.parser's own
        # answer when it ended at a `>` before the part's end, and every quote before that `>` has one of its kind
        # after it within the part: then none of the regex's steps read to the part's end (only a quoted value
        # passes a `>`).
        rawdata = self.rawdata
        n = len(rawdata)
        bound = i + _PROBE
        if bound >= n:
            return _start_tag_end(self, i)
        if _LOCATE is not None:  # html.parser's own regex, on the part (what it does with a match: below)
            j = _LOCATE.match(rawdata, i, bound).end()  # type: ignore[union-attr]  # it matches `<` and a letter
            find = rawdata.find
            # _quotes_closed, inlined and in the order that makes the fewest calls on common markup (a page's last
            # quote before j has its next one of its kind, if any, after j): this runs at every start tag
            if (j + 1 < bound and (find('"', j, bound) >= 0 or find('"', i, j) < 0)
                    and (find("'", i, j) < 0 or find("'", j, bound) >= 0)):
                if rawdata[j] == ">":
                    return j + 1
                if rawdata[j] == "/" and rawdata[j + 1] == ">":
                    return j + 2
        size = _PROBE
        separators = 0
        while True:
            part = rawdata[i:i + size]
            if size > _PROBE:
                separators = _separators(part)
                budget.check(separators * _FIND_SEP_MS + len(part) * _FIND_CHAR_MS)
            if i + size >= n:
                end = _start_tag_end(self, i)
                break
            self.rawdata = part
            try:
                end = _start_tag_end(self, 0)
            finally:
                self.rawdata = rawdata
            if end > 0 and _quotes_closed(rawdata, i, i + end, i + size):
                end += i
                break
            size *= 2
        if separators:
            budget.check(separators * _READ_SEP_MS)  # the last part read holds the tag
        return end

    def run(self) -> None:
        # Text is unescaped a run at a time, one Python call for each character reference in it: a page of them is
        # not read when it could not be in time.
        text = self.text
        budget.check_unescape(text)
        self.feed(text)
        # At the end, html.parser reads again from each `<` that starts no complete tag to the end of the text: a
        # run of them there takes time that grows with the square of its length (10,000 "<a" took 0.47 s, 40,000
        # 7.2 s, on Python 3.11.7; CPython's fix of gh-135462, in its releases of June 2025 and later, drops them at
        # once). Each of those steps reads the budget.
        self._every = 0
        self.close()

    def here(self) -> int:
        """Where the tag now being handled starts."""
        line, column = self.getpos()
        return self._line_starts[line - 1] + column

    def start_tag_end(self, start: int) -> int:
        """Where the start tag now being handled ends (just past its `>`)."""
        raw = self.get_starttag_text() or ""
        return start + len(raw)

    def end_tag_end(self, start: int) -> int:
        """Where the end tag starting at `start` ends (just past its `>`)."""
        end = self.text.find(">", start)
        return len(self.text) if end < 0 else end + 1

    def attribute_slot(self, start: int) -> int:
        """Where a new attribute goes in the start tag now being handled: before its `>` or `/>`."""
        raw = self.get_starttag_text() or ""
        end = start + len(raw) - 1
        if raw.endswith("/>"):
            end -= 1
        return end


def attribute(name: str, value: str | None = None) -> str:
    """` name` or ` name="value"`, escaped for a double-quoted attribute."""
    return f" {name}" if value is None else f' {name}="{escape(value, quote=True)}"'
