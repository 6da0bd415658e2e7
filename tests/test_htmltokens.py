"""Tests for sourdine.platforms.htmltokens: its tags against html.parser's on real Reddit captures and on generated
HTML, its own invariants on arbitrary text, and the HTML standard's readings where html.parser (3.11) differs."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sourdine.platforms.htmltokens import (
    _SPECIAL,
    COMMENT,
    END,
    START,
    Quiet,
    Unsupported,
    _only,
    _script_end,
    attributes,
    quiet_pattern,
    tokens,
)

REDDIT = Path(__file__).parent / "data" / "reddit"
CAPTURES = sorted(REDDIT.glob("*.html"))

Tag = tuple  # (kind, name, start, end, attributes): end is that of a start tag, -1 for an end tag


class Reference(HTMLParser):
    """html.parser's tags, with their offsets in the text and their attributes (the first of a name wins)."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        starts = [0]
        i = text.find("\n")
        while i >= 0:
            starts.append(i + 1)
            i = text.find("\n", i + 1)
        self.starts = starts
        self.tags: list[Tag] = []
        self.feed(text)
        self.close()

    def _at(self) -> int:
        line, column = self.getpos()
        return self.starts[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        start = self._at()
        self.tags.append((START, tag, start, start + len(self.get_starttag_text() or ""), dict(reversed(attrs))))

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag: str) -> None:
        self.tags.append((END, tag, self._at(), -1, {}))


def ours(text: str) -> list[Tag]:
    return [(kind, name, start, end if kind == START else -1, attributes(text, a, b) if kind == START else {})
            for kind, name, start, end, a, b in tokens(text) if kind != COMMENT]


def theirs(text: str) -> list[Tag]:
    return Reference(text).tags


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_real_captures_read_as_html_parser_reads_them(path: Path) -> None:
    """Every tag of each real shreddit capture: same name, offsets and attributes as html.parser's."""
    text = path.read_text()
    found = ours(text)
    assert len(found) > 40
    assert found == theirs(text)


def test_real_captures_joined_read_as_html_parser_reads_them() -> None:
    """The captures one after another, inside a page with a head, scripts and a style (as a first page)."""
    body = "".join(p.read_text() for p in CAPTURES)
    text = (f"<!DOCTYPE html><html lang=en><head><style>a > b {{ color: red }}</style>"
            f"<script>if (a < b && c > d) {{ x = '<article>' }}</script></head><body>{body}</body></html>")
    found = ours(text)
    assert found == theirs(text)
    assert ("article" in {t[1] for t in found}) and not any(t[2] > text.index("<script>") and t[2] < text.index(
        "</script>") for t in found)


# -- generated HTML, in the part of the language where html.parser and the standard agree --------------------

NAMES = st.sampled_from(["div", "p", "a", "span", "article", "shreddit-post", "shreddit-comment", "faceplate-partial",
                         "template", "br", "hr", "img", "DIV", "Article", "x-y_z"])
ATTR_NAMES = st.sampled_from(["id", "slot", "author", "thingId", "post-title", "class", "data-x", "collapsed",
                              "aria-label", "href", "ID"])
def pieces(alphabet: list[str], max_size: int) -> st.SearchStrategy[str]:
    """Strings made of `alphabet`'s strings, some longer than one character."""
    return st.lists(st.sampled_from(alphabet), max_size=max_size).map("".join)


QUOTED = pieces(list("ab <>/='`!-&;\n\té") + ["&amp;", "&lt;", "&quot;", "t3_x"], 12)
UNQUOTED = st.text(st.sampled_from("abcXYZ019-_./:;&"), min_size=1, max_size=8)
SPACE = st.sampled_from([" ", "  ", "\n", "\t", " \n "])


@st.composite
def attribute(draw: st.DrawFn) -> str:
    name = draw(ATTR_NAMES)
    form = draw(st.integers(0, 3))
    if form == 0:
        return name
    if form == 1:
        return f'{name}="{draw(QUOTED).replace(chr(34), "")}"'
    if form == 2:
        return f"{name}='{draw(QUOTED).replace(chr(39), '')}'"
    return f"{name}={draw(UNQUOTED)}"


@st.composite
def start_tag(draw: st.DrawFn) -> str:
    attrs = draw(st.lists(attribute(), max_size=5))
    inside = "".join(draw(SPACE) + a for a in attrs)
    return f"<{draw(NAMES)}{inside}{draw(st.sampled_from(['', ' ', '/', ' /']))}>"


