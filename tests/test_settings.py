import re

import pytest

from sourdine import rules, settings
from sourdine.rules import Thresholds


def test_shipped_rules_parse():
    """rules/platforms.toml and rules/defaults.toml load, and Mastodon has hosts and feeds."""
    platforms = rules.platforms()
    assert "mastodon.social" in platforms["mastodon"].hosts
    assert platforms["mastodon"].endpoint("/api/v1/timelines/home") == "timeline"
    d = rules.defaults()
    assert 0 < d.thresholds.collapse <= d.thresholds.hide <= 1


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [
        ("/api/v1/timelines/home", "timeline"),
        ("/api/v1/timelines/public", "timeline"),
        ("/api/v1/timelines/tag/rstats", "timeline"),
        ("/api/v1/timelines/list/6", "timeline"),
        ("/api/v1/timelines/link", "timeline"),
        ("/api/v1/accounts/109302436954721982/statuses", "account_statuses"),
        ("/api/v1/statuses/110446983926957470/context", "context"),
        ("/api/v2/search", "search"),
        ("/api/v1/trends/statuses", "trends"),
        ("/api/v1/streaming", "streaming"),
        ("/api/v1/statuses/1", None),
        ("/api/v1/timelines/homeX", None),
        ("/api/v1/accounts/1/statuses/extra", None),
        ("/api/v1/instance", None),
    ],
)
def test_mastodon_endpoints(path, endpoint):
    """Each Mastodon feed path maps to its endpoint name; other paths to nothing."""
    assert rules.platforms()["mastodon"].endpoint(path) == endpoint


def test_route_only_on_platform_hosts_and_plain_http_to_this_machine():
    """HTTPS and plain HTTP are matched on the platforms' hosts; plain HTTP to this machine (a local stand-in) on
    its path whatever the host; plain HTTP to any other site never (its root page was taken for Reddit's)."""
    snap = settings.build()
    assert snap.route("https", "mastodon.social", "/api/v1/timelines/home") == ("mastodon", "timeline")
    assert snap.route("http", "mastodon.social", "/api/v1/timelines/home") == ("mastodon", "timeline")
    assert snap.route("https", "example.com", "/api/v1/timelines/home") is None
    for here in ("127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]", "LocalHost"):
        assert snap.route("http", here, "/api/v1/timelines/home") == ("mastodon", "timeline"), here
    assert snap.route("http", "127.0.0.1", "/index.html") is None
    for elsewhere in ("example.com", "192.168.1.10", "10.0.0.1", "::2", "localhost.example.com", "127.0.0.1.nip.io"):
        for path in ("/", "/api/v1/timelines/home", "/watch", "/api/graphql/"):
            assert snap.route("http", elsewhere, path) is None, (elsewhere, path)


def test_user_instances_are_decrypted_and_disabled_platforms_are_not_filtered():
    """A user's instance joins allow_hosts; a disabled platform's feeds are left alone."""
    snap = settings.build({"mastodon_instances": ["Piaille.example/", "https://toot.example.org"]})
    assert snap.hosts["piaille.example"] == "mastodon"
    assert snap.hosts["toot.example.org"] == "mastodon"
    [pattern] = snap.allow_hosts()
    assert re.search(pattern, "toot.example.org:443")
    assert re.search(pattern, "mastodon.social:443")
    assert not re.search(pattern, "mybank.example:443")
    assert not re.search(pattern, "evil-mastodon.social:443")
    off = settings.build({"platforms": {"mastodon": {"enabled": False}}})
    assert off.route("https", "mastodon.social", "/api/v1/timelines/home") is None


@pytest.mark.parametrize("bad", ["", "not a host", "a..b", "-x.org", "localhost", "x" * 300 + ".org"])
def test_bad_instance_names_are_refused(bad):
    """A host name that is not one gives ValueError naming it."""
    with pytest.raises(ValueError, match="not a host name"):
        settings.normalise_host(bad)


@pytest.mark.parametrize(
    "user",
    [
        {"platforms": {"mastodon": {"collapse": 0.9, "hide": 0.5}}},
        {"platforms": {"mastodon": {"collapse": 1.5}}},
        {"platforms": {"mastodon": {"hide": "high"}}},
    ],
)
def test_bad_thresholds_are_refused(user):
    """Thresholds outside [0, 1], or hide below collapse, are refused."""
    with pytest.raises(ValueError):
        settings.build(user)


