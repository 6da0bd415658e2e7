"""The originals of posts folded by replacing their text: in memory only, bounded, and only for folds."""

from __future__ import annotations

from sourdine.engine import Originals


def test_bounded_by_count_oldest_first() -> None:
    """Past its size the oldest text goes; a text put again counts as new."""
    originals = Originals(size=3)
    for i in range(4):
        originals.put("facebook", str(i), f"text {i}")
    assert originals.get("facebook", "0") is None and len(originals) == 3
    originals.put("facebook", "1", "text 1 again")
    originals.put("facebook", "4", "text 4")
    assert originals.get("facebook", "1") == "text 1 again" and originals.get("facebook", "2") is None


def test_bounded_by_length_and_keyed_by_platform() -> None:
    """A long text is cut to max_chars; the same id on two platforms is two posts."""
    originals = Originals(size=10, max_chars=5)
    originals.put("youtube", "a", "0123456789")
    originals.put("linkedin", "a", "other")
    assert originals.get("youtube", "a") == "01234" and originals.get("linkedin", "a") == "other"
