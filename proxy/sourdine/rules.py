"""Read the data files under rules/ into typed values, once, with clear errors naming the bad value."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from sourdine.model import PLATFORMS


def rules_dir() -> Path:
    """Where rules/ is: inside the installed package, or at the top of a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "rules", here.parents[1] / "rules"):
        if (candidate / "platforms.toml").is_file():
            return candidate
    raise FileNotFoundError("Sourdine's rules/ folder is missing from this installation")


@dataclass(frozen=True, slots=True)
class Thresholds:
    collapse: float
    hide: float

    def __post_init__(self) -> None:
        for name in ("collapse", "hide"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} threshold must be a number from 0 to 1, not {value!r}")
        if self.hide < self.collapse:
            raise ValueError(f"hide threshold {self.hide} is below collapse threshold {self.collapse}")


@dataclass(frozen=True, slots=True)
class PlatformRules:
    name: str
    hosts: tuple[str, ...]
    feeds: tuple[tuple[str, re.Pattern[str]], ...]  # (endpoint name, path pattern), in file order

    def endpoint(self, path: str) -> str | None:
        """The endpoint name whose pattern matches this URL path (no query string), or None."""
        for name, pattern in self.feeds:
            if pattern.match(path):
                return name
        return None


@dataclass(frozen=True, slots=True)
class Defaults:
    enabled: bool
    thresholds: Thresholds
    platforms: dict[str, dict[str, Any]]  # per-platform overrides: enabled, collapse, hide


def parse_platforms(data: dict[str, Any]) -> dict[str, PlatformRules]:
    out: dict[str, PlatformRules] = {}
    for name, entry in data.items():
        if name not in PLATFORMS:
            raise ValueError(f"platforms.toml: unknown platform {name!r}")
        hosts = entry.get("hosts", [])
        if not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts):
            raise ValueError(f"platforms.toml: [{name}] hosts must be a list of host names")
        for host in hosts:
            if "*" in host.removeprefix("*."):
                raise ValueError(f"platforms.toml: [{name}] {host!r}: a wildcard may only start a host name")
        feeds = []
        for endpoint, pattern in entry.get("feeds", {}).items():
            try:
                feeds.append((endpoint, re.compile(pattern)))
            except (re.error, TypeError) as e:
                raise ValueError(f"platforms.toml: [{name}.feeds] {endpoint}: bad pattern: {e}") from e
        out[name] = PlatformRules(name, tuple(h.lower() for h in hosts), tuple(feeds))
    return out


def parse_defaults(data: dict[str, Any]) -> Defaults:
    base = data.get("defaults", {})
    platforms = data.get("platforms", {})
    for name in platforms:
        if name not in PLATFORMS:
            raise ValueError(f"defaults.toml: unknown platform {name!r}")
    thresholds = Thresholds(base.get("collapse", 0.55), base.get("hide", 0.85))
    for override in platforms.values():
        Thresholds(override.get("collapse", thresholds.collapse), override.get("hide", thresholds.hide))
    return Defaults(bool(base.get("enabled", True)), thresholds, platforms)


@cache
def platforms() -> dict[str, PlatformRules]:
    with open(rules_dir() / "platforms.toml", "rb") as f:
        return parse_platforms(tomllib.load(f))


@cache
def defaults() -> Defaults:
    with open(rules_dir() / "defaults.toml", "rb") as f:
        return parse_defaults(tomllib.load(f))
