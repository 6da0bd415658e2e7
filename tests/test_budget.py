"""A response's time budget inside the long steps: html.parser's reading of a page, the tokenizer's, and the
C calls whose cost grows with the body's size (sourdine.budget).

The HTML pages are the captures of tests/data (Reddit's are real; YouTube's, Instagram's and Threads' pages are
hand-made, as no real capture of them exists here), with markup added by hand: a page of nothing but tags, as a
broken or hostile server could send.
"""

from __future__ import annotations

import gc
import json
import time

import pytest

import fuzzing
from sourdine import budget, settings
from sourdine.engine import Engine, Overrun
from sourdine.platforms import ADAPTERS
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


def _pages() -> list[tuple[str, fuzzing.Sample, bytes]]:
    """Each HTML capture with 1 MB of tags before its first one (66,000 to 333,000 tags; for Reddit's at most
    90,000, as its reader leaves a page of more than 100,000 `<` as sent without reading it). 1 MB, so that the
    page is not refused before it is read (budget.PARSE_MS_PER_MB: 45 ms of the 100)."""
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
    return pages


def test_every_platform_read_as_html_is_among_the_pages():
    assert {s.platform for s in _html_samples()} >= {"instagram", "reddit", "threads", "youtube"}


@pytest.mark.parametrize("name,sample,body", _pages(), ids=[p[0] for p in _pages()])
def test_a_page_of_nothing_but_tags_stops_at_the_budget(name, sample, body):
    """Before the budget was read inside html.parser's reading, a 3 MB page of tags held the response for three
    seconds and more (html.parser reads these 1 MB of tags in 0.3 to 1.0 s). Timed in the thread's CPU time: a
    loaded machine stretches the wall clock, not this."""
    engine = Engine(score, ADAPTERS)
    score("the lexicons load before the clock starts", "en")
    # The cycle collector stays out, as the addon keeps it out of a response's filtering: late in the suite, a
    # full collection over the suite's own objects took 140 to 157 ms in the middle of a step.
    gc.disable()
    started = time.thread_time()
    try:
        engine.filter_body(settings.build(), sample.platform, sample.endpoint, body,
                           deadline=time.perf_counter() + BUDGET)
    except Overrun:
        pass
    except ValueError:  # a page the adapter refuses to read goes out as sent too, at once
        pass
    finally:
        spent = time.thread_time() - started
        gc.enable()
    assert spent < BUDGET + 0.1, f"{spent * 1000:.0f} ms of CPU against a budget of {BUDGET * 1000:.0f} ms"


def test_a_page_html_parser_cannot_read_in_time_is_an_overrun():
    """The pages html.parser reads (YouTube's watch page, Instagram's and Threads' pages) overrun: their tags
    take about a second to read, so the budget, not the end of the page, must have stopped the reading, and not
    the prediction that refuses a page too large to be read in time."""
    for name, sample, body in _pages():
        if sample.platform == "reddit":
            continue
        engine = Engine(score, ADAPTERS)
        started = time.perf_counter()
        with pytest.raises(Overrun):
            engine.filter_body(settings.build(), sample.platform, sample.endpoint, body, deadline=started + BUDGET)
        assert time.perf_counter() - started >= BUDGET, name


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
    body = json.dumps([status] * 1).encode()
    big = json.dumps([status] * (4_000_000 // len(body) + 1)).encode()
    assert len(big) / 1e6 * budget.PARSE_MS_PER_MB > 1000 * BUDGET
    adapter = _Parsing()
    engine = Engine(score, {**ADAPTERS, "mastodon": adapter})
    with pytest.raises(Overrun):
        engine.filter_body(settings.build(), "mastodon", "timeline", big, deadline=time.perf_counter() + BUDGET)
    assert adapter.parsed == []
    # With time enough, the same body is read.
    engine.filter_body(settings.build(), "mastodon", "timeline", big, deadline=time.perf_counter() + 60)
    assert adapter.parsed == [len(big)]