TEXT = pieces(list("ab xy\n.,;'\"=>é") + ["&amp;", "a < b", "<3", "< ", "&"], 10)
RAW = pieces(list("ab ;=\"'>") + ["<div>", "</div>", "<article id=x>", "</p>", "a<b", "&amp;"], 10)
PIECES = st.one_of(
    start_tag(),
    NAMES.map(lambda n: f"</{n}>"),
    TEXT,
    st.text(st.sampled_from("ab <>'\"="), max_size=8).map(lambda t: f"<!-- {t.replace('>', '')} -->"),
    st.just("<!DOCTYPE html>"),
    st.tuples(st.sampled_from(["script", "style", "SCRIPT"]), RAW).map(lambda p: f"<{p[0]}>{p[1]}</{p[0].lower()}>"),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(PIECES, max_size=30).map("".join))
def test_generated_html_reads_as_html_parser_reads_it(text: str) -> None:
    """Tags, offsets and attributes match html.parser's on HTML made of tags with every form of attribute (quoted
    values holding `>` and `<`, unquoted, none, repeated, upper case), text with stray `<`, comments and scripts."""
    assert ours(text) == theirs(text)


# -- arbitrary text: the tokenizer's own invariants ------------------------------------------------------------

NOISE = pieces(list("<>/!?-\"'= \n\tabAZ&;") + ["<a", "</a", "<!--", "-->", "<script>", "</script>", "<svg>",
                                                "<style>"], 60)


@settings(max_examples=500, deadline=None)
@given(NOISE)
def test_arbitrary_text_gives_ordered_well_formed_tags(text: str) -> None:
    """On any text: tokens in order and apart, each tag `<`name...`>` and read alone as the same one tag; or
    `Unsupported`, never another error."""
    try:
        found = list(tokens(text))
    except Unsupported:
        return
    last = 0
    for kind, name, start, end, a, b in found:
        assert last <= start < end <= len(text)
        last = end
        if kind == COMMENT:
            continue
        tag = text[start:end]
        assert tag.startswith("</" if kind == END else "<") and tag.endswith(">")
        assert tag[2 if kind == END else 1:].lower().startswith(name)
        assert start < a <= b < end
        alone = [(k, n, s + start, e + start) for k, n, s, e, _, _ in tokens(tag)]
        assert alone == [(kind, name, start, end)]
        attributes(text, a, b)


# -- where the standard and html.parser part ways ---------------------------------------------------------------

def names(text: str) -> list[str]:
    return [("/" if kind == END else "") + name for kind, name, *_ in tokens(text) if kind != COMMENT]


@pytest.mark.parametrize(("text", "expected"), [
    # RCDATA and RAWTEXT elements besides script and style (13.2.6.4.4, "in head"; 13.2.6.4.7, "in body").
    ("<title><article></title><p>", ["title", "/title", "p"]),
    ("<textarea><shreddit-post></textarea>", ["textarea", "/textarea"]),
    ("<noscript><article></noscript><b>", ["noscript", "/noscript", "b"]),
    ("<iframe><a></iframe>", ["iframe", "/iframe"]),
    ("<script></scriptx></script ><i>", ["script", "/script", "i"]),
    ("<plaintext><a></plaintext><b>", ["plaintext"]),
    # Comments (13.2.5.43 to 13.2.5.52): `--!>` closes; `<!-->` and `<!--->` are empty comments.
    ("<!-- a --!><b>", ["b"]),
    ("<!--><b>", ["b"]),
    ("<!---><b>", ["b"]),
    ("<!-- a -- ><b> -->", []),
    ("<!-- never closed <b>", []),
    # Bogus comments: `<?`, `</` not followed by a letter, other `<!`.
    ("<?xml a='>'?><b>", ["b"]),
    ("</ b><i>", ["i"]),
    ("</><i>", ["i"]),
    ("<!ELEMENT x><i>", ["i"]),
    # Attributes: a `>` inside quotes, in start and end tags alike; a quote that never closes is no tag.
    ('<a title="1 > 0"><b>', ["a", "b"]),
    ('</a title=">"><b>', ["/a", "b"]),
    ('<a title="never closed><b>', []),
    ("<a b=c\"d>", ["a"]),
    ("<a =b>", ["a"]),
    ("<a\n\fb\rc>", ["a"]),
    ("<3 <a1>", ["a1"]),
    ("</", []),
    ("<a b='x", []),
])
def test_the_standard_is_followed(text: str, expected: list[str]) -> None:
    """Where html.parser 3.11 reads otherwise, the reading is that of the HTML standard's tokenizer."""
    assert names(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("<a B=1 b=2 c d='' e=\"&amp;\" f=&lt;>", {"b": "1", "c": None, "d": "", "e": "&", "f": "<"}),
    ('<a x="1"y=2/>', {"x": "1", "y": "2/"}),
    ("<a x = 'q' >", {"x": "q"}),
    ("<a =x>", {"=x": None}),
])
def test_attributes(text: str, expected: dict[str, str | None]) -> None:
    """Names lower-cased, values unescaped and unquoted, the first of a name wins, None without a value."""
    [(_, _, _, _, a, b)] = tokens(text)
    assert attributes(text, a, b) == expected


