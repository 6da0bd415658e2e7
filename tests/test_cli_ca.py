"""`sourdine ca`, `sourdine ca rotate` and `sourdine doctor`, on real CAs made by mitmproxy's own code and a
real `sourdine run` (conftest's `sourdine` fixture: this module's own instance, 127.0.0.1 as a Mastodon
instance).
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import shlex
import subprocess
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from mitmproxy import certs

from conftest import SOURDINE
from sourdine import cli_ca, home, native
from sourdine.cli import CommandError
from sourdine.platforms import ADAPTERS


def parser() -> argparse.ArgumentParser:
    """A `sourdine`-like parser with only this module's subcommands, as cli.build_parser wires them."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home")
    common.add_argument("--log-level", default="WARNING")
    p = argparse.ArgumentParser(prog="sourdine")
    cli_ca.add_parsers(p.add_subparsers(dest="command", required=True), parents=[common])
    return p


class Terminal(io.StringIO):
    """Typed answers on a terminal."""

    def isatty(self) -> bool:
        return True


def run(*argv: str, stdin: io.StringIO | None = None) -> tuple[int, str]:
    """Run a subcommand in this process; (exit code, stdout). A CommandError propagates."""
    args = parser().parse_args(list(argv))
    out = io.StringIO()
    if args.command == "ca":
        code = args.func(args, stdin=stdin if stdin is not None else io.StringIO(), stdout=out)
    else:
        code = args.func(args, stdout=out)
    return code, out.getvalue()


def make_ca(where: Path) -> Path:
    """A CA made the way `sourdine run` makes it (mitmproxy's CertStore, in the home's confdir)."""
    home.ensure(where)
    home.confdir(where).mkdir(mode=0o700, exist_ok=True)
    certs.CertStore.from_store(home.confdir(where), "mitmproxy", 2048)
    return home.ca_cert(where)


