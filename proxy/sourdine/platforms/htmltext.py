"""HTML post bodies to the plain text a reader sees, fast enough to run on every post.

Platforms send post text as a small, sanitised HTML fragment (Mastodon's `content`, for one). Scoring
wants the words only: tags go, line breaks and block ends become newlines, entities are unescaped. It is not
an HTML parser: it trusts that a literal `<` in the text arrives escaped as `&lt;`, which every sanitiser
guarantees.

Mastodon shortens links as `<span class="invisible">https://</span><span class="ellipsis">host/pa</span>
<span class="invisible">th</span>` and its web UI hides the invisible parts, so they are dropped here too:
the text is what the reader reads, not the URL noise around it. For the same reason a
`<p class="quote-inline">RE: link</p>` paragraph goes: it is the fallback link of a quote post, which
Mastodon's web UI hides when it shows the quote itself.
"""

from __future__ import annotations

import re
from html import unescape as _unescape

from sourdine import budget

__all__ = ["html_to_text", "unescape"]

# A line break or the end of a block element: the words on either side must not run together.
_BREAK = re.compile(r"<br\s*/?>|</(?:p|div|li|h[1-6]|blockquote|pre|tr|ul|ol)\s*>", re.IGNORECASE)
# Every other tag (opening, closing, self-closing, with or without attributes) goes.
_TAG = re.compile(r"<[^>]*>")
# Mastodon's hidden link parts: plain text only inside (its formatter puts nothing else there).
_INVISIBLE = re.compile(r'<span class="invisible">[^<]*</span>')
# A quote post's fallback paragraph (paragraphs do not nest, so the first `</p>` closes it).
_QUOTE_INLINE = re.compile(r'<p class="quote-inline">.*?</p>', re.DOTALL)


def unescape(text: str) -> str:
    """html.unescape, not started when it could not end within the response's time budget (budget.check_unescape:
    one Python call a reference, half a second for a million), or the text as it is where it raises: it does for a
    whole text when one decimal reference in it has more digits than Python converts to a number (4,300), which
    left a whole page unfiltered. html.parser, which reads the other adapters' pages, calls this one too
    (htmlsplice.OffsetParser)."""
    if "&" not in text:
        return text
    budget.check_unescape(text)
    try:
        return _unescape(text)
    except ValueError:
        return text


def html_to_text(html: str) -> str:
    """The plain text of an HTML fragment: no tags, block ends as newlines, entities unescaped, stripped.

    A string without `<` or `&` is returned stripped and otherwise as is, so plain text costs almost nothing.
    """
    if "<" in html:
        if 'class="quote-inline"' in html:
            html = _QUOTE_INLINE.sub("", html)
        if 'class="invisible"' in html:
            html = _INVISIBLE.sub("", html)
        html = _TAG.sub("", _BREAK.sub("\n", html))
    html = unescape(html)
    return html.strip()
