"""Tests for sourdine.platforms.mastodon on real Mastodon API responses (tests/data/mastodon, SOURCES.md)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from conftest import adapter_speed
from sourdine.model import KEEP, Verdict
from sourdine.platforms import mastodon

DATA = Path(__file__).parent / "data" / "mastodon"

HOME = "mastodonpy_test_home_tl.body.json"
PUBLIC = "mastodonpy_test_public_tl.body.json"
LIST = "mastodonpy_test_list_timeline.body.json"
CONTEXT = "mastodonpy_test_entity_context.body.json"
CONTEXT_FOSSTODON = "rtoot_get_context_with_token.body.json"
HOME_FOSSTODON = "rtoot_get_timeline_home_default.body.json"
PUBLIC_SOCIAL = "rtoot_get_timeline_public_instance.body.json"
FILTERED = "mastodonpy_test_entity_filterresult.body.json"
CW = "mastodonpy_test_status_post_cw_public.body.json"
QUOTE = "mastodonpy_test_status_post_with_quote.body.json"
BOOST = "mastodonpy_test_status_reblog.body.json"
STREAM_BOOST = "streaming_update_reblog.event.json"
STREAM_QUOTE = "streaming_status_update_quote.event.json"

BOOSTED_ID = "117020586019094258"  # the status inside the real boost
BOOST_WRAPPER_ID = "117020586027094262"
QUOTING_ID = "117020582925004921"
QUOTED_ID = "117020582917124092"

FOLD = Verdict("collapse", "outrage, score 0.82")
HIDE = Verdict("hide", "outrage, score 0.97")


def load(name: str) -> Any:
    return orjson.loads((DATA / name).read_bytes())


def single(name: str) -> list[Any]:
    """A one-status file as the timeline page it would be part of."""
    return [load(name)]


def mixed_timeline() -> list[Any]:
    """A real home timeline page with the real boost and the real quote post slipped in."""
    statuses = load(HOME)
    statuses[2:2] = [load(BOOST), load(QUOTE)]
    return statuses


def top_lists(endpoint: str, doc: Any) -> list[list[Any]]:
    if endpoint == "context":
        return [doc["ancestors"], doc["descendants"]]
    if endpoint == "search":
        return [doc["statuses"]]
    return [doc]


def top_ids(endpoint: str, doc: Any) -> list[str]:
    return [status["id"] for statuses in top_lists(endpoint, doc) for status in statuses]


def all_statuses(endpoint: str, doc: Any) -> list[dict[str, Any]]:
    """Every Status object in the document: top-level ones, boosted ones, quoted ones."""
    found = []
    for statuses in top_lists(endpoint, doc):
        for status in statuses:
            while isinstance(status, dict):
                found.append(status)
                reblog = status.get("reblog")
                if isinstance(reblog, dict):
                    found.append(reblog)
                    status = reblog
                quote = status.get("quote")
                status = quote.get("quoted_status") if isinstance(quote, dict) else None
    return found


def expected_result(status_id: str, verdict: Verdict, action: str = "warn") -> dict[str, Any]:
    """The FilterResult spelled out by hand, as Mastodon's API shapes it."""
    return {
        "filter": {
            "id": mastodon.filter_result(verdict, status_id, action)["filter"]["id"],
            "title": f"Sourdine: {verdict.reason}",
            "context": ["home", "notifications", "public", "thread", "account"],
            "expires_at": None,
            "filter_action": action,
        },
        "keyword_matches": None,
        "status_matches": [status_id],
    }


# --- posts() ------------------------------------------------------------------------------------------------

