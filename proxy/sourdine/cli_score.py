"""`sourdine score`: score a text, or a stream of JSON lines, with the same scorer the proxy uses."""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections.abc import Iterable, Sequence
from typing import IO, Any

import orjson

from sourdine.model import Score
from sourdine.scoring import score, warm

_PROGRESS_EVERY = 0.2  # seconds between progress-bar refreshes


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: Sequence[argparse.ArgumentParser] = (),
) -> argparse.ArgumentParser:
    """Add the `score` subcommand to `sourdine`'s subparsers."""
    parser = subparsers.add_parser(
        "score",
        parents=list(parents),
        help="Score a text for negativity and outrage.",
        description="Score a text for negativity and outrage, and say why; text that is not UTF-8 is refused. With "
        '--jsonl, read one JSON object a line on stdin ({"text": ..., "lang": ...}, other fields copied through, '
        "integers of any size exactly) and write one a line.",
    )
    parser.add_argument("text", nargs="?", help="The text to score (default: all of stdin, as UTF-8 text).")
    parser.add_argument("--lang", help="The text's language as a platform gives it (en, fr-CA...); "
                        "detected when absent.")
    parser.add_argument("--json", action="store_true", help="Print the result as one JSON object.")
    parser.add_argument("--jsonl", action="store_true", help="Score JSON lines from stdin to stdout.")
    parser.set_defaults(func=run)
    return parser


def as_dict(s: Score) -> dict[str, Any]:
    """A score as the JSON object the CLI and the API return."""
    return s.to_dict()


def run(
    args: argparse.Namespace,
    stdin: IO[Any] | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """Run `sourdine score`. Returns the exit code."""
    stdin = stdin if stdin is not None else sys.stdin
    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    if args.jsonl:
        if args.text is not None:
            print("sourdine score: give a text or --jsonl, not both", file=stderr)
            return 2
        return score_lines(_lines(stdin), stdout, stderr)
    # From stdin, bytes (its buffer), decoded here: a strict UTF-8 stdin would raise on a byte that is not UTF-8.
    text = args.text if args.text is not None else getattr(stdin, "buffer", stdin).read()
    try:
        text = _utf8(text)
    except ValueError as e:
        print(f"sourdine score: {e}", file=stderr)
        return 1
    result = score(text, args.lang)
    if args.json:
        stdout.write(orjson.dumps(as_dict(result)).decode() + "\n")
    else:
        stdout.write(describe(result))
    return 0


def _utf8(text: str | bytes) -> str:
    """The text, from stdin's bytes (a UTF-8 byte order mark dropped) or from the command line. ValueError naming
    the first byte that is not UTF-8: text in another encoding decoded with replacement scored other words than
    the user's ("Espèce" in cp1252 read "Esp\ufffdce"), and a guessed encoding would as often be the wrong one."""
    if isinstance(text, bytes):
        try:
            return text.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise ValueError(f"standard input is not UTF-8 text (byte {e.start} is 0x{text[e.start]:02x}): convert it "
                             "first, e.g. iconv -f cp1252 -t utf-8") from None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:  # Python reads arguments that are not UTF-8 as lone surrogates
        raise ValueError(f"the text is not UTF-8 (character {e.start + 1}): convert it first") from None
    return text


def describe(s: Score) -> str:
    """A score as a person reads it."""
    if not s.scored:
        return f"lang        {s.lang}\nnot scored  {', '.join(s.reasons) or 'language not scored'}\n"
    reasons = "\n            ".join(s.reasons) if s.reasons else "(nothing notable)"
    return (
        f"lang        {s.lang}\n"
        f"score       {s.score:.2f}\n"
        f"negativity  {s.negativity:.2f}\n"
        f"outrage     {s.outrage:.2f}\n"
        f"reasons     {reasons}\n"
    )


def _lines(stream: IO[Any]) -> Iterable[bytes | str]:
    return getattr(stream, "buffer", stream)


# An integer past 64 bits, which orjson reads as a float (and cannot write): such a line goes through json.
_LONG_INT = re.compile(r"\d{20}|-\d{19}")
_LONG_INT_BYTES = re.compile(_LONG_INT.pattern.encode())


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")  # NaN and Infinity, which json reads and orjson refuses


def _finite(text: str) -> float:
    number = float(text)
    if math.isinf(number):  # 1e400, which orjson refuses and json reads as infinity
        raise ValueError("number is infinity when parsed as double")
    return number


def _loads(line: bytes | str) -> Any:
    """The line's JSON; integers past 64 bits kept exact (orjson read them as floats, a review found), with what
    orjson refuses (NaN, Infinity, a number too large for a double) refused on that path too."""
    if (_LONG_INT_BYTES if isinstance(line, bytes) else _LONG_INT).search(line) is None:  # type: ignore[arg-type]
        return orjson.loads(line)
    return json.loads(line, parse_constant=_refuse_constant, parse_float=_finite)


def _dumps(obj: dict[str, Any]) -> str:
    try:
        return orjson.dumps(obj).decode()
    except TypeError:  # an integer past 64 bits
        out = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        out.encode("utf-8")  # UnicodeEncodeError (a ValueError) for a lone surrogate json let through
        return out


def score_line(line: bytes | str) -> dict[str, Any]:
    """One input line -> one output object; a malformed line gives {"error": ...}."""
    try:
        obj = _loads(line)
    except json.JSONDecodeError as e:  # orjson's too
        return {"error": f"not JSON: {e.msg}"}
    except ValueError as e:  # a line json reads (not UTF-8, NaN)
        return {"error": f"not JSON: {e}"}
    if not isinstance(obj, dict):
        return {"error": "not a JSON object"}
    text = obj.get("text")
    if not isinstance(text, str):
        return {"error": '"text" is missing or not a string'}
    lang = obj.get("lang")
    if lang is not None and not isinstance(lang, str):
        return {"error": '"lang" is not a string'}
    return {**obj, **as_dict(score(text, lang))}


def score_lines(lines: Iterable[bytes | str], stdout: IO[str], stderr: IO[str]) -> int:
    """Score each JSON line in order; a progress bar goes to stderr when it is a terminal."""
    progress = _isatty(stderr)
    if progress:
        warm()
    start = last = time.monotonic()
    count = 0
    write = stdout.write
    for line in lines:
        if not line.strip():
            continue
        try:
            out = _dumps(score_line(line))
        except (TypeError, ValueError) as e:  # an input field that cannot be written back
            out = _dumps({"error": f"cannot write this line back: {type(e).__name__}"})
        write(out + "\n")
        count += 1
        if progress and (now := time.monotonic()) - last >= _PROGRESS_EVERY:
            last = now
            stderr.write(f"\rscored {count:,} posts ({count / (now - start):,.0f}/s)")
            stderr.flush()
    stdout.flush()
    if progress:
        elapsed = max(time.monotonic() - start, 1e-9)
        stderr.write(f"\rscored {count:,} posts ({count / elapsed:,.0f}/s)\n")
    return 0


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sourdine.cli_score")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["score", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
