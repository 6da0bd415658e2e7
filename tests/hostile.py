"""Hand-written post texts for the platform tests, and the real filter to run them through.

The texts are hand-written, friendly, sour and hostile, in English and French; with the shipped thresholds the
real scorer hides the hostile ones (score >= 0.85) and folds the sour ones (0.55 to 0.85).
"""

from __future__ import annotations

from sourdine import scoring, settings
from sourdine.engine import Engine
from sourdine.platforms import ADAPTERS

HOSTILE_EN = "You are a disgusting, pathetic liar and a total idiot. SHAME ON YOU!!! Everyone should despise you."
HOSTILE_FR = "Espèce d'ordure, menteur pathétique et minable. Tu es une honte absolue, dégage !!!"
SOUR_EN = "What a stupid idea, this is a waste of everyone's time."
SOUR_FR = "Encore une panne, quelle galère, je suis fatigué de tout ça."
FRIENDLY_EN = "Thank you all for a lovely afternoon at the library, the kids loved the stories!"
FRIENDLY_FR = "Merci à toute l'équipe pour ce bel atelier, c'était un vrai plaisir de vous retrouver."

HIDDEN = (HOSTILE_EN, HOSTILE_FR)
FOLDED = (SOUR_EN, SOUR_FR)
KEPT = (FRIENDLY_EN, FRIENDLY_FR)


def real_filter(platform: str, endpoint: str, body: bytes) -> tuple[bytes | None, Engine]:
    """The body as the real engine (real scorer, shipped settings) rewrites it, and the engine (for its
    counts and the originals it keeps)."""
    engine = Engine(scoring.score, ADAPTERS)
    return engine.filter_body(settings.build(), platform, endpoint, body), engine
