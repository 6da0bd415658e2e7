"""`sourdine score`: one text, readably or as JSON, and JSON lines in bulk. Sentences are hand-written."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys

import pytest

from sourdine import cli_score


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sourdine")
    cli_score.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["score", *argv])


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(*argv: str, stdin: str | bytes = "", stderr: io.StringIO | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), stderr if stderr is not None else io.StringIO()
    source = io.BytesIO(stdin) if isinstance(stdin, bytes) else io.StringIO(stdin)
    args = parse(*argv)
    code = args.func(args, stdin=source, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_one_text_is_printed_readably() -> None:
    """A text on the command line prints its language, numbers and reasons, one per line."""
    code, out, _ = run("You absolute idiot, shame on you!!!")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["lang", "en"]
    assert lines[1].startswith("score") and float(lines[1].split()[1]) >= 0.85
    assert "insult: idiot" in out and "blame: shame on" in out


def test_lang_option_is_honoured() -> None:
    """--lang is the platform's field: "de" is not scored, whatever the text."""
    code, out, _ = run("--lang", "de", "You absolute idiot")
    assert code == 0 and "not scored" in out and "lang        de" in out


def test_json_option_prints_one_object() -> None:
    """--json prints the score as the API's JSON object."""
    _, out, _ = run("--json", "--lang", "fr-CA", "Quelle bande d'idiots")
    obj = json.loads(out)
    assert set(obj) == {"lang", "negativity", "outrage", "score", "scored", "reasons"}
    assert obj["lang"] == "fr" and obj["scored"] and "insult: idiots" in obj["reasons"]


def test_text_is_read_from_stdin_when_absent() -> None:
    """Without a text argument, stdin is the text."""
    _, out, _ = run("--json", stdin="Tu es un menteur pathétique")
    assert json.loads(out)["lang"] == "fr"


def test_stdin_that_is_not_utf8_is_refused_naming_its_first_bad_byte() -> None:
    """Text in cp1252 piped in was decoded with replacement and scored as other words ("Esp\ufffdce", a review
    found): it is refused, naming the byte, with how to convert it; a strict UTF-8 stdin still gives no traceback,
    and a UTF-8 byte order mark is no part of the text."""
    stdin = io.TextIOWrapper(io.BytesIO("Espèce de connard".encode("cp1252")), encoding="utf-8", errors="strict")
    out, err = io.StringIO(), io.StringIO()
    args = parse("--json")
    assert args.func(args, stdin=stdin, stdout=out, stderr=err) == 1
    assert out.getvalue() == ""
    assert err.getvalue() == ("sourdine score: standard input is not UTF-8 text (byte 3 is 0xe8): convert it first, "
                              "e.g. iconv -f cp1252 -t utf-8\n")
    code, out, _ = run("--json", stdin="\ufeffEspèce de connard".encode())
    assert code == 0 and json.loads(out)["lang"] == "fr" and json.loads(out)["score"] >= 0.55


def test_a_text_argument_that_is_not_utf8_is_refused() -> None:
    code, out, err = run("--json", "Esp\udce8ce de connard")  # how Python reads a cp1252 argument
    assert (code, out) == (1, "") and "the text is not UTF-8 (character 4)" in err


def test_jsonl_keeps_integers_past_64_bits_exact() -> None:
    """Fields copied through keep their integers exact: orjson read those past 64 bits as floats (a review's
    finding), and could not write them."""
    line = '{"id": 123456789012345678901234567890, "neg": -9223372036854775809, "max": 18446744073709551615, ' \
           '"text": "You are a wonderful friend", "f": 1.5, "s": "é"}'
    code, out, _ = run("--jsonl", stdin=line + "\n")
    row = json.loads(out)
    assert code == 0 and row["id"] == 123456789012345678901234567890 and row["neg"] == -9223372036854775809
    assert row["max"] == 18446744073709551615 and row["f"] == 1.5 and row["s"] == "é" and row["scored"]
    assert '"id":123456789012345678901234567890' in out
    _, out, _ = run("--jsonl", stdin=b'{"id": 123456789012345678901, "n": NaN, "text": "x"}\n')
    assert set(json.loads(out)) == {"error"}
    # A number too large for a double is refused on that path as orjson refuses it on the other (json read it as
    # infinity, and it was written as null: a review's finding).
    for text in ('{"id": 12345678901234567890, "x": 1e400, "text": "a"}', '{"text": "a", "x": 1e400}'):
        _, out, _ = run("--jsonl", stdin=text + "\n")
        assert json.loads(out) == {"error": "not JSON: number is infinity when parsed as double"}, (text, out)


