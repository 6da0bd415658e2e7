"""Small helpers for adapters that walk parsed JSON of unknown shape."""

from __future__ import annotations

from typing import Any


def dig(node: Any, *keys: str) -> Any:
    """`node[k1][k2]...`, or None as soon as a level is not an object or lacks the key."""
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node
