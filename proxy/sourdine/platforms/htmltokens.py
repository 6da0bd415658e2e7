"""A fast HTML tag tokenizer that follows the WHATWG tokenizer's states and reports where each tag is in the text.

Reading new Reddit's pages with the standard library's `html.parser` costs 8 to 20 µs a tag, most of it spent
splitting and unescaping the attributes of every tag. Sourdine needs the attributes of a few tags only. This
tokenizer finds every tag, comment and raw text element as the HTML standard's tokenizer does (section 13.2.5,
"Tokenization"), and leaves a tag's attributes unread until asked (`attributes`).

What it follows, state by state:

- data: a `<` starts markup only when followed by an ASCII letter (start tag), `/` (end tag, `</>`, or a bogus
  comment), `!` (comment, DOCTYPE, bogus comment) or `?` (bogus comment); any other `<` is text;
- tag name and attributes: names end at whitespace, `/` or `>`; a value is double-quoted, single-quoted (a `>`
  inside quotes is text) or unquoted (ending at whitespace or `>`); a quote that starts a value must close;
  attributes are lexed the same way in end tags; a tag cut off by the end of the text is no tag;
- comments: `<!--` to the first `-->` or `--!>`, with `<!-->` and `<!--->` closing at once; `<!DOCTYPE`, `<?`,
  `</` followed by neither letter nor `>`, and any other `<!` run to the next `>`;
- raw text (RAWTEXT and RCDATA): after `<script>`, `<style>`, `<xmp>`, `<iframe>`, `<noembed>`, `<noframes>`,
  `<noscript>` (a browser runs scripts), `<textarea>`, `<title>`, the text up to the matching end tag is text;
  a script's `<!--` and `<script` inside it make a later `</script>` part of its text, as in a browser (the
  "script data escaped" and "double escaped" states); `<plaintext>` makes the rest of the text text.

Where a browser's reading depends on the tree being built and this tokenizer does not build one, it gives up
(raises `Unsupported`) rather than guess, so the caller leaves the page as it came:

- `<![CDATA[`, a CDATA section inside SVG or MathML and a bogus comment elsewhere;
- a raw text element inside `<svg>` or `<math>` whose text holds a `<` (there, `<style>` or `<title>` hold markup).
  Whether a tag is inside SVG or MathML is told by counting their start and end tags, not by building the tree:
  where a browser would have left SVG earlier (an HTML tag such as `<p>` inside `<svg>` ends it), the count
  errs towards giving up, never towards reading raw text as markup.

`<template>` contents are markup like any other. This module uses compiled patterns for the tokens of each
state, as html.parser itself does; the states and their order are the standard's.

A reader that needs only some tags can pass a `Quiet` switch to `tokens`: while it is on, the other start and
end tags are passed over inside the regex engine, never reaching Python (see `quiet_pattern`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from sourdine import budget
from sourdine.platforms.htmltext import unescape

__all__ = ["START", "END", "COMMENT", "RAW_TEXT", "VOID", "Unsupported", "Quiet", "quiet_pattern", "tokens",
           "attributes"]

START = 0
END = 1
COMMENT = 2


class Unsupported(ValueError):
    """The text holds markup whose reading this tokenizer does not settle: leave the page alone."""


_WS = "\t\n\f\r "
# One attribute: its name (any character but whitespace, `/` and `>` first; then not `=` either), then an
# optional value.
# An `=` after the name (and any whitespace) makes the value mandatory: a quote that never closes is no value.
# Possessive quantifiers make the match the tokenizer's one reading, with no backtracking into another.
_ATTR = (rf"[^{_WS}/>][^{_WS}/>=]*+"
         rf"(?:[{_WS}]*+=[{_WS}]*+(?:\"[^\"]*+\"|'[^']*+'|(?![\"'])[^{_WS}>]*+)|(?![{_WS}]*=))")
# The next markup from a position (group 1). Either a whole tag: `<` or `</` (group 2 the `/`), the name (group
# 3), then attributes separated by whitespace and stray `/`s (group 4, from after the name to after the last
# attribute), then what follows them (group 5), then `>`. Or else an empty match at a `<` that starts other
# markup (`<!`, `<?`, `</` not followed by a letter, a tag cut off by the end of the text), read step by step.
# A `<` that starts no markup is passed over, as the data state does. Most of a page's markup is plain tags:
# one search each.
_TAG_NAME = rf"[a-zA-Z][^{_WS}/>]*+"
_NEXT = re.compile(rf"(<(?:(/?)({_TAG_NAME})((?:[{_WS}/]*+{_ATTR})*+)([{_WS}/]*+)>|(?=[!?/a-zA-Z])))")
# Within a tag `_NEXT` matched: an attribute's name, its `=` if it has a value, the value as written.
_ONE_ATTR = re.compile(rf"[{_WS}/]*+([^{_WS}/>][^{_WS}/>=]*+)"
                       rf"(?:[{_WS}]*+(=)[{_WS}]*+(\"[^\"]*+\"|'[^']*+'|[^{_WS}>]*+))?")
_COMMENT_END = re.compile(r"--!?>")
RAW_TEXT = frozenset({"script", "style", "xmp", "iframe", "noembed", "noframes", "noscript", "textarea", "title"})
# The void elements (the standard's 13.1.2, with the obsolete keygen and param): no end tag, no content.
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta", "param",
                  "source", "track", "wbr"})
# What changes a script's state: `<!--`, `-->`, `<script` and `</script` (then whitespace, `/` or `>`).
_SCRIPT_STEP = re.compile(rf"<!--|-->|</?script[{_WS}/>]", re.IGNORECASE | re.ASCII)
_SCRIPT_DATA_STEP = re.compile(rf"<(?:!--|/script[{_WS}/>])", re.IGNORECASE | re.ASCII)  # plain script data
_FOREIGN = frozenset({"svg", "math"})
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SPECIAL = RAW_TEXT | _FOREIGN | {"plaintext"}
_AFTER_NAME = frozenset(_WS + "/>")


class Quiet:
    """A switch for `tokens`: while `on` is true, the tags that `pattern` (made by `quiet_pattern`) passes over
    are not reported. The caller may turn it off and on between two tokens: from the next token on, `tokens`
    reports every token, or again only those `pattern` does not pass over."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        self.on = True


