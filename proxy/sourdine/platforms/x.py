"""X adapter: find the tweets in an X web GraphQL response, then fold or hide them in place.

Pure functions over parsed JSON (orjson output). Endpoint names are the GraphQL operation names of
rules/platforms.toml: HomeTimeline, HomeLatestTimeline, TweetDetail, UserTweets, UserTweetsAndReplies,
SearchTimeline, ListLatestTweetsTimeline and CommunityTweetsTimeline. Each answers with one timeline whose
`instructions` sit a few dicts below `data` (data.home.home_timeline_urt, data.user.result.timeline.timeline,
data.threaded_conversation_with_injections_v2...): a short walk finds them, so a renamed wrapper (timeline_v2)
does not stop the filter.

Where tweets are: TimelineAddEntries `entries`, TimelinePinEntry and TimelineReplaceEntry `entry`,
TimelineAddToModule `moduleItems`. An entry is one item (`content.itemContent`) or a module
(`content.items[].item.itemContent`: conversation threads, profile conversations, "you might like"). An
item of itemType TimelineTweet has `tweet_results.result`: a Tweet, a TweetWithVisibilityResults (the tweet
in `.tweet`), or a TweetTombstone / TweetUnavailable (no text: skipped). A retweet's
`legacy.retweeted_status_result` holds the retweeted tweet; a quote's `quoted_status_result` the quoted one.
As with Mastodon boosts, a retweet yields the retweeted tweet, never the wrapper, whose text is a truncated
"RT @name:" copy.

How a verdict shows:

- hide: the tweet's entry or module item leaves the timeline, and a retweet of it goes with it. A module left
  with no item goes too, and so do a TimelinePinEntry or TimelineReplaceEntry holding the tweet (a replaced
  entry then stays as it was) and a TimelineAddToModule left with nothing. Cursors (as entries or as module
  items), TimelineTerminateTimeline and every other instruction always stay.
- TweetDetail: its top-level tweet entries are the focal tweet and its ancestors; replies come in conversation
  modules. The focal id is in the request, not the response, so every top-level tweet entry of TweetDetail is
  folded instead of dropped: the focal tweet is never dropped, nor an ancestor, whose loss would break the
  thread.
- collapse: `tweet_results.result` becomes a TweetWithVisibilityResults whose `tweet` is the original object
  and whose `tweetInterstitial` is a ContextualTweetInterstitial (displayType EntireTweet) saying "Sourdine
  folded this post: <reason>", with "View" to reveal it. X sends this wrapper itself (a real one, without a
  notice, holds the promoted reply of tests/data/x/twscrape_tweet_detail_promoted.min.json): a result X
  already wraps keeps its wrapper and gains the notice, and one that carries X's own notice keeps X's. For
  a retweet, the retweet's own result is folded, as the web app draws a retweet from it.
- a hidden quoted tweet: the quoting tweet stays (it is scored on its own words) and its quoted_status_result
  becomes a TweetTombstone saying "Sourdine hid this quoted post: <reason>", not an empty quote that would
  read as deleted. Its pointers to the hidden tweet (quoted_status_id_str, quoted_status_permalink, the
  link's URL entity, a quote-of-a-quote's quotedRefResult) go too. A folded quoted tweet gets the
  interstitial wrapper inside the quote.

What was verified, and how. Every shape read and written here is checked against the real responses in
tests/data/x by tests/test_platform_x.py, and through a real `sourdine run` by tests/test_e2e_x.py. The
interstitial's fields (ContextualTweetInterstitial; displayType EntireTweet or NonCompliant; text and
revealText as {rtl, text, entities}) are those of the community OpenAPI description of X's API
(fa0311/twitter-openapi) and of X's Android client; X's web bundle has a TweetInterstitial component (a label
and a reveal button). Browser extensions (BlueLiteBlocker, xarvex/twitter-unverified) fold tweets with this
very wrapper and report that the web app shows it folded, with "View". NOT verified: that today's web app
draws this wrapper, and a TweetTombstone inside a quote, as described; no X web app could be run here.

Only tweets with a non-keep verdict are touched: everything else keeps its objects, keys and key order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sourdine.model import Post, Verdict

PLATFORM = "x"

ENDPOINTS = frozenset(
    {
        "HomeTimeline",
        "HomeLatestTimeline",
        "TweetDetail",
        "UserTweets",
        "UserTweetsAndReplies",
        "SearchTimeline",
        "ListLatestTweetsTimeline",
        "CommunityTweetsTimeline",
    }
)
# Endpoints whose top-level tweet entries are a focal tweet and its ancestors: folded, never dropped.
THREAD_ENDPOINTS = frozenset({"TweetDetail"})
# X's language codes for "no language": undetermined, no linguistic content, and its own q* codes for a tweet
# of only media links (qme), hashtags (qht), mentions (qam), cashtags (qct) or very short text (qst).
NO_LANG = frozenset({"und", "zxx", "qme", "qht", "qam", "qct", "qst"})
# X nests one full quote; stop well past that.
MAX_QUOTE_DEPTH = 4
# `instructions` sits 1 to 4 dicts below `data`; look a little deeper, never into lists.
MAX_DATA_DEPTH = 6

_TCO = "https://t.co/"
_REVEAL = "View"


def posts(endpoint: str, doc: Any) -> list[Post]:
    """Every tweet to score in `doc`, retweeted and quoted tweets included, each id once, in document order.

    A tweet that cannot be read (no string id) is skipped; the others are still found.
    """
    _check(endpoint)
    found: list[Post] = []
    seen: set[str] = set()
    instructions = _instructions(doc)
    if instructions is None:
        return found
    for holder in _holders(instructions):
        top = _unwrap(holder.get("result"))
        if top is None:
            continue
        proper = _retweeted(top)
        starts = (top,) if proper is None else (proper, top)
        for start in starts:
            tweet: dict[str, Any] | None = start
            depth = 0
            while tweet is not None and depth <= MAX_QUOTE_DEPTH:
                if tweet is not top or proper is None:  # never the retweet wrapper itself
                    tid = _id(tweet)
                    if tid is not None and tid not in seen:
                        seen.add(tid)
                        found.append(_post(tid, tweet))
                tweet = _quoted(tweet)
                depth += 1
    return found


def rewrite(endpoint: str, doc: Any, verdicts: dict[str, Verdict]) -> bool:
    """Hide or fold, in place, the tweets of `doc` that `verdicts` names; True when anything changed."""
    _check(endpoint)
    if not verdicts:
        return False
    instructions = _instructions(doc)
    if instructions is None:
        return False
    return _filter(instructions, verdicts, endpoint in THREAD_ENDPOINTS, _apply_instruction)


def interstitial(verdict: Verdict) -> dict[str, Any]:
    """The ContextualTweetInterstitial that folds a tweet, as X's API shapes it, naming Sourdine and why."""
    text = f"Sourdine folded this post: {verdict.reason}" if verdict.reason else "Sourdine folded this post"
    return {
        "__typename": "ContextualTweetInterstitial",
        "displayType": "EntireTweet",
        "text": {"rtl": False, "text": text, "entities": []},
        "revealText": {"rtl": False, "text": _REVEAL, "entities": []},
    }


