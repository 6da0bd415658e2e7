"""The settings snapshot the addon reads on every flow.

A snapshot is immutable: a change builds a new one and swaps it in whole, so a flow never sees half an update.
It merges three layers: the shipped rules, the shipped defaults, and what the user saved (a plain dict, as the
store keeps it).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass, field
from typing import Any

from sourdine import rules
from sourdine import schedule as schedule_module
from sourdine.model import Action
from sourdine.platforms import ADAPTERS
from sourdine.rules import PlatformRules, Thresholds
from sourdine.schedule import Schedule

_HOST = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$")


def normalise_host(value: str) -> str:
    """A bare host name from what a user typed ("Mastodon.Social", "https://piaille.fr/"); ValueError if none."""
    host = value.strip().lower()
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", host).split("/", 1)[0]
    if not _HOST.match(host) or "." not in host:
        raise ValueError(f"not a host name: {value!r}")
    return host


TOXIC_ACTIONS = ("collapse", "hide", "keep")


def is_loopback(host: str) -> bool:
    """Whether a host names this machine: localhost, any loopback or unspecified address, in any spelling
    (127.1, 2130706433, 0x7f.0.0.1, [::1], ::ffff:127.0.0.1, 0.0.0.0)."""
    name = host.strip().strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(name)
    except ValueError:
        try:
            ip = ipaddress.IPv4Address(socket.inet_aton(name))  # the legacy IPv4 spellings
        except (OSError, ValueError):  # ValueError: a NUL or a character that is not ASCII, which no address has
            return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_unspecified


@dataclass(frozen=True, slots=True)
class PlatformSettings:
    enabled: bool
    thresholds: Thresholds
    toxic_action: Action = "collapse"  # what toxic connections' posts get; "keep" turns it off
    inbox: bool = False  # filter the user's own inbox too (their posts, replies to them, mentions of them)


@dataclass(frozen=True, slots=True)
class Snapshot:
    platforms: dict[str, PlatformSettings]
    rules: dict[str, PlatformRules]
    mastodon_instances: tuple[str, ...] = ()
    mastodon_streaming_hosts: tuple[str, ...] = ()
    hosts: dict[str, str] = field(default_factory=dict)  # decrypted host -> platform ("*.x.org": subdomains)
    user: dict[str, Any] = field(default_factory=dict)  # the user's own layer, as saved
    wildcards: tuple[tuple[str, str], ...] = ()  # (".x.org", platform) for each "*.x.org" host
    schedule: Schedule = schedule_module.ALWAYS  # work hours; none configured means always

    def route(self, scheme: str, host: str, path: str) -> tuple[str, str] | None:
        """(platform, endpoint) for a request, or None when Sourdine leaves it alone.

        The host decides the platform: over HTTPS only the platforms' own hosts are decrypted, and a plain-HTTP
        request to any other site is left alone as well (matched on its path alone, "/" was a Reddit page: its
        Accept-Encoding was changed and its body held back until it ended, a review found). Only plain HTTP to
        this machine itself (a local stand-in, the tests' servers) is matched on its path whatever the platform.
        """
        platform = self.platform_of(host)
        if platform is not None:
            candidates: tuple[str, ...] = (platform,)
        elif scheme == "http" and is_loopback(host):
            candidates = tuple(self.rules)
        else:
            return None
        for name in candidates:
            settings = self.platforms.get(name)
            if settings is None or not settings.enabled:
                continue
            endpoint = self.rules[name].endpoint(path)
            if endpoint is not None:
                return name, endpoint
        return None

    def platform_of(self, host: str) -> str | None:
        """The platform whose host this is, exactly or under a "*." wildcard entry."""
        host = host.lower()
        platform = self.hosts.get(host)
        if platform is None and self.wildcards:
            for suffix, name in self.wildcards:
                if host.endswith(suffix):
                    return name
        return platform

    def allow_hosts(self) -> list[str]:
        """mitmproxy's allow_hosts: one pattern, matched against "host:port", for every decrypted host."""
        names = [
            r"(?:[a-z0-9-]+\.)+" + re.escape(h[2:]) if h.startswith("*.") else re.escape(h) for h in sorted(self.hosts)
        ]
        return [r"^(?:" + "|".join(names) + r")(?::\d+)?$"] if names else []


GLOBAL_SWITCHES = ("pac_direct_outside_hours", "keep_excerpts", "flag_allowed")
GLOBAL_KEYS = ("decisions_retention_days", *GLOBAL_SWITCHES)


def check_global(key: str, value: object) -> None:
    """ValueError unless `value` is one the global setting `key` takes (`GLOBAL_KEYS`)."""
    if key == "decisions_retention_days":
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 3650:
            raise ValueError(f"decisions_retention_days must be a whole number of days from 1 to 3650, not {value!r}")
    elif key not in GLOBAL_SWITCHES:
        raise ValueError(f"{key} is not a global setting")
    elif not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false, not {value!r}")


def build(user: dict[str, Any] | None = None) -> Snapshot:
    """A snapshot from the shipped rules and defaults, overridden by the user's saved settings."""
    user = user or {}
    # Checked here too, not only where the API takes them: a stored value of another kind (edited by hand, damaged)
    # would otherwise fail later, in every status call and in the hourly pruning of the decisions log.
    for key in GLOBAL_KEYS:
        if key in user:
            check_global(key, user[key])
    # A platform is decrypted and routed only once it has an adapter.
    platform_rules = {name: r for name, r in rules.platforms().items() if name in ADAPTERS}
    defaults = rules.defaults()
    saved = user.get("platforms", {})
    platforms: dict[str, PlatformSettings] = {}
    for name in platform_rules:
        layer = {**defaults.platforms.get(name, {}), **saved.get(name, {})}
        toxic = layer.get("toxic", "collapse")
        if toxic not in TOXIC_ACTIONS:
            raise ValueError(f"platforms.{name}.toxic must be one of {', '.join(TOXIC_ACTIONS)}, not {toxic!r}")
        platforms[name] = PlatformSettings(
            enabled=bool(layer.get("enabled", defaults.enabled)),
            thresholds=Thresholds(
                float(layer.get("collapse", defaults.thresholds.collapse)),
                float(layer.get("hide", defaults.thresholds.hide)),
            ),
            toxic_action=toxic,
            inbox=bool(layer.get("inbox", False)),
        )
    instances = tuple(dict.fromkeys(normalise_host(h) for h in user.get("mastodon_instances", [])))
    streaming = tuple(dict.fromkeys(normalise_host(h) for h in user.get("mastodon_streaming_hosts", [])))
    hosts: dict[str, str] = {}
    for name, r in platform_rules.items():
        for host in r.hosts:
            hosts.setdefault(host, name)
    for host in instances + streaming:
        hosts.setdefault(host, "mastodon")
    wildcards = tuple((h[1:], p) for h, p in hosts.items() if h.startswith("*."))
    hours = schedule_module.parse_schedule(user["schedule"]) if "schedule" in user else schedule_module.ALWAYS
    return Snapshot(platforms, platform_rules, instances, streaming, hosts, dict(user), wildcards, hours)


def with_user(snapshot: Snapshot, **changes: Any) -> Snapshot:
    """A new snapshot with some of the user's settings replaced; ValueError (nothing changed) if one is bad."""
    return build({**snapshot.user, **changes})
