"""A short long day: tests/soaking.py's working session for 20 seconds (scripts/soak runs it for longer), through
a real `sourdine run`, with one test per property."""

from __future__ import annotations

import pytest

import soaking
from sourdine.platforms import ADAPTERS


@pytest.fixture(scope="module")
def day(tmp_path_factory) -> soaking.Report:
    # Post ids are new on every request, texts repeat: with new texts too, the caches keyed by text (posts' words,
    # Mastodon's texts) fill for longer than 20 seconds, and RSS is still climbing to its plateau when this
    # compares the run's two halves. scripts/soak runs for minutes, with new texts.
    # It starts from 2,000 authors of 64 posts each, as after weeks of use: the book reads them back, and lets
    # go of the least recent as new authors come.
    report = soaking.soak(20, tmp_path_factory.mktemp("soak") / "home", maintenance=2, age_margin=3,
                          sample_every=0.5, new_texts=False, new_authors=0.2, seed_authors=2000)
    for what, held, figures in report.checks():
        print(f"{'ok' if held else 'MISSED'} {what}: {figures}")
    return report


def _check(day: soaking.Report, what: str) -> None:
    held, figures = next((h, f) for w, h, f in day.checks() if w.startswith(what))
    assert held, figures


def test_traffic_from_every_platform_went_through(day):
    """Mixed traffic, bursts included, reached the proxy and came back, and every platform's posts were read."""
    assert day.requests > 100
    _check(day, "no request failed")
    assert set(ADAPTERS) == day.platforms
    health = day.status["health"]
    assert all(health[name]["responses"] > 0 and health[name]["failures"] == 0 for name in day.platforms), str(
        {n: (h["responses"], h["failures"]) for n, h in health.items()})


def test_memory_shows_no_upward_trend(day):
    """RSS after warm-up does not climb."""
    _check(day, "no upward RSS trend")


def test_memory_stays_at_or_under_120_mb(day):
    """RSS never passes 120 MB."""
    _check(day, "RSS at or under")


def test_every_cache_stays_within_its_bound(day):
    """Each cache the status reports is within its bound; the author book holds the seeded authors' posts and
    the session's."""
    _check(day, "every cache within its bound")
    assert day.caches["scores"]["size"] > 0
    assert day.caches["authors"]["size"] > 2000 and day.caches["authors.remembered"]["size"] > 2000 * 64


def test_the_decisions_log_is_pruned_past_its_retention(day):
    """Once retention is one day and decisions are older, the log stops growing with the traffic."""
    _check(day, "decisions log pruned")


def test_latency_at_the_end_matches_the_start(day):
    """The same warm feed takes no longer at the end than at the start (p50 within 1.5x + 2 ms)."""
    _check(day, "latency at the end")


def _synthetic(seconds: float, mb_per_hour: float, rows_per_post: float) -> soaking.Report:
    """A made-up report: RSS from 100 MB growing at `mb_per_hour`, a sample every 5 s; the log holding
    `rows_per_post` rows for each post decided so far."""
    report = soaking.Report(seconds=seconds, requests=10, status={"counts": {"seen": int(seconds * 100)}},
                            latency_start=[3.0], latency_end=[3.0])
    report.rss = [(t, 100 + mb_per_hour * t / 3600) for t in range(0, int(seconds) + 1, 5)]
    report.decisions = [(t, int(t * 100 * rows_per_post)) for t in range(0, int(seconds) + 1, 5)]
    return report


@pytest.mark.parametrize(("seconds", "mb_per_hour", "held"), [
    (600, 0, True), (600, 5, True), (600, 50, False), (3600, 12, False), (20, 500, True), (20, 2000, False),
])
def test_the_trend_check_can_fail(seconds, mb_per_hour, held):
    """A leak of 50 MB an hour over a 10-minute run is caught (the second half's peak alone, within 5 MB, was all
    it took to pass before); a 20-second run is judged on its peaks only (its fitted trend is warm-up)."""
    checks = {what: ok for what, ok, _ in _synthetic(seconds, mb_per_hour, 0.1).checks()}
    assert checks["no upward RSS trend"] is held


@pytest.mark.parametrize(("rows_per_post", "held"), [(0.3, True), (0.99, False), (1.2, False)])
def test_the_pruning_check_can_fail(rows_per_post, held):
    """A log that was never pruned (a row for every post decided, the writer a little behind) fails the check."""
    checks = {what: ok for what, ok, _ in _synthetic(600, 0, rows_per_post).checks()}
    assert checks["decisions log pruned past retention"] is held


def test_a_stream_stays_open_all_session(day):
    """The Mastodon stream opened at the start delivered updates all session, every one of its friendly capture
    among them, and was still open at the end."""
    _check(day, "the stream stayed open")
    assert day.stream_sent >= 20
