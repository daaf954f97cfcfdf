"""TLS on the front door (SPEC §2): `kiln serve --tls-cert F --tls-key F` serves HTTPS
only, TLS 1.2+ with forward-secret AEAD ciphers, and reads the pair again on SIGHUP.
The CLI speaks it too (KILN_URL=https://…, KILN_CA_CERT). Certificates are made here
with the openssl command: a test CA, and leaf certificates for 127.0.0.1 under it."""
import signal
import socket
import ssl
import subprocess
import warnings

import pytest

from conftest import KILN_BIN, free_port
from helpers import unique, wait_for, write_bundle

ECHO = """
def handler(event, context):
    return {"statusCode": 200, "body": event["body"] or ""}
"""


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA and two leaf certificates (CN kiln-a, kiln-b) for IP 127.0.0.1, plus a key
    that belongs to neither."""
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=kiln test CA", cwd=d)
    for name in ("a", "b"):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN=kiln-{name}", cwd=d)
        (d / f"{name}.ext").write_text("subjectAltName=IP:127.0.0.1\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=d)
    openssl("genpkey", "-algorithm", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-out", "stranger.key", cwd=d)
    return d


def serve_tls(start_kiln, pki, tmp_path, *flags):
    """A daemon on HTTPS with copies of leaf a's files (tests overwrite them)."""
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    cert.write_bytes((pki / "a.pem").read_bytes())
    key.write_bytes((pki / "a.key").read_bytes())
    k = start_kiln("--tls-cert", cert, "--tls-key", key, *flags, ca=pki / "ca.pem")
    return k, cert, key


def handshake(port, context):
    """(TLS version, cipher name, peer CN) of one handshake with the daemon."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            peer = dict(field for rdn in tls.getpeercert()["subject"] for field in rdn)
            return tls.version(), tls.cipher()[0], peer["commonName"]


def client_context(pki):
    return ssl.create_default_context(cafile=str(pki / "ca.pem"))


def test_https_serves_the_control_api_the_cli_and_user_routes(start_kiln, pki, tmp_path):
    k, _, _ = serve_tls(start_kiln, pki, tmp_path)
    assert k.url.startswith("https://")
    # The CLI deploys over TLS, verifying the daemon's certificate against KILN_CA_CERT.
    fn = k.deploy_handler(tmp_path, ECHO)
    r = fn.call(data=b"over tls")
    assert r.status_code == 200 and r.text == "over tls"
    assert fn.run_of(r)["status"] == "ok"
    [run] = k.runs(fn.name)
    assert run["status"] == "ok"
    assert "https://" in k.log_tail(200)


def test_the_cli_refuses_a_daemon_it_cannot_verify(start_kiln, pki, tmp_path):
    k, _, _ = serve_tls(start_kiln, pki, tmp_path)
    env_ca = k.ca
    k.ca = str(pki / "a.pem")  # a leaf, not the CA that signed the daemon's certificate
    try:
        p = k.cli("route", "ls")
    finally:
        k.ca = env_ca
    assert p.returncode != 0
    assert "cannot reach kiln at https://127.0.0.1" in p.stderr and "certificate" in p.stderr.lower()


def test_only_tls_1_2_and_up_with_forward_secret_aead_ciphers(start_kiln, pki, tmp_path):
    k, _, _ = serve_tls(start_kiln, pki, tmp_path)
    version, cipher, cn = handshake(k.port, client_context(pki))
    assert version in ("TLSv1.2", "TLSv1.3") and cn == "kiln-a"

    tls12 = client_context(pki)
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    version, cipher, _ = handshake(k.port, tls12)
    assert version == "TLSv1.2"
    assert cipher.startswith("ECDHE-") and ("GCM" in cipher or "CHACHA20" in cipher), cipher

    # A client that offers only TLS 1.1 (allowed on its side at security level 0).
    old = client_context(pki)
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        handshake(k.port, old)

    # TLS 1.2 with only ciphers lacking forward secrecy or AEAD.
    weak = client_context(pki)
    weak.maximum_version = ssl.TLSVersion.TLSv1_2
    weak.set_ciphers("AES128-SHA:AES256-GCM-SHA384:ECDHE-RSA-AES128-SHA")
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        handshake(k.port, weak)


def test_the_tls_listener_speaks_no_plain_http(start_kiln, pki, tmp_path):
    k, _, _ = serve_tls(start_kiln, pki, tmp_path)
    fn = k.deploy_handler(tmp_path, ECHO)
    with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
        s.sendall(f"POST {fn.path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi".encode())
        reply = b""
        while chunk := s.recv(4096):
            reply += chunk
    assert not reply.startswith(b"HTTP/"), reply[:80]
    assert k.runs(fn.name) == [], "a plain-HTTP request reached the handler"


def test_a_client_that_never_completes_the_handshake_is_closed(start_kiln, pki, tmp_path):
    k, _, _ = serve_tls(start_kiln, pki, tmp_path, "--header-timeout-s", "1")
    with socket.create_connection(("127.0.0.1", k.port), timeout=15) as s:
        assert s.recv(4096) == b"", "closed without a byte sent"
    version, _, _ = handshake(k.port, client_context(pki))  # and the daemon still serves
    assert version in ("TLSv1.2", "TLSv1.3")


def test_sighup_reloads_the_certificate_and_keeps_it_if_the_new_pair_is_bad(start_kiln, pki, tmp_path):
    k, cert, key = serve_tls(start_kiln, pki, tmp_path)
    ctx = client_context(pki)
    assert handshake(k.port, ctx)[2] == "kiln-a"
    # A connection opened before the reload keeps working after it.
    before = socket.create_connection(("127.0.0.1", k.port), timeout=10)
    before_tls = ctx.wrap_socket(before, server_hostname="127.0.0.1")

    cert.write_bytes((pki / "b.pem").read_bytes())
    key.write_bytes((pki / "b.key").read_bytes())
    k.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "TLS certificate reloaded" in k.log_tail(200), 10, "the reload's log line")
    assert handshake(k.port, ctx)[2] == "kiln-b"

    before_tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    reply = b""
    while chunk := before_tls.recv(4096):
        reply += chunk
    before_tls.close()
    assert reply.startswith(b"HTTP/1.1 200"), reply[:80]

    key.write_bytes((pki / "stranger.key").read_bytes())  # not b's key
    k.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "TLS certificate not reloaded" in k.log_tail(200), 10, "the failed reload's log line")
    assert "is not the key of the certificate" in k.log_tail(200)
    assert handshake(k.port, ctx)[2] == "kiln-b", "the previous pair still serves"
    assert k.proc.poll() is None


@pytest.mark.parametrize("case", ["cert_without_key", "key_of_another_cert", "not_pem"])
def test_a_bad_tls_setup_refuses_to_start(pki, tmp_path, case):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    flags = {
        "cert_without_key": ["--tls-cert", pki / "a.pem"],
        "key_of_another_cert": ["--tls-cert", pki / "a.pem", "--tls-key", pki / "b.key"],
        "not_pem": ["--tls-cert", junk, "--tls-key", pki / "a.key"],
    }[case]
    expect = {
        "cert_without_key": "--tls-key",
        "key_of_another_cert": "is not the key of the certificate",
        "not_pem": "not a readable PEM certificate chain",
    }[case]
    p = subprocess.run([str(KILN_BIN), "serve", "--data", str(tmp_path / unique("data")),
                        "--listen", f"127.0.0.1:{free_port()}", *map(str, flags)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert expect in p.stdout + p.stderr, p.stdout + p.stderr