def tombstone(verdict: Verdict) -> dict[str, Any]:
    """The TweetTombstone that stands for a hidden quoted tweet, naming Sourdine and why."""
    text = (
        f"Sourdine hid this quoted post: {verdict.reason}"
        if verdict.reason
        else "Sourdine hid this quoted post"
    )
    return {
        "__typename": "TweetTombstone",
        "tombstone": {"__typename": "TextTombstone", "text": {"rtl": False, "text": text, "entities": []}},
    }


# --- reading ------------------------------------------------------------------------------------------------


def _check(endpoint: str) -> None:
    if endpoint not in ENDPOINTS:
        raise ValueError(f"unknown X endpoint {endpoint!r}: expected one of {sorted(ENDPOINTS)}")


def _instructions(doc: Any) -> list[Any] | None:
    """The timeline's instruction list, as the document's own list object, or None."""
    if not isinstance(doc, dict):
        return None
    return _find_instructions(doc.get("data"), 0)


def _find_instructions(node: Any, depth: int) -> list[Any] | None:
    if not isinstance(node, dict) or depth > MAX_DATA_DEPTH:
        return None
    found = node.get("instructions")
    if isinstance(found, list):
        return found
    for value in node.values():
        if isinstance(value, dict):
            found = _find_instructions(value, depth + 1)
            if found is not None:
                return found
    return None


