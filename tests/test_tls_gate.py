"""Only the platforms' hosts are decrypted: any other HTTPS passes through with the site's own certificate.

A local TLS server with its own self-signed certificate stands in for "some other site" (a bank, a webmail).
A client opens a tunnel to it through `sourdine run` with CONNECT, as browsers do, and looks at the certificate
it is shown.
"""

from __future__ import annotations

import datetime
import socket
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import connect_through, start_sourdine


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bank.example")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1024)
                    tls.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], cert.public_bytes(serialization.Encoding.DER)
    stop.set()
    thread.join(5)
    listener.close()


def certificate_through(proxy_port: int, port: int) -> bytes:
    sock, reply = connect_through(proxy_port, "127.0.0.1", port)
    with sock:
        assert reply.startswith(b"HTTP/1.1 200"), reply
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with context.wrap_socket(sock, server_hostname="bank.example") as tls:
            der = tls.getpeercert(binary_form=True)
            tls.sendall(b"GET / HTTP/1.1\r\nHost: bank.example\r\n\r\n")
            tls.recv(1024)
            return der


def test_other_hosts_are_tunnelled_not_decrypted(tmp_path, tls_server):
    """Through Sourdine, a host that is not a platform's shows its own certificate: nothing was minted for it."""
    port, own_cert = tls_server
    running = start_sourdine(tmp_path / "home")
    try:
        assert certificate_through(running.proxy_port, port) == own_cert
    finally:
        assert running.stop() == 0


def test_platform_hosts_are_decrypted(tmp_path, tls_server):
    """A host Sourdine filters (here 127.0.0.1 added as a Mastodon instance) is met with Sourdine's own CA."""
    port, own_cert = tls_server
    running = start_sourdine(tmp_path / "home", "--mastodon-instance", "127.0.0.1")
    try:
        der = certificate_through(running.proxy_port, port)
    finally:
        assert running.stop() == 0
    assert der != own_cert
    minted = x509.load_der_x509_certificate(der)
    ca = x509.load_pem_x509_certificate((running.home / "mitmproxy" / "mitmproxy-ca-cert.pem").read_bytes())
    assert minted.issuer == ca.subject


def test_api_port_in_use_exits_2(tmp_path):
    """An API port already taken stops start-up with a clear message and exit code 2, leaving no run.json."""
    import subprocess

    from conftest import SOURDINE

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [str(SOURDINE), "run", "--home", str(tmp_path), "--proxy-port", "0", "--api-port", str(port)],
            capture_output=True, text=True, timeout=60,
        )
    assert proc.returncode == 2
    assert f"127.0.0.1:{port}" in proc.stderr and "API" in proc.stderr
    assert not (tmp_path / "run.json").exists()
