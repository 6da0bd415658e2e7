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

import dis
import functools
import hashlib
import html.parser  # binds `html` too: html.unescape below
import re
import time
import types
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from html.parser import HTMLParser

from sourdine import budget
from sourdine.platforms import htmltext

__all__ = ["Splice", "OffsetParser", "attribute", "charging", "charging_installed"]

_updatepos = HTMLParser.updatepos  # html.parser's own, which OffsetParser.updatepos wraps
_start_tag_end = HTMLParser.check_for_whole_start_tag  # and the one OffsetParser.check_for_whole_start_tag wraps
# What html.parser's steps that read no clock take, at worst, doubled as in sourdine.budget (2026-11-24, timeit):
# the line-start table, 0.22 µs a line; reading a start tag's attributes once its end is found, 1.05 µs (`a`) to
# 1.6 µs (`a="b"`) an attribute. Unescaping text: budget.check_unescape, a run at a time (_charging_unescape).
_LINE_MS = 0.0005
_READ_ATTR_MS = 0.0032
_PROBE = 2048  # characters: where a start tag's end is first looked for (OffsetParser.check_for_whole_start_tag)

# html.parser finds where a start tag ends with one regex, `locatestarttagend_tolerant`: the tag's name, then one
# attribute after another (a name, then perhaps `=` and a value, quoted or not), then whitespace. The same regex
# in its parts, so that its attributes can be matched one at a time, with the clock read between them. Used only
# where html.parser's regex is the one these parts were written from (CPython up to its releases of mid-2025; the
# digest of its text below): then check_for_whole_start_tag returns the match's end plus one when `>` follows it,
# plus two when `/>` does, -1 when the text may go on (nothing or `/` follows, or a letter or `=`), and the end
# otherwise (at least one character past the `<`).
_TAG_NAME = re.compile(r"<[a-zA-Z][^\t\n\r\f />\x00]*")
_LEAD = re.compile(r"[\s/]*")
_NAME_PART = r"""(?<=['"\s/])[^\s/>][^\s/=>]*"""  # an attribute's name, after whitespace, `/` or a quote
_VALUE_PART = r"""(?:\s*=+\s*(?:'[^']*'|"[^"]*"|(?!['"])[^>\s]*%s)\s*)?"""  # perhaps a value
_SPACE_PART = r"""(?:\s|/(?!>))*"""
_ONE_ATTRIBUTE = re.compile(_NAME_PART + _VALUE_PART % "" + _SPACE_PART)
# The whole regex, with one more way for a value to match, tried last: a quote whose value found no closing quote
# before the end of the part matched (group 1). The match on a part is html.parser's own answer when that group
# took no part in it, and the match ended at a `>` before the part's end: then none of the regex's steps read to
# the part's end (a quoted value is the only one that passes a `>`).
_START_TAG_IN_PART = re.compile(_TAG_NAME.pattern + r"(?:[\s/]*(?:" + _NAME_PART + _VALUE_PART % """|(['"])"""
                                + _SPACE_PART + r")*)?\s*")
_TRAIL = re.compile(r"\s*")
_MAY_GO_ON = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ=/")
_LOCATE_DIGEST = "f223844b79e77307aebaf479008340854d72ef5ecec066aa6069177eae22dd59"  # sha256 of its pattern
_LOCATE: re.Pattern[str] | None = getattr(html.parser, "locatestarttagend_tolerant", None)
if (_LOCATE is None or hashlib.sha256(_LOCATE.pattern.encode()).hexdigest() != _LOCATE_DIGEST
        or "locatestarttagend_tolerant" not in _start_tag_end.__code__.co_names):
    _LOCATE = None


@functools.cache
def _reads(code: types.CodeType) -> tuple[tuple[str, object], ...]:
    """(operation, argument) of each instruction of `code` and of the code nested in it (a comprehension, a
    lambda)."""
    found = [(instruction.opname, instruction.argval) for instruction in dis.get_instructions(code)]
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found += _reads(const)
    return tuple(found)


def _names(code: types.CodeType) -> set[str]:
    """Every name `code` and the code nested in it use, however (a global, an attribute, a method), and their
    strings (`globals()["name"]`): quicker than reading its instructions, which only code naming one of the
    names looked for needs."""
    found = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found |= _names(const)
        elif isinstance(const, str):
            found.add(const)
    return found


def _globals_read(code: types.CodeType, wanted: set[str]) -> set[str]:
    """Those of `wanted` that `code` reads as globals."""
    if wanted.isdisjoint(_names(code)):
        return set()
    return {str(name) for op, name in _reads(code) if op == "LOAD_GLOBAL" and name in wanted}


def _read_otherwise(code: types.CodeType, wanted: set[str]) -> bool:
    """Whether `code` uses one of `wanted` otherwise than by reading it as a global (an attribute, a store)."""
    return not wanted.isdisjoint(_names(code)) and any(op != "LOAD_GLOBAL" and name in wanted
                                                        for op, name in _reads(code))


