import pytest
from hypothesis import given
from hypothesis import strategies as st

from sourdine.hlc import Clock, Stamp


class FakeTime:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_stamps_increase_even_when_the_clock_steps_back():
    """A clock set back by an hour still gives increasing stamps."""
    now = FakeTime(1_700_000_000.0)
    clock = Clock("laptop", now)
    a = clock.tick()
    now.t -= 3600
    b = clock.tick()
    c = clock.tick()
    assert a < b < c and b.wall == a.wall and (b.counter, c.counter) == (1, 2)


def test_observing_a_remote_stamp_moves_past_it():
    """After seeing a stamp from a device whose clock runs ahead, local edits come after it."""
    now = FakeTime(1_700_000_000.0)
    clock = Clock("laptop", now)
    remote = Stamp(int(1_700_000_005.0 * 1000), 7, "desktop")
    seen = clock.observe(remote)
    assert seen > remote and clock.tick() > remote


def test_a_remote_clock_a_day_ahead_is_refused():
    """A stamp more than a day ahead is refused rather than pulling every later edit into the future."""
    clock = Clock("laptop", FakeTime(1_700_000_000.0))
    with pytest.raises(ValueError):
        clock.observe(Stamp(int((1_700_000_000 + 2 * 86400) * 1000), 0, "desktop"))


@given(st.integers(0, 2**47), st.integers(0, 0xFFFF), st.from_regex(r"[A-Za-z0-9_.-]{1,20}", fullmatch=True))
def test_encoding_round_trips_and_sorts_like_the_stamps(wall, counter, node):
    """The text form decodes to the same stamp, and string order is stamp order."""
    stamp = Stamp(wall, counter, node)
    assert Stamp.decode(stamp.encode()) == stamp
    other = Stamp(wall + 1, 0, node)
    assert (stamp.encode() < other.encode()) == (stamp < other)


@pytest.mark.parametrize("bad", ["", "123", "00000000000g-0000-x", "000000000000-0000-", "000000000000-0000-a b"])
def test_bad_stamps_and_nodes_are_refused(bad):
    """Malformed stamps raise ValueError; so do node ids with spaces or empty ones."""
    with pytest.raises(ValueError):
        Stamp.decode(bad)
    with pytest.raises(ValueError):
        Clock("a b")