def test_with_user_keeps_the_user_layer_only():
    """Changing one user setting keeps the others and does not freeze the shipped defaults into it."""
    snap = settings.build({"mastodon_instances": ["a.example"]})
    snap2 = settings.with_user(snap, mastodon_streaming_hosts=["streaming.a.example"])
    assert snap2.user == {"mastodon_instances": ["a.example"], "mastodon_streaming_hosts": ["streaming.a.example"]}
    assert snap2.hosts["streaming.a.example"] == "mastodon"


def test_thresholds_validate():
    """Thresholds reject booleans and out-of-range numbers."""
    Thresholds(0.5, 0.5)
    with pytest.raises(ValueError):
        Thresholds(True, 0.9)  # type: ignore[arg-type]


def test_wildcard_hosts_cover_subdomains_only(monkeypatch):
    """A "*.host.bsky.network" entry decrypts and routes any PDS under it, and nothing else."""
    from sourdine import platforms

    monkeypatch.setitem(platforms.ADAPTERS, "bluesky", platforms.ADAPTERS["mastodon"])  # any adapter will do here
    snap = settings.build()
    assert snap.platform_of("morel.us-east.host.bsky.network") == "bluesky"
    assert snap.platform_of("host.bsky.network") is None
    assert snap.platform_of("evilhost.bsky.network") is None
    [pattern] = snap.allow_hosts()
    assert re.search(pattern, "morel.us-east.host.bsky.network:443")
    assert not re.search(pattern, "host.bsky.network.evil.example:443")
    assert not re.search(pattern, "evilhost.bsky.network:443")
    assert snap.route("https", "morel.us-east.host.bsky.network", "/xrpc/app.bsky.feed.getTimeline") == (
        "bluesky", "getTimeline")


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [
        ("/i/api/graphql/q1W2e3/HomeTimeline", "HomeTimeline"),
        ("/i/api/graphql/abc-_9/HomeLatestTimeline", "HomeLatestTimeline"),
        ("/graphql/abc/TweetDetail", "TweetDetail"),
        ("/i/api/graphql/abc/UserByScreenName", None),
        ("/i/api/graphql/abc/HomeTimelineX", None),
    ],
)
def test_x_operations_match_by_name_whatever_the_query_id(path, endpoint):
    """X GraphQL feeds are matched on the operation name; the rotating query id does not matter."""
    assert rules.platforms()["x"].endpoint(path) == endpoint


def test_bad_wildcard_is_refused():
    """A wildcard anywhere but at the start of a host name is a rules error."""
    with pytest.raises(ValueError, match="wildcard"):
        rules.parse_platforms({"bluesky": {"hosts": ["bsky.*.network"]}})


def test_platforms_without_an_adapter_are_neither_decrypted_nor_routed(monkeypatch):
    """A platform listed in the rules but without an adapter module is left entirely alone."""
    from sourdine import platforms

    monkeypatch.delitem(platforms.ADAPTERS, "x", raising=False)
    snap = settings.build()
    assert "x" not in snap.platforms and "x.com" not in snap.hosts
    assert snap.route("https", "x.com", "/i/api/graphql/abc/HomeTimeline") is None


def test_an_instance_given_as_an_ip_address_is_warned_about_at_start(tmp_path, caplog):
    """mitmproxy matches allow_hosts against the address a connection goes to as well as its name: an instance
    given as an IP address has every site served from that address decrypted too (a review saw `localhost`
    decrypted for `--mastodon-instance 127.0.0.1`). Allowed (a test's stand-in is one), and said at start."""
    import logging

    from sourdine import runner

    with caplog.at_level(logging.WARNING, logger="sourdine.runner"):
        runner.prepare_settings(tmp_path, ["piaille.fr"])
    assert not caplog.records
    with caplog.at_level(logging.WARNING, logger="sourdine.runner"):
        runner.prepare_settings(tmp_path, ["127.0.0.1"])
    assert ["127.0.0.1 is an IP address" in r.getMessage() for r in caplog.records] == [True]