def test_attributes_only_and_decode() -> None:
    """`only` leaves the other attributes unread (a repeated name still counts its first); `decode` turns the
    value as written into characters before its character references are."""
    text = "<a id=1 ID=2 author=\u00c3\u00a9&amp; slot=x>"
    [(_, _, _, _, a, b)] = tokens(text)
    assert attributes(text, a, b, only=frozenset({"id", "author"})) == {"id": "1", "author": "\u00c3\u00a9&"}
    assert attributes(text, a, b, utf8, frozenset({"author"})) == {"author": "\u00e9&"}


def utf8(value: str) -> str:
    return value.encode("latin-1").decode("utf-8")


def test_attributes_end_where_a_new_one_would_go() -> None:
    """attrs_end is just past the last attribute, before any `/` or `>` that closes the tag (also with an
    unquoted value ending in `/`)."""
    for text, at in [("<a x='1'/>", 8), ("<a x=1/>", 7), ("<a>", 2), ("<a  x >", 5), ("<a/>", 2)]:
        [(_, _, _, _, _, b)] = tokens(text)
        assert b == at, text


@pytest.mark.parametrize(("text", "expected"), [
    # Script data, escaped and double escaped (13.2.5.4, 13.2.5.15 to 13.2.5.31).
    ("<script><!-- <script></script> --></script><b>", ["script", "/script", "b"]),
    ("<script><!-- <script></script></script><b>", ["script", "/script", "b"]),
    ("<script><!-- <script></script><b>", ["script"]),
    ("<script><!-- </script><b>", ["script", "/script", "b"]),
    ("<script><!--></script><b>", ["script", "/script", "b"]),
    ("<script><!---><script></script><b>", ["script", "/script", "b"]),
    ("<script><!-- <SCRIPT/></script x> --> </script ><b>", ["script", "/script", "b"]),
    ("<script><!-- <scripts></script><b>", ["script", "/script", "b"]),
    ("<script>a--> <script></script><b>", ["script", "/script", "b"]),
    ("<script><!-- <script>--></script><b>", ["script", "/script", "b"]),
    ("<script><!-- <script> -- > </script> --><i></script><b>", ["script", "/script", "b"]),
])
def test_script_escapes(text: str, expected: list[str]) -> None:
    """`<!--` and `<script` inside a script: a `</script>` inside the double escape is the script's text."""
    assert names(text) == expected


@pytest.mark.parametrize("text", [
    "<math><title>a<b</title></math>",
    "<svg><![CDATA[<b>]]></svg>",
])
def test_readings_that_need_the_tree_are_refused(text: str) -> None:
    """Where a browser's reading depends on the tree (script double escaping, SVG and MathML), Unsupported."""
    with pytest.raises(Unsupported):
        list(tokens(text))


@pytest.mark.parametrize("text", [
    "<script><!-- a < b --></script><b>",
    "<svg><title>Close</title></svg><style>a<b</style>",
    "<svg/><style><b></style>",
])
def test_readings_that_agree_either_way_are_read(text: str) -> None:
    """A script comment with no inner `<script`, an SVG title without markup, an empty `<svg/>`: read."""
    assert list(tokens(text))


# -- the fast readings against the plain ones ------------------------------------------------------------------

ONLY = st.frozensets(st.sampled_from(["id", "slot", "author", "thingid", "post-title", "collapsed", "class", "data-x",
                                      "kind"]), max_size=4)
# Names with letters that match an ASCII letter when case is ignored in Unicode: U+0130, U+0131 and U+017F, whose
# lower case is no ASCII letter (the fast reading leaves such a tag to the plain one), and the Kelvin sign
# U+212A, whose lower case is "k" (both readings take it for "k").
ODD = ("\u017flot", "\u0130d", "\u0131d", "thing\u0130d", "\u212aind")
ODD_NAMES = st.sampled_from([*ODD, "Slot", "AUTHOR"])


@st.composite
def any_attribute(draw: st.DrawFn) -> str:
    return draw(st.one_of(attribute(), ODD_NAMES, ODD_NAMES.map(lambda n: f"{n}=x")))


