"""Import and export files: Mastodon's real CSV files, Bluesky's muted words and list subjects (checked against the
published lexicons), Sourdine's JSON; a round trip per format; malformed rows reported with their line."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from conftest import DATA
from lexicon_check import Lexicons
from sourdine import lists
from sourdine.sync import formats

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def imported(fmt: str, data: bytes, list_name: str = "mute") -> tuple[dict[str, dict], list[tuple[int, str]]]:
    plan = formats.plan(formats.read(fmt, data, list_name), list_name, {}, NOW)
    return {key: entry.to_dict() for key, entry in plan.write.items()}, sorted(plan.errors)


def test_mastodon_muted_accounts_export_reads_with_hide_notifications_as_hide():
    """A muted-accounts file as Mastodon exports it: true means hide, false collapse."""
    entries, errors = imported("mastodon-csv", (DATA / "mastodon" / "mutes_export.handmade.csv").read_bytes())
    assert errors == []
    assert entries == {
        "account:mastodon:troll@example.social": {"kind": "account", "platform": "mastodon",
                                                  "handle": "troll@example.social", "action": "hide"},
        "account:mastodon:grump@example.org": {"kind": "account", "platform": "mastodon",
                                               "handle": "grump@example.org", "action": "collapse"},
    }


@pytest.mark.parametrize("name, fmt, action", [("mutes_import_local.handmade.csv", "mastodon-csv", "collapse"),
                                               ("blocks_import.handmade.csv", "mastodon-blocks-csv", "hide")])
def test_a_local_account_without_instance_is_reported_with_its_line(name, fmt, action):
    """A local account without its instance (`alice`) is reported at line 2, line 3 goes in (blocks as hide
    mutes)."""
    entries, errors = imported(fmt, (DATA / "mastodon" / name).read_bytes())
    assert [line for line, _ in errors] == [2] and "user@instance" in errors[0][1]
    assert list(entries) == ["account:mastodon:mallory@example.net"]
    assert entries["account:mastodon:mallory@example.net"]["action"] == action


def test_headerless_blocks_and_bad_rows_keep_their_line_numbers():
    """Old exports have no header; a bad flag, a bad address and a broken quote are each one error."""
    data = b'a@one.example\n\n"bad address\xc3\xa9 @@",x\nb@two.example,true\n'
    entries, errors = imported("mastodon-blocks-csv", data)
    assert sorted(entries) == ["account:mastodon:a@one.example", "account:mastodon:b@two.example"]
    assert [line for line, _ in errors] == [3]
    entries, errors = imported("mastodon-csv", b"Account address,Hide notifications\na@one.example,maybe\n"
                                               b"b@two.example,false\n")
    assert list(entries) == ["account:mastodon:b@two.example"] and errors[0][0] == 2


def test_a_quote_left_open_is_said_once_without_the_rest_of_the_file():
    """An unclosed quote swallows the lines after it (as any CSV reader reads them): one error at its line saying so,
    not the rest of the file quoted back as one bad address (a review)."""
    data = (b"Account address,Hide notifications\na@one.example,false\n\"b@two.example,true\n"
            + b"carol@three.example,false\n" * 1000)
    entries, errors = imported("mastodon-csv", data)
    assert list(entries) == ["account:mastodon:a@one.example"]
    assert [line for line, _ in errors] == [3] and "never closed" in errors[0][1] and len(errors[0][1]) < 200
    entries, errors = imported("sourdine", b'{"sourdine": 1, "entries": [\n{"kind": "account", "platform": "x", '
                                           b'"handle": "' + b"x" * 100_000 + b'"}\n]}')
    assert entries == {} and [line for line, _ in errors] == [2] and len(errors[0][1]) == 300


def test_blocks_only_go_to_the_mute_list_and_bad_files_are_refused_whole():
    with pytest.raises(ValueError, match="mute list"):
        formats.read("mastodon-blocks-csv", b"a@b.example\n", "allow")
    with pytest.raises(ValueError, match="UTF-8"):
        formats.read("mastodon-csv", b"\xff\xfe", "mute")
    with pytest.raises(ValueError, match="line 2"):
        formats.read("sourdine", b'{"sourdine": 1,\n "entries": [}', "mute")


def test_a_file_that_is_not_the_one_for_the_mute_list_is_refused_whole():
    """Mastodon's following export shares the muted-accounts file's first column: into the mute list it would mute
    everyone followed ("Show boosts" read as "Hide notifications"); an export of the allow list would mute those
    allowed; a deeply nested file is not valid JSON (a review found the first two imported without a word and the
    third a 500)."""
    following = b"Account address,Show boosts,Notify on new posts,Languages\nfriend@example.org,true,false,\n"
    with pytest.raises(ValueError, match="line 1: the columns are Account address, Show boosts"):
        formats.read("mastodon-csv", following, "mute")
    with pytest.raises(ValueError, match="blocked accounts export"):
        formats.read("mastodon-blocks-csv", following, "mute")
    entries, errors = imported("mastodon-csv", following, "allow")  # into the allow list: the accounts followed
    assert list(entries) == ["account:mastodon:friend@example.org"] and errors == []
    allowed = formats.write("sourdine", [lists.parse_allow({"kind": "account", "platform": "mastodon",
                                                             "handle": "friend@example.org"}, NOW)], "allow", NOW)
    with pytest.raises(ValueError, match="export of the 'allow' list, not of 'mutes'"):
        formats.read("sourdine", allowed.body, "mute")
    assert imported("sourdine", allowed.body, "allow")[0]
    for name in ("mute", "mutes"):  # the list's name as the export writes it, or as a person might
        assert imported("sourdine", b'{"sourdine": 1, "list": "%s", "entries": [{"kind": "keyword", "text": "honte"}]}'
                        % name.encode())[0]
    with pytest.raises(ValueError, match="nested too deeply"):
        formats.read("sourdine", b'{"sourdine": 1, "entries": ' + b"[" * 100_000, "mute")


def test_an_entry_no_store_can_hold_is_one_error_at_its_line():
    """A lone surrogate in a note is that line's error and the rest goes in (a review found the whole file refused
    with the codec's message, and from the command, half of a long file imported without a word)."""
    body = (b'{"sourdine": 1, "entries": [\n{"kind": "keyword", "text": "honte"},\n'
            b'{"kind": "keyword", "text": "rage", "note": "\\ud800"},\n{"kind": "keyword", "text": "colere"}\n]}')
    entries, errors = imported("sourdine", body)
    assert sorted(entries) == ["keyword:colere", "keyword:honte"]
    assert [line for line, _ in errors] == [3] and "lone surrogate" in errors[0][1]


