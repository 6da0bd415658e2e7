"""scripts/eval reads the user's feedback on decisions back from a Sourdine home."""

import subprocess
import sys
import time
from pathlib import Path

from sourdine import store
from sourdine.engine import Decision

EVAL = Path(__file__).parent.parent / "scripts" / "eval"


def test_eval_reads_feedback_back(tmp_path):
    """Feedback stored on decisions comes back grouped by platform, action and verdict, with its scores."""
    writer = store.Writer(tmp_path / "sourdine.db")
    writer.start()
    try:
        for post_id, action, score in (("1", "hide", 0.91), ("2", "collapse", 0.6), ("3", "collapse", 0.58)):
            writer.record(Decision(time.time(), "mastodon", "timeline", post_id, "9", "a@b.c", "en", 0.5, 0.5,
                                   score, action, "outrage, score 0.50"))
        assert writer.flush()
        for post_id, said in (("1", "hostile"), ("2", "fine"), ("3", "fine")):
            writer.submit(lambda db, p=post_id, f=said: store.set_feedback(db, "mastodon", p, f)).result(5)
    finally:
        writer.close()
    out = subprocess.run([sys.executable, str(EVAL), "--feedback", str(tmp_path)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    lines = [line.split() for line in out.stdout.splitlines() if line.strip().startswith("mastodon")]
    assert lines[0][:4] == ["mastodon", "collapse", "fine", "2"]
    assert lines[1][:4] == ["mastodon", "hide", "hostile", "1"]
