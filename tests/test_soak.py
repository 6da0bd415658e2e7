"""A short long day: tests/soaking.py's working session for 20 seconds (scripts/soak runs it for longer), through
a real `sourdine run`, with one test per property."""

from __future__ import annotations

import pytest

import soaking


@pytest.fixture(scope="module")
def day(tmp_path_factory) -> soaking.Report:
    # Post ids are new on every request, texts repeat: with new texts too, the caches keyed by text (posts' words,
    # Mastodon's texts) fill for longer than 20 seconds, and RSS is still climbing to its plateau when this
    # compares the run's two halves. scripts/soak runs for minutes, with new texts.
    report = soaking.soak(20, tmp_path_factory.mktemp("soak") / "home", maintenance=2, age_margin=3,
                          sample_every=0.5, new_texts=False)
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
    assert {"mastodon", "bluesky", "x", "reddit", "youtube", "linkedin", "facebook"} <= day.platforms
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
    """Each cache the status reports is within its bound."""
    _check(day, "every cache within its bound")
    assert day.caches["scores"]["size"] > 0


def test_the_decisions_log_is_pruned_past_its_retention(day):
    """Once retention is one day and decisions are older, the log stops growing with the traffic."""
    _check(day, "decisions log pruned")


def test_latency_at_the_end_matches_the_start(day):
    """The same warm feed takes no longer at the end than at the start (p50 within 1.5x + 2 ms)."""
    _check(day, "latency at the end")
