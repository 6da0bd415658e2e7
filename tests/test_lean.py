"""sourdine.lean: the mitmproxy addons `sourdine run` starts with, as a real mitmproxy Master runs them."""

from __future__ import annotations

import pytest
from cryptography import x509
from mitmproxy import certs, http, master, options
from mitmproxy.utils import typecheck

from sourdine import lean


async def test_the_addons_read_the_ca_once_and_it_signs(tmp_path, monkeypatch):
    """Set-up as in runner.serve (addons, then the options, then running): the CA is read once, not twice, and
    the TLS addon's store signs a leaf certificate with it."""
    certs.CertStore.create_store(tmp_path, "mitmproxy", 2048)  # a CA exists, as on every start but the first
    reads = []
    read = certs.CertStore.from_files.__func__

    def counted(cls, *args, **kwargs):
        reads.append(args[0])
        return read(cls, *args, **kwargs)

    monkeypatch.setattr(certs.CertStore, "from_files", classmethod(counted))
    opts = options.Options()
    mitm = master.Master(opts)
    addons = lean.mitmproxy_addons()
    mitm.addons.add(*addons)
    opts.update(listen_host="127.0.0.1", listen_port=0, confdir=str(tmp_path))
    await mitm.running()
    try:
        assert [path.name for path in reads] == ["mitmproxy-ca.pem"]
        tls = mitm.addons.get("tlsconfig")
        assert tls in addons
        entry = tls.certstore.get_cert("social.example", [x509.DNSName("social.example")])
        assert entry.cert.cn == "social.example"
        assert entry.cert.issuer == tls.certstore.default_ca.subject
    finally:
        await mitm.done()


async def test_the_ca_is_read_at_running_when_nothing_read_it_before(tmp_path):
    """mitmproxy's own reason for reading it again in `running`: a set-up whose options never named confdir."""
    certs.CertStore.create_store(tmp_path, "mitmproxy", 2048)
    opts = options.Options()
    mitm = master.Master(opts)
    mitm.addons.add(*lean.mitmproxy_addons())
    opts.update(listen_host="127.0.0.1", listen_port=0, confdir=str(tmp_path))
    tls = mitm.addons.get("tlsconfig")
    tls.certstore = None  # as if configure had never seen confdir
    await mitm.running()
    try:
        assert tls.certstore is not None
        assert tls.certstore.default_ca.subject == certs.CertStore.from_store(tmp_path, "mitmproxy", 2048) \
            .default_ca.subject
    finally:
        await mitm.done()


def _request(content: object) -> http.Request:
    return http.Request("social.example", 443, b"GET", b"https", b"social.example", b"/", b"HTTP/1.1",
                        http.Headers(), content, None, 0.0, None)  # type: ignore[arg-type]


def test_message_checks_are_left_out_as_python_O_leaves_them_out(monkeypatch):
    """After `skip_message_checks` (runner.serve calls it), making a request no longer runs mitmproxy's debug check
    of its fields' types, which for each field that may be None built and caught a TypeError; a body set through
    the message's property is still checked there."""
    monkeypatch.setattr(http.MessageData, "__post_init__", http.MessageData.__post_init__)  # put back afterwards
    checked = []
    check = typecheck.check_option_type
    monkeypatch.setattr(typecheck, "check_option_type", lambda *args: checked.append(args[0]) or check(*args))
    _request(None)
    assert {"content", "trailers", "timestamp_end"} <= set(checked)  # pytest runs with __debug__ on
    with pytest.raises(TypeError):
        _request(42)

    lean.skip_message_checks()
    lean.skip_message_checks()  # twice is the same
    checked.clear()
    assert _request(None).content is None
    assert _request(b"body").content == b"body"
    assert checked == []
    response = http.Response.make(200, b"body", {"content-type": "text/plain"})
    with pytest.raises(TypeError):
        response.content = "not bytes"  # type: ignore[assignment]
    response.content = b"new"
    assert response.raw_content == b"new" and response.headers["content-length"] == "3"


def test_a_post_init_that_is_not_the_type_check_is_left_as_it_is(monkeypatch):
    """A mitmproxy whose MessageData.__post_init__ does other work than the type check keeps it."""
    made = []

    def other_work(self):
        made.append(self.http_version)

    monkeypatch.setattr(http.MessageData, "__post_init__", other_work)
    lean.skip_message_checks()
    assert http.MessageData.__post_init__ is other_work
    _request(b"")
    assert made == [b"HTTP/1.1"]