MUTED_WORDS = b"""{
  "preferences": [
    {"$type": "app.bsky.actor.defs#adultContentPref", "enabled": false},
    {"$type": "app.bsky.actor.defs#mutedWordsPref", "items": [
      {"id": "3l6z", "value": "honte", "targets": ["content", "tag"], "actorTarget": "all"},
      {"id": "3l70", "value": "StopTheCount", "targets": ["tag"], "actorTarget": "exclude-following",
       "expiresAt": "2027-01-01T00:00:00.000Z"},
      {"id": "3l71", "value": "!!!", "targets": ["content"]},
      {"id": "3l72", "value": "rage bait", "targets": ["content"], "expiresAt": "2020-01-01T00:00:00.000Z"}
    ]}
  ]
}"""


def test_bluesky_muted_words_from_preferences():
    """getPreferences' mutedWordsPref: words become keywords with their expiry; a word with no letter and an
    expired one are reported on their own lines."""
    lex = Lexicons(DATA / "bluesky" / "lexicons")
    pref = json.loads(MUTED_WORDS)["preferences"][1]
    found: list[str] = []
    lex._ref("app.bsky.actor.defs#mutedWordsPref", pref, "$", found)
    assert found == []  # the sample is a valid mutedWordsPref
    entries, errors = imported("bluesky", MUTED_WORDS)
    assert entries == {"keyword:honte": {"kind": "keyword", "text": "honte", "action": "collapse"},
                       "keyword:stopthecount": {"kind": "keyword", "text": "stopthecount", "action": "collapse",
                                                "expires": "2027-01-01T00:00:00+00:00"}}
    assert [line for line, _ in errors] == [8, 9]
    # Muted in tags only, and for accounts not followed only: Sourdine mutes it more broadly, and says so.
    warnings = formats.read("bluesky", MUTED_WORDS, "mute").warnings
    assert [line for line, _ in warnings] == [6]
    assert "tags only" in warnings[0][1] and "do not follow" in warnings[0][1]
    report = formats.plan(formats.read("bluesky", MUTED_WORDS, "mute"), "mute", {}, NOW).report()
    assert report["warnings"] == [{"line": 6, "warning": warnings[0][1]}]


