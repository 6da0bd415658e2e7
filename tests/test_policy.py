import pytest
from hypothesis import given
from hypothesis import strategies as st

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
        (s(0.5, 0.3, 0.6), "collapse", "outrage, score 0.50"),
        (s(0.79, 0.79, 0.2), "collapse", "negativity, score 0.79"),
        (s(0.8, 0.5, 0.82), "hide", "outrage, score 0.80"),
        (s(0.62, 0.37, 0.2), "collapse", "negativity, score 0.62"),
        (s(0.99, 0.0, 0.0, scored=False), "keep", ""),
    ],
)
def test_decide_by_score(score, action, reason):
    """Thresholds pick the action; the reason names the dominant dimension and the score that passed the threshold
    (not the dimension's own value: "negativity 0.37" for a post folded at 0.5 read as a mistake); unscored posts
    are kept."""
    verdict = policy.decide(score, T)
    assert (verdict.action, verdict.reason) == (action, reason)


def test_each_step_of_the_precedence():
    """Off beats allow beats mute beats toxic beats the score, each with its own reason."""
    hot = s(0.99, 0.9, 0.99)
    assert policy.decide(hot, T, active=False, muted=("hide", "honte")).action == "keep"
    assert policy.decide(hot, T, allowed="account:x:brand", muted=("hide", "x")).reason == "allowed: account:x:brand"
    assert policy.decide(s(0.0), T, muted=("hide", "keyword:honte"), toxic="toxic").reason == "muted: keyword:honte"
    verdict = policy.decide(s(0.0), T, toxic="toxic connection: 7 of 12 recent posts hostile")
    assert (verdict.action, verdict.reason) == ("collapse", "toxic connection: 7 of 12 recent posts hostile")
    assert policy.decide(s(0.0), T, toxic="t", toxic_action="hide").action == "hide"
    assert policy.decide(hot, T, toxic="t", toxic_action="keep").action == "hide", "toxic 'keep' leaves the score"


scores = st.builds(s, st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.booleans())
actions = st.sampled_from(["collapse", "hide"])


@given(score=scores, active=st.booleans(), inbox=st.none() | st.just("your inbox"), allowed=st.none() | st.just("a"),
       muted=st.none() | st.tuples(actions, st.just("m")), toxic=st.none() | st.just("t"),
       toxic_action=st.sampled_from(["keep", "collapse", "hide"]),
       collapse=st.floats(0, 1), gap=st.floats(0, 1))
def test_precedence_holds_for_any_post_and_settings(score, active, inbox, allowed, muted, toxic, toxic_action,
                                                    collapse, gap):
    """For random posts and settings, the verdict is the first step of the precedence that applies."""
    thresholds = Thresholds(collapse, min(1.0, collapse + gap))
    verdict = policy.decide(score, thresholds, active=active, inbox=inbox, allowed=allowed, muted=muted,
                            toxic=toxic, toxic_action=toxic_action)
    if not active or inbox is not None or allowed is not None:
        assert verdict.action == "keep"
    elif muted is not None:
        assert verdict.action == muted[0]
    elif toxic is not None and toxic_action != "keep":
        assert verdict.action == toxic_action
    else:
        assert verdict == policy.by_score(score, thresholds)
        if score.scored and score.score >= thresholds.hide:
            assert verdict.action == "hide"


@given(score=scores, collapse=st.floats(0, 1), gap=st.floats(0, 1))
def test_a_score_reason_shows_the_figure_compared_with_the_threshold(score, collapse, gap):
    """Whatever the two dimensions, a post folded or hidden by its score shows that score, at or above the
    threshold it passed once both are rounded as shown, after the dimension that drove it."""
    thresholds = Thresholds(collapse, min(1.0, collapse + gap))
    verdict = policy.by_score(score, thresholds)
    if verdict.action == "keep":
        return
    name, figure = verdict.reason.split(", score ")
    assert name == ("outrage" if score.outrage >= score.negativity else "negativity")
    assert figure == f"{score.score:.2f}"
    assert float(figure) >= round(thresholds.collapse, 2)


def test_allowed_posts_can_be_flagged_instead_of_kept_silently():
    """With flag_allowed, an allowed post is still kept, and the reason says what would have happened."""
    hot = s(0.99, 0.9, 0.99)
    assert policy.decide(hot, T, allowed="account:x:brand").reason == "allowed: account:x:brand"
    flagged = policy.decide(hot, T, allowed="account:x:brand", flag_allowed=True)
    assert flagged.action == "keep"
    assert flagged.reason == "allowed: account:x:brand; flagged: would be hide (outrage, score 0.99)"
    calm = policy.decide(s(0.1), T, allowed="account:x:brand", flag_allowed=True)
    assert calm.reason == "allowed: account:x:brand", "nothing to flag on a post that would pass anyway"
