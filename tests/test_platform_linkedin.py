"""Tests for sourdine.platforms.linkedin on HAND-MADE fixtures (tests/data/linkedin, SOURCES.md): no capture
of LinkedIn's responses could be had, so these follow the documented normalized shape and are minimal."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from hostile import FRIENDLY_EN, HOSTILE_EN, HOSTILE_FR, SOUR_FR, real_filter
from sourdine.model import Verdict
from sourdine.platforms import linkedin

DATA = Path(__file__).parent / "data" / "linkedin"
GRAPHQL = "voyager_graphql_main_feed.handmade.json"
UPDATES = "voyager_feed_updatesV2.handmade.json"
A = "urn:li:activity:71000000000000000"

HIDE = Verdict("hide", "outrage, score 0.91")
FOLD = Verdict("collapse", "negativity, score 0.70")


def load(name: str) -> Any:
    return orjson.loads((DATA / name).read_bytes())


def collection(doc: Any) -> dict[str, Any]:
    data = doc["data"]
    return data["data"]["feedDashMainFeedByMainFeed"] if "data" in data else data


@pytest.mark.parametrize(("name", "endpoint", "count"), [(GRAPHQL, "graphql", 4), (UPDATES, "updates", 3)])
def test_posts_joins_elements_to_included(name: str, endpoint: str, count: int) -> None:
    """Each URN of `*elements` is joined to its entity in `included`: text, actor name and URN, activity id."""
    found = linkedin.posts(endpoint, load(name))
    assert len(found) == count
    assert all(p.id.startswith("urn:li:activity:") and p.author_id.startswith("urn:li:member:") for p in found)
    first = linkedin.posts("graphql", load(GRAPHQL))[0]
    assert (first.id, first.author, first.text) == (A + "01", "Alice Martin", "First update text")
    assert first.url == f"https://www.linkedin.com/feed/update/{A}01/"


def test_hide_removes_the_urn_from_every_elements_list() -> None:
    """A hidden update's URN leaves `*elements` (every list that holds it); paging, metadata and `included`
    are as sent."""
    doc = load(GRAPHQL)
    urn = collection(doc)["*elements"][1]
    doc["data"]["data"]["other"] = {"*elements": [urn, "urn:li:fsd_profile:ACoAAA"]}
    before = copy.deepcopy(doc)
    assert linkedin.rewrite("graphql", doc, {A + "02": HIDE})
    assert urn not in collection(doc)["*elements"] and len(collection(doc)["*elements"]) == 3
    assert doc["data"]["data"]["other"]["*elements"] == ["urn:li:fsd_profile:ACoAAA"]
    for key in ("paging", "metadata"):
        assert collection(doc)[key] == collection(before)[key]
    assert doc["included"] == before["included"]
    assert [p.id for p in linkedin.posts("graphql", doc)] == [A + "01", A + "03", A + "04"]


def test_fold_replaces_the_commentary() -> None:
    """A folded update's commentary reads as Sourdine's placeholder, its attributes emptied; the rest as sent."""
    doc = load(UPDATES)
    pid = linkedin.posts("updates", doc)[2].id
    before = copy.deepcopy(doc)
    assert linkedin.rewrite("updates", doc, {pid: FOLD})
    text = doc["included"][2]["commentary"]["text"]
    assert text["text"] == f"Sourdine folded this post: negativity, score 0.70 [sourdine:linkedin:{pid}]"
    assert text["attributesV2"] == []
    doc["included"][2]["commentary"] = before["included"][2]["commentary"]
    assert doc == before


def test_graphql_answers_to_other_queries_yield_nothing() -> None:
    """A GraphQL answer with no feed collection (a profile, say) has no post and is not changed."""
    doc = {"data": {"data": {"identityDashProfilesByMemberIdentity": {"*elements": ["urn:li:fsd_profile:ACoAAA"]}}},
           "included": [{"entityUrn": "urn:li:fsd_profile:ACoAAA", "firstName": "Alice"}]}
    assert linkedin.posts("graphql", doc) == []
    assert not linkedin.rewrite("graphql", doc, {"urn:li:fsd_profile:ACoAAA": HIDE})


@pytest.mark.parametrize("doc", [None, [], {}, {"data": {"*elements": [None, 3, "urn:x"]}, "included": [None, {}]},
                                 {"data": {"*elements": ["u"]}, "included": [{"entityUrn": "u", "commentary": 5}]}])
def test_odd_documents(doc: Any) -> None:
    assert linkedin.posts("updates", doc) == []
    assert not linkedin.rewrite("updates", doc, {"u": HIDE})


def test_endpoints_match_the_rules_file() -> None:
    from sourdine import rules

    platform = rules.platforms()["linkedin"]
    assert {name for name, _ in platform.feeds} == linkedin.ENDPOINTS
    assert platform.endpoint("/voyager/api/graphql") == "graphql"
    assert platform.endpoint("/voyager/api/feed/updatesV2") == "updates"
    with pytest.raises(ValueError, match="unknown LinkedIn endpoint"):
        linkedin.posts("nope", {})


def test_hostile_updates_en_fr_are_caught() -> None:
    """Through the real engine: hostile en/fr updates leave the feed, a sour fr one is folded and its original
    kept in memory, a friendly one is as sent."""
    doc = load(GRAPHQL)
    for entity, text in zip(doc["included"], [HOSTILE_EN, SOUR_FR, HOSTILE_FR, FRIENDLY_EN], strict=False):
        entity["commentary"]["text"]["text"] = text
    new, engine = real_filter("linkedin", "graphql", orjson.dumps(doc))
    assert new is not None
    left = {p.id: p.text for p in linkedin.posts("graphql", orjson.loads(new))}
    assert set(left) == {A + "02", A + "04"} and left[A + "04"] == FRIENDLY_EN
    assert left[A + "02"].startswith("Sourdine folded this post: ")
    assert engine.originals.get("linkedin", A + "02") == SOUR_FR