def test_one_malformed_bluesky_word_is_one_error_and_the_rest_go_in():
    """An item without its value among muted words is that row's error: it made every word of the file an error,
    read as list subjects (a review's finding). A bare string among them is an error too, not an account."""
    doc = b'{"items": [\n{"value": "apple"},\n{"value": "banana"},\n{"valeu": "cherry"},\n"foo.bsky.social"\n]}'
    entries, errors = imported("bluesky", doc)
    assert list(entries) == ["keyword:apple", "keyword:banana"]
    assert [line for line, _ in errors] == [4, 5] and all("muted word" in e for _, e in errors)


def test_bluesky_moderation_list_subjects():
    """getList's items: each subject is a Bluesky account, by DID."""
    doc = {"list": {"uri": "at://did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/app.bsky.graph.list/3k", "name": "trolls"},
           "items": [{"uri": "at://x/app.bsky.graph.listitem/1",
                      "subject": {"did": "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb", "handle": "troll.bsky.social"}},
                     {"uri": "at://x/app.bsky.graph.listitem/2", "subject": {"did": "not a did"}}]}
    entries, errors = imported("bluesky", json.dumps(doc, indent=1).encode())
    assert list(entries) == ["account:bluesky:did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"]
    assert len(errors) == 1 and errors[0][0] > 1


def _sample_entries(fmt: str) -> list[lists.Entry]:
    later = (NOW + timedelta(days=30)).isoformat()
    data = {
        "mastodon-csv": [{"kind": "account", "platform": "mastodon", "handle": "troll@mastodon.social",
                          "action": "hide"},
                         {"kind": "account", "platform": "mastodon", "handle": "grump@piaille.fr"}],
        "bluesky": [{"kind": "keyword", "text": "Écœurant"}, {"kind": "keyword", "text": "stop the count",
                                                            "expires": later},
                    {"kind": "account", "platform": "bluesky", "handle": "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"},
                    {"kind": "account", "platform": "bluesky", "handle": "troll.bsky.social"}],
        "sourdine": [{"kind": "keyword", "text": "honte", "action": "hide", "note": "n", "platforms": ["x"]},
                     {"kind": "keyword", "text": "r[a4]ge", "regex": True, "expires": later},
                     {"kind": "person", "id": "Troll", "accounts": [
                         {"platform": "x", "handle": "troll"}, {"platform": "x", "id": "123"},
                         {"platform": "mastodon", "handle": "troll@mastodon.social"}]},
                     {"kind": "account", "platform": "x", "id": "42"}],
    }[fmt]
    return [lists.parse_mute(d, NOW) for d in data]


@pytest.mark.parametrize("fmt", formats.EXPORT_FORMATS)
def test_round_trip(fmt):
    """What a format can hold comes back equal from its own export."""
    entries = _sample_entries(fmt)
    out = formats.write(fmt, entries, "mute", NOW)
    assert out.skipped == 0
    back, errors = imported(fmt, out.body)
    assert errors == []
    assert back == {e.key: e.to_dict() for e in entries}
    # And once more: the export of what was imported is the same file (bar the export time).
    again = formats.write(fmt, [lists.parse_mute(d, NOW) for d in back.values()], "mute", NOW)
    assert again.body == out.body


def test_exports_say_what_a_format_cannot_hold():
    """Keywords do not go into Mastodon's CSV, nor regexes and X accounts into Bluesky's file."""
    entries = _sample_entries("sourdine")
    assert formats.write("mastodon-csv", entries, "mute", NOW).skipped == 4
    out = formats.write("bluesky", entries, "mute", NOW)
    assert out.skipped == 3
    lex = Lexicons(DATA / "bluesky" / "lexicons")
    found: list[str] = []
    lex._ref("app.bsky.actor.defs#mutedWordsPref", json.loads(out.body)["preferences"][0], "$", found)
    assert found == []


def test_sourdine_json_reports_each_bad_entry_by_line():
    out = formats.write("sourdine", _sample_entries("sourdine"), "mute", NOW).body.decode().split("\n")
    out[2] = '{"kind": "keyword", "text": "(", "regex": true},'
    out[3] = '"not an object",'
    entries, errors = imported("sourdine", "\n".join(out).encode())
    assert [line for line, _ in errors] == [3, 4]
    assert sorted(entries) == ["account:x:id:42", "keyword:honte"]