# fmt: off
POST_CASES = [
    # endpoint, file, status count, id, author_id, author, author_name, lang, text
    ("timeline", HOME, 13, "117020592137523525", "117020565693913441", "admin", "", "en",
     "you can't say that on television"),
    ("timeline", HOME, 13, "117020582721532745", "117020565693913441", "admin", "", "en",
     "nice\nfour twenty\nsixty-nine"),
    ("timeline", PUBLIC, 8, "117020593378945190", "117020566092212359", "mastodonpy_test_2", "", "ja",
     "Toot, finally!"),
    ("timeline", LIST, 7, "117020588169351887", "117020565693913441", "admin", "", "en",
     "@mastodonpy_test beep beep I'm a jeep"),
    ("timeline", HOME_FOSSTODON, 5, "114868957979186552", "109302436954721982", "schochastics",
     "David Schoch", "en", "testing in progress, please ignore"),
    ("timeline", PUBLIC_SOCIAL, 20, "114870361855409440", "109354034545620393", "Smyrna", "Sero 🕊", "de",
     "Vögel sind still geworden plötzlich, anscheinend eingeschlafen🤔"),
    ("timeline", PUBLIC_SOCIAL, 20, "114870361671943140", "109514231744732953", "dimregnier@h4.io",
     "Dimitri Régnier 📻", "fr",
     "Vraiment extra cette petite série. #conseilpodcast \nblast-info.fr/podcasts/les-son"),
    ("timeline", PUBLIC_SOCIAL, 20, "114870361613120425", "113450482661101042", "one_piece_characters",
     "every One Piece character", "en",
     "Grin is a grocer living in Nanohana, and Krin's brother. He appears in One Piece Odyssey. \n"
     "antifandom.com/onepiece/wiki/G\nGrin"),
    ("context", CONTEXT, 2, "110446983178245440", "43", "halcy", "autumnal halcy", "de", "first status"),
    ("context", CONTEXT, 2, "110446984249325790", "43", "halcy", "autumnal halcy", "de", "final status"),
    ("context", CONTEXT_FOSSTODON, 3, "114027213608365869", "109327486032962698", "erc_bk", "Eric Book", "en",
     "@schochastics In the readme, it should be `quarto add schochastics/quarto-url-peek`"),
    ("account_statuses", [FILTERED], 1, "110447998920481458", "23972", "halcy@icosahedron.website",
     "halcy\u200b :icosahedron:", "en", "animes"),
    ("trends", [CW], 1, "117020586000687987", "117020565966271181", "mastodonpy_test", "John Lennon", "en",
     "Content warning\nToot!"),
]
# fmt: on


@pytest.mark.parametrize(
    ("endpoint", "source", "count", "post_id", "author_id", "author", "author_name", "lang", "text"),
    POST_CASES,
)
def test_posts_reads_real_statuses(
    endpoint: str,
    source: Any,
    count: int,
    post_id: str,
    author_id: str,
    author: str,
    author_name: str,
    lang: str,
    text: str,
) -> None:
    """posts() finds every status of a real page in order, with its id, author, language, text and URL."""
    doc = load(source) if isinstance(source, str) else [load(name) for name in source]
    found = mastodon.posts(endpoint, doc)
    assert [post.id for post in found] == top_ids(endpoint, doc)
    assert len(found) == count
    post = next(post for post in found if post.id == post_id)
    status = next(status for status in all_statuses(endpoint, doc) if status["id"] == post_id)
    assert (post.author_id, post.author, post.author_name, post.lang, post.text) == (
        author_id,
        author,
        author_name,
        lang,
        text,
    )
    assert post.url == status["url"]


def test_posts_boost_is_the_boosted_status() -> None:
    """A boost yields the boosted status (its id, author, text), never the text-less wrapper."""
    found = mastodon.posts("timeline", single(BOOST))
    assert [(post.id, post.author, post.text, post.lang) for post in found] == [
        (BOOSTED_ID, "mastodonpy_test", "Toot!", "en")
    ]


def test_posts_quote_yields_both_statuses() -> None:
    """A quote post yields the quoting status without its "RE:" fallback line, then the quoted status."""
    found = mastodon.posts("timeline", single(QUOTE))
    assert [(post.id, post.text) for post in found] == [(QUOTING_ID, "yoooooooo"), (QUOTED_ID, "Toot!")]