def _holders(instructions: list[Any]) -> Iterator[dict[str, Any]]:
    """Every `tweet_results` object of the timeline, in document order."""
    for instruction in instructions:
        if not isinstance(instruction, dict):
            continue
        for node in _instruction_nodes(instruction):
            for item_content in _item_contents(node):
                holder = item_content.get("tweet_results")
                if isinstance(holder, dict):
                    yield holder


def _instruction_nodes(instruction: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The entries (TimelineAddEntries, TimelinePinEntry...) and module items (TimelineAddToModule) added."""
    for key in ("entries", "moduleItems"):
        nodes = instruction.get(key)
        if isinstance(nodes, list):
            for node in nodes:
                if isinstance(node, dict):
                    yield node
    entry = instruction.get("entry")
    if isinstance(entry, dict):
        yield entry


def _item_contents(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The itemContent objects of an entry (one item, or a module's items) or of a module item."""
    content = node.get("content")
    if isinstance(content, dict):
        item_content = content.get("itemContent")
        if isinstance(item_content, dict):
            yield item_content
        items = content.get("items")
        if isinstance(items, list):
            for module_item in items:
                if isinstance(module_item, dict):
                    yield from _item_contents(module_item)
    item = node.get("item")
    if isinstance(item, dict):
        item_content = item.get("itemContent")
        if isinstance(item_content, dict):
            yield item_content


def _unwrap(result: Any) -> dict[str, Any] | None:
    """The tweet in a `result`: itself, or the `tweet` of a TweetWithVisibilityResults; None if none."""
    if not isinstance(result, dict):
        return None
    if result.get("__typename") == "TweetWithVisibilityResults":
        result = result.get("tweet")
        if not isinstance(result, dict):
            return None
    if result.get("__typename") in ("TweetTombstone", "TweetUnavailable"):
        return None
    return result if isinstance(result.get("legacy"), dict) else None


def _retweeted(tweet: dict[str, Any]) -> dict[str, Any] | None:
    holder = tweet["legacy"].get("retweeted_status_result")
    return _unwrap(holder.get("result")) if isinstance(holder, dict) else None


def _quoted(tweet: dict[str, Any]) -> dict[str, Any] | None:
    holder = tweet.get("quoted_status_result")
    return _unwrap(holder.get("result")) if isinstance(holder, dict) else None


def _id(tweet: dict[str, Any]) -> str | None:
    tid = tweet.get("rest_id")
    if not isinstance(tid, str) or not tid:
        tid = tweet["legacy"].get("id_str")
    return tid if isinstance(tid, str) and tid else None


def _post(tid: str, tweet: dict[str, Any]) -> Post:
    legacy = tweet["legacy"]
    user = _get(tweet, "core", "user_results", "result")
    if user.get("__typename") == "UserWithVisibilityResults":
        user = _get(user, "user")
    core = _get(user, "core")
    user_legacy = _get(user, "legacy")
    screen_name = _str(core.get("screen_name")) or _str(user_legacy.get("screen_name"))
    author_id = _str(user.get("rest_id")) or _str(legacy.get("user_id_str"))
    lang = legacy.get("lang")
    reply = legacy.get("in_reply_to_user_id_str")
    mentions = _get(legacy, "entities").get("user_mentions")
    return Post(
        id=tid,
        author_id=author_id,
        author=screen_name,
        author_name=_str(core.get("name")) or _str(user_legacy.get("name")),
        text=_text(tweet),
        lang=lang if isinstance(lang, str) and lang and lang not in NO_LANG else None,
        url=f"https://x.com/{screen_name or 'i'}/status/{tid}",
        replies_to=reply if isinstance(reply, str) and reply else None,
        mentions=tuple(m["id_str"] for m in mentions if isinstance(m, dict) and isinstance(m.get("id_str"), str))
        if isinstance(mentions, list) else (),
    )


def _get(node: Any, *keys: str) -> dict[str, Any]:
    """The dict at `keys` under `node`, or an empty dict when any step is missing or not a dict."""
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _text(tweet: dict[str, Any]) -> str:
    """What the author wrote: the long text of a note tweet, else `full_text`, without the t.co link tail.

    `full_text` ends with t.co links to the tweet's media and quoted tweet, which carry no words. X escapes
    `&`, `<` and `>` as HTML entities in it.
    """
    text = _get(tweet, "note_tweet", "note_tweet_results", "result").get("text")
    if not isinstance(text, str) or not text:
        text = tweet["legacy"].get("full_text")
        if not isinstance(text, str):
            return ""
    text = _strip_link_tail(text)
    if "&" in text:
        text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return text


def _strip_link_tail(text: str) -> str:
    """`text` without the t.co links (and blanks) it ends with."""
    text = text.rstrip()
    while True:
        at = text.rfind(_TCO)
        if at < 0 or not text[at + len(_TCO) :].isalnum():
            return text
        text = text[:at].rstrip()


# --- rewriting ----------------------------------------------------------------------------------------------


def _apply_instruction(instruction: Any, verdicts: dict[str, Verdict], fold_top: bool) -> str:
    """Apply the verdicts to one instruction: "drop" (nothing left to add), "changed" or "unchanged"."""
    if not isinstance(instruction, dict):
        return "unchanged"
    changed = False
    entries = instruction.get("entries")
    if isinstance(entries, list):
        changed = _filter(entries, verdicts, fold_top) or changed
    items = instruction.get("moduleItems")
    if isinstance(items, list) and items:
        changed = _filter(items, verdicts, False) or changed
        if not items:
            return "drop"
    entry = instruction.get("entry")
    if isinstance(entry, dict):
        outcome = _apply_node(entry, verdicts, fold_top)
        if outcome == "drop":
            return "drop"
        changed = changed or outcome == "changed"
    return "changed" if changed else "unchanged"


# Applies the verdicts to one node of a list: "drop", "changed" or "unchanged".
_Apply = Callable[[Any, dict[str, Verdict], bool], str]


def _filter(nodes: list[Any], verdicts: dict[str, Verdict], fold_top: bool, apply: _Apply | None = None) -> bool:
    """Apply the verdicts to a list of instructions, entries or module items (each by `apply`, entries and items
    by default), dropping in place; True if any changed."""
    apply = apply or _apply_node
    kept: list[Any] = []
    changed = False
    for node in nodes:
        outcome = apply(node, verdicts, fold_top)
        if outcome == "drop":
            changed = True
        else:
            kept.append(node)
            changed = changed or outcome == "changed"
    if len(kept) != len(nodes):
        nodes[:] = kept
    return changed


def _apply_node(node: Any, verdicts: dict[str, Verdict], fold_top: bool) -> str:
    """Apply the verdicts to one entry or module item: "drop", "changed" or "unchanged".

    Only an item holding a tweet, or a module left with no item, is ever dropped: cursors never are.
    """
    if not isinstance(node, dict):
        return "unchanged"
    content = node.get("content")
    if isinstance(content, dict):
        item_content = content.get("itemContent")
        if isinstance(item_content, dict):
            return _apply_item(item_content, verdicts, fold_top)
        items = content.get("items")
        if isinstance(items, list) and items:
            before = len(items)
            changed = _filter(items, verdicts, False)
            if not items:
                return "drop"
            if len(items) != before:
                _forget_dropped(content, verdicts)
            return "changed" if changed else "unchanged"
        return "unchanged"
    item = node.get("item")
    if isinstance(item, dict):
        item_content = item.get("itemContent")
        if isinstance(item_content, dict):
            return _apply_item(item_content, verdicts, False)
    return "unchanged"


def _apply_item(item_content: dict[str, Any], verdicts: dict[str, Verdict], fold_only: bool) -> str:
    holder = item_content.get("tweet_results")
    if not isinstance(holder, dict):
        return "unchanged"
    top = _unwrap(holder.get("result"))
    if top is None:
        return "unchanged"
    proper = _retweeted(top) or top
    changed = False
    pid = _id(proper)
    verdict = verdicts.get(pid) if pid is not None else None
    if verdict is not None:
        if verdict.action == "hide" and not fold_only:
            return "drop"
        if verdict.action in ("hide", "collapse"):
            changed = _fold(holder, verdict)
    hidden, folded = _apply_quotes(proper, verdicts)
    if proper is not top:
        more_hidden, more_folded = _apply_quotes(top, verdicts)
        hidden |= more_hidden
        folded = folded or more_folded
        for qid in hidden:
            _scrub_quote_refs(top, qid)  # a retweet copies the retweeted tweet's quote pointers
    return "changed" if changed or hidden or folded else "unchanged"


def _apply_quotes(tweet: dict[str, Any], verdicts: dict[str, Verdict]) -> tuple[set[str], bool]:
    """Tombstone or fold the quoted tweets down the quote chain: the ids hidden, and whether any folded."""
    hidden: set[str] = set()
    folded = False
    node = tweet
    for _ in range(MAX_QUOTE_DEPTH):
        ref = _get(node, "quotedRefResult", "result").get("rest_id")
        if isinstance(ref, str) and ref in verdicts and verdicts[ref].action == "hide":
            # A quote of a quote: X sends the inner one as a bare reference, whose id alone would name it.
            del node["quotedRefResult"]
            _scrub_quote_refs(node, ref)
            hidden.add(ref)
        holder = node.get("quoted_status_result")
        if not isinstance(holder, dict):
            break
        quoted = _unwrap(holder.get("result"))
        if quoted is None:
            break
        qid = _id(quoted)
        verdict = verdicts.get(qid) if qid is not None else None
        if verdict is not None and qid is not None and verdict.action == "hide":
            holder["result"] = tombstone(verdict)
            _scrub_quote_refs(node, qid)
            hidden.add(qid)
            break
        if verdict is not None and verdict.action == "collapse":
            folded = _fold(holder, verdict) or folded
        node = quoted
    return hidden, folded


def _fold(holder: dict[str, Any], verdict: Verdict) -> bool:
    """Put the tweet of `holder` behind Sourdine's interstitial; False if it already is behind one."""
    result = holder.get("result")
    if not isinstance(result, dict):
        return False
    if result.get("__typename") == "TweetWithVisibilityResults":
        if result.get("tweetInterstitial") is not None:
            return False
        result["tweetInterstitial"] = interstitial(verdict)
        return True
    holder["result"] = {
        "__typename": "TweetWithVisibilityResults",
        "tweet": result,
        "tweetInterstitial": interstitial(verdict),
    }
    return True


def _forget_dropped(module: dict[str, Any], verdicts: dict[str, Verdict]) -> None:
    """Take the ids of dropped tweets out of a conversation module's list of its tweets."""
    ids = _get(module, "metadata", "conversationMetadata").get("allTweetIds")
    if isinstance(ids, list):
        present = {_id(tweet) for tweet in _module_tweets(module)}
        kept = [i for i in ids if not (isinstance(i, str) and i in verdicts and i not in present)]
        if len(kept) != len(ids):
            ids[:] = kept


def _module_tweets(module: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for item_content in _item_contents({"content": {"items": module.get("items")}}):
        holder = item_content.get("tweet_results")
        top = _unwrap(holder.get("result")) if isinstance(holder, dict) else None
        if top is not None:
            yield _retweeted(top) or top


def _scrub_quote_refs(tweet: dict[str, Any], qid: str) -> None:
    """Remove a quoting tweet's pointers to the hidden quoted tweet `qid`: id, permalink, link entity."""
    legacy = tweet.get("legacy")
    if not isinstance(legacy, dict):
        return
    if legacy.get("quoted_status_id_str") == qid:
        del legacy["quoted_status_id_str"]
    permalink = legacy.get("quoted_status_permalink")
    if isinstance(permalink, dict) and _links_to(permalink.get("expanded"), qid):
        del legacy["quoted_status_permalink"]
    for entities in (
        _get(legacy, "entities"),
        _get(tweet, "note_tweet", "note_tweet_results", "result", "entity_set"),
    ):
        urls = entities.get("urls")
        if isinstance(urls, list):
            kept = [u for u in urls if not (isinstance(u, dict) and _links_to(u.get("expanded_url"), qid))]
            if len(kept) != len(urls):
                urls[:] = kept


def _links_to(url: Any, tid: str) -> bool:
    """Whether `url` is a link to the tweet `tid` (…/status/<tid>, maybe followed by a query or a path)."""
    if not isinstance(url, str):
        return False
    at = url.find(f"/status/{tid}")
    if at < 0:
        return False
    end = at + len("/status/") + len(tid)
    return end == len(url) or not url[end].isdigit()