@settings(max_examples=400, deadline=None)
@given(st.lists(any_attribute(), max_size=8), ONLY, SPACE)
def test_only_reads_what_the_plain_reading_reads(attrs: list[str], only: frozenset[str], space: str) -> None:
    """`only` (which passes over the other attributes in one regex) gives the plain reading's values for the
    names asked, whatever the attributes: repeated names, every form of value, names that match an asked one
    only without regard to Unicode case."""
    text = f"<a{''.join(space + a for a in attrs)}>"
    [(_, _, _, _, a, b)] = tokens(text)
    everything = attributes(text, a, b)
    assert attributes(text, a, b, only=only) == {k: v for k, v in everything.items() if k in only}
    if not any(name in text for name in ODD[:4]):
        assert _only(text, a, b, None, only) is not None  # read the fast way, not handed to the plain one


@pytest.mark.parametrize("only", [frozenset({""}), frozenset({"a b"}), frozenset({"a=b"}), frozenset({"i\u0307"}),
                                  frozenset({"ID"}), frozenset({"a", ""})])
def test_only_with_names_no_attribute_can_have(only: frozenset[str]) -> None:
    """Names that are no lower-case ASCII attribute name are read the plain way, with the same answer."""
    text = "<x a b a=b class=y \u0130=1 id=2>"
    [(_, _, _, _, a, b)] = tokens(text)
    everything = attributes(text, a, b)
    assert attributes(text, a, b, only=only) == {k: v for k, v in everything.items() if k in only}
    assert _only(text, a, b, None, only) is None


def test_only_on_the_real_captures() -> None:
    """On every start tag of the real shreddit captures, for the names the Reddit adapter asks, and without
    falling back on the plain reading."""
    asked = [frozenset({"id", "thingid", "author", "post-title", "collapsed", "spoiler"}), frozenset({"slot"})]
    checked = 0
    for path in CAPTURES:
        text = path.read_text()
        for kind, _, _, _, a, b in tokens(text):
            if kind != START:
                continue
            everything = attributes(text, a, b)
            for only in asked:
                assert attributes(text, a, b, only=only) == {k: v for k, v in everything.items() if k in only}
                assert _only(text, a, b, None, only) is not None
            checked += 1
    assert checked > 100


def stepped_script_end(text: str, pos: int) -> int:
    """The script data states run one step at a time on every `<!--`, `-->`, `<script` and `</script`, as the
    standard words them (the reference for _script_end, which goes from `<` to `<` in plain script data)."""
    step = re.compile(r"<!--|-->|</?script[\t\n\f\r /]|</?script>", re.IGNORECASE | re.ASCII)
    state = 0
    while True:
        m = step.search(text, pos)
        if m is None:
            return len(text)
        found = m.group().lower()
        if found == "<!--":
            state = state or 1
            pos = m.start() + 2
        elif found == "-->":
            state = 0
            pos = m.end()
        elif found.startswith("</"):
            if state != 2:
                return m.start()
            state = 1
            pos = m.end()
        else:
            state = 2 if state == 1 else state
            pos = m.end()


@settings(max_examples=500, deadline=None)
@given(pieces(["<", "!", "-", "--", "-->", "<!--", "<script", "</script", "</SCRIPT", "<Script", ">", " ", "/",
               "\u017f", "a", "{\"x\": 1}"], 30))
def test_script_end_is_the_standards_states(text: str) -> None:
    assert _script_end(text, 0) == stepped_script_end(text, 0)


# -- Quiet: tags passed over in the regex engine ----------------------------------------------------------------

LOUD = frozenset({"article", "shreddit-post"})
VALUES = frozenset({"comment", "text-body"})
QUIET = quiet_pattern(LOUD, "slot", VALUES)
SLOT_VALUES = st.sampled_from(["comment", "text-body", "Comment", "c&#111;mment", "x&amp;", "comment ", "x",
                               "text-body-2", ""])


@st.composite
def slot_attribute(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(["slot", "SLOT", "Slot", "data-slot", "slots", "\u017flot"]))
    value = draw(SLOT_VALUES)
    quote = draw(st.sampled_from(['"', "'", ""]))
    if not quote:
        value = value.replace(" ", "")
    return f"{name}{draw(st.sampled_from(['=', ' = ', '=']))}{quote}{value}{quote}"


