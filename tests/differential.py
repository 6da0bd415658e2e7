"""The same fuzzed feeds through the engine, for comparing the compiled modules with pure Python (test_native).

`generate(count)` makes inputs with fuzzing.inputs; `outcomes(inputs)` runs them through one Engine with mutes,
an allow entry and author records, and returns one line per input: its capture, kind and digest, then the
digest of what came out, or the name of the exception raised. `python tests/differential.py FILE` prints the
outcomes of the inputs pickled in FILE: run it with SOURDINE_NATIVE=0 for pure Python. With `--guard-values
FILE COUNT FOLDER` (pure Python only), it runs those inputs through the engine, then COUNT fuzzed inputs of
every capture, streams included, through the addon with a store writer on a sqlite file in FOLDER
(`through_addon`), and prints instead, as JSON, every field of a value class assigned again or deleted
(guard_values) and how the addon's inputs ended. With `--check-inits` (pure Python), it prints what is wrong with
the written-out `__init__` of the classes made for every post (check_inits).
"""

from __future__ import annotations

import hashlib
import json
import pickle
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fuzzing  # noqa: E402
from sourdine import settings  # noqa: E402
from sourdine.authors import AuthorBook  # noqa: E402
from sourdine.engine import Decision, Engine  # noqa: E402
from sourdine.lists import Account, AccountEntry, KeywordEntry, compile_lists  # noqa: E402
from sourdine.model import Post, Score, Verdict  # noqa: E402
from sourdine.platforms import ADAPTERS  # noqa: E402
from sourdine.scoring import score  # noqa: E402

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
# Bombs decode to the size limit before being refused: slow, and the same code either way (codec is not
# compiled).
KINDS = tuple(k for k in fuzzing.KINDS if k != "bomb")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def generate(count: int) -> list[tuple[str, str, bytes, str | None]]:
    """`count` fuzzed inputs, as (capture, kind, bytes, content encoding)."""
    from hypothesis import HealthCheck, Phase, given
    from hypothesis import settings as hsettings

    pool = [s for s in fuzzing.samples() if not s.streaming]
    made: list[tuple[str, str, bytes, str | None]] = []

    @hsettings(max_examples=count, database=None, deadline=None, phases=[Phase.generate], derandomize=True,
               suppress_health_check=list(HealthCheck))
    @given(fuzzing.inputs(pool, KINDS))
    def one(inp: fuzzing.Input) -> None:
        made.append((inp.sample.name, inp.kind, inp.raw, inp.encoding))

    one()
    return made


_MUTES = [KeywordEntry("idiot", action="hide"), KeywordEntry("honte"), KeywordEntry(r"\bliars?\b", regex=True),
          AccountEntry((Account("mastodon", "gargron@mastodon.social"),), action="collapse")]
_ALLOWS = [KeywordEntry("cats")]


def outcomes(inputs: list[tuple[str, str, bytes, str | None]]) -> list[str]:
    """What one engine makes of each input, in order."""
    samples = {s.name: s for s in fuzzing.samples()}
    snapshot = settings.build(fuzzing.fuzz_user_settings())
    engine = Engine(score, ADAPTERS, authors=AuthorBook(), lists=compile_lists(_MUTES, _ALLOWS, NOW),
                    clock=lambda: NOW.timestamp())
    out: list[str] = []
    for name, kind, raw, encoding in inputs:
        sample = samples[name]
        try:
            new = engine.filter_encoded(snapshot, sample.platform, sample.endpoint, raw, encoding)
            result = "unchanged" if new is None else _digest(new)
        except Exception as e:  # the engine raises on what it cannot read: the addon leaves it as sent
            result = type(e).__name__
        out.append(f"{name} {kind} {_digest(raw)} {result}")
    counts = engine.counts
    out.append(f"counts seen={counts.seen} collapsed={counts.collapsed} hidden={counts.hidden}")
    return out


def through_addon(count: int, folder: Path) -> dict[str, int]:
    """`count` fuzzed inputs drawn from every capture, feeds and streaming messages alike, through the addon's hooks
    (fuzzing.run_one, which checks each response), with mutes, an allow entry, author records and a running
    store writer on a sqlite file in `folder`; then the author records are saved and everything is written. How
    many inputs ended each way ("unchanged", "rewritten", "dropped", "overrun"), how many were streaming
    messages, and how many decisions the store holds."""
    import asyncio

    from sourdine.store import Writer

    async def run() -> dict[str, int]:
        writer = Writer(folder / "db.sqlite")
        engine = Engine(score, ADAPTERS, record=writer.record, authors=AuthorBook(),
                        lists=compile_lists(_MUTES, _ALLOWS, NOW))
        writer.start()
        with fuzzing.fuzz_addon(folder, engine, writer) as addon:
            tally = fuzzing.fuzz(addon, count, kinds=KINDS, derandomize=True)
            await asyncio.sleep(0)  # the parsed feeds' queued frees
            addon.runtime.save_authors(NOW.timestamp())
            assert writer.flush(), "the store writer did not write everything"
        writer.close()
        assert not writer.failures, "the store writer failed"
        ended: dict[str, int] = {}
        for (_, outcome), n in tally.outcomes.items():
            ended[outcome] = ended.get(outcome, 0) + n
        ended["streaming messages"] = tally.streams
        ended["decisions written"] = sqlite3.connect(folder / "db.sqlite").execute(
            "SELECT count(*) FROM decisions").fetchone()[0]
        return ended

    return asyncio.run(run())