def test_posts_counts_each_status_once() -> None:
    """A status met twice in one document (boosted and posted, here) is one post, found where first met."""
    doc = [load(BOOST), load(BOOST)["reblog"], load(CW)]
    assert [post.id for post in mastodon.posts("timeline", doc)] == [BOOSTED_ID, "117020586000687987"]


def test_posts_search_reads_statuses_only() -> None:
    """v2 search (built from real statuses and a real account) yields its statuses, not its accounts."""
    doc = {"accounts": [load(CW)["account"]], "statuses": [load(CW), load(BOOST)], "hashtags": []}
    assert [post.id for post in mastodon.posts("search", doc)] == ["117020586000687987", BOOSTED_ID]


def test_posts_reads_poll_options_and_media_descriptions() -> None:
    """Poll options and media descriptions are the author's words too, and join the text after the body."""
    status = load(CW)
    status["poll"] = {"id": "1", "options": [{"title": "yes", "votes_count": 0}, {"title": "no"}, {"x": 1}]}
    status["media_attachments"] = [{"id": "2", "description": "a cat"}, {"id": "3", "description": None}]
    (post,) = mastodon.posts("timeline", [status])
    assert post.text == "Content warning\nToot!\nyes\nno\na cat"


def test_streaming_sample_payload_is_the_real_status() -> None:
    """The built streaming samples carry the real status files, byte for byte, as their payload strings."""
    for event_file, body_file in ((STREAM_BOOST, BOOST), (STREAM_QUOTE, QUOTE)):
        event = load(event_file)
        assert event["payload"].encode() == (DATA / body_file).read_bytes()


@pytest.mark.parametrize(
    ("event_file", "ids"), [(STREAM_BOOST, [BOOSTED_ID]), (STREAM_QUOTE, [QUOTING_ID, QUOTED_ID])]
)
def test_posts_streaming_parses_the_payload(event_file: str, ids: list[str]) -> None:
    """posts("streaming", event) parses the payload string of an update or status.update message."""
    assert [post.id for post in mastodon.posts("streaming", load(event_file))] == ids


@pytest.mark.parametrize(
    "event",
    [
        {"stream": ["user"], "event": "delete", "payload": BOOSTED_ID},
        {"stream": ["user"], "event": "notification", "payload": "{}"},
        {"stream": ["user"], "event": "update", "payload": "{not json"},
        {"stream": ["user"], "event": "update", "payload": "[1, 2]"},
        {"stream": ["user"], "event": "update", "payload": None},
        {"stream": ["user"], "event": "update"},
        {"event": "filters_changed"},
        ["not", "a", "message"],
    ],
)
def test_streaming_other_messages_pass(event: Any) -> None:
    """Messages that carry no Status yield no post and are left unchanged."""
    before = copy.deepcopy(event)
    assert mastodon.posts("streaming", event) == []
    assert mastodon.rewrite_event(event, {BOOSTED_ID: HIDE}) == "unchanged"
    assert event == before


# --- hide ---------------------------------------------------------------------------------------------------

HIDE_CASES = [
    ("timeline", HOME, "117020588242324937"),
    ("timeline", HOME, "117020593473214477"),
    ("timeline", PUBLIC, "117020574694606796"),
    ("timeline", LIST, "117020592137523525"),
    ("timeline", PUBLIC_SOCIAL, "114870361817686950"),
    ("context", CONTEXT, "110446983178245440"),
    ("context", CONTEXT, "110446984249325790"),
    ("context", CONTEXT_FOSSTODON, "114055560713759881"),
]


@pytest.mark.parametrize(("endpoint", "source", "target"), HIDE_CASES)
def test_hide_drops_exactly_the_target(endpoint: str, source: str, target: str) -> None:
    """Hide removes the target status and nothing else; the others stay the very same objects, unchanged."""
    doc = load(source)
    original = load(source)
    lists_before = [list(statuses) for statuses in top_lists(endpoint, doc)]
    assert mastodon.rewrite(endpoint, doc, {target: HIDE}) is True
    assert top_ids(endpoint, doc) == [sid for sid in top_ids(endpoint, original) if sid != target]
    for before, after in zip(lists_before, top_lists(endpoint, doc), strict=True):
        assert after == [status for status in before if status["id"] != target]
        assert all(any(status is kept for kept in before) for status in after)
    expected = original
    for statuses in top_lists(endpoint, expected):
        statuses[:] = [status for status in statuses if status["id"] != target]
    assert doc == expected