def _remade(fn: types.FunctionType, names: dict[str, object]) -> types.FunctionType:
    """`fn` made again from its own code, reading its globals from `names`."""
    made = types.FunctionType(fn.__code__, names, fn.__name__, fn.__defaults__, fn.__closure__)
    made.__kwdefaults__ = fn.__kwdefaults__
    made.__qualname__ = fn.__qualname__
    return made


def _held(value: object) -> list[object]:
    """What a module's or a class's value holds that could be called: the value, a container's items, a
    partial's function, a static or class method's function, a property's functions."""
    if isinstance(value, dict):
        return [*value.values(), *value]
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    if isinstance(value, functools.partial):
        return [value.func, *value.args, *value.keywords.values()]
    if isinstance(value, (staticmethod, classmethod)):
        return [value.__func__]
    if isinstance(value, property):
        return [value.fget, value.fset, value.fdel]
    return [value]


def charging(module: types.ModuleType, cls: type, original: Callable[..., object],
             replacement: Callable[..., object]) -> dict[str, types.FunctionType]:
    """The methods of `cls` that call `original`, directly or through the module's own functions, made again from
    their code with `replacement` in its place, in a copy of `module`'s globals (the module's functions that call
    it are made again there too): for a subclass to install, `module` and `cls` left as they are. Empty unless that
    covers every call that can be seen: none is made again when no method calls it, or when a function of the
    module or of the class reaches `original`, or one of the functions made again, otherwise than by its global
    name (as an attribute, a default value, an item of a container, a partial, a static method)."""
    names = dict(vars(module))
    targets = {name for name, value in names.items() if value is original}
    for name in targets:
        names[name] = replacement
    functions = {name: fn for name, fn in vars(module).items()
                 if isinstance(fn, types.FunctionType) and fn.__globals__ is vars(module)}
    grew = True
    while grew:  # a function that calls one made again is made again: `original` may be a few calls down
        grew = False
        for name, fn in functions.items():
            if name not in targets and _globals_read(fn.__code__, targets):
                names[name] = _remade(fn, names)
                targets.add(name)
                grew = True
    methods = {name: _remade(fn, names) for name, fn in vars(cls).items()
               if isinstance(fn, types.FunctionType) and _globals_read(fn.__code__, targets)}
    if not methods:
        return {}
    reached = {id(original)} | {id(functions[name]) for name in targets if name in functions}
    held = [item for value in (*vars(module).values(), *vars(cls).values()) for item in _held(value)]
    code = [fn for fn in held if isinstance(fn, types.FunctionType)]
    code += [fn.__func__ for fn in held
             if isinstance(fn, types.MethodType) and isinstance(fn.__func__, types.FunctionType)]
    for fn in code:
        if _read_otherwise(fn.__code__, targets):
            return {}  # an attribute, a store, a name read otherwise
        defaults = [*(fn.__defaults__ or ()), *(fn.__kwdefaults__ or {}).values()]
        if any(id(item) in reached for value in defaults for item in _held(value)):
            return {}
    unmade = [fn for fn in code if fn not in functions.values() and fn not in vars(cls).values()]
    if any(_globals_read(fn.__code__, targets) for fn in unmade):
        return {}  # a static method, a property, a function kept in a container
    kept = [value for value in vars(module).values() if not isinstance(value, types.FunctionType)]
    if any(id(item) in reached for value in (*kept, *vars(cls).values()) for item in _held(value)):
        return {}  # `original`, or a function that reaches it, kept in a container or on the class
    if any(_globals_read(fn.__code__, {cls.__name__}) for fn in code):
        return {}  # a method called through the class (`Parser.method(self)`), not made again
    bases = [fn for base in cls.__mro__[1:] for fn in vars(base).values() if isinstance(fn, types.FunctionType)]
    if any(not targets.isdisjoint(_names(fn.__code__)) for fn in bases):
        return {}  # a base class's method calls it
    return methods


