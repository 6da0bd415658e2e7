"""Fuzzing the filter: mutated real captures of every platform through the addon's hooks, in-process (a small
count here; scripts/fuzz runs 10,000), and a bounded sample through a real `sourdine run`."""

from __future__ import annotations

import os

import pytest
from mitmproxy.test import taddons

import fuzzing
from sourdine import settings
from sourdine.authors import AuthorBook
from sourdine.engine import Engine
from sourdine.platforms import ADAPTERS
from sourdine.runtime import Runtime
from sourdine.scoring import score
from sourdine.store import Writer

COUNT = int(os.environ.get("SOURDINE_FUZZ_COUNT", "300"))


@pytest.fixture
async def addon(tmp_path):
    from sourdine.addon import Sourdine

    engine = Engine(score, ADAPTERS, authors=AuthorBook())
    runtime = Runtime(tmp_path, "token", settings.build(fuzzing.fuzz_user_settings()), engine,
                      Writer(tmp_path / "db.sqlite"))
    a = Sourdine(runtime)
    with taddons.context(a) as tctx:
        tctx.configure(a, sourdine_budget_ms=fuzzing.BUDGET_MS)
        yield a


def test_every_adapter_has_fuzz_samples():
    """Every adapter with captures in tests/data gives the fuzzer at least one routed sample."""
    pool = fuzzing.samples()
    with_data = {name for name in ADAPTERS if (fuzzing.DATA / name).is_dir()}
    assert with_data and with_data <= {s.platform for s in pool}


def test_mutated_captures_never_break_a_response(addon):
    """No exception escapes a hook; each response is unchanged or a same-shape rewrite, within the budget."""
    tally = fuzzing.fuzz(addon, COUNT)
    outcomes = {outcome for (_, outcome) in tally.outcomes}
    # The fuzz reached both sides: pass-throughs and rewrites.
    assert "unchanged" in outcomes and "rewritten" in outcomes, tally.outcomes


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_a_decompression_bomb_is_refused_and_passed_unchanged(addon, coding):
    """A small body that decodes to 1 GiB is refused at the size limit and reaches the browser unchanged."""
    pool = [s for s in fuzzing.samples() if not s.streaming]
    inp = fuzzing.Input(pool[0], "bomb", fuzzing.bomb(coding), coding)
    assert len(inp.raw) < 8 * 1024 * 1024
    assert fuzzing.run_one(addon, inp) == "unchanged"
    assert addon.runtime.engine.health[pool[0].platform].failures == 1


def test_a_response_over_the_time_budget_goes_out_unchanged_and_is_counted(addon, caplog):
    """Filtering that passes the budget leaves the response as sent, counts the overrun, logs no post text."""
    sample = next(s for s in fuzzing.samples() if s.platform == "mastodon" and not s.streaming)
    import orjson

    doc = orjson.loads(sample.body)
    statuses = doc if isinstance(doc, list) else []
    big = []
    for i in range(3000):  # 3,000 posts never seen before: far more than 1 ms of scoring
        status = dict(statuses[i % len(statuses)])
        status["id"] = f"9{i:08d}"
        status["content"] = f"<p>{fuzzing.HOSTILE} number {i}</p>"
        big.append(status)
    raw = orjson.dumps(big)
    with taddons.context(addon) as tctx:
        tctx.configure(addon, sourdine_budget_ms=1)
        flow = fuzzing.body_flow(fuzzing.Input(sample, "clean", raw, None))
        addon.requestheaders(flow)
        addon.response(flow)
    assert flow.metadata["sourdine"].get("overrun")
    assert flow.response.raw_content == raw
    assert addon.runtime.engine.health["mastodon"].overruns == 1
    assert "time budget" in caplog.text and "disgusting" not in caplog.text