def fingerprints(path: Path) -> tuple[str, str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex(":").upper(), cert.fingerprint(hashes.SHA1()).hex().upper()


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def assert_no_secret(output: str, where: Path) -> None:
    assert "PRIVATE KEY" not in output
    token = where / "token"
    if token.exists():
        assert token.read_text().strip() not in output


# -- sourdine ca ---------------------------------------------------------------------------------------------


def test_ca_before_the_first_run_says_sourdine_run_creates_it(tmp_path):
    """Without a CA, `sourdine ca` fails saying that `sourdine run` creates it, and creates nothing."""
    where = tmp_path / "home"
    with pytest.raises(CommandError, match=r"`sourdine run` creates it on its first start"):
        run("ca", "--home", str(where))
    assert not where.exists()


GUIDE = [
    # (section title, what its trust line holds, what its untrust line holds); {pem} {cer} {sha1} filled in
    ("Firefox", "Authorities > Import...", "Delete or Distrust..."),
    ("Chrome, Chromium, Edge on Linux", '-A -t "C,," -n sourdine -i {pem}', "-D -n sourdine"),
    ("macOS", "add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain {pem}",
     "delete-certificate -Z {sha1} /Library/Keychains/System.keychain"),
    ("Windows", 'certutil -addstore Root "{cer}"', "certutil -delstore Root {sha1}"),
    ("Debian, Ubuntu", "sudo cp {pem} /usr/local/share/ca-certificates/sourdine.crt",
     "sudo rm /usr/local/share/ca-certificates/sourdine.crt && sudo update-ca-certificates --fresh"),
]


def section(output: str, title: str) -> list[str]:
    """The trust and untrust lines under a section title of the guide."""
    lines = output.splitlines()
    [start] = [i for i, line in enumerate(lines) if line.startswith(title)]
    trust = next(line for line in lines[start:] if line.lstrip().startswith("trust:"))
    untrust = next(line for line in lines[start:] if line.lstrip().startswith("untrust:"))
    return [trust, untrust]


@pytest.mark.parametrize(("title", "trust", "untrust"), GUIDE)
def test_ca_shows_the_certificate_and_how_to_trust_and_untrust_it(tmp_path, title, trust, untrust):
    """`sourdine ca` prints the path, SHA-256, SHA-1 and expiry, and each store's trust and untrust steps."""
    where = tmp_path / "home"
    pem = make_ca(where)
    sha256, sha1 = fingerprints(pem)
    code, out = run("ca", "--home", str(where))
    assert code == 0
    not_after = x509.load_pem_x509_certificate(pem.read_bytes()).not_valid_after_utc
    assert f"CA certificate: {pem}\n" in out
    assert f"SHA-256:     {sha256}" in out and f"SHA-1:       {sha1}" in out
    assert f"valid until: {not_after:%Y-%m-%d %H:%M} UTC" in out
    fill = {"pem": str(pem), "cer": str(pem.with_suffix(".cer")), "sha1": sha1}
    trust_line, untrust_line = section(out, title)
    assert trust.format(**fill) in trust_line
    assert untrust.format(**fill) in untrust_line
    assert_no_secret(out, where)


def test_ca_commands_quote_a_path_with_a_space(tmp_path):
    """A home with a space (macOS's "Application Support") gives commands a shell reads as one path."""
    where = tmp_path / "Application Support" / "Sourdine"
    pem = make_ca(where)
    _, out = run("ca", "--home", str(where))
    trust_line, _ = section(out, "macOS")
    assert shlex.split(trust_line.split("trust:", 1)[1])[-1] == str(pem)
    trust_line, _ = section(out, "Debian, Ubuntu")
    assert str(pem) in shlex.split(trust_line.split("trust:", 1)[1])


# -- sourdine ca rotate --------------------------------------------------------------------------------------


def test_rotate_makes_a_new_ca_keeps_the_old_certificate_and_not_its_key(tmp_path):
    """rotate --yes: a new fingerprint that mitmproxy loads, the old cert kept as *.old-<time>, keys 0600."""
    where = tmp_path / "home"
    pem = make_ca(where)
    confdir = home.confdir(where)
    before = snapshot(confdir)
    old_sha256, old_sha1 = fingerprints(pem)

    code, out = run("ca", "rotate", "--yes", "--home", str(where))

    assert code == 0
    new_sha256, _ = fingerprints(pem)
    assert new_sha256 != old_sha256
    assert f"SHA-256:     {new_sha256}" in out and old_sha256 in out
    # What mitmproxy (so `sourdine run`) will sign with is the new CA.
    store = certs.CertStore.from_store(confdir, "mitmproxy", 2048)
    assert store.default_ca.fingerprint().hex(":").upper() == new_sha256
    # The old certificate, and only it, is kept; every key file holds the new key, readable by its owner only.
    [kept] = confdir.glob("*.old-*")
    assert kept.name.startswith("mitmproxy-ca-cert.pem.old-")
    assert kept.read_bytes() == before["mitmproxy-ca-cert.pem"]
    assert str(kept) in out
    for name in cli_ca.KEY_FILES:
        assert (confdir / name).read_bytes() != before[name]
        assert (confdir / name).stat().st_mode & 0o777 == 0o600
    after = snapshot(confdir)
    assert not any(before[name] in data for name in cli_ca.KEY_FILES for data in after.values())
    assert not list(confdir.glob(".rotate-*")), "the staging folder is gone"
    # The untrust steps name the old CA, the trust steps the new one.
    _, untrust_line = section(out, "Windows")
    assert untrust_line.endswith(f"certutil -delstore Root {old_sha1}")
    assert_no_secret(out, where)


def test_rotate_twice_in_the_same_second_keeps_both_old_certificates(tmp_path):
    """Two rotations keep two distinct old certificates, the second never overwriting the first."""
    where = tmp_path / "home"
    make_ca(where)
    now = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    first = cli_ca.rotate_ca(where, now=now)
    second = cli_ca.rotate_ca(where, now=now)
    assert first.kept.name == "mitmproxy-ca-cert.pem.old-20260102T030405Z"
    assert first.kept != second.kept and first.kept.exists() and second.kept.exists()
    assert first.kept.read_bytes() != second.kept.read_bytes()


def test_rotate_without_yes_and_without_a_terminal_refuses(tmp_path):
    """Without --yes and with stdin not a terminal, rotate refuses, points at --yes, and changes nothing."""
    where = tmp_path / "home"
    make_ca(where)
    before = snapshot(home.confdir(where))
    with pytest.raises(CommandError, match="--yes"):
        run("ca", "rotate", "--home", str(where), stdin=io.StringIO("y\n"))
    assert snapshot(home.confdir(where)) == before


@pytest.mark.parametrize(
    ("answer", "rotated"), [("y\n", True), ("yes\n", True), ("n\n", False), ("\n", False)]
)
def test_rotate_asks_on_a_terminal(tmp_path, answer, rotated):
    """On a terminal rotate asks y/N: yes rotates, anything else (Enter included) leaves the CA alone."""
    where = tmp_path / "home"
    make_ca(where)
    before = snapshot(home.confdir(where))
    code, out = run("ca", "rotate", "--home", str(where), stdin=Terminal(answer))
    assert "[y/N]" in out
    assert code == (0 if rotated else 1)
    assert (snapshot(home.confdir(where)) != before) is rotated


def test_rotate_with_no_ca_yet_makes_one_in_a_private_home(tmp_path):
    """rotate on a home without a CA makes one, in a 0700 home, and keeps no old file."""
    where = tmp_path / "new-home"
    code, out = run("ca", "rotate", "--yes", "--home", str(where))
    assert code == 0 and "There was no CA before" in out
    assert where.stat().st_mode & 0o777 == 0o700
    assert home.ca_cert(where).exists()
    assert not list(home.confdir(where).glob("*.old-*"))


def test_rotate_refuses_while_sourdine_runs(sourdine):
    """While `sourdine run` uses the home, rotate refuses (it holds the CA in memory) and changes nothing."""
    confdir = home.confdir(sourdine.home)
    before = snapshot(confdir)
    refusal = rf"running with this home \(pid {sourdine.proc.pid}\).*[Ss]top it"
    with pytest.raises(CommandError, match=refusal):
        run("ca", "rotate", "--yes", "--home", str(sourdine.home))
    assert snapshot(confdir) == before


def test_rotate_stops_before_replacing_anything_if_sourdine_started_meanwhile(tmp_path):
    """The last check before the swap aborts the rotation and leaves every CA file as it was."""
    where = tmp_path / "home"
    make_ca(where)
    before = snapshot(home.confdir(where))

    def started() -> None:
        raise CommandError("Sourdine is running with this home")

    with pytest.raises(CommandError):
        cli_ca.rotate_ca(where, before_swap=started)
    assert snapshot(home.confdir(where)) == before


# -- sourdine doctor -----------------------------------------------------------------------------------------


def api(sourdine, method: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{sourdine.api_port}{path}", method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {sourdine.token()}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def lines(out: str) -> dict[str, list[str]]:
    """Doctor's lines by level. Where this checkout's modules are not compiled (a source edited since the last
    build, say), the doctor's warning about it is left out: the other checks are what these tests are about."""
    by_level: dict[str, list[str]] = {"OK": [], "WARN": [], "FAIL": []}
    for line in out.splitlines():
        level = line.split(" ", 1)[0]
        if level == "WARN" and native.state != "compiled" and "scoring and filtering run as" in line:
            continue
        by_level[level].append(line)
    return by_level


def test_doctor_against_a_running_sourdine_is_all_ok(sourdine):
    """Against a real `sourdine run`: every check OK, ports named, the hostile test post filtered, exit 0."""
    code, out = run("doctor", "--home", str(sourdine.home))
    by_level = lines(out)
    assert code == 0, out
    assert by_level["WARN"] == [] and by_level["FAIL"] == [], out
    assert f"runs (pid {sourdine.proc.pid}): proxy on 127.0.0.1:{sourdine.proxy_port}, " \
           f"API on http://127.0.0.1:{sourdine.api_port}" in out
    assert "the hostile test post came back hidden, the friendly one unchanged" in out
    if native.state == "compiled":
        assert "OK    the running Sourdine's scoring and filtering are compiled (mypyc)" in out
    for label in ("home", "API token", "CA key", "database"):
        assert any(line.startswith(f"OK    {label} ") for line in by_level["OK"]), label
    assert_no_secret(out, sourdine.home)


def test_doctor_lists_the_decrypted_hosts_by_platform(sourdine):
    """The decrypted hosts come one line per platform, with the user's Mastodon instance among Mastodon's."""
    _, out = run("doctor", "--home", str(sourdine.home))
    hosts = {
        line.split("decrypted for ", 1)[1].split(":", 1)[0]: line.split(": ", 1)[1].split(", ")
        for line in out.splitlines() if "decrypted for " in line
    }
    assert set(hosts) == set(ADAPTERS)
    assert "127.0.0.1" in hosts["mastodon"] and "mastodon.social" in hosts["mastodon"]
    assert "*.host.bsky.network" in hosts["bluesky"]
    assert "x.com" in hosts["x"]


def test_doctor_sees_a_fold_and_fails_when_filtering_is_off(sourdine):
    """With hide at 1 the hostile test post comes back folded; with Mastodon off doctor fails, saying why."""
    saved = api(sourdine, "GET", "/api/v1/settings")["platforms"]["mastodon"]
    try:
        api(sourdine, "PATCH", "/api/v1/settings", {"platforms": {"mastodon": {"hide": 1.0}}})
        code, out = run("doctor", "--home", str(sourdine.home))
        assert code == 0 and "the hostile test post came back folded" in out, out
        api(sourdine, "PATCH", "/api/v1/settings", {"platforms": {"mastodon": {"enabled": False}}})
        code, out = run("doctor", "--home", str(sourdine.home))
        assert code == 1
        [fail] = lines(out)["FAIL"]
        assert "the hostile test post came back untouched: Mastodon filtering is off" in fail
        assert "fix:" in fail
        assert "decrypted for mastodon, filtering off: " in out
    finally:
        api(sourdine, "PATCH", "/api/v1/settings", {"platforms": {"mastodon": saved}})


def test_doctor_when_nothing_runs_fails_and_says_how_to_start(tmp_path):
    """With Sourdine stopped, doctor fails with `sourdine run` as the fix and skips the filtering check."""
    where = tmp_path / "home"
    make_ca(where)
    home.token(where)
    code, out = run("doctor", "--home", str(where))
    assert code == 1
    [fail] = lines(out)["FAIL"]
    assert "not running" in fail and "fix: start it: sourdine run" in fail
    assert any("filtering not checked" in line for line in lines(out)["WARN"])


def test_doctor_fails_when_the_api_does_not_answer(tmp_path):
    """A run.json whose process lives but whose API is gone gives a FAIL naming the ports."""
    where = tmp_path / "home"
    make_ca(where)
    home.token(where)
    home.write_run_info(where, {"pid": os.getpid(), "proxy": ["127.0.0.1", 9], "api": ["127.0.0.1", 9]})
    code, out = run("doctor", "--home", str(where))
    assert code == 1
    [fail] = lines(out)["FAIL"]
    assert "proxy on 127.0.0.1:9, API on http://127.0.0.1:9" in fail and "did not answer" in fail


def test_doctor_fails_on_a_run_json_without_ports(tmp_path):
    """A run.json whose process lives but which names no ports fails, and no request is attempted."""
    where = tmp_path / "home"
    make_ca(where)
    home.write_run_info(where, {"pid": os.getpid()})
    code, out = run("doctor", "--home", str(where))
    assert code == 1
    [fail] = lines(out)["FAIL"]
    assert "run.json does not say where Sourdine listens" in fail


@pytest.mark.parametrize(("days", "level"), [(5, "WARN"), (-1, "FAIL")])
def test_doctor_warns_before_the_ca_expires_and_fails_after(tmp_path, monkeypatch, days, level):
    """A CA expiring within 30 days warns, an expired one fails; both point at `sourdine ca rotate`."""
    monkeypatch.setattr(certs, "CA_EXPIRY", datetime.timedelta(days=days))
    where = tmp_path / "home"
    make_ca(where)
    _, out = run("doctor", "--home", str(where))
    [flagged] = [line for line in lines(out)[level] if "the CA certificate expire" in line]
    assert flagged.endswith("fix: sourdine ca rotate, then trust the new CA")


@pytest.mark.parametrize(
    ("target", "mode", "level", "fix"),
    [
        ("token", 0o644, "FAIL", "chmod 600"),
        ("mitmproxy/mitmproxy-ca.pem", 0o640, "FAIL", "chmod 600"),
        ("mitmproxy/mitmproxy-ca.p12", 0o604, "FAIL", "chmod 600"),
        (".", 0o755, "WARN", "chmod 700"),
        ("mitmproxy", 0o750, "WARN", "chmod 700"),
    ],
)
def test_doctor_flags_loose_permissions_with_the_fix(tmp_path, target, mode, level, fix):
    """A secret others can read fails, a readable home warns; each line gives the chmod that fixes it."""
    where = tmp_path / "home"
    make_ca(where)
    home.token(where)
    path = (where / target).resolve()
    os.chmod(path, mode)
    code, out = run("doctor", "--home", str(where))
    [flagged] = [line for line in lines(out)[level] if f" {path} is mode {mode:04o}" in line]
    assert flagged.endswith(f"fix: {fix} {path}")
    assert code == 1  # not running, at least


def test_doctor_on_a_missing_home_fails(tmp_path):
    """A home that does not exist fails the first check, and doctor does not create it."""
    where = tmp_path / "nowhere"
    code, out = run("doctor", "--home", str(where))
    assert code == 1
    first = out.splitlines()[0]
    assert first == f"FAIL  home {where} does not exist -- fix: start Sourdine once: sourdine run"
    assert not where.exists()


def test_doctor_timeline_has_mastodons_status_shape():
    """The embedded statuses carry every key of a real captured Mastodon status but `quote` and `filtered`."""
    real = json.loads((Path(__file__).parent / "data" / "mastodon"
                       / "rtoot_get_timeline_public_instance.body.json").read_bytes())[0]
    [hostile, friendly] = cli_ca.doctor_timeline("http://127.0.0.1:1")
    for status in (hostile, friendly):
        assert set(real) - set(status) <= {"quote", "filtered"}
        assert set(status) <= set(real)
        assert set(status["account"]) <= set(real["account"])


# -- through the `sourdine` command --------------------------------------------------------------------------


def sourdine_cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SOURDINE), *argv], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=60)