_QUIET_NAME = re.compile(r"[a-z][a-z0-9-]*")
_QUIET_VALUE = re.compile(r"[a-zA-Z0-9_-]+")


def quiet_pattern(loud: frozenset[str], attribute: str | None = None,
                  values: frozenset[str] = frozenset()) -> re.Pattern[str]:
    """For `Quiet`: a pattern that passes over, in the regex engine, the start and end tags a reader has no use
    for, and matches the next token as `_NEXT` does (its groups one to five). A page's tags mostly matter only
    for where they are (new Reddit's post has 15, of which the reader needs 4), and each one reported costs
    about a microsecond in Python.

    Never passed over: the tags named in `loud` (lower-case ASCII tag names) and those of the elements the
    tokenizer reads specially (raw text, SVG and MathML, `<plaintext>`), whatever their case; tags with an
    `attribute` whose value as written is one of `values` or holds a `&` (which a character reference might
    turn into one); comments and everything else `tokens` reads step by step. So the tokens reported are those
    of the plain reading, less tags the reader would skip, and `tokens`' state (SVG depth, raw text) moves as
    it does there.

    Only tags named in lower-case ASCII letters, digits and hyphens are passed over: any other name (`<SCRIPT>`,
    `<Article>`, SVG's `<linearGradient>`, `<span_x>`) is reported, whatever it is, which lets a few more tags
    through, never fewer. The names are then compared exactly, not without regard to case: Reddit's feed (1,500
    tags a page) is passed over in 0.6 ms instead of 0.8 to 0.9. A page made of tags in capitals is read about
    three times slower than before, as slowly as with no `Quiet` at all.
    """
    for name in (*loud, *((attribute,) if attribute is not None else ())):
        if not _QUIET_NAME.fullmatch(name):
            raise ValueError(f"not a lower-case ASCII tag or attribute name: {name!r}")
    for value in values:
        if not _QUIET_VALUE.fullmatch(value):
            raise ValueError(f"not a plain attribute value: {value!r}")
    names = "|".join(re.escape(name) for name in sorted(loud | _SPECIAL, key=len, reverse=True))
    attr = _ATTR
    if attribute is not None:
        both = "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)) or "(?!)"
        loud_value = (rf"\"(?:{both})\"|'(?:{both})'|(?:{both})(?![^{_WS}>])"
                      rf"|\"[^\"&]*+&|'[^'&]*+&|(?![\"'])[^{_WS}>&]*+&")
        attr = rf"(?!(?i:{re.escape(attribute)})(?![^{_WS}/>=])[{_WS}]*+=[{_WS}]*+(?:{loud_value})){_ATTR}"
    quiet_tag = (rf"/?+(?!(?:{names})(?![^{_WS}/>]))[a-z][a-z0-9-]*+(?![^{_WS}/>])"
                 rf"(?:[{_WS}/]*+{attr})*+[{_WS}/]*+>")
    # Text, then any number of (a tag passed over, or a run of `<` that starts no markup, then text). A run of
    # `<` gives back at most its last one, where a tag may start: one step per run, not per `<`.
    return re.compile(rf"[^<]*+(?:(?:<{quiet_tag}|<++(?![!?/a-zA-Z])|<+(?=<))[^<]*+)*+" + _NEXT.pattern)


