"""The `sourdine` command: its help, its documentation, and `status` against a running instance."""

from __future__ import annotations

import argparse
import http.server
import json
import os
import re
import subprocess
import threading
from pathlib import Path

import pytest

from conftest import SOURDINE
from sourdine import api, cli, home, runtime, settings

README = (Path(__file__).parent.parent / "README.md").read_text()


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_every_command_and_option_is_in_the_readme():
    """A subcommand or option missing from the README fails the build: the docs follow the code."""
    for name, parser in subcommands().items():
        assert f"sourdine {name}" in README, name
        for action in parser._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help":
                    assert option in README, f"sourdine {name} {option}"


def test_every_api_route_is_in_the_readme(tmp_path):
    """Each route of the API appears in the README's route table."""
    rt = runtime.Runtime(tmp_path, "t", settings.build(), None, None)  # type: ignore[arg-type]
    app = api.create_app(rt)
    for resource in app.router.resources():
        info = resource.get_info()
        path = info.get("path") or info.get("formatter")
        for route in resource:
            if route.method == "HEAD":  # aiohttp adds HEAD beside every GET
                continue
            assert f"`{route.method} {path}`" in README, f"{route.method} {path}"


def test_help_runs():
    """`sourdine --help` and `sourdine run --help` print usage and exit 0."""
    for args in (["--help"], ["run", "--help"]):
        out = subprocess.run([str(SOURDINE), *args], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and "usage: sourdine" in out.stdout


@pytest.mark.parametrize("port", ["-1", "70000", "http"])
def test_bad_port_is_a_usage_error(port, capsys):
    """A port that is not one is refused before anything starts."""
    with pytest.raises(SystemExit) as e:
        cli.main(["run", "--proxy-port", port])
    assert e.value.code == 2
    assert "port" in capsys.readouterr().err


def test_bad_instance_exits_2_with_a_message(tmp_path):
    """A --mastodon-instance that is not a host name is refused with the bad value named."""
    out = subprocess.run(
        [str(SOURDINE), "run", "--home", str(tmp_path), "--mastodon-instance", "not a host",
         "--proxy-port", "0", "--api-port", "0"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 2
    assert "not a host name: 'not a host'" in out.stderr


def test_status_finds_the_running_instance(sourdine):
    """`sourdine status --home` finds the instance through run.json and prints its status."""
    out = subprocess.run([str(SOURDINE), "status", "--home", str(sourdine.home)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["proxy"]["port"] == sourdine.proxy_port


def test_status_when_nothing_runs(tmp_path):
    """`sourdine status` says plainly that nothing runs, exit 1."""
    out = subprocess.run([str(SOURDINE), "status", "--home", str(tmp_path)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 1 and "not running" in out.stderr
    assert re.search(r"home .*", out.stderr)


@pytest.mark.parametrize(
    ("key", "value", "said"),
    [
        ("keep_excerpts", "{not json", "bad setting: keep_excerpts: the stored value is not JSON"),
        ("platforms", "[]", "bad setting: platforms: the stored value has the wrong shape"),
        ("platforms", '{"x": null}', "bad setting: platforms: the stored value has the wrong shape"),
        ("mastodon_instances", "5", "bad setting: mastodon_instances: the stored value has the wrong shape"),
        ("decisions_retention_days", '"abc"', "bad setting: decisions_retention_days must be a whole number"),
        ("keep_excerpts", '"yes"', "bad setting: keep_excerpts must be true or false, not 'yes'"),
    ],
)
def test_a_damaged_stored_setting_is_named_and_nothing_is_changed(tmp_path, key, value, said):
    """A settings row edited by hand or damaged stops start-up with a message naming it, not a traceback (a review
    found tracebacks, and a message naming no key); the database is left as it was."""
    import sqlite3

    from sourdine import store

    where = tmp_path / "home"
    where.mkdir()
    db = store.open_db(where / "sourdine.db")
    store.save_settings(db, {"device_id": "dev1"})
    db.execute("INSERT INTO settings (key, value) VALUES (?, ?)", [key, value])
    db.conn.commit()
    db.close()
    before = sqlite3.connect(where / "sourdine.db").execute("SELECT key, value FROM settings ORDER BY key").fetchall()
    out = subprocess.run([str(SOURDINE), "run", "--home", str(where), "--proxy-port", "0", "--api-port", "0"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and said in out.stderr and "Traceback" not in out.stderr, out.stderr[-2000:]
    after = sqlite3.connect(where / "sourdine.db").execute("SELECT key, value FROM settings ORDER BY key").fetchall()
    assert after == before


def test_a_home_or_a_database_that_cannot_be_used_is_said_plainly(tmp_path):
    """A --home that is a file, or a sourdine.db that is not a database: one line, exit 1, no traceback."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    out = subprocess.run([str(SOURDINE), "run", "--home", str(afile), "--proxy-port", "0", "--api-port", "0"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert f"sourdine: {afile} is a file, not a folder: Sourdine's home (--home) must be a folder" in out.stderr
    where = tmp_path / "home"
    where.mkdir()
    (where / "sourdine.db").write_bytes(b"not a database " * 100)
    out = subprocess.run([str(SOURDINE), "run", "--home", str(where), "--proxy-port", "0", "--api-port", "0"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "cannot be read as Sourdine's database" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and (where / "sourdine.db").read_bytes() == b"not a database " * 100
    # A database that cannot be opened (here a folder in its place) is not called damaged: nothing to move away.
    other = tmp_path / "other"
    (other / "sourdine.db").mkdir(parents=True)
    out = subprocess.run([str(SOURDINE), "run", "--home", str(other), "--proxy-port", "0", "--api-port", "0"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "cannot use" in out.stderr and "move it away" not in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_a_database_a_newer_sourdine_migrated_is_left_alone(tmp_path):
    """A database with a migration this version does not know (a newer Sourdine ran on it, and the user went
    back) may have tables this version would write wrongly: `sourdine run` refuses it in one line, exit 1, and
    writes nothing to it (a review found it opened, and a mute written into the older shape)."""
    from sourdine import store

    where = tmp_path / "home"
    where.mkdir()
    db = store.open_db(where / "sourdine.db")
    db["_sqlite_migrations"].insert({"migration_set": "sourdine", "name": "0099_from_the_future",
                                     "applied_at": "2027-01-01 00:00:00.000000+00:00"})
    db["lists"].add_column("future", str)
    db.close()
    before = (where / "sourdine.db").read_bytes()
    out = subprocess.run([str(SOURDINE), "run", "--home", str(where), "--proxy-port", "0", "--api-port", "0"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert "newer Sourdine" in out.stderr and "0099_from_the_future" in out.stderr, out.stderr
    assert (where / "sourdine.db").read_bytes() == before
    with pytest.raises(store.NewerDatabase):
        store.open_db(where / "sourdine.db")


@pytest.mark.parametrize("target", ["missing/dir/x.json", "."])
def test_export_to_a_place_that_cannot_be_written_says_so(sourdine, tmp_path, target):
    """`sourdine export -o` into a folder that does not exist, or onto a folder: one line, exit 1."""
    out = subprocess.run([str(SOURDINE), "export", "--home", str(sourdine.home), "-o", str(tmp_path / target)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "cannot write" in out.stderr and "Traceback" not in out.stderr, out.stderr


@pytest.mark.parametrize("offer", [
    {"path": "/api/v1/connections/mastodon/12%2F34", "decision": "allow", "author_id": "12/34"},
    {"path": "/api/v1/connections/mastodon/12/34", "decision": "allow"},  # a Sourdine from before author_id
])
def test_feedback_names_the_author_offered_whole(offer, monkeypatch, capsys):
    """"Fine" on a toxic connection's post prints the command that allows its author, with the whole id (a review
    found the id read from the path's last "/", and then an older Sourdine's offer making the command crash)."""
    calls = []
    monkeypatch.setattr(cli, "call_api", lambda *a, **k: calls.append(a) or {"feedback": "fine", "offer": offer})
    assert cli.main(["feedback", "fine", "mastodon", "109"]) == 0
    assert "sourdine connections allow mastodon 12/34" in capsys.readouterr().out
    assert calls[0][2] == "/api/v1/decisions/mastodon/109/feedback"


@pytest.mark.parametrize(("fmt", "limit", "said"), [
    ("mastodon-csv", 20, "an import file in this format has at most 20 MB"),
    ("sourdine", 128, "an import file in Sourdine's format has at most 128 MB (about 1.2 million entries)")])
def test_an_import_file_past_its_bound_is_refused_unread(fmt, limit, said, tmp_path, monkeypatch, capsys):
    """A file past its bound is refused having read the bound and a byte of it, not the whole (a review's /dev/zero
    ran the machine out of memory): here a sparse file larger than it, every read of which is recorded."""
    import builtins

    from sourdine import cli_sync

    big = tmp_path / "big.csv"
    with big.open("wb") as f:
        f.truncate((limit + 44) * 1024**2)
    reads = []

    class Recorded:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def read(self, size=-1):
            data = self.f.read(size)
            reads.append(len(data))
            return data

    monkeypatch.setattr(cli_sync, "open", lambda *a, **k: Recorded(builtins.open(*a, **k)),  # noqa: SIM115 - closed by Recorded
                        raising=False)
    monkeypatch.setattr(cli, "call_api", lambda *a, **k: pytest.fail("nothing is sent"))
    assert cli.main(["import", str(big), "--format", fmt]) == 1
    assert said in capsys.readouterr().err
    assert reads == [limit * 1024**2 + 1]


def test_a_sourdine_export_past_20_mb_imports_back_in_batches_the_api_takes(tmp_path, monkeypatch, capsys):
    """Sourdine's export of a list past some 196,000 entries (or fewer, with notes) is larger than the 20 MB the
    other formats keep: it could not be imported back (a review's finding). It is read, and sent in requests of at
    most a few MB each."""
    from datetime import UTC, datetime

    from sourdine import lists
    from sourdine.sync import formats

    now = datetime.now(UTC)
    entries = [lists.parse_mute({"kind": "keyword", "text": f"mot{i}", "note": f"{i:05} " + "n" * 15_000}, now)
               for i in range(1_450)]
    export = tmp_path / "export.json"
    export.write_bytes(formats.write("sourdine", entries, "mute", now).body)
    assert export.stat().st_size > 20 * 1024**2
    listed, sizes = {}, []

    def api(home, method, path, body=None, data=None, **kwargs):
        sizes.append(len(data))
        plan = formats.plan(formats.read("sourdine", data, "mute"), "mute", dict(listed), datetime.now(UTC))
        listed.update(plan.write)
        return plan.report()

    monkeypatch.setattr(cli, "call_api", api)
    assert cli.main(["import", str(export), "--format", "sourdine"]) == 0
    assert "Imported 1450, unchanged 0, 0 duplicates, 0 errors" in capsys.readouterr().out
    assert listed == {e.key: e for e in entries} and max(sizes) <= 5 * 1024**2


@pytest.mark.parametrize(("argv", "sent"), [
    (["mutes", "add", "--hide", "zebra"], ("POST", "/api/v1/mutes", {"kind": "keyword", "text": "zebra",
                                                                       "action": "hide"})),
    (["mutes", "add", "--log-level", "INFO", "--hide", "--", "-x"], ("POST", "/api/v1/mutes",
                                                                    {"kind": "keyword", "text": "-x",
                                                                     "action": "hide"})),
    (["connections", "mute", "--log-level", "INFO", "mastodon", "12"], ("POST", "/api/v1/connections/mastodon/12",
                                                                        {"decision": "mute"})),
])
def test_options_may_come_before_a_commands_values(argv, sent, monkeypatch):
    """`sourdine mutes add --hide zebra` was refused ("unrecognized arguments: zebra", a review found): argparse
    takes the positionals before the first option only. The values are taken wherever they come, and after
    "--" whatever they look like."""
    calls = []
    monkeypatch.setattr(cli, "call_api", lambda *a, **k: calls.append(a[1:]) or {"key": "keyword:x"})
    assert cli.main(argv) == 0
    assert calls == [sent]


def test_a_word_left_over_after_a_commands_values_is_still_refused(monkeypatch, capsys):
    monkeypatch.setattr(cli, "call_api", lambda *a, **k: pytest.fail("nothing is sent"))
    with pytest.raises(SystemExit) as exit_:
        cli.main(["mutes", "add", "--hide", "zebra", "extra"])
    assert exit_.value.code == 2 and "unexpected argument: extra" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        cli.main(["mutes", "add", "--bogus", "zebra"])
    assert exit_.value.code == 2 and "unrecognized arguments: --bogus" in capsys.readouterr().err


# Each command with each of its actions, given every value it takes: one word more is one too many.
EVERY_COMMAND = {
    "run": [["run"], ["run", "--proxy-port", "0"]], "status": [["status"]], "pair": [["pair", "--wait", "0"]],
    "clients": [["clients", "list"], ["clients", "revoke", "abc"], ["clients", "list", "--log-level", "INFO"]],
    "mutes": [["mutes", a, "honte"] for a in ("add", "remove", "list")] + [["mutes", "add", "--hide", "honte"]],
    "allow": [["allow", a, "honte"] for a in ("add", "remove", "list")],
    "connections": [["connections"], ["connections", "--log-level", "INFO"]] + [
        ["connections", a, "mastodon", "12"] for a in ("mute", "allow", "dismiss")],
    "stats": [["stats"]], "feedback": [["feedback", "fine", "mastodon", "1"]],
    "forget": [["forget", "mastodon", "12"]], "purge": [["purge", "--yes"]], "score": [["score", "a text"]],
    "ca": [["ca"], ["ca", "show"], ["ca", "rotate", "--yes"]], "doctor": [["doctor"]],
    "export": [["export"]], "import": [["import", "file.csv", "--format", "mastodon-csv"]],
    "peers": [["peers", "add"], ["peers", "add", "--wait", "0"], ["peers", "list"], ["peers", "accept", "CODE"],
              ["peers", "remove", "abc"]],
    "sync": [["sync"], ["sync", "--pause"]],
}


@pytest.mark.parametrize("argv", [argv for argvs in EVERY_COMMAND.values() for argv in argvs], ids=" ".join)
def test_every_command_refuses_a_word_it_does_not_take(argv, monkeypatch, capsys):
    """`sourdine peers add --wait 0 stray` paired as if "stray" were not there (a review's finding): the optional
    value the other actions take was set, and ignored. Every command, with every action, refuses a word it does
    not take, before doing anything."""
    monkeypatch.setattr(cli, "call_api", lambda *a, **k: pytest.fail("nothing is sent"))
    monkeypatch.setattr(cli.cli_score, "score", lambda *a: pytest.fail("nothing is scored"))
    with pytest.raises(SystemExit) as exit_:
        cli.main([*argv, "stray"])
    said = capsys.readouterr().err
    # Where the word may be the command's action (`ca stray`, `connections stray`), it is not one of them.
    assert exit_.value.code == 2 and ("unexpected argument: stray" in said or "invalid choice: 'stray'" in said)


def test_every_command_is_checked_for_words_it_does_not_take():
    assert set(EVERY_COMMAND) == set(subcommands())


@pytest.mark.parametrize("argv", [["pair"], ["peers", "add"]])
@pytest.mark.parametrize("wait", ["-5", "nan", "soon"])
def test_a_wait_that_is_not_0_seconds_or_more_is_refused(argv, wait, monkeypatch, capsys):
    """`--wait -5` issued a code and said at once that it had expired (a review's finding)."""
    monkeypatch.setattr(cli, "call_api", lambda *a, **k: pytest.fail("no code is issued"))
    with pytest.raises(SystemExit) as exit_:
        cli.main([*argv, "--wait", wait])
    said = capsys.readouterr().err
    assert exit_.value.code == 2 and "argument --wait:" in said
    assert (f"not a number of seconds: {wait!r}" if wait == "soon" else f"a wait is 0 seconds or more, not {wait}") \
        in said


@pytest.mark.parametrize("argv", [["doctor"], ["run", "--proxy-port", "0"], ["status"], ["mutes", "list"]])
def test_a_home_that_is_a_file_is_said_to_be_a_file(argv, tmp_path, monkeypatch, capsys):
    """`sourdine doctor --home FILE` said the home did not exist, `run` "cannot use it: File exists": the commands
    say it is a file, not a folder, and do nothing else."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    monkeypatch.setattr(cli, "call_api", lambda *a, **k: pytest.fail("nothing is sent"))
    monkeypatch.setattr(cli.cli_ca, "doctor", lambda *a: pytest.fail("nothing is checked"))
    assert cli.main([*argv, "--home", str(afile)]) == 1
    assert capsys.readouterr().err == (f"sourdine: {afile} is a file, not a folder: Sourdine's home (--home) must be "
                                       "a folder, which is created if it does not exist\n")
    from sourdine import cli_ca

    assert cli_ca.check_permissions(afile)[0].line().startswith(f"FAIL  home {afile} is a file, not a folder")


def test_notes_are_listed_on_one_line_with_their_control_characters_escaped(monkeypatch, capsys):
    """An imported note holding a newline or a terminal escape printed as it was: a forged line in the list, a
    title change (a review's finding). `mutes list` escapes control characters."""
    entry = {"key": "keyword:calm", "action": "collapse",
             "note": "ok\nkeyword:forged  action=hide\x1b]0;pwned\x07\x1b[31mRED"}
    monkeypatch.setattr(cli, "call_api", lambda *a, **k: {"mutes": [entry]})
    assert cli.main(["mutes", "list", "calm"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "\x1b" not in out and "\x07" not in out
    assert out.startswith("keyword:calm  action=collapse  note=ok\\nkeyword:forged")


def test_import_into_an_older_running_sourdine_says_to_restart_it(tmp_path, monkeypatch, capsys):
    """A Sourdine started before `keep` refuses every entry that carries it: the command says to restart it, and
    that nothing of that batch went in, instead of listing every line as an error."""
    words = tmp_path / "words.json"
    words.write_text(json.dumps({"items": [{"value": "honte"}, {"value": "rage"}]}))
    old = {"imported": 0, "unchanged": 0,
           "errors": [{"line": n, "error": "keep: unknown field for a keyword entry"} for n in (2, 3)]}
    monkeypatch.setattr(cli, "call_api", lambda *a, **k: old)
    assert cli.main(["import", str(words), "--format", "bluesky"]) == 1
    err = capsys.readouterr().err
    assert "older than this command: restart it (sourdine run)" in err and "keep:" not in err
    # A Sourdine file whose entries name `keep` only here and there: what went in is counted, the rest reported.
    partly = {"imported": 1, "unchanged": 0,
              "errors": [{"line": 3, "error": "keep: unknown field for a keyword entry"}]}
    monkeypatch.setattr(cli, "call_api", lambda *a, **k: partly)
    mine = tmp_path / "mine.json"
    mine.write_text('{"sourdine": 1, "entries": [\n{"kind": "keyword", "text": "honte"},\n'
                    '{"kind": "keyword", "text": "rage", "keep": ["note"]}\n]}')
    assert cli.main(["import", str(mine), "--format", "sourdine"]) == 0
    out = capsys.readouterr()
    assert "Imported 1, unchanged 0, 0 duplicates, 1 errors" in out.out and f"{mine}:3: keep: unknown field" in out.err


def test_an_import_counts_duplicates_across_its_batches(tmp_path, monkeypatch, capsys):
    """Rows naming one entry far apart in a file go in the same batch, so that the API lets the last win and counts
    the others as duplicates: the summary adds up to the rows, whatever the batches."""
    from datetime import UTC, datetime

    from sourdine import cli_sync
    from sourdine.sync import formats

    listed = {}

    def api(home, method, path, body=None, data=None, **kwargs):  # the running instance, as far as imports go
        plan = formats.plan(formats.read("sourdine", data, "mute"), "mute", dict(listed), datetime.now(UTC))
        listed.update(plan.write)
        return plan.report()

    monkeypatch.setattr(cli, "call_api", api)
    monkeypatch.setattr(cli_sync, "BATCH", 2)
    words = ["honte", "rage", "calme", "Honte ", "colère", "RAGE", "honte"]
    mine = tmp_path / "mine.json"
    mine.write_text('{"sourdine": 1, "entries": [\n' + ",\n".join(
        json.dumps({"kind": "keyword", "text": w, "note": str(i)}) for i, w in enumerate(words)) + "\n]}")
    assert cli.main(["import", str(mine), "--format", "sourdine"]) == 0
    assert "Imported 4, unchanged 0, 3 duplicates, 0 errors" in capsys.readouterr().out
    assert listed["keyword:honte"].note == "6" and listed["keyword:rage"].note == "5"


@pytest.mark.parametrize("rows", [
    [{"kind": "account", "platform": "x", "id": "007"}, {"kind": "keyword", "text": "a"},
     {"kind": "keyword", "text": "b"}, {"kind": "account", "platform": "x", "id": "7", "action": "hide"}],
    [{"kind": "keyword", "text": "\uff48\uff4f\uff4e\uff54\uff45"}, {"kind": "keyword", "text": "a"},
     {"kind": "keyword", "text": "b"}, {"kind": "keyword", "text": "honte", "note": "x"}],
], ids=["x-id-with-zeros", "fullwidth-keyword"])
def test_rows_that_spell_one_entry_two_ways_go_in_one_batch(tmp_path, monkeypatch, capsys, rows):
    """An X id with leading zeros and without, a keyword in fullwidth letters and in plain ones: the API gives
    each pair one key, so the CLI groups them by that key, and the summary counts the duplicate (a review found
    them apart in two batches: "Imported 4, 0 duplicates")."""
    from datetime import UTC, datetime

    from sourdine import cli_sync
    from sourdine.sync import formats

    listed = {}

    def api(home, method, path, body=None, data=None, **kwargs):
        plan = formats.plan(formats.read("sourdine", data, "mute"), "mute", dict(listed), datetime.now(UTC))
        listed.update(plan.write)
        return plan.report()

    monkeypatch.setattr(cli, "call_api", api)
    monkeypatch.setattr(cli_sync, "BATCH", 2)
    mine = tmp_path / "mine.json"
    mine.write_text('{"sourdine": 1, "entries": [\n' + ",\n".join(json.dumps(r) for r in rows) + "\n]}")
    assert cli.main(["import", str(mine), "--format", "sourdine"]) == 0
    assert "Imported 3, unchanged 0, 1 duplicates, 0 errors" in capsys.readouterr().out
    assert len(listed) == 3


def test_an_entry_too_large_for_a_request_is_its_lines_error(tmp_path, monkeypatch, capsys):
    """A row whose JSON alone is past the CLI's batch bound is not sent (the API would refuse the whole request,
    and the import would stop there): it is reported on its own line, and the rows around it go in."""
    from sourdine import cli_sync

    sent: list[list[str]] = []

    def api(home, method, path, body=None, data=None, **kwargs):
        entries = json.loads(data)["entries"]
        sent.append([e["text"] for e in entries])
        return {"imported": len(entries), "unchanged": 0, "duplicates": 0, "errors": []}

    monkeypatch.setattr(cli, "call_api", api)
    monkeypatch.setattr(cli_sync, "BATCH_BYTES", 200)
    rows = [{"kind": "keyword", "text": "a"}, {"kind": "keyword", "text": "b", "note": "n" * 300},
            {"kind": "keyword", "text": "c"}]
    mine = tmp_path / "mine.json"
    mine.write_text('{"sourdine": 1, "entries": [\n' + ",\n".join(json.dumps(r) for r in rows) + "\n]}")
    assert cli.main(["import", str(mine), "--format", "sourdine"]) == 0
    out, err = capsys.readouterr()
    assert [text for batch in sent for text in batch] == ["a", "c"], sent
    assert f"{mine}:3: this entry is too large to import (past 0 MB)" in err, err
    assert "Imported 2, unchanged 0, 0 duplicates, 1 errors" in out, out


def test_an_import_stopped_midway_says_which_rows_went_in(tmp_path, monkeypatch, capsys):
    """A batch refused after others went in says where to go on from, counting the rows of later lines that went
    earlier with a row naming the same entry."""
    from sourdine import cli_sync

    answers = iter([{"imported": 2, "unchanged": 0, "duplicates": 1, "errors": []}])

    def api(*a, **k):
        try:
            return next(answers)
        except StopIteration:
            raise cli.CommandError("the running instance did not answer: timed out") from None

    monkeypatch.setattr(cli, "call_api", api)
    monkeypatch.setattr(cli_sync, "BATCH", 2)
    words = tmp_path / "words.csv"
    words.write_text("a@example.org\nb@example.org\nc@example.org\nA@example.org\n")
    assert cli.main(["import", str(words), "--format", "mastodon-blocks-csv"]) == 1
    assert capsys.readouterr().err == (
        "sourdine: the running instance did not answer: timed out; 2 entries were imported and 0 unchanged from "
        "the lines before 2, none from line 2 on, but for 1 rows that name the same entry as an earlier row\n")


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every request: with a redirect to `server.target` when it has one, else 200 `{}`; records what each
    request carried (its method, path, Authorization header and body)."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.seen.append((self.command, self.path, self.headers.get("Authorization"),
                                 self.rfile.read(length) if length else b""))
        if self.server.target:
            self.send_response(self.server.code)
            self.send_header("Location", f"{self.server.target}{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b'{"peer": {"name": "x", "id": "y"}, "state": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _answer  # noqa: N815 (http.server's names)

    def log_message(self, format, *args):  # noqa: A002 (http.server's name)
        pass


@pytest.fixture
def two_servers():
    """Two real HTTP servers on 127.0.0.1: `first` redirects everything to `second`, which records and answers."""
    servers = []
    for _ in range(2):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
        server.seen, server.target, server.code = [], None, 302
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
    first, second = servers
    first.target = f"http://127.0.0.1:{second.server_address[1]}"
    yield first, second
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("argv", [["status"], ["peers", "accept", "1234-abcd-efgh-jkmn"]])
def test_a_redirect_from_what_answers_on_the_api_port_is_not_followed(two_servers, tmp_path, capsys, code, argv):
    """When what answers on run.json's API port is not Sourdine and redirects (a stale run.json, the port taken
    by another program), the CLI follows no redirect: the server redirected to gets no request at all, so
    neither the local token (Authorization) nor a pairing code reaches it, and the command says in one line that a
    redirect came back (exit 1). urllib's default redirect handler sent the request on, token included."""
    first, second = two_servers
    first.code = code
    token = "t0ken-that-must-stay-here"
    (tmp_path / "token").write_text(token + "\n")
    home.write_run_info(tmp_path, {"pid": os.getpid(), "api": ["127.0.0.1", first.server_address[1]]})
    exit_code = cli.main([*argv, "--home", str(tmp_path)])
    assert len(first.seen) == 1 and first.seen[0][2] == f"Bearer {token}"  # the CLI did call run.json's port
    assert second.seen == []
    err = capsys.readouterr().err
    assert exit_code == 1 and err.count("\n") == 1, err
    assert f"answered with a redirect (HTTP {code}): not Sourdine?" in err and token not in err, err