# The classes made for every post, whose `__init__` is written out (a dataclass's own is interpreted code, even
# in a compiled class).
WRITTEN_INITS = ("sourdine.model.Post", "sourdine.model.Score", "sourdine.model.Verdict", "sourdine.engine.Decision",
                 "sourdine.engine._Entry", "sourdine.scoring.engine.Reading", "sourdine.platforms.youtube._Comment",
                 "sourdine.platforms.meta.Found")


def _written_init_classes() -> list[type]:
    import importlib

    found = []
    for path in WRITTEN_INITS:
        module, _, name = path.rpartition(".")
        found.append(getattr(importlib.import_module(module), name))
    return found


def check_inits() -> list[str]:
    """What is wrong with the written-out `__init__` of each class of WRITTEN_INITS, as a dataclass's own would
    be: its own (not the dataclass's), its parameters the fields in order, typed and defaulted as they are (None
    for a default_factory, which then makes a new value), and it keeps what it is given, positionally and by
    name, truthy or not. Pure Python only: it passes values of no field's type."""
    import dataclasses
    import inspect

    wrong = []
    for cls in _written_init_classes():
        name = cls.__name__
        if cls.__init__.__code__.co_filename == "<string>":  # type: ignore[misc] # what dataclasses generates
            wrong.append(f"{name} has no __init__ of its own")
            continue
        fields = dataclasses.fields(cls)
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]  # type: ignore[misc]
        if [p.name for p in params] != [f.name for f in fields]:
            wrong.append(f"{name}.__init__ takes {[p.name for p in params]}, not the fields")
            continue
        for f, p in zip(fields, params, strict=True):
            factory = f.default_factory is not dataclasses.MISSING
            default = None if factory else inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default
            if p.kind is not p.POSITIONAL_OR_KEYWORD or p.default != default or type(p.default) is not type(default):
                wrong.append(f"{name}.{f.name} is passed as {p}, not as a dataclass field with its default")
            if p.annotation != (f"{f.type} | None" if factory else f.type):
                wrong.append(f"{name}.{f.name} is typed {p.annotation}, not {f.type}")
        for values in ([object() for _ in fields], [[] for _ in fields]):
            for made in (cls(*values), cls(**{f.name: v for f, v in zip(fields, values, strict=True)})):
                wrong += [f"{name}.{f.name} is not what was passed" for f, v in zip(fields, values, strict=True)
                          if getattr(made, f.name) is not v]
        required = [f for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        made, other = cls(*[object() for _ in required]), cls(*[object() for _ in required])
        for f in fields[len(required):]:
            if f.default_factory is not dataclasses.MISSING and (
                    getattr(made, f.name) != f.default_factory() or getattr(made, f.name) is getattr(other, f.name)):
                wrong.append(f"{name}.{f.name} is not a new {f.default_factory.__name__}() by default")
    return sorted(set(wrong))


def guard_values() -> list[str]:
    """Have every field of Post, Score, Verdict and Decision that is assigned a second time, or deleted, noted
    as "Class.field at file:line" in the list returned. They are not frozen dataclasses, which cost several
    times as much to make on the hot path, yet their hashes key caches; besides review, only this test checks
    that nothing changes them. It sees assignments and deletions, not a write through `object.__setattr__`.
    Pure Python only: a compiled class cannot be changed."""
    reassigned: list[str] = []

    def note(cls: type, name: str) -> None:
        caller = sys._getframe(2)
        reassigned.append(f"{cls.__name__}.{name} at {Path(caller.f_code.co_filename).name}:{caller.f_lineno}")

    def guard(cls: type) -> None:
        def setattr_once(self: object, name: str, value: object) -> None:
            if hasattr(self, name):
                note(cls, name)
            object.__setattr__(self, name, value)

        def delattr_noted(self: object, name: str) -> None:
            note(cls, name)
            object.__delattr__(self, name)

        cls.__setattr__ = setattr_once  # type: ignore[method-assign,assignment]
        cls.__delattr__ = delattr_noted  # type: ignore[method-assign,assignment]

    for cls in (Post, Score, Verdict, Decision):
        guard(cls)
    return reassigned


if __name__ == "__main__":
    if sys.argv[1] == "--check-inits":
        print(json.dumps(check_inits()))
    elif sys.argv[1] == "--guard-values":
        from sourdine import native

        assert native.state.startswith("pure Python"), native.state
        noted = guard_values()
        outcomes(pickle.loads(Path(sys.argv[2]).read_bytes()))
        ended = through_addon(int(sys.argv[3]), Path(sys.argv[4]))
        changed = Verdict("collapse", "outrage, score 0.80")
        changed.reason = "the guard's own check"  # the one change the guard must note
        print(json.dumps({"noted": noted, "ended": ended}))
    else:
        print("\n".join(outcomes(pickle.loads(Path(sys.argv[1]).read_bytes()))))