def tokens(text: str, quiet: Quiet | None = None) -> Iterator[tuple[int, str, int, int, int, int]]:
    """Every tag and comment of `text`, in order: `(kind, lower-case name, start, end, attrs_start, attrs_end)`,
    where kind is START, END or COMMENT (comments, DOCTYPEs and bogus comments), `text[start:end]` the whole
    token and `text[attrs_start:attrs_end]` a tag's attributes (empty for a comment). With `quiet`, less the
    tags its pattern passes over while it is on.

    What lies between two tokens is text (the raw text of a script or style too), when every token is
    reported. Raises `Unsupported` (see the module's documentation).
    """
    n = len(text)
    pos = 0
    foreign = 0  # depth of <svg> and <math> elements open
    find = text.find
    search = _NEXT.search
    steps = 0
    while True:
        steps += 1
        if not steps & 1023:  # the response's time budget, read every 1,024 tokens (sourdine.budget)
            budget.check()
        if quiet is not None and quiet.on:
            m = quiet.pattern.match(text, pos)
        else:
            m = search(text, pos)
        if m is None:
            return
        i, after = m.span(1)
        slash, name = m.group(2, 3)  # one call for both: this loop runs for every tag of a page
        if name is not None:  # a whole tag: the common case, read here at once
            pos = after
            name = name.lower()
            attrs_start, attrs_end = m.span(4)
            if slash:
                if foreign and name in _FOREIGN:
                    foreign -= 1
                yield (END, name, i, pos, attrs_start, attrs_end)
                continue
            yield (START, name, i, pos, attrs_start, attrs_end)
            if name not in _SPECIAL:
                continue
            if name in _FOREIGN:
                if not m.group(5).endswith("/"):  # `<svg/>` is an empty element
                    foreign += 1
                continue
            if name == "plaintext":
                return
            end = _script_end(text, pos) if name == "script" else _raw_end(text, pos, name)  # any: str groups
            if foreign and find("<", pos, end) >= 0:
                raise Unsupported(f"<{name}> inside SVG or MathML")
            if end == n:
                return
            pos = end
            continue
        c = text[i + 1:i + 2]
        if c in _LETTERS or c == "/" and text[i + 2:i + 3] in _LETTERS:
            return  # a tag the end of the text cuts off is no tag: the rest of the text is inside it
        elif c == "!":
            if text.startswith("<!--", i):
                if text.startswith(">", i + 4):
                    pos = i + 5
                elif text.startswith("->", i + 4):
                    pos = i + 6
                else:
                    close = _COMMENT_END.search(text, i + 4)
                    if close is None:
                        return
                    pos = close.end()
                yield (COMMENT, "!--", i, pos, pos, pos)
                continue
            if text.startswith("<![CDATA[", i):
                raise Unsupported("a CDATA section")
            gt = find(">", i + 2)
            if gt < 0:
                return
            pos = gt + 1  # `<!DOCTYPE ...>` and any other `<!` run to the next `>`
            yield (COMMENT, "!", i, pos, pos, pos)
        elif c == "?" or c == "/":
            if c == "/" and i + 2 >= n:
                return  # `</` at the very end is text
            gt = find(">", i + 2)
            if gt < 0:
                return
            pos = gt + 1  # `</>` is nothing; other `</`, `<?` are bogus comments
            yield (COMMENT, "!", i, pos, pos, pos)
        else:
            pos = i + 1  # a `<` that starts no markup is text