def test_jsonl_keeps_order_copies_fields_and_reports_bad_lines() -> None:
    """--jsonl writes one object per line, in order, other fields copied, a malformed line as an error."""
    german = "Das ist ein schöner Tag und ich bin froh"
    lines: list[object] = [
        {"id": 1, "text": "You are a wonderful friend"},
        "this is not json",
        {"id": 3, "text": "Espèce de connard", "lang": "fr-FR", "extra": [1, 2]},
        {"id": 4, "lang": "en"},
        ["text", "in a list"],
        {"id": 6, "text": german, "lang": "de"},
        {"id": 7, "text": "Bonjour", "lang": 7},
    ]
    stdin = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    code, out, err = run("--jsonl", stdin=stdin)
    assert code == 0 and err == ""
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == len(lines)
    assert rows[0]["id"] == 1 and rows[0]["scored"] and rows[0]["score"] < 0.2
    assert set(rows[1]) == {"error"}
    assert rows[2]["id"] == 3 and rows[2]["extra"] == [1, 2] and rows[2]["lang"] == "fr"
    assert rows[2]["score"] >= 0.55 and isinstance(rows[2]["reasons"], list)
    assert "error" in rows[3] and "error" in rows[4] and "error" in rows[6]
    assert rows[5] == {"id": 6, "text": german, "lang": "de", "negativity": 0.0, "outrage": 0.0,
                       "score": 0.0, "scored": False, "reasons": ["language not scored"]}


def test_jsonl_reads_bytes_and_survives_invalid_utf8() -> None:
    """A line that is not UTF-8 is an error at its place; the lines around it are scored."""
    stdin = b'{"text": "fine"}\n\xff\xfe\xfd\n{"text": "also fine"}\n'
    _, out, _ = run("--jsonl", stdin=stdin)
    rows = [json.loads(line) for line in out.splitlines()]
    assert [("error" in r) for r in rows] == [False, True, False]


def test_jsonl_progress_only_on_a_terminal() -> None:
    """The progress bar goes to stderr when it is a terminal, and nowhere otherwise."""
    stdin = "".join(json.dumps({"text": f"post number {i}"}) + "\n" for i in range(50))
    _, out, err = run("--jsonl", stdin=stdin)
    assert err == "" and len(out.splitlines()) == 50
    tty = TTY()
    _, out, _ = run("--jsonl", stdin=stdin, stderr=tty)
    assert "scored 50 posts" in tty.getvalue() and len(out.splitlines()) == 50


def test_text_and_jsonl_together_is_an_error() -> None:
    """A text with --jsonl is a usage error (exit 2)."""
    code, _, err = run("--jsonl", "some text")
    assert code == 2 and "not both" in err


@pytest.mark.timeout(60)
def test_module_runs_as_a_script() -> None:
    """`python -m sourdine.cli_score --jsonl` works end to end through real pipes."""
    proc = subprocess.run(
        [sys.executable, "-m", "sourdine.cli_score", "--jsonl"],
        input=b'{"text": "Shut up, you stupid clown", "id": "a"}\n{"oops"\n',
        capture_output=True,
        check=True,
    )
    rows = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert rows[0]["id"] == "a" and rows[0]["score"] >= 0.55
    assert "error" in rows[1]
    assert proc.stderr == b""