def test_reimport_counts_unchanged_entries():
    entries = _sample_entries("sourdine")
    body = formats.write("sourdine", entries, "mute", NOW).body
    plan = formats.plan(formats.read("sourdine", body, "mute"), "mute", {e.key: e for e in entries[:2]}, NOW)
    assert plan.report()["unchanged"] == 2 and sorted(plan.write) == sorted(e.key for e in entries[2:])



def test_an_entry_already_listed_keeps_what_the_format_cannot_say():
    """Re-importing Mastodon's CSV or Bluesky's file keeps an entry's note, scope, expiry and action where the
    format cannot hold them (a review found them wiped, and a temporary mute made permanent); what the format does
    say wins; a re-import of the same file is all unchanged."""
    later = (NOW + timedelta(days=30)).isoformat()
    zed = lists.parse_mute({"kind": "account", "platform": "mastodon", "handle": "zed@example.org", "action": "hide",
                            "note": "my troll", "expires": later, "platforms": ["mastodon"]}, NOW)
    honte = lists.parse_mute({"kind": "keyword", "text": "honte", "action": "hide", "platforms": ["x"],
                              "expires": later}, NOW)
    did = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"
    troll = lists.parse_mute({"kind": "account", "platform": "bluesky", "handle": did, "action": "hide",
                              "note": "n", "expires": later}, NOW)
    existing = {e.key: e for e in (zed, honte, troll)}

    csv = b"Account address,Hide notifications\nzed@example.org,false\n"
    plan = formats.plan(formats.read("mastodon-csv", csv, "mute"), "mute", existing, NOW)
    assert plan.write[zed.key].to_dict() == {**zed.to_dict(), "action": "collapse"}  # the file says collapse
    csv = b"Account address,Hide notifications\nzed@example.org,true\n"
    plan = formats.plan(formats.read("mastodon-csv", csv, "mute"), "mute", existing, NOW)
    assert plan.write == {} and plan.unchanged == 1
    plan = formats.plan(formats.read("mastodon-blocks-csv", b"zed@example.org\n", "mute"), "mute", existing, NOW)
    assert plan.write == {} and plan.unchanged == 1

    # Bluesky's word says its expiry (none: for good), not its action, scope or note.
    words = (b'{"preferences": [{"$type": "app.bsky.actor.defs#mutedWordsPref", "items": ['
             b'{"value": "honte", "targets": ["content"], "actorTarget": "all"}]}]}')
    plan = formats.plan(formats.read("bluesky", words, "mute"), "mute", existing, NOW)
    assert plan.write[honte.key].to_dict() == {k: v for k, v in honte.to_dict().items() if k != "expires"}
    subjects = json.dumps({"subjects": [{"did": did}]}).encode()
    plan = formats.plan(formats.read("bluesky", subjects, "mute"), "mute", existing, NOW)
    assert plan.write == {} and plan.unchanged == 1

    # An entry that has expired keeps nothing: what is imported is new.
    gone = lists.parse_mute({"kind": "account", "platform": "mastodon", "handle": "zed@example.org",
                             "action": "hide", "note": "old", "expires": (NOW + timedelta(minutes=1)).isoformat()},
                            NOW)
    plan = formats.plan(formats.read("mastodon-csv", csv, "mute"), "mute", {gone.key: gone}, NOW + timedelta(hours=1))
    assert plan.write[zed.key].to_dict() == {"kind": "account", "platform": "mastodon", "handle": "zed@example.org",
                                             "action": "hide"}


