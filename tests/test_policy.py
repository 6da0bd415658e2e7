import pytest

from sourdine import policy
from sourdine.model import Score
from sourdine.rules import Thresholds

T = Thresholds(collapse=0.5, hide=0.8)


def s(score, negativity=0.0, outrage=0.0, scored=True):
    return Score("en", negativity, outrage, score, scored)


@pytest.mark.parametrize(
    ("score", "action", "reason"),
    [
        (s(0.1, 0.1, 0.0), "keep", ""),
        (s(0.49, 0.49, 0.2), "keep", ""),
        (s(0.5, 0.3, 0.6), "collapse", "outrage 0.60"),
        (s(0.79, 0.79, 0.2), "collapse", "negativity 0.79"),
        (s(0.8, 0.5, 0.82), "hide", "outrage 0.82"),
        (s(0.99, 0.0, 0.0, scored=False), "keep", ""),
    ],
)
def test_decide(score, action, reason):
    """Thresholds pick the action; the reason names the dominant dimension; unscored posts are kept."""
    verdict = policy.decide(score, T)
    assert (verdict.action, verdict.reason) == (action, reason)