def test_hide_boosted_status_drops_the_boost() -> None:
    """A boost whose boosted status is hidden leaves the timeline as a whole."""
    doc = mixed_timeline()
    assert mastodon.rewrite("timeline", doc, {BOOSTED_ID: HIDE}) is True
    assert BOOST_WRAPPER_ID not in top_ids("timeline", doc)
    expected = [sid for sid in top_ids("timeline", mixed_timeline()) if sid != BOOST_WRAPPER_ID]
    assert top_ids("timeline", doc) == expected


def test_hide_search_statuses() -> None:
    """Hide removes the status from v2 search results and leaves accounts and hashtags alone."""
    doc = {"accounts": [load(CW)["account"]], "statuses": [load(CW), load(BOOST)], "hashtags": []}
    assert mastodon.rewrite("search", doc, {"117020586000687987": HIDE}) is True
    assert doc == {"accounts": [load(CW)["account"]], "statuses": [load(BOOST)], "hashtags": []}


# --- fold ---------------------------------------------------------------------------------------------------

FOLD_CASES = [
    ("timeline", HOME, "117020592137523525"),
    ("timeline", LIST, "117020582721532745"),
    ("timeline", PUBLIC, "117020593378945190"),
    ("timeline", PUBLIC_SOCIAL, "114870361671943140"),  # fetched without a token: no `filtered` key yet
    ("timeline", HOME_FOSSTODON, "114869166204750572"),
    ("context", CONTEXT, "110446984249325790"),
    ("context", CONTEXT_FOSSTODON, "114058233338164636"),
    ("trends", [CW], "117020586000687987"),
    ("account_statuses", [FILTERED], "110447998920481458"),
]


@pytest.mark.parametrize(("endpoint", "source", "target"), FOLD_CASES)
def test_fold_adds_one_filter_result_and_nothing_else(endpoint: str, source: Any, target: str) -> None:
    """Fold appends one FilterResult to the target's `filtered` (made if absent); the rest is equal."""
    doc = load(source) if isinstance(source, str) else [load(name) for name in source]
    expected = copy.deepcopy(doc)
    assert mastodon.rewrite(endpoint, doc, {target: FOLD}) is True
    (status,) = [s for s in all_statuses(endpoint, expected) if s["id"] == target]
    status.setdefault("filtered", []).append(expected_result(target, FOLD))
    assert doc == expected


def test_fold_keeps_the_users_own_filter() -> None:
    """On the real filtered status, the user's FilterResult stays first and Sourdine's comes after it."""
    doc = single(FILTERED)
    user_result = copy.deepcopy(doc[0]["filtered"][0])
    assert mastodon.rewrite("timeline", doc, {"110447998920481458": FOLD}) is True
    assert doc[0]["filtered"] == [user_result, expected_result("110447998920481458", FOLD)]


def test_fold_result_has_mastodons_shape() -> None:
    """Sourdine's FilterResult has the keys of Mastodon's own, in the same order and of the same types."""
    real = load(FILTERED)["filtered"][0]
    ours = mastodon.filter_result(FOLD, "110447998920481458")
    assert list(ours) == list(real)
    assert list(ours["filter"]) == list(real["filter"])
    for key, value in real["filter"].items():
        assert isinstance(ours["filter"][key], type(value)), key
    assert ours["filter"]["title"] == "Sourdine: outrage, score 0.82"
    assert ours["filter"]["filter_action"] == "warn"
    assert ours["filter"]["context"] == ["home", "notifications", "public", "thread", "account"]
    assert ours["filter"]["expires_at"] is None
    assert ours["keyword_matches"] is None
    assert ours["status_matches"] == ["110447998920481458"]


