"""scripts/ceiling: what weights fitted on the trainable sets could add, measured on hand-made samples here (the
real sets live in ../shared/datasets, which the suite never reads)."""

import json
import re
import subprocess
import sys
from pathlib import Path

CEILING = Path(__file__).parent.parent / "scripts" / "ceiling"

# Hand-made, not from any data set: a few hostile or negative posts and a few friendly ones per language.
EN_BAD = ["you are a pathetic idiot", "this is awful and I hate it", "worst day ever, so angry",
          "shut up, loser", "what a disgusting lie", "I am furious at this stupid decision"]
EN_GOOD = ["what a lovely morning", "thanks for the great talk", "the meeting is at noon",
           "we shipped the new release", "happy birthday friend", "nice photo of the lake"]
FR_BAD = ["tu es un pauvre idiot", "c'est nul et honteux", "quelle honte, je suis furieux",
          "ferme-la, minable", "un mensonge dégoûtant", "je déteste cette décision stupide"]
FR_GOOD = ["quelle belle matinée", "merci pour la présentation", "la réunion est à midi",
           "nous avons publié la version", "joyeux anniversaire", "jolie photo du lac"]


def write(folder: Path, name: str, lang: str, bad: list[str], good: list[str], valence: bool = False) -> None:
    rows = [{"text": t, "label": 1, "lang": lang} for t in bad] + [{"text": t, "label": 0, "lang": lang} for t in good]
    if valence:
        for r in rows:
            r["valence"] = -2.0 if r["label"] else 1.5
    (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def run(datasets: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CEILING), "--datasets", str(datasets)], capture_output=True,
                          text=True, timeout=300)


def test_without_the_sets_it_says_so_and_exits_0(tmp_path):
    out = run(tmp_path / "absent")
    assert out.returncode == 0, out.stderr
    assert "nothing measured" in out.stdout


def test_measures_each_dev_set(tmp_path):
    write(tmp_path, "en-vader-groundtruth", "en", EN_BAD, EN_GOOD, valence=True)
    for name in ("en-davidson-offensive", "en-mlma-hostility", "en-tweeteval-sentiment-val",
                 "en-tweeteval-offensive-val", "en-tweeteval-emotion-val"):
        write(tmp_path, name, "en", EN_BAD, EN_GOOD)
    for name in ("fr-mlma-hostility", "fr-deft2017-sentiment-trainval"):
        write(tmp_path, name, "fr", FR_BAD, FR_GOOD)
    out = run(tmp_path)
    assert out.returncode == 0, out.stderr
    rows = {m[0]: m[1:] for m in (line.split() for line in out.stdout.splitlines()) if m and m[0].startswith(
        ("en-tweeteval", "fr-deft"))}
    assert sorted(rows) == ["en-tweeteval-emotion-val", "en-tweeteval-offensive-val", "en-tweeteval-sentiment-val",
                            "fr-deft2017-sentiment-trainval"]
    for name, cells in rows.items():
        shipped, neg, host, both, vader, lead = cells
        assert re.fullmatch(r"[+-]\d\.\d{3}", lead)
        # A head can only add: the grid of strengths starts at 0, which is the shipped score.
        assert float(both) >= float(shipped) and float(host) >= float(shipped)
        assert abs(float(lead) - (float(both) - float(vader))) < 0.0015
        assert (neg == "n/a") == name.startswith("fr")
        # The scorer ranks these plain samples perfectly; VADER, less surely.
        assert float(shipped) > 0.9
