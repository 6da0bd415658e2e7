"""A response's time budget inside the long steps: html.parser's reading of a page, the tokenizer's, and the
C calls whose cost grows with the body's size (sourdine.budget).

The HTML pages are the captures of tests/data (Reddit's are real; YouTube's, Instagram's and Threads' pages are
hand-made, as no real capture of them exists here), with markup added by hand: a page of nothing but tags, as a
broken or hostile server could send.
"""

from __future__ import annotations

import functools
import gc
import json
import time

import pytest

import fuzzing
from sourdine import budget, settings
from sourdine.budget import Overrun
from sourdine.engine import Engine
from sourdine.platforms import ADAPTERS, htmltokens
from sourdine.platforms.htmlsplice import OffsetParser
from sourdine.scoring import score

BUDGET = 0.1  # seconds


def test_check_reads_the_deadline_of_the_block_it_runs_in():
    budget.check(ms=1e9)  # no deadline: never an overrun
    with budget.until(time.perf_counter() - 1):
        with pytest.raises(Overrun):
            budget.check()
        with budget.until(None):  # a step run without a budget inside one
            budget.check(ms=1e9)
        with pytest.raises(Overrun):
            budget.check()
    budget.check()
    with budget.until(time.perf_counter() + 60):
        budget.check()
        budget.check(ms=59_000)
        with pytest.raises(Overrun):
            budget.check(ms=61_000)  # would end past the deadline: not started
    with pytest.raises(ZeroDivisionError), budget.until(time.perf_counter() - 1):
        _ = 1 / 0
    budget.check()  # the deadline went with the block, whatever ended it


def _html_samples() -> list[fuzzing.Sample]:
    return [s for s in fuzzing.samples() if s.form == "html"]


@functools.cache
def _pages() -> list[tuple[str, fuzzing.Sample, bytes]]:
    """Each HTML capture with 1 MB of tags before its first one (66,000 to 333,000 tags; for Reddit's at most
    90,000, as its reader leaves a page of more than 100,000 `<` as sent without reading it). 1 MB, so that the
    page is not refused before it is read (budget.PARSE_MS_PER_MB: 45 ms of the 100). The pages html.parser reads
    also get two other slow inputs of its: 2 MB of character references, and a run of 100,000 unclosed tags at the
    end."""
    pages = []
    for sample in _html_samples():
        # Reddit's reader passes over most tags inside the regex engine: these are some of those it reads.
        tags = (b"<!---->", b"<article>", b"<shreddit-post>") if sample.platform == "reddit" else \
            (b"<a>", b"</p>", b'<div class="x">')
        for tag in tags:
            count = 1_000_000 // len(tag)
            if sample.platform == "reddit":
                count = min(count, 90_000)
            pages.append((f"{sample.name} {tag.decode()}", sample, tag * count + sample.body))
        if sample.platform != "reddit":
            pages.append((f"{sample.name} references", sample, b"<p>" + b"&amp;" * 400_000 + b"</p>" + sample.body))
            pages.append((f"{sample.name} unclosed", sample, sample.body + b"<a" * 100_000))
    return pages


def test_every_platform_read_as_html_is_among_the_pages():
    assert {s.platform for s in _html_samples()} >= {"instagram", "reddit", "threads", "youtube"}


@pytest.mark.parametrize("name,sample,body", _pages(), ids=[p[0] for p in _pages()])
def test_a_page_of_nothing_but_tags_stops_at_the_budget(name, sample, body):
    """Before the budget was read inside html.parser's reading, a 3 MB page of tags held the response for three
    seconds and more (html.parser reads these 1 MB of tags in 0.3 to 1.0 s, the character references in 0.2 s,
    and the unclosed tags at the end in about 45 s). Timed in the thread's CPU
    time: a loaded machine stretches the wall clock, not this."""
    engine = Engine(score, ADAPTERS)
    snapshot = settings.build()
    score("the lexicons load before the clock starts", "en")
    # The cycle collector stays out, as the addon keeps it out of a response's filtering: late in the suite, a
    # full collection over the suite's own objects took 140 to 157 ms in the middle of a step.
    collecting = gc.isenabled()
    gc.disable()
    started = time.thread_time()
    try:
        engine.filter_body(snapshot, sample.platform, sample.endpoint, body, deadline=time.perf_counter() + BUDGET)
    except Overrun:
        pass
    finally:
        spent = time.thread_time() - started
        if collecting:
            gc.enable()
    assert spent < BUDGET + 0.1, f"{spent * 1000:.0f} ms of CPU against a budget of {BUDGET * 1000:.0f} ms"