def _script_end(text: str, pos: int) -> int:
    """Where the text of a script that starts at `pos` ends (at its end tag, or the end of the text), through the
    standard's script data states (13.2.5.4, 13.2.5.15 to 13.2.5.31): after `<!--` the script is "escaped",
    and there `<script` makes it "double escaped", where `</script>` does not end it but goes back to escaped;
    `-->` goes back to plain script data from either."""
    search = _SCRIPT_STEP.search
    data_search = _SCRIPT_DATA_STEP.search
    state = 0  # 0: script data, 1: escaped, 2: double escaped
    while True:
        if state == 0:
            # In plain script data only `<!--` and `</script` change anything (`-->` and `<script` leave it as
            # it is): search for those two alone, which the regex engine does from `<` to `<` (a page's large
            # scripts of JSON data hold few), instead of stopping at every `-` too.
            m = data_search(text, pos)
            if m is None:
                return len(text)
            if m.group().startswith("<!"):
                state = 1
                pos = m.start() + 2  # its `--` may be that of a `-->` (`<!-->` opens and closes at once)
                continue
            return m.start()
        m = search(text, pos)
        if m is None:
            return len(text)
        step = m.group()
        if step == "<!--":
            state = state or 1
            pos = m.start() + 2  # its `--` may be that of a `-->` (`<!-->` opens and closes at once)
        elif step == "-->":
            state = 0
            pos = m.end()
        elif step[1] == "/":  # `</script`
            if state == 2:
                state = 1
                pos = m.end()
            else:
                return m.start()
        else:  # `<script`
            if state == 1:
                state = 2
            pos = m.end()


def _raw_end(text: str, pos: int, name: str) -> int:
    """Where the raw text of a `name` element that starts at `pos` ends: at its end tag (`</name` then
    whitespace, `/` or `>`, in any case), or at the end of the text."""
    find = text.find
    size = len(name) + 2
    while True:
        i = find("</", pos)
        if i < 0:
            return len(text)
        if text[i + 2:i + size].lower() == name and text[i + size:i + size + 1] in _AFTER_NAME:
            return i
        pos = i + 2


# Reading a tag's attributes grows with how many there are, each after whitespace, `/` or a quote: at worst 0.39 µs
# for each of those characters (`a a a ...` and `a=b a=b ...`, every attribute read in Python, 2026-11-24, pure
# Python), doubled as in sourdine.budget. A tag longer than this is gated.
_ATTR_SEP_MS = 0.0008
_ATTR_SEPARATORS = f"{_WS}/\"'".encode()
_LONG_TAG = 256  # at most 51 µs unchecked a tag, and the tokenizer reads the clock every 1,024 tags