def _charging_unescape() -> dict[str, types.FunctionType]:
    """html.parser's own methods that unescape text, made again (`charging`) so that `html.unescape` is
    htmltext.unescape in them: on Python 3.11, `goahead` for a run of text between tags and `parse_starttag` for an
    attribute's value (on releases from mid-2025, `parse_starttag` unescapes a value a reference at a time, through
    two functions of the module, which are made again too). htmltext.unescape charges what it is given to the
    response's budget before it starts (budget.check_unescape), and leaves a text as it is where html.unescape
    raises (a decimal reference of more than 4,300 digits). So what a script holds, which html.parser never
    unescapes, is never charged, and one such reference no longer stops the whole page's reading. Only
    OffsetParser's methods read it so.

    Empty where that would not cover each of html.parser's calls, as `charging` sees them, or where a page whose
    text, values and title hold such a reference still raises when read with them (a call `charging` did not
    see): then OffsetParser.run charges a page's references at once, as before."""
    methods = charging(html.parser, HTMLParser, html.unescape, htmltext.unescape)
    if methods:
        huge = "&#" + "1" * 4_400 + ";"
        probe = type("Probe", (HTMLParser,), dict(methods))()
        try:
            probe.feed(f'<p title="{huge}" id={huge}>{huge}</p><title>{huge}</title><textarea>{huge}</textarea>{huge}')
            probe.close()
        except ValueError:
            return {}
    return methods


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
        self._gap = 1024  # the budget is read every 1,024 steps (see updatepos), and at every step of the closing pass
        self._left = self._gap

    def updatepos(self, i: int, j: int) -> int:
        # html.parser calls this at each step: for the text before a tag or comment (often none), and again past
        # it, at a few hundred thousand a second: a 3 MB page of nothing but tags took three seconds. The
        # response's time budget is read here, every 1,024 steps (about 500 short tags; a tag also weighs an eighth
        # of its length, see check_for_whole_start_tag; budget.check raises Overrun once it has passed). Reading a
        # page of ordinary markup takes 6% longer with it (17% through super(): 30,000 tags, timeit).
        self._left -= 1
        if self._left <= 0:
            self._left = self._gap
            budget.check()
        return _updatepos(self, i, j)

    def check_for_whole_start_tag(self, i: int) -> int:
        # html.parser finds where a start tag ends in one regex match, then reads its attributes one Python step
        # each: 0.17 and 0.3 s for a tag of 300,000 (`<div a a a ...`), and nothing stopped either. The match is
        # made on the next 2,048 characters first, and kept when it is html.parser's own answer (see
        # _START_TAG_IN_PART); otherwise the tag is matched an attribute at a time (`_end_of_long_tag`). Each tag
        # weighs an eighth of its length on the count of steps between readings of the clock (updatepos): up to
        # 512 tags of 2,048 characters would otherwise go unchecked.
        rawdata = self.rawdata
        bound = i + _PROBE  # past the text's end, the match is made on all of it
        m = _START_TAG_IN_PART.match(rawdata, i, bound)
        j = m.end()  # type: ignore[union-attr]  # it matches `<` and a letter, which html.parser saw
        if m.lastindex is None and j + 1 < bound:  # type: ignore[union-attr]
            after = rawdata[j:j + 1]  # nothing, where the text ends inside the tag
            if after == ">":
                self._left -= (j - i) >> 3
                return j + 1
            if after == "/" and rawdata.startswith(">", j + 1):
                self._left -= (j - i) >> 3
                return j + 2
        return self._end_of_long_tag(i)

    def _end_of_long_tag(self, i: int) -> int:
        """check_for_whole_start_tag's answer, from html.parser's regex matched an attribute at a time: the clock is
        read every 256 attributes, and the attributes are not read when they could not be in time."""
        rawdata = self.rawdata
        j = _LEAD.match(rawdata, _TAG_NAME.match(rawdata, i).end()).end()  # type: ignore[union-attr]
        match = _ONE_ATTRIBUTE.match
        count = 0
        while (m := match(rawdata, j)) is not None:
            j = m.end()
            count += 1
            if not count & 255:
                budget.check()
        j = _TRAIL.match(rawdata, j).end()  # type: ignore[union-attr]
        budget.check(count * _READ_ATTR_MS)
        self._left -= (j - i) >> 3
        after = rawdata[j:j + 1]
        if after == ">":
            return j + 1
        if after == "/":
            return j + 2 if rawdata.startswith("/>", j) else -1
        if after == "" or after in _MAY_GO_ON:
            return -1
        return j if j > i else i + 1

    def _end_timed(self, i: int) -> int:
        """Where html.parser's regex is not the one `_ONE_ATTRIBUTE` was written from: its own answer, the time its
        match took (unbounded) deciding whether the attributes are read."""
        started = time.perf_counter()
        end = _start_tag_end(self, i)
        budget.check((time.perf_counter() - started) * 5000)  # reading them took 2.1 to 2.3 times the match
        if end > i:
            self._left -= (end - i) >> 3
        return end

    def run(self) -> None:
        text = self.text
        if not charging_installed():  # see _charging_unescape: else the page's references are charged at once
            budget.check_unescape(text)
        self.feed(text)
        # At the end, html.parser reads again from each `<` that starts no complete tag to the end of the text: a
        # run of them there takes time that grows with the square of its length (10,000 "<a" took 0.47 s, 40,000
        # 7.2 s, on Python 3.11.7; CPython's fix of gh-135462, in its releases of June 2025 and later, drops them at
        # once). Each of those steps reads the budget.
        self._gap = self._left = 1
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


if _LOCATE is None:  # this Python's html.parser finds a start tag's end otherwise
    OffsetParser.check_for_whole_start_tag = OffsetParser._end_timed  # type: ignore[method-assign]


@functools.cache
def charging_installed() -> dict[str, types.FunctionType]:
    """The methods of html.parser that OffsetParser now has made again (_charging_unescape), installed at the
    first page read rather than at import: finding them takes about 4 ms, which start-up does not wait for."""
    methods = _charging_unescape()
    if not methods.keys().isdisjoint(vars(OffsetParser)):  # never in place of one of OffsetParser's own
        return {}
    for name, method in methods.items():
        setattr(OffsetParser, name, method)
    return methods


def attribute(name: str, value: str | None = None) -> str:
    """` name` or ` name="value"`, escaped for a double-quoted attribute."""
    return f" {name}" if value is None else f' {name}="{escape(value, quote=True)}"'
