"""The time budget of one response's filtering: the deadline the engine sets, read where long work runs.

The engine reads the clock between the steps of a response (decode, parse, find the posts, judge them, rewrite,
write out). A step can itself be long on a hostile or broken page: html.parser reads a few hundred thousand tags
a second, so a 3 MB page of nothing but tags took more than three seconds in one step. Such steps call `check()`
as they go (html.parser every 1,024 of its steps, and at every step of its closing pass; Reddit's tokenizer every
1,024 tags); it raises `Overrun` once the deadline the engine set for this response has passed, and the response
goes out as the platform sent it. A step that cannot stop half way, or reads no clock, is not started when
`check(ms)` says its predicted cost would end past the deadline.

The deadline lives in a context variable, so that adapters need no extra parameter and a step run outside the
engine (a test, a script) has none and never overruns. Plain Python: no mitmproxy, aiohttp or sqlite.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["DEFAULT_MS", "Overrun", "check", "over", "until", "PARSE_MS_PER_MB", "FIND_MS_PER_MB", "REWRITE_MS_PER_MB",
           "WRITE_MS_PER_MB", "check_unescape", "count_any"]

# The time budget of one response's filtering unless the user sets another (`sourdine run --budget-ms`, or the
# addon's `sourdine_budget_ms` option under mitmdump).
DEFAULT_MS = 250

# What a step may take for each MB of the decoded body, at worst: what the fuzz's huge documents took (every list
# of every JSON capture in tests/data grown to 12 MB, and 1,200 inputs of the fuzz's "huge" kind timed inside the
# addon's hook; 2026-11-24, compiled, with the cycle collector off, as the addon has it), doubled for a machine
# half as fast. Measured: orjson parsed at 22 ms a MB (X's search timeline: small objects, deeply nested); writing
# out took 3.2 (orjson) to 4.5 (YouTube's and Facebook's own); finding the posts 18 (Facebook's walk through the
# tree), rewriting 12 (YouTube's). A step that cannot end in time at these rates is not started: orjson's calls
# cannot stop half way, and the adapters' walks read no clock. An HTML page is gated at the parse rate too, as its
# reading ends in orjson's parse of the JSON it embeds; html.parser's and the tokenizer's reading of its tags read
# the clock as they go.
PARSE_MS_PER_MB = 45.0
FIND_MS_PER_MB = 36.0
REWRITE_MS_PER_MB = 25.0
WRITE_MS_PER_MB = 9.0
# html.unescape, which html.parser, Reddit's reader and Mastodon's posts call on a run of text at a time, makes one
# Python call for each character reference: 0.50 µs (`&amp;`) to 0.90 µs (`&#65;`), 0.75 to 1.62 µs for a name of
# 2 to 9 characters that is not one, 4.4 µs for one of 32 (it tries each of its prefixes in turn), and 26 ns a digit
# of a long numeric one (4,000 digits: 104 µs; a hexadecimal one of 40,000: 140 µs) (2026-11-24, timeit), doubled
# as above.
CHARREF_MS = 0.0034
LONG_CHARREF_MS = 0.009  # besides CHARREF_MS, for a name of 9 characters or more
DIGIT_MS = 0.000052  # besides CHARREF_MS, for each character of a numeric reference of 12 digits or more
_LONG_NUMERIC = re.compile(r"&#[xX]?[0-9a-fA-F]{12,}")
_LONG_CHARREF = re.compile(r"&[^\t\n\f <&#;]{9}")  # html.unescape's pattern for a name, 9 characters or more


class Overrun(Exception):
    """Filtering one response took longer than its time budget; the response goes out as the platform sent it."""


_deadline: ContextVar[float | None] = ContextVar("sourdine_deadline", default=None)


def over(deadline: float | None, ms: float = 0.0) -> bool:
    """Whether `deadline` (a `time.perf_counter()` value; None for none) has passed, or would have by the end of
    `ms` milliseconds of work starting now."""
    return deadline is not None and time.perf_counter() + ms / 1000 > deadline


def check(ms: float = 0.0) -> None:
    """Raise Overrun if the deadline of the response being filtered has passed, or if `ms` milliseconds of work
    starting now would end past it; without a deadline, do nothing."""
    if over(_deadline.get(), ms):
        raise Overrun


def check_unescape(text: str) -> None:
    """Raise Overrun if unescaping the character references in `text` (all of it, or runs of it) could not end
    before the deadline; without a deadline, do nothing. Counting the `&` (and the long numeric references, where
    there are numeric ones) is all it costs, unless at the dearest rate they could not be unescaped in time: then
    the long names are counted too."""
    deadline = _deadline.get()
    if deadline is None:
        return
    # Counted with str.find, which skips to the next `&` as memchr does, while they are few (str.count and `in`
    # read every character: 0.6 and 0.85 ms for Reddit's 0.8 MB first page, which has 80 `&`; 2026-11-24, timeit).
    find = text.find
    at = find("&")
    n = 0
    numeric = False
    while at >= 0:
        n += 1
        if n > 256:
            n, numeric = text.count("&"), "&#" in text
            break
        numeric = numeric or text.startswith("#", at + 1)
        at = find("&", at + 1)
    if not n:
        return
    ms = n * CHARREF_MS
    if numeric:
        ms += sum(map(len, _LONG_NUMERIC.findall(text))) * DIGIT_MS
    if (over(deadline, ms + n * LONG_CHARREF_MS)
            and over(deadline, ms + _LONG_CHARREF.subn("", text)[1] * LONG_CHARREF_MS)):
        raise Overrun


def count_any(text: str, chars: bytes) -> int:
    """How many characters of `text` are among `chars` (ASCII characters), in one pass in C: what a step's cost is
    predicted from, where it grows with the count of some characters rather than with the text's length."""
    data = text.encode("ascii") if text.isascii() else text.encode("utf-8", "surrogatepass")
    return len(data) - len(data.translate(None, chars))  # an ASCII byte is never part of a longer UTF-8 character


@contextmanager
def until(deadline: float | None) -> Iterator[None]:
    """`check()` reads `deadline` (a `time.perf_counter()` value, or None for none) inside the block."""
    token = _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(token)