def attributes(text: str, start: int, end: int, decode: Callable[[str], str] | None = None,
               only: frozenset[str] | None = None) -> dict[str, str | None]:
    """The attributes in `text[start:end]` (a tag's attributes as `tokens` reports them): lower-case names,
    unescaped values, None for an attribute without a value; the first of two with one name wins. `decode`, when
    given, turns each value as written into characters before its character references are; `only`, when
    given, names the attributes wanted (lower case): the others are passed over unread."""
    if end - start > _LONG_TAG:  # a tag of a million attributes is not read when it could not be in time
        budget.check(budget.count_any(text[start:end], _ATTR_SEPARATORS) * _ATTR_SEP_MS)
    if only is not None:
        picked = _only(text, start, end, decode, only)
        if picked is not None:
            return picked
    found: dict[str, str | None] = {}
    for name, equals, value in _ONE_ATTR.findall(text, start, end):
        name = name.lower()
        if name in found or only is not None and name not in only:
            continue
        found[name] = _value(equals, value, decode)  # any: a str pattern's groups are str
    return found


def _value(equals: str, value: str, decode: Callable[[str], str] | None) -> str | None:
    """An attribute's value as `attributes` gives it, from the `=` and the value as written."""
    if not equals:
        return None
    if value[:1] in ("'", '"'):
        value = value[1:-1]
    if decode is not None:
        value = decode(value)
    return unescape(value) if "&" in value else value


# For `attributes(..., only=names)`: a pattern that passes over every attribute not named, in the regex engine,
# then reads the next one named. A post's tag on new Reddit carries 18 attributes in about 700 characters, and
# reading each one out (`_ONE_ATTR.findall`) cost 7 to 12 µs a tag. Bounded: one pattern per set of names.
_ONLY_PATTERNS: dict[frozenset[str], re.Pattern[str] | None] = {}
_ONLY_PATTERNS_MAX = 64
_NAME = re.compile(rf"[^{_WS}/>][^{_WS}/>=]*+")


def _only_pattern(only: frozenset[str]) -> re.Pattern[str] | None:
    """The pattern for the names `only`; None unless each is a lower-case ASCII attribute name, which the plain
    reading can give (`attributes` reads the others the plain way)."""
    if only in _ONLY_PATTERNS:
        return _ONLY_PATTERNS[only]
    pattern = None
    if all(name.isascii() and name == name.lower() and _NAME.fullmatch(name) for name in only):
        # A name is wanted when it is one of `only` whole (what follows a name ends it). Matched without regard
        # to case, which in Unicode also lets through three letters whose lower case is no ASCII letter (U+0130,
        # U+0131, U+017F; the Kelvin sign's is "k"): `_only` checks the name it stops at, and leaves such a tag
        # to the plain reading.
        names = "|".join(re.escape(name) for name in sorted(only, key=len, reverse=True))
        wanted = rf"(?i:{names})(?![^{_WS}/>=])"
        pattern = re.compile(rf"(?:[{_WS}/]*+(?!{wanted}){_ATTR})*+[{_WS}/]*+"
                             rf"(?:({wanted})(?:[{_WS}]*+(=)[{_WS}]*+(\"[^\"]*+\"|'[^']*+'|[^{_WS}>]*+))?)?")
    if len(_ONLY_PATTERNS) >= _ONLY_PATTERNS_MAX:
        _ONLY_PATTERNS.clear()
    _ONLY_PATTERNS[only] = pattern
    return pattern


def _only(text: str, start: int, end: int, decode: Callable[[str], str] | None,
          only: frozenset[str]) -> dict[str, str | None] | None:
    """`attributes` for the names `only`, or None where the plain reading must decide (names `_only_pattern`
    refuses, a name that matches only without regard to Unicode case, attributes that `tokens` did not lex)."""
    found: dict[str, str | None] = {}
    if not only:
        return found
    pattern = _only_pattern(only)
    if pattern is None:
        return None
    match = pattern.match
    pos = start
    while len(found) < len(only):
        m = match(text, pos, end)
        if m is None:
            return None
        name = m.group(1)
        if name is None:
            return found if m.end() == end else None
        name = name.lower()
        if name not in only:
            return None
        if name not in found:
            found[name] = _value(m.group(2) or "", m.group(3) or "", decode)  # any: str groups, None made ""
        pos = m.end()  # past a name of `only`, never empty
    return found
