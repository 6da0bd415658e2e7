"""Hybrid logical clocks (Kulkarni et al. 2014), for list entries that will sync between devices.

A stamp is (wall milliseconds, counter, node). Stamps from one clock always increase, even when the machine's
clock steps back; a stamp received from another device moves this clock past it. Comparing two stamps as
tuples orders edits the same way on every device, which is what a last-writer-wins merge needs.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

_ENCODED = re.compile(r"^([0-9a-f]{12})-([0-9a-f]{4})-([A-Za-z0-9_.-]{1,64})$")
MAX_COUNTER = 0xFFFF
# A remote stamp further ahead than this is refused rather than dragging every later edit into the future.
MAX_DRIFT_MS = 24 * 3600 * 1000


@dataclass(frozen=True, order=True, slots=True)
class Stamp:
    wall: int  # milliseconds since the epoch
    counter: int
    node: str

    def encode(self) -> str:
        """A fixed-width text form whose string order is the stamps' order: it sorts right in sqlite."""
        return f"{self.wall:012x}-{self.counter:04x}-{self.node}"

    @classmethod
    def decode(cls, text: str) -> Stamp:
        match = _ENCODED.match(text)
        if match is None:
            raise ValueError(f"not a clock stamp: {text!r}")
        return cls(int(match.group(1), 16), int(match.group(2), 16), match.group(3))


class Clock:
    def __init__(self, node: str, physical: Callable[[], float] = time.time, last: Stamp | None = None) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", node):
            raise ValueError(f"not a node id: {node!r}")
        self.node = node
        self.physical = physical
        self.last = last if last is not None else Stamp(0, 0, node)

    def _ms(self) -> int:
        return int(self.physical() * 1000)

    def tick(self) -> Stamp:
        """A stamp for a local edit: later than every stamp this clock gave or saw."""
        wall = max(self._ms(), self.last.wall)
        counter = self.last.counter + 1 if wall == self.last.wall else 0
        return self._set(wall, counter)

    def observe(self, remote: Stamp) -> Stamp:
        """Move past a stamp received from another device; ValueError if it is implausibly far ahead."""
        physical = self._ms()
        if remote.wall - physical > MAX_DRIFT_MS:
            raise ValueError("a remote clock is more than a day ahead of this one")
        wall = max(physical, self.last.wall, remote.wall)
        if wall == self.last.wall == remote.wall:
            counter = max(self.last.counter, remote.counter) + 1
        elif wall == self.last.wall:
            counter = self.last.counter + 1
        elif wall == remote.wall:
            counter = remote.counter + 1
        else:
            counter = 0
        return self._set(wall, counter)

    def _set(self, wall: int, counter: int) -> Stamp:
        if counter > MAX_COUNTER:  # a burst of more than 65535 edits in one millisecond: borrow the next one
            wall, counter = wall + 1, 0
        self.last = Stamp(wall, counter, self.node)
        return self.last