def test_filter_ids_tell_verdicts_apart() -> None:
    """Filter ids are stable and differ between titles and between warn and hide: the web UI keys by id."""
    ids = {
        mastodon.filter_result(Verdict("collapse", reason), "1", action)["filter"]["id"]
        for reason in ("outrage, score 0.82", "outrage, score 0.83", "negativity, score 0.82")
        for action in ("warn", "hide")
    }
    assert len(ids) == 6
    assert all(fid.startswith("sourdine-") for fid in ids)
    same = [mastodon.filter_result(FOLD, sid)["filter"]["id"] for sid in ("1", "2")]
    assert same[0] == same[1] == mastodon.filter_result(FOLD, "1")["filter"]["id"]


def test_fold_boost_marks_boosted_status_and_wrapper() -> None:
    """Folding a boosted status puts the result on the inner `reblog` and on the wrapper, as Mastodon does."""
    doc = mixed_timeline()
    expected = copy.deepcopy(doc)
    assert mastodon.rewrite("timeline", doc, {BOOSTED_ID: FOLD}) is True
    (wrapper,) = [s for s in expected if s["id"] == BOOST_WRAPPER_ID]
    wrapper["reblog"]["filtered"].append(expected_result(BOOSTED_ID, FOLD))
    wrapper["filtered"].append(expected_result(BOOSTED_ID, FOLD))
    assert doc == expected


@pytest.mark.parametrize(("verdict", "action"), [(HIDE, "hide"), (FOLD, "warn")])
def test_quoted_status_gets_a_filter_result(verdict: Verdict, action: str) -> None:
    """A hidden or folded quoted status keeps its quoting status; it gets a hide or warn FilterResult."""
    doc = mixed_timeline()
    expected = copy.deepcopy(doc)
    assert mastodon.rewrite("timeline", doc, {QUOTED_ID: verdict}) is True
    (quoting,) = [s for s in expected if s["id"] == QUOTING_ID]
    quoting["quote"]["quoted_status"]["filtered"].append(expected_result(QUOTED_ID, verdict, action))
    assert doc == expected


def test_quoting_hidden_and_quoted_folded() -> None:
    """Hiding a quote post drops it whatever its quoted status's verdict."""
    doc = mixed_timeline()
    assert mastodon.rewrite("timeline", doc, {QUOTING_ID: HIDE, QUOTED_ID: FOLD}) is True
    assert QUOTING_ID not in top_ids("timeline", doc)


def test_fold_twice_adds_one_result() -> None:
    """Rewriting an already rewritten document with the same verdict changes nothing more."""
    doc = load(HOME)
    verdicts = {"117020592137523525": FOLD}
    assert mastodon.rewrite("timeline", doc, verdicts) is True
    once = copy.deepcopy(doc)
    assert mastodon.rewrite("timeline", doc, verdicts) is False
    assert doc == once


# --- every rewrite keeps the document valid -----------------------------------------------------------------

VALID_CASES = [
    ("timeline", HOME, {"117020592137523525": FOLD, "117020588242324937": HIDE}),
    ("timeline", PUBLIC_SOCIAL, {"114870361671943140": FOLD, "114870361817686950": HIDE}),
    ("timeline", "mixed", {BOOSTED_ID: FOLD, QUOTED_ID: HIDE, "117020593473214477": HIDE}),
    ("context", CONTEXT_FOSSTODON, {"114027213608365869": FOLD, "114055560713759881": HIDE}),
]


@pytest.mark.parametrize(("endpoint", "source", "verdicts"), VALID_CASES)
def test_rewritten_doc_is_valid_mastodon_json(
    endpoint: str, source: str, verdicts: dict[str, Verdict]
) -> None:
    """After rewrite the doc round-trips through orjson; each status keeps its keys in order (+`filtered`)."""
    doc = mixed_timeline() if source == "mixed" else load(source)
    keys_before = {id(status): list(status) for status in all_statuses(endpoint, doc)}
    assert mastodon.rewrite(endpoint, doc, verdicts) is True
    assert orjson.loads(orjson.dumps(doc)) == doc
    for status in all_statuses(endpoint, doc):
        before = keys_before[id(status)]
        after = list(status)
        assert after in (before, [*before, "filtered"]), status["id"]
        if after != before:
            assert "filtered" not in before and status["filtered"]