def test_sourdine_json_says_every_field_unless_an_entry_keeps_some():
    """In Sourdine's own format a field left out is its default (a note removed in the file is removed), and
    `keep` names the fields an entry already listed keeps (as `sourdine import` sends the other formats' entries);
    a malformed `keep` is that line's error."""
    zed = lists.parse_mute({"kind": "account", "platform": "mastodon", "handle": "zed@example.org", "action": "hide",
                            "note": "my troll", "platforms": ["mastodon"]}, NOW)
    body = (b'{"sourdine": 1, "entries": [\n'
            b'{"kind": "account", "platform": "mastodon", "handle": "zed@example.org", "action": "hide"},\n'
            b'{"kind": "keyword", "text": "honte", "keep": "note"},\n'
            b'{"kind": "keyword", "text": "rage", "keep": ["note", "handle"]}\n]}')
    plan = formats.plan(formats.read("sourdine", body, "mute"), "mute", {zed.key: zed}, NOW)
    assert plan.write[zed.key].to_dict() == {"kind": "account", "platform": "mastodon", "handle": "zed@example.org",
                                             "action": "hide"}
    assert [line for line, _ in plan.errors] == [3, 4] and all("keep:" in m for _, m in plan.errors)
    body = (b'{"sourdine": 1, "entries": [\n{"kind": "account", "platform": "mastodon", '
            b'"handle": "zed@example.org", "keep": ["note", "platforms", "action"]}\n]}')
    plan = formats.plan(formats.read("sourdine", body, "mute"), "mute", {zed.key: zed}, NOW)
    assert plan.write == {} and plan.unchanged == 1


def test_warnings_only_for_words_taken_and_worded_for_the_list():
    """A word refused (no letter, already expired) has its error and no warning; into the allow list, the warning
    says "allowed" (a review found both wrong)."""
    words = json.dumps({"items": [
        {"value": "!!!", "targets": ["tag"]},
        {"value": "old", "targets": ["tag"], "expiresAt": "2020-01-01T00:00:00Z"},
        {"value": "honte", "targets": ["tag"], "actorTarget": "exclude-following"},
    ]}, indent=1).encode()
    report = formats.plan(formats.read("bluesky", words, "mute"), "mute", {}, NOW).report()
    assert [e["line"] for e in report["errors"]] == [3, 9]
    assert [w["line"] for w in report["warnings"]] == [16]
    assert "it is muted in posts' text too" in report["warnings"][0]["warning"]
    report = formats.plan(formats.read("bluesky", words, "allow"), "allow", {}, NOW).report()
    assert [w["line"] for w in report["warnings"]] == [16]
    warning = report["warnings"][0]["warning"]
    assert "it is allowed in posts' text too" in warning and "it is allowed in everyone's posts" in warning


@pytest.mark.parametrize("encoding, name", [("utf-16-le", "UTF-16LE"), ("utf-16-be", "UTF-16BE"),
                                            ("utf-16", "UTF-16LE"), ("utf-32-le", "UTF-32LE"),
                                            ("utf-32", "UTF-32LE")])
@pytest.mark.parametrize("fmt", ["mastodon-csv", "sourdine"])
def test_a_file_in_utf_16_or_32_is_refused_whole_and_named(encoding, name, fmt):
    """A Mastodon CSV saved as UTF-16 without its byte order mark read as UTF-8 (a NUL every other byte) made
    every row an error of its own (a review's finding): the file is refused once, its encoding named."""
    text = ("Account address,Hide notifications\ntroll@example.social,true\ngrump@exämple.org,false\n"
            if fmt == "mastodon-csv" else '{"sourdine": 1, "entries": [\n{"kind": "keyword", "text": "rage"}\n]}')
    with pytest.raises(ValueError, match=f"this file is {name} text, not UTF-8: save it as UTF-8"):
        formats.read(fmt, text.encode(encoding), "mute")


def test_a_file_holding_a_nul_byte_is_refused_whole():
    with pytest.raises(ValueError, match=r"holds a NUL byte \(byte 21\)"):
        formats.read("mastodon-csv", b"troll@example.social\n\x00grump@example.org\n", "mute")


def test_rows_naming_an_entry_twice_are_counted_as_duplicates():
    """Each row counts once: a row that a later row of the file names again is a duplicate (the last one wins), so
    that imported, unchanged, duplicates and errors add up to the rows (a review found them left out)."""
    rows = ["Account address,Hide notifications", "troll@example.social,true", "grump@example.org,false",
            "Troll@example.social,false", "calm@example.org,false", "grump@example.org,false", "troll@example.social,"]
    listed = lists.parse_mute({"kind": "account", "platform": "mastodon", "handle": "calm@example.org"}, NOW)
    plan = formats.plan(formats.read("mastodon-csv", "\n".join(rows).encode(), "mute"), "mute",
                        {listed.key: listed}, NOW)
    report = plan.report()
    assert (report["imported"], report["unchanged"], report["duplicates"], report["errors"]) == (2, 1, 3, [])
    assert plan.write["account:mastodon:troll@example.social"].action == "collapse"  # the last row's