@st.composite
def quiet_tag(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(["div", "a", "span", "article", "ARTICLE", "Shreddit-Post", "shreddit-posts",
                                 "svg", "math", "script", "title", "STYLE", "textarea", "plaintext", "\u017fcript",
                                 "articl\u0130", "DIV", "linearGradient", "span_x"]))
    attrs = draw(st.lists(st.one_of(attribute(), slot_attribute()), max_size=4))
    inside = "".join(draw(SPACE) + a for a in attrs)
    return f"<{draw(st.sampled_from(['', '/']))}{name}{inside}{draw(st.sampled_from(['', ' ', '/', ' /']))}>"


QUIET_TEXT = st.lists(st.one_of(quiet_tag(), PIECES, NOISE), max_size=25).map("".join)


def _both(text: str, switches: list[bool] | None = None) -> tuple[list | None, list | None, list[bool]]:
    """The full reading and the quiet one (None where it raised Unsupported); with `switches`, the switch is set
    to each in turn after each token, and which tokens came while it was off is returned too."""
    try:
        full = list(tokens(text))
    except Unsupported:
        full = None
    switch = Quiet(QUIET)
    quiet: list = []
    off: list[bool] = []
    try:
        for token in tokens(text, switch):
            quiet.append(token)
            off.append(not switch.on)
            if switches:
                switch.on = switches[(len(quiet) - 1) % len(switches)]
    except Unsupported:
        return full, None, off
    return full, quiet, off


def _passed_over_rightly(text: str, full: list, quiet: list) -> None:
    """`quiet` is `full` less start and end tags that are neither loud nor special and have no slot to read."""
    where = {token[2]: i for i, token in enumerate(full)}
    indices = [where[token[2]] for token in quiet]
    assert [full[i] for i in indices] == quiet and indices == sorted(indices)
    for kind, name, _, _, a, b in (full[i] for i in set(range(len(full))) - set(indices)):
        assert kind in (START, END) and name not in LOUD | _SPECIAL
        assert attributes(text, a, b).get("slot") not in VALUES


@settings(max_examples=500, deadline=None)
@given(QUIET_TEXT)
def test_quiet_passes_over_only_tags_without_use(text: str) -> None:
    """Loud and special tags (in any case), comments, tags with a slot that is or may decode to one asked for,
    and everything `tokens` reads step by step are reported, as in the plain reading; and it raises
    `Unsupported` where that does."""
    full, quiet, _ = _both(text)
    assert (full is None) == (quiet is None)
    if full is not None:
        _passed_over_rightly(text, full, quiet)


@settings(max_examples=300, deadline=None)
@given(QUIET_TEXT, st.lists(st.booleans(), min_size=1, max_size=6))
def test_quiet_switched_off_reports_every_token_from_there(text: str, switches: list[bool]) -> None:
    """Turned off between two tokens, the next token is the next one of the plain reading, and so on till it is
    turned on again."""
    full, quiet, off = _both(text, switches)
    if full is None or quiet is None:
        return
    _passed_over_rightly(text, full, quiet)
    where = {token[2]: i for i, token in enumerate(full)}
    for k in range(1, len(quiet)):
        if off[k]:
            assert where[quiet[k][2]] == where[quiet[k - 1][2]] + 1


def test_quiet_reports_tags_named_in_anything_but_lower_case_letters_digits_and_hyphens() -> None:
    """Only tags named in lower-case ASCII letters, digits and hyphens are passed over; the others are reported,
    whatever their name."""
    text = '<div><DIV><linearGradient x=1></DIV><span_x><h2></h2></div>'
    assert [t[1] for t in tokens(text, Quiet(QUIET))] == ["div", "lineargradient", "div", "span_x"]


def test_quiet_on_the_real_captures() -> None:
    """On the real captures, the tags kept are those the plain reading gives less the ones passed over, and
    most are passed over."""
    pattern = quiet_pattern(frozenset({"shreddit-post", "shreddit-comment", "article", "faceplate-partial"}),
                            "slot", frozenset({"comment", "comment-body", "text-body"}))
    for path in CAPTURES:
        text = path.read_text()
        full, quiet = list(tokens(text)), list(tokens(text, Quiet(pattern)))
        assert set(quiet) <= set(full) and len(quiet) * 3 < len(full)
        kept = {t[1] for t in quiet}
        assert "shreddit-post" in kept or "shreddit-comment" in kept


@pytest.mark.parametrize("args", [(frozenset({"Article"}),), (frozenset({"a b"}),), (frozenset({"a"}), "Slot"),
                                  (frozenset({"a"}), "slot", frozenset({'x"'})), (frozenset({"\u017fcript"}),)])
def test_quiet_pattern_refuses_what_it_cannot_match_exactly(args: tuple) -> None:
    with pytest.raises(ValueError):
        quiet_pattern(*args)
