"""What the user chooses about authors, checked as it arrives as JSON: the toxic-connection settings
(`Toxicity`) and the decisions on suggested authors (`AuthorDecision`).

Pure Python, apart from `sourdine.authors` (which re-exports these names): that module is compiled with mypyc,
and a compiled class checks the type of each field itself, with a TypeError, before these classes could give
their clear ValueError for a value sent by the API, a peer or an older database.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

DAY = 86_400.0
RECENT_IDS = 64  # posts remembered per author (sourdine.authors): fingerprint, time seen, hostile flag


def _show(value: Any) -> str:
    """A value for an error message, cut short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


@dataclass(frozen=True, slots=True)
class Toxicity:
    """When an author is a toxic connection: at least `min_posts` posts seen in the last `window_days`, `share`
    of them hostile. The window is also the decay time constant of the rolling statistics. Records not seen for
    `retention_days` are dropped."""

    min_posts: int = 5
    share: float = 0.40
    window_days: float = 14.0
    retention_days: float = 90.0
    window: float = field(init=False, repr=False, compare=False)  # seconds: the decay time constant
    retention: float = field(init=False, repr=False, compare=False)  # seconds

    def __post_init__(self) -> None:
        n = self.min_posts
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= RECENT_IDS:
            raise ValueError(
                f"toxicity min_posts must be a whole number from 1 to {RECENT_IDS} (the posts remembered per "
                f"author), not {_show(n)}"
            )
        if not _number(self.share) or not 0.0 < self.share <= 1.0:
            raise ValueError(f"toxicity share must be a number above 0, at most 1, not {_show(self.share)}")
        w = self.window_days
        if not _number(w) or not 1 / 24 <= w <= 365:
            raise ValueError(f"toxicity window_days must be a number from 1/24 to 365, not {_show(w)}")
        r = self.retention_days
        if not _number(r) or not w <= r <= 3650:
            raise ValueError(
                f"toxicity retention_days must be a number from window_days ({w}) to 3650, not {_show(r)}"
            )
        object.__setattr__(self, "window", float(w) * DAY)
        object.__setattr__(self, "retention", float(r) * DAY)

    def to_dict(self) -> dict[str, object]:
        """The JSON object `parse_toxicity` reads."""
        return {name: getattr(self, name) for name in _FIELDS}


DEFAULTS = Toxicity()
_FIELDS = ("min_posts", "share", "window_days", "retention_days")


def parse_toxicity(data: Any) -> Toxicity:
    """Settings from a JSON object, missing keys taking their defaults. A ValueError names the bad value."""
    if not isinstance(data, Mapping):
        raise ValueError(f"toxicity settings must be an object, not {_show(data)}")
    unknown = sorted(str(k) for k in data if k not in _FIELDS)
    if unknown:
        raise ValueError(f"toxicity settings: unknown key {unknown[0]!r} (known: {', '.join(_FIELDS)})")
    return Toxicity(**{name: data[name] for name in _FIELDS if name in data})


def stored_toxicity(data: Any) -> tuple[Toxicity, list[str]]:
    """Settings saved by an earlier version, which may allow what this one refuses (`min_posts` above 64):
    (the settings, with each value this version refuses clamped into range or set back to its default; what was
    changed). Never raises: a stored setting must not stop Sourdine from starting."""
    try:
        return parse_toxicity(data), []
    except ValueError:
        pass
    kept: dict[str, Any] = {}
    changed = []
    for name in _FIELDS:
        if not isinstance(data, Mapping) or name not in data:
            continue
        value = data[name]
        if name == "min_posts" and isinstance(value, int) and not isinstance(value, bool) and value > RECENT_IDS:
            value = RECENT_IDS
        try:
            parse_toxicity({**kept, name: value})
        except ValueError:
            changed.append(name)
            continue
        if value != data[name]:
            changed.append(name)
        kept[name] = value
    try:
        return parse_toxicity(kept), changed
    except ValueError:  # retention below a window kept alone: both back to their defaults
        return DEFAULTS, [*changed, *kept]


DecisionKind = Literal["muted", "allowed", "dismissed"]
DECISION_KINDS: tuple[DecisionKind, ...] = ("muted", "allowed", "dismissed")


@dataclass(frozen=True, slots=True)
class AuthorDecision:
    """What the user decided on an author. A dismissal keeps the author's hostile share and hostile count in the
    window at that moment (see `sourdine.authors.dismissal`), to tell later whether they got worse."""

    kind: DecisionKind
    share: float = 0.0
    hostile: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in DECISION_KINDS:
            kinds = ", ".join(DECISION_KINDS)
            raise ValueError(f"a decision on an author is one of {kinds}, not {_show(self.kind)}")
        if not _number(self.share) or not 0.0 <= self.share <= 1.0:
            raise ValueError(f"a dismissal's share must be a number from 0 to 1, not {_show(self.share)}")
        if not _number(self.hostile) or self.hostile < 0:
            raise ValueError(f"a dismissal's hostile count must be 0 or more, not {_show(self.hostile)}")