class _Tags(OffsetParser):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.seen = 0

    def handle_starttag(self, tag, attrs) -> None:
        self.seen += 1


def test_html_parser_reads_the_budget_as_it_goes():
    """Past the deadline, reading 4,096 tags stops, whatever the machine's pace (html.parser's steps and the
    tokenizer's); without one, it goes to the end."""
    page = "<a>" * 4096
    with budget.until(time.perf_counter() - 1):
        with pytest.raises(Overrun):
            _Tags(page).feed(page)
        with pytest.raises(Overrun):
            list(htmltokens.tokens(page))
    parser = _Tags(page)
    parser.run()
    assert parser.seen == 4096
    assert len(list(htmltokens.tokens(page))) == 4096


def test_html_parser_does_not_start_unescaping_what_it_could_not_end_in_time():
    """html.parser unescapes a run of text in one step, 0.5 to 0.7 µs a character reference: 100,000 of them,
    predicted at 150 ms, are not started with 50 ms left."""
    parser = _Tags("<p>" + "&amp;" * 100_000)
    started = time.thread_time()
    with budget.until(time.perf_counter() + 0.05), pytest.raises(Overrun):
        parser.run()
    assert time.thread_time() - started < 0.05


def test_unclosed_tags_at_the_end_read_the_budget_at_every_step():
    """html.parser reads from each unclosed `<` to the end of the text again when it closes: each of those steps
    reads the budget. 100,000 of them would take about 45 s (time grows with the square of their count: 10,000
    took 0.47 s, 40,000 7.2 s), and read every 1,024 steps, the budget's first reading would come about a second
    in."""
    parser = _Tags("<p>" + "<a" * 100_000)
    started = time.thread_time()
    with budget.until(time.perf_counter() + 0.05), pytest.raises(Overrun):
        parser.run()
    assert time.thread_time() - started < 0.15


class _Parsing:
    """Mastodon's adapter with a parse of its own that notes each body it is given."""

    __name__ = "parsing"

    def __init__(self) -> None:
        self.parsed: list[int] = []
        self.posts = ADAPTERS["mastodon"].posts
        self.rewrite = ADAPTERS["mastodon"].rewrite
        self.serialize = lambda endpoint, doc: json.dumps(doc).encode()

    def parse(self, endpoint, body):
        self.parsed.append(len(body))
        return json.loads(body)


def test_a_body_that_cannot_be_parsed_in_the_time_left_is_not_parsed():
    """orjson cannot stop half way: a body it could not parse in the time left, at its worst measured rate, is
    not given to it. 4 MB at budget.PARSE_MS_PER_MB a MB needs 180 ms; 100 ms are left."""
    status = json.loads((fuzzing.DATA / "mastodon" / "rtoot_get_timeline_public_instance.body.json").read_bytes())[0]
    big = json.dumps([status] * (4_000_000 // len(json.dumps(status)) + 1)).encode()
    assert len(big) / 1e6 * budget.PARSE_MS_PER_MB > 1000 * BUDGET
    adapter = _Parsing()
    engine = Engine(score, {**ADAPTERS, "mastodon": adapter})
    with pytest.raises(Overrun):
        engine.filter_body(settings.build(), "mastodon", "timeline", big, deadline=time.perf_counter() + BUDGET)
    assert adapter.parsed == []
    # With time enough, the same body is read.
    engine.filter_body(settings.build(), "mastodon", "timeline", big, deadline=time.perf_counter() + 60)
    assert adapter.parsed == [len(big)]
