"""What scripts/eval, scripts/ceiling and scripts/fit-weights share: reading a labelled set, ROC AUC, and the
vaderSentiment analyser each language is compared with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LEXICONS = Path(__file__).resolve().parent.parent / "rules" / "lexicons"


def rows(path: Path) -> list[dict[str, Any]]:
    """The posts of a labelled set (JSON Lines: `text`, `label`, and maybe `lang` and `valence`), blank lines
    skipped."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def roc_auc(scores: list[float], labels: list[int]) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half); nan for a set of one class."""
    pairs = sorted(zip(scores, labels, strict=True), key=lambda p: p[0])
    n_pos = sum(labels)
    n_neg = len(labels) - n_pos
    if not n_pos or not n_neg:
        return float("nan")
    rank_sum = 0.0
    i = 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        mid_rank = (i + j + 1) / 2  # 1-based average rank of the tie group
        rank_sum += mid_rank * sum(label for _, label in pairs[i:j])
        i = j
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def vader(lang: str) -> Any:
    """vaderSentiment's analyser for a language: for French, its method over vaderSentiment_fr's lexicon (the
    reference issue 3 names, without its fuzzy matching); otherwise plain English VADER."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    if lang != "fr":
        return SentimentIntensityAnalyzer()
    return SentimentIntensityAnalyzer(lexicon_file=str(LEXICONS / "fr" / "valence.tsv"),
                                      emoji_lexicon=str(LEXICONS / "fr" / "emoji.tsv"))