def test_command_rotate_without_a_terminal_refuses_with_exit_code_1(tmp_path):
    """`sourdine ca rotate` with stdin not a terminal exits 1, says to add --yes, and leaves the CA alone."""
    where = tmp_path / "home"
    make_ca(where)
    before = snapshot(home.confdir(where))
    done = sourdine_cli("ca", "rotate", "--home", str(where))
    assert done.returncode == 1
    assert done.stderr.startswith("sourdine: ") and "--yes" in done.stderr
    assert snapshot(home.confdir(where)) == before


def test_command_ca_and_doctor_against_a_running_sourdine(sourdine):
    """`sourdine ca` exits 0 with the fingerprint, `sourdine doctor` exits 0, `ca rotate --yes` exits 1."""
    sha256, _ = fingerprints(home.ca_cert(sourdine.home))
    shown = sourdine_cli("ca", "--home", str(sourdine.home))
    assert shown.returncode == 0 and sha256 in shown.stdout
    checked = sourdine_cli("doctor", "--home", str(sourdine.home))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert lines(checked.stdout)["WARN"] == lines(checked.stdout)["FAIL"] == [], checked.stdout
    refused = sourdine_cli("ca", "rotate", "--yes", "--home", str(sourdine.home))
    assert refused.returncode == 1 and "stop it first" in refused.stderr.lower()
    assert fingerprints(home.ca_cert(sourdine.home))[0] == sha256