@pytest.mark.parametrize(
    ("endpoint", "source"),
    [
        ("timeline", HOME),
        ("timeline", PUBLIC),
        ("timeline", LIST),
        ("timeline", PUBLIC_SOCIAL),
        ("context", CONTEXT),
        ("context", CONTEXT_FOSSTODON),
        ("timeline", "mixed"),
    ],
)
def test_all_keep_changes_nothing(endpoint: str, source: str) -> None:
    """With every verdict keep (or none at all), rewrite returns False and the doc equals the original."""
    doc = mixed_timeline() if source == "mixed" else load(source)
    original = copy.deepcopy(doc)
    verdicts = {post.id: KEEP for post in mastodon.posts(endpoint, doc)}
    assert verdicts
    assert mastodon.rewrite(endpoint, doc, verdicts) is False
    assert mastodon.rewrite(endpoint, doc, {}) is False
    assert mastodon.rewrite(endpoint, doc, {"1": HIDE, "2": FOLD}) is False
    assert doc == original


# --- streaming ----------------------------------------------------------------------------------------------


def test_rewrite_event_hide_drops_the_message() -> None:
    """A streaming update whose boosted status is hidden is to be dropped, and is left as it was."""
    event = load(STREAM_BOOST)
    payload = event["payload"]
    assert mastodon.rewrite_event(event, {BOOSTED_ID: HIDE}) == "drop"
    assert event["payload"] is payload


def test_rewrite_event_fold_rewrites_the_payload() -> None:
    """A folded status comes back as a payload string holding the same status with the FilterResult added."""
    event = load(STREAM_BOOST)
    assert mastodon.rewrite_event(event, {BOOSTED_ID: FOLD}) == "changed"
    assert list(event) == ["stream", "event", "payload"]
    assert isinstance(event["payload"], str)
    expected = load(BOOST)
    expected["reblog"]["filtered"].append(expected_result(BOOSTED_ID, FOLD))
    expected["filtered"].append(expected_result(BOOSTED_ID, FOLD))
    assert orjson.loads(event["payload"]) == expected


def test_rewrite_event_quoted_status() -> None:
    """A hidden quoted status in a status.update message marks the quote and keeps the message."""
    event = load(STREAM_QUOTE)
    assert mastodon.rewrite_event(event, {QUOTED_ID: HIDE}) == "changed"
    status = orjson.loads(event["payload"])
    assert status["quote"]["quoted_status"]["filtered"] == [expected_result(QUOTED_ID, HIDE, "hide")]
    assert status["filtered"] == []


def test_rewrite_event_keep_leaves_the_payload() -> None:
    """A keep verdict leaves the message's payload as the very same string."""
    event = load(STREAM_QUOTE)
    payload = event["payload"]
    assert mastodon.rewrite_event(event, {QUOTING_ID: KEEP, QUOTED_ID: KEEP}) == "unchanged"
    assert event["payload"] is payload


# --- odd shapes and wrong use -------------------------------------------------------------------------------


def _odd_statuses() -> list[Any]:
    """Real statuses bent out of shape, one oddity each, around two intact ones."""
    intact = load(CW)
    no_account = load(HOME)[1]
    del no_account["account"]
    bad_content = load(HOME)[2]
    bad_content["content"] = ["not", "a", "string"]
    bad_content["spoiler_text"] = None
    null_reblog = load(HOME)[3]
    null_reblog["reblog"] = None
    odd_reblog = load(HOME)[4]
    odd_reblog["reblog"] = "117020586019094258"
    odd_quote = load(QUOTE)
    odd_quote["quote"] = {"state": "deleted", "quoted_status": None}
    shallow_quote = load(HOME)[5]
    shallow_quote["quote"] = {"state": "accepted", "quoted_status_id": "1"}
    bad_filtered = load(HOME)[6]
    bad_filtered["filtered"] = "oops"
    numeric_id = load(HOME)[7]
    numeric_id["id"] = 117020588169351887
    odd_account = load(HOME)[8]
    odd_account["account"] = {"id": 5, "acct": None}
    odd_lists = load(HOME)[9]
    odd_lists["poll"] = {"options": "none"}
    odd_lists["media_attachments"] = [None, {"description": 3}]
    oddities = [no_account, bad_content, null_reblog, odd_reblog, odd_quote, shallow_quote, bad_filtered]
    return [None, 1, "text", [], {}, *oddities, numeric_id, odd_account, odd_lists, intact]


