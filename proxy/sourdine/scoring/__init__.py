"""Score a post's text for negativity and outrage, in English and French: text in, numbers and reasons out.

    from sourdine.scoring import score
    s = score("You absolute idiot!!!", lang="en")   # -> sourdine.model.Score

`lang` is the platform's language field when it has one ("en", "fr-CA"...); without it, the language is
detected.
English and French are scored, each with its own lexicon (rules/lexicons/<lang>/); any other language gets
`scored=False` and zeros. A post mixing the two is read with both lexicons and keeps the stronger reading.

- `negativity`: how negative the tone is (VADER's valence method over the language's lexicon).
- `outrage`: insults, slurs, contempt, indignation, blame, dunks and threats, amplified by shouting.
- `score`: what the collapse and hide thresholds compare against. Outrage alone can reach the hide threshold;
  negativity alone (sad news, a bad day) can reach the collapse threshold but not the hide one. In English, the
  learned weights (rules/lexicons/en/learned.tsv, scripts/fit-weights) then move it a little on the log-odds
  scale; a move of LEARNED_REASON or more is named among the reasons by its strongest word that no other
  reason names.

Pure and thread-safe: the lexicons load once, then are only read. `score()` never raises; on an internal error
it logs the error's type (never the text) and returns a not-scored result.

The modules of this package are compiled with mypyc when `scripts/build-native` has run, and load as pure
Python otherwise (sourdine.native says which, and why).
"""

from sourdine import native

# The compiled modules' folder ahead of this one, when they are built from these very sources.
__path__ = native.package_path(__name__, __path__)

from sourdine.scoring.core import (  # noqa: E402  (the path above decides where these load from)
    LANGS,
    Score,
    caches,
    keep_tables_in,
    score,
    warm,
    with_learned,
)
from sourdine.scoring.core import _analyse as _analyse  # noqa: E402  (for scripts/eval and fit-weights)
from sourdine.scoring.core import _combine as _combine  # noqa: E402
from sourdine.scoring.core import _load as _load  # noqa: E402
from sourdine.scoring.core import _score as _score  # noqa: E402

__all__ = ["score", "warm", "Score", "LANGS", "caches", "keep_tables_in", "with_learned"]