def test_a_new_ca_is_on_the_disk_before_it_takes_the_old_ones_place(tmp_path, monkeypatch):
    """mitmproxy writes a CA's files without syncing them: rotate_ca (which `sourdine run` also uses to make the
    first CA) syncs each before moving it into place, then the folder, so that a power cut never leaves a CA half
    written."""
    done: list[tuple[str, str]] = []  # ("fsync", path) and ("replace", the path it came from), in order
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        done.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst) -> None:
        done.append(("replace", str(src)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    where = tmp_path / "home"
    cli_ca.rotate_ca(where)
    confdir = home.confdir(where)
    moved = [path for what, path in done if what == "replace"]
    assert sorted(Path(path).name for path in moved) == sorted(p.name for p in confdir.iterdir())
    # The key file first, the certificate on show last (see the test of a rotation cut in between), the folder
    # synced after each of these steps, so that a power cut keeps that order too.
    assert Path(moved[0]).name == "mitmproxy-ca.pem" and Path(moved[-1]).name == "mitmproxy-ca-cert.pem", moved
    steps = [what if what == "replace" else "sync" for what, path in done if what == "replace" or path == str(confdir)]
    assert steps == ["replace", "sync", *["replace"] * (len(moved) - 2), "sync", "replace", "sync"], steps
    for path in moved:  # each synced where it was made, before it moved
        assert done.index(("fsync", path)) < done.index(("replace", path)), done
    assert done[-1] == ("fsync", str(confdir)), done  # then the folder that names them


def test_a_damaged_ca_stops_the_start_with_what_to_do(tmp_path):
    """A CA key file that cannot be read (emptied): `sourdine run` says so in one line and exits 1, where it
    used to start with TLS interception off and mitmproxy's traceback in its log; `sourdine ca rotate` then
    makes a new one, and it starts."""
    where = tmp_path / "home"
    cli_ca.rotate_ca(where)
    (home.confdir(where) / "mitmproxy-ca.pem").write_bytes(b"")
    out = subprocess.run([str(SOURDINE), "run", "--home", str(where), "--proxy-port", "0", "--api-port", "0"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "cannot be read" in out.stderr and "sourdine ca rotate" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    run("ca", "rotate", "--home", str(where), "--yes")
    started = subprocess.Popen([str(SOURDINE), "run", "--home", str(where), "--proxy-port", "0", "--api-port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert started.stdout.readline().startswith("sourdine: proxy on 127.0.0.1:"), started.stderr.read()
    finally:
        started.terminate()
        started.communicate(timeout=30)
    # A CA that cannot be read for another reason (here a folder in its place, which root cannot read either) is
    # not called damaged: a new CA, to be trusted again, would not help.
    (home.confdir(where) / "mitmproxy-ca.pem").unlink()
    (home.confdir(where) / "mitmproxy-ca.pem").mkdir()
    out = subprocess.run([str(SOURDINE), "run", "--home", str(where), "--proxy-port", "0", "--api-port", "0"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "cannot read the CA" in out.stderr and "rotate" not in out.stderr, out.stderr


# A rotation that dies right after it moved the new key file into place: os.replace kills the process after
# that move, as a crash or a power cut would stop it there.
_ROTATION_CUT = """
import os, signal, sys
from pathlib import Path
from sourdine import cli_ca
real = os.replace
def replace(src, dst):
    real(src, dst)
    if Path(dst).name == "mitmproxy-ca.pem":
        os.kill(os.getpid(), signal.SIGKILL)
os.replace = replace
cli_ca.rotate_ca(Path(sys.argv[1]))
"""


def cut_rotation(where: Path) -> None:
    """A `rotate_ca` of the home `where`, in a process killed right after its key file moved (_ROTATION_CUT)."""
    cut = subprocess.run([str(SOURDINE.parent / "python"), "-c", _ROTATION_CUT, str(where)],
                         capture_output=True, text=True, timeout=60)
    assert cut.returncode == -9, cut.stderr


def _p12_cert(path: Path) -> x509.Certificate:
    from cryptography.hazmat.primitives.serialization import pkcs12

    loaded = pkcs12.load_pkcs12(path.read_bytes(), None)
    return (loaded.cert or loaded.additional_certs[0]).certificate  # without its key, a certificate is "additional"


def test_a_rotation_cut_short_after_the_key_is_mended_at_the_next_start(tmp_path):
    """The rotation moves the key file first (from then on mitmproxy signs with the new CA) and the certificate
    the user is shown last. Killed in between, it leaves the old certificate on show, and its staging folder
    (with a key in it). `sourdine doctor`'s check names the mismatch; the next `sourdine run` writes the CA's
    other files again from the key file, says so, and removes the staging folder; the doctor is then content."""
    where = tmp_path / "home"
    cli_ca.rotate_ca(where)
    confdir = home.confdir(where)
    old_sha = fingerprints(home.ca_cert(where))[0]
    assert fingerprints(home.ca_cert(where))[0] == _p12_cert(confdir / "mitmproxy-ca-cert.p12").fingerprint(
        hashes.SHA256()).hex(":").upper()  # mitmproxy's own files read as the mended ones are read below
    cut_rotation(where)
    key_cert = x509.load_pem_x509_certificate(home.ca_key(where).read_bytes())
    new_sha = key_cert.fingerprint(hashes.SHA256()).hex(":").upper()
    assert new_sha != old_sha and fingerprints(home.ca_cert(where))[0] == old_sha
    staging = [p.name for p in confdir.iterdir() if p.name.startswith(".rotate.")]
    assert len(staging) == 1, staging
    assert home.ca_cert_stale(where)
    assert cli_ca.check_ca(where).level == "FAIL" and "signs with" in cli_ca.check_ca(where).what

    started = subprocess.Popen([str(SOURDINE), "run", "--home", str(where), "--proxy-port", "0", "--api-port", "0",
                                "--log-level", "INFO"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert started.stdout.readline().startswith("sourdine: proxy on 127.0.0.1:")
    finally:
        started.terminate()
        _, err = started.communicate(timeout=30)
    assert started.returncode == 0, err
    assert "mitmproxy-ca-cert.pem written again from mitmproxy-ca.pem" in err, err
    [kept] = confdir.glob("mitmproxy-ca-cert.pem.old-*")  # the rotation kept the old one; the start did not again
    assert fingerprints(kept)[0] == old_sha and kept.name in err, err
    assert staging[0] in err and not (confdir / staging[0]).exists(), err
    assert fingerprints(home.ca_cert(where))[0] == new_sha
    assert (confdir / "mitmproxy-ca-cert.cer").read_bytes() == home.ca_cert(where).read_bytes()
    assert _p12_cert(confdir / "mitmproxy-ca-cert.p12") == key_cert == _p12_cert(confdir / "mitmproxy-ca.p12")
    assert not home.ca_cert_stale(where) and cli_ca.check_ca(where).level == "OK"


def test_ca_shows_the_certificate_that_signs_after_a_cut_rotation(tmp_path):
    """`sourdine ca` (no running Sourdine needed) mends what a cut rotation left before it shows the
    certificate: the fingerprint it prints is the key file's."""
    where = tmp_path / "home"
    cli_ca.rotate_ca(where)
    cut_rotation(where)
    key_cert = x509.load_pem_x509_certificate(home.ca_key(where).read_bytes())
    code, out = run("ca", "--home", str(where))
    assert code == 0 and key_cert.fingerprint(hashes.SHA256()).hex(":").upper() in out, out
    assert_no_secret(out, where)


def test_the_sweep_removes_what_dead_processes_left_and_nothing_else(tmp_path):
    """write_private's temporary files and rotate_ca's staging folder carry their process's pid: the sweep
    removes those whose process is gone, and leaves a live process's, its own, and any other name alone; told
    which files it may sweep for (in a home that may be the user's own folder), those only."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    live = subprocess.Popen(["sleep", "30"])
    try:
        names = {
            f".token.{dead.pid}.tmp": True, f".run.json.{dead.pid}.tmp": True, f".notes.{dead.pid}.tmp": True,
            f".token.{live.pid}.tmp": False, f".token.{os.getpid()}.tmp": False,
            ".token.tmp": False, f"token.{dead.pid}.tmp": False, f".token.{dead.pid}.tmp.bak": False, "token": False,
            ".token.0.tmp": False, ".token.9999999999.tmp": False, ".token.99999999999999999999.tmp": False,
        }
        for name in names:
            (tmp_path / name).write_bytes(b"x")
        (tmp_path / f".rotate.{dead.pid}.tmp").mkdir()
        (tmp_path / f".rotate.{dead.pid}.tmp" / "mitmproxy-ca.pem").write_bytes(b"key")
        (tmp_path / f".rotate.{live.pid}.tmp").mkdir()
        # As in the home: only what Sourdine writes there.
        assert sorted(home.sweep(tmp_path, ("token", "run.json"))) == [f".run.json.{dead.pid}.tmp",
                                                                        f".token.{dead.pid}.tmp"]
        # As in a folder of Sourdine's own: the rest of the dead process's.
        assert sorted(home.sweep(tmp_path)) == [f".notes.{dead.pid}.tmp", f".rotate.{dead.pid}.tmp"]
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            [*(n for n, gone in names.items() if not gone), f".rotate.{live.pid}.tmp"])
        assert home.sweep(tmp_path / "missing") == []
    finally:
        live.kill()
        live.wait()


def _rewrapped(pem: bytes, width: int, newline: bytes) -> bytes:
    """The same PEM blocks with their base64 in lines of `width` characters and `newline` line ends."""
    import re

    def block(match: re.Match[bytes]) -> bytes:
        body = b"".join(match.group(2).split())
        return b"\n".join([match.group(1), *(body[i:i + width] for i in range(0, len(body), width)), match.group(3)])

    return re.sub(rb"(-----BEGIN [A-Z ]+-----)(.*?)(-----END [A-Z ]+-----)", block, pem, flags=re.S).replace(
        b"\n", newline)


@pytest.mark.parametrize("width, newline", [(76, b"\n"), (64, b"\r\n"), (76, b"\r\n")])
def test_the_same_certificate_written_otherwise_is_not_stale(tmp_path, width, newline):
    """A key file written by another tool (base64 in lines of 76, Windows line ends) holds the same certificate
    as the one on show: nothing is stale, nothing is written again, the doctor is content."""
    where = tmp_path / "home"
    cli_ca.rotate_ca(where)
    key_file = home.ca_key(where)
    key_file.write_bytes(_rewrapped(key_file.read_bytes(), width, newline))
    before = snapshot(home.confdir(where))
    assert not home.ca_cert_stale(where)
    assert cli_ca.mend(where) is None and snapshot(home.confdir(where)) == before
    assert cli_ca.check_ca(where).level == "OK"


def test_a_ca_put_there_by_hand_is_shown_and_the_old_certificate_kept(tmp_path):
    """A key file replaced by hand with another CA (mitmproxy's documented way to use one's own): `sourdine ca`
    writes the certificate files from it, keeps the one that was on show as *.old-<time>, and says so."""
    from cryptography.hazmat.primitives import serialization

    where = tmp_path / "home"
    cli_ca.rotate_ca(where)
    old = home.ca_cert(where).read_bytes()
    key, cert = certs.create_ca(organization="Mine", cn="Mine", key_size=2048)
    home.ca_key(where).write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        + cert.public_bytes(serialization.Encoding.PEM))
    code, out = run("ca", "--home", str(where))
    sha = cert.fingerprint(hashes.SHA256()).hex(":").upper()
    assert code == 0 and sha in out and "written again from mitmproxy-ca.pem" in out, out
    [kept] = home.confdir(where).glob("mitmproxy-ca-cert.pem.old-*")
    assert kept.read_bytes() == old and kept.name in out
    assert fingerprints(home.ca_cert(where))[0] == sha
    assert_no_secret(out, where)


def test_an_encrypted_key_that_needs_mending_is_said_in_one_line(tmp_path):
    """A key file whose key asks for a password (mitmproxy cannot load it either), with another certificate on
    show: `sourdine ca` refuses in one line, `sourdine run` stops in one line, no traceback, nothing written."""
    from cryptography.hazmat.primitives import serialization

    where = tmp_path / "home"
    cli_ca.rotate_ca(where)
    key, cert = certs.create_ca(organization="Locked", cn="Locked", key_size=2048)
    home.ca_key(where).write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.BestAvailableEncryption(b"secret"))
        + cert.public_bytes(serialization.Encoding.PEM))
    before = snapshot(home.confdir(where))
    with pytest.raises(CommandError, match="cannot be written again"):
        run("ca", "--home", str(where))
    out = subprocess.run([str(SOURDINE), "run", "--home", str(where), "--proxy-port", "0", "--api-port", "0"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "cannot be written again" in out.stderr and "cannot be read as one" in out.stderr, out.stderr
    assert snapshot(home.confdir(where)) == before


_HOLD = """
import sys
from pathlib import Path
from sourdine import home
lock = home.hold(Path(sys.argv[1]))
print("held" if lock is not None else "not held", flush=True)
sys.stdin.read()
"""


HELD = r"running with this home \(still starting, or another `sourdine ca` is writing\)"


@pytest.fixture
def run_lock_held(tmp_path):
    """Another process holding the home's run lock, as `sourdine run` does from the start of its start-up, before
    it writes run.json; it lets go when its stdin closes (call the fixture's value)."""
    where = tmp_path / "home"
    home.ensure(where)
    holder = subprocess.Popen([str(SOURDINE.parent / "python"), "-c", _HOLD, str(where)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)

    def let_go() -> None:
        if holder.returncode is None:
            holder.communicate(timeout=30)  # closes its stdin, and both pipes here

    try:
        assert holder.stdout.readline() == "held\n"
        assert home.read_run_info(where) is None  # no run.json: what rotate checked alone saw nothing running
        yield where, let_go
    finally:
        let_go()


def test_rotate_refuses_while_a_starting_sourdine_holds_the_run_lock(run_lock_held):
    """`sourdine ca rotate` takes the home's run lock for the time it writes: while another process holds it (a
    `sourdine run` still starting, which has not written run.json yet) it refuses, naming the run as still
    starting, and changes no CA file. Once the lock is let go, the same command rotates. It looked at run.json
    only, and rotated under the starting run."""
    where, let_go = run_lock_held
    make_ca(where)
    before = snapshot(home.confdir(where))
    with pytest.raises(CommandError, match=HELD + r".*Stop it first"):
        run("ca", "rotate", "--yes", "--home", str(where))
    assert snapshot(home.confdir(where)) == before
    let_go()
    code, out = run("ca", "rotate", "--yes", "--home", str(where))
    assert code == 0 and "Made a new CA" in out
    assert snapshot(home.confdir(where))[home.ca_cert(where).name] != before[home.ca_cert(where).name]


def test_ca_does_not_mend_the_ca_while_a_starting_sourdine_holds_the_run_lock(run_lock_held):
    """`sourdine ca` writes the CA's files again when a cut rotation left them stale (mend): that too only with
    the home's run lock. While another process holds it (a `sourdine run` still starting) it says so, with what
    to do, and writes nothing; once the lock is let go, it mends and shows the certificate that signs. It wrote
    them under the starting run, which writes them too."""
    where, let_go = run_lock_held
    cli_ca.rotate_ca(where)
    cut_rotation(where)
    assert home.ca_cert_stale(where)
    before = snapshot(home.confdir(where))
    with pytest.raises(CommandError, match=HELD + r".*run `sourdine ca` again"):
        run("ca", "--home", str(where))
    assert snapshot(home.confdir(where)) == before and home.ca_cert_stale(where)
    let_go()
    key_cert = x509.load_pem_x509_certificate(home.ca_key(where).read_bytes())
    code, out = run("ca", "--home", str(where))
    assert code == 0 and key_cert.fingerprint(hashes.SHA256()).hex(":").upper() in out, out
    assert not home.ca_cert_stale(where)


def test_run_refuses_a_home_whose_lock_another_process_holds(run_lock_held):
    """`sourdine run` on a home whose run lock another process holds (a run still starting, or `sourdine ca`
    writing the CA) stops with exit code 1 and says so, touching nothing there."""
    where, _ = run_lock_held
    before = sorted(p.name for p in where.iterdir())
    out = subprocess.run([str(SOURDINE), "run", "--home", str(where), "--proxy-port", "0", "--api-port", "0"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stderr
    assert out.stderr.strip().splitlines() == [
        "sourdine: another Sourdine process is using this home (a `sourdine run` starting, or a `sourdine ca` "
        "command writing the CA); wait for it or stop it, or give another --home"], out.stderr
    assert sorted(p.name for p in where.iterdir()) == before


def test_a_home_on_a_file_system_that_takes_no_locks_still_runs(tmp_path, monkeypatch, caplog):
    """Where the file system takes no locks (flock fails with ENOLCK or EOPNOTSUPP, as on some network mounts),
    the run lock is given unlocked, with a warning, and Sourdine runs as it did before it had a lock; it was read
    as "another process holds it", which refused every start there (a review's finding). A lock that another
    process holds (EWOULDBLOCK) is still refused."""
    import errno
    import fcntl

    where = home.ensure(tmp_path / "home")
    for code in (errno.ENOLCK, errno.EOPNOTSUPP):
        def unsupported(fd, op, code=code):
            raise OSError(code, os.strerror(code))

        monkeypatch.setattr(fcntl, "flock", unsupported)
        with caplog.at_level("WARNING", logger="sourdine.home"):
            lock = home.hold(where)
        assert lock is not None and not lock.closed
        lock.close()
        assert "not kept apart" in caplog.text
        caplog.clear()

    def held(fd, op):
        raise BlockingIOError(errno.EWOULDBLOCK, os.strerror(errno.EWOULDBLOCK))

    monkeypatch.setattr(fcntl, "flock", held)
    assert home.hold(where) is None


def test_two_processes_making_a_new_home_at_once_both_find_it(tmp_path, monkeypatch):
    """home.ensure on a home another process makes at the same moment (its mkdir raising FileExistsError) finds
    the folder made, not an error: two runs started together on a new home then meet at its lock (a review's
    finding: the second said "cannot use ... as Sourdine's home: File exists")."""
    where = tmp_path / "new"
    real_mkdir = Path.mkdir

    def beaten(self, *args, **kwargs):
        real_mkdir(self, *args, **kwargs)  # the other process's mkdir, just before this one's
        raise FileExistsError(17, "File exists", str(self))

    monkeypatch.setattr(Path, "mkdir", beaten)
    assert home.ensure(where) == where and where.is_dir()