def test_odd_statuses_do_not_stop_the_others() -> None:
    """Odd statuses are read as far as they can be, or skipped; none raises and the intact ones are found."""
    doc = _odd_statuses()
    found = {post.id: post for post in mastodon.posts("timeline", doc)}
    assert "117020586000687987" in found
    assert str(117020588169351887) not in found  # an id that is not a string is not a Mastodon id
    assert found["117020592137523525"].author == ""
    assert found["117020592129111851"].text == ""
    assert found["117020590477318485"].text == "it's cool guy too"
    assert found["117020590470221822"].text == "it's cool guy"
    assert found["117020585762235614"].author_id == ""
    assert found["117020585724931720"].text == "bwooh!"
    assert [post.id for post in mastodon.posts("timeline", doc)].count(QUOTING_ID) == 1


@pytest.mark.parametrize("action", ["hide", "collapse"])
def test_odd_statuses_rewrite_without_raising(action: str) -> None:
    """Rewrite with verdicts on every readable status walks odd shapes without raising."""
    doc = _odd_statuses()
    verdicts = {post.id: Verdict(action, "outrage, score 0.9") for post in mastodon.posts("timeline", doc)}
    assert mastodon.rewrite("timeline", doc, verdicts) is True
    assert orjson.loads(orjson.dumps(doc)) == doc
    if action == "hide":
        assert [s for s in doc if isinstance(s, dict) and s.get("id") in verdicts] == []


@pytest.mark.parametrize(
    ("endpoint", "doc"),
    [
        ("timeline", {"statuses": []}),
        ("timeline", None),
        ("context", []),
        ("context", {"ancestors": "x"}),
        ("search", {"statuses": None}),
        ("search", []),
        ("trends", "x"),
        ("account_statuses", 3),
    ],
)
def test_unexpected_documents_yield_nothing(endpoint: str, doc: Any) -> None:
    """A well-formed JSON document of an unexpected shape yields no post and is not changed."""
    before = copy.deepcopy(doc)
    assert mastodon.posts(endpoint, doc) == []
    assert mastodon.rewrite(endpoint, doc, {"1": HIDE}) is False
    assert doc == before


def test_unknown_endpoint_is_an_error() -> None:
    """An endpoint name outside rules/platforms.toml is a programming error, named in a ValueError."""
    with pytest.raises(ValueError, match="'notifications'"):
        mastodon.posts("notifications", [])
    with pytest.raises(ValueError, match="'notifications'"):
        mastodon.rewrite("notifications", [], {"1": HIDE})
    with pytest.raises(ValueError, match="rewrite_event"):
        mastodon.rewrite("streaming", load(STREAM_BOOST), {BOOSTED_ID: HIDE})


# --- speed --------------------------------------------------------------------------------------------------


def test_speed_of_posts_on_a_public_timeline() -> None:
    """posts() on the real 20-status public timeline costs microseconds per status (printed; loose bound)."""
    per_status, per_rewrite, count = adapter_speed(
        mastodon, "timeline", lambda: load(PUBLIC_SOCIAL), lambda found: {p.id: FOLD for p in found[::4]})
    print(f"\nmastodon.posts: {per_status:.2f} µs per status ({count}-status public timeline); "
          f"rewrite folding every 4th: {per_rewrite:.1f} µs per page")
    assert per_status < 200
