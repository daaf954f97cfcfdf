"""The gateway's answers before and around a handler: auth, routing, body cap,
malformed HTTP (SPEC §4 user routes, §6)."""
import io
import os
import socket
import threading
import zipfile

import pytest

from helpers import raw_http, unique, wait_for

MiB = 1024 * 1024

OK = """
print("module-init")

def handler(event, context):
    print("handler-ran")
    return {"ok": True}
"""


@pytest.fixture(scope="module")
def keyed(kiln, tmp_path_factory):
    """A key-protected function, a second one, and a key scoped to each."""
    tmp = tmp_path_factory.mktemp("http")
    fn = kiln.deploy_handler(tmp, OK, auth="key")
    other = kiln.deploy_handler(tmp, OK, auth="key")
    key = kiln.create_key(unique("own"), "--route", fn.path)
    other_key = kiln.create_key(unique("other"), "--route", other.path)
    return fn, key, other_key


def error_code(r):
    return r.json()["error"]["code"]


def test_no_key_is_401(keyed):
    fn, _, _ = keyed
    r = fn.call(json={})
    assert r.status_code == 401
    assert error_code(r) == "unauthenticated"


def test_unknown_key_is_401(keyed):
    fn, _, _ = keyed
    r = fn.call(json={}, headers={"Authorization": "Bearer kiln_abcdefgh_notarealsecret"})
    assert r.status_code == 401


def test_key_scoped_to_another_route_is_403(keyed):
    fn, _, other_key = keyed
    r = fn.call(json={}, headers={"Authorization": f"Bearer {other_key}"})
    assert r.status_code == 403
    assert error_code(r) == "permission_denied"


def test_bearer_key_works(keyed):
    fn, key, _ = keyed
    r = fn.call(json={}, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    assert r.json() == {"ok": True}
    assert r.headers.get("X-Kiln-Run-Id")


def test_x_api_key_header_works(keyed):
    fn, key, _ = keyed
    r = fn.call(json={}, headers={"X-Api-Key": key})
    assert r.status_code == 200, r.text


def test_route_key_is_not_an_admin_key(kiln, keyed):
    _, key, _ = keyed
    assert kiln.api("GET", "/v1/functions", key=key).status_code == 403
    assert kiln.api("GET", "/v1/functions", headers={"Authorization": ""}).status_code == 401


def test_unknown_path_is_404(kiln):
    r = kiln.request("POST", f"/{unique('nowhere')}", json={})
    assert r.status_code == 404


def test_wrong_method_is_405_with_allow(keyed):
    fn, key, _ = keyed
    r = fn.call("GET", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 405
    assert "POST" in r.headers.get("Allow", ""), dict(r.headers)


def test_auth_none_route_needs_no_key(kiln, tmp_path):
    fn = kiln.deploy_handler(tmp_path, OK, auth="none")
    r = fn.call(json={})
    assert r.status_code == 200, r.text


def test_body_over_2mib_is_413_and_no_container_is_touched(kiln, tmp_path):
    fn = kiln.deploy_handler(tmp_path, OK, "--min-warm", "0")
    r = fn.call(data=b"x" * (2 * MiB + 1), headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 413, r.text

    runs = kiln.runs(fn.name)
    assert len(runs) == 1, f"expected one run record for the 413, got {runs}"
    rejected = runs[0]
    assert (rejected["status"], rejected["http_status"]) == ("rejected", 413), rejected
    assert not rejected["cold"] and not rejected["container_id"], rejected
    assert "handler-ran" not in (kiln.run(rejected["id"]).get("logs") or "")
    # The first accepted call is the one that starts a container.
    ok = fn.call(json={})
    assert ok.status_code == 200, ok.text
    assert fn.run_of(ok)["cold"] is True


def test_body_of_exactly_2mib_is_accepted(kiln, tmp_path):
    fn = kiln.deploy_handler(tmp_path, OK)
    r = fn.call(data=b"x" * (2 * MiB), headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text


def test_malformed_http_is_400(kiln):
    answer = raw_http(kiln.port, b"GARBAGE\r\n\r\n")
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.") and b" 400" in status_line, answer[:200]


def test_daemon_still_serves_after_malformed_http(kiln):
    raw_http(kiln.port, b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 64)  # TLS hello
    raw_http(kiln.port, b"GET / HTTP/1.1\r\nContent-Length: -5\r\n\r\n")
    assert kiln.request("GET", "/healthz").status_code == 200


# -- the header decides before the body is read (issue #14, defect 2) ---------------

def peak_rss_mb(kiln):
    """The daemon's peak resident memory (VmHWM) since it started or since reset_peak."""
    with open(f"/proc/{kiln.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


def read_head(sock):
    """The status code of the answer on `sock`, read up to the end of its header."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(65536)
        if not chunk:
            break
        answer += chunk
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.") else None


def send_quietly(sock, data):
    try:
        sock.sendall(data)
    except OSError:
        pass  # the server answered and stopped reading: the point of the test


def test_blob_upload_without_a_key_is_401_before_the_body(start_kiln):
    k = start_kiln()
    with socket.create_connection(("127.0.0.1", k.port), timeout=20) as s:
        s.sendall(b"POST /v1/blobs HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (400 * MiB))
        s.sendall(b"x" * MiB)  # 1 of 400 MiB: the answer cannot wait for the rest
        assert read_head(s) == 401


def test_unauthenticated_uploads_do_not_grow_the_daemon(start_kiln):
    k = start_kiln()
    before = peak_rss_mb(k)
    body = b"x" * (100 * MiB)
    socks = [socket.create_connection(("127.0.0.1", k.port), timeout=30) for _ in range(3)]
    header = b"POST /v1/blobs HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
    senders = [threading.Thread(target=send_quietly, args=(s, header + body)) for s in socks]
    for t in senders:
        t.start()
    assert [read_head(s) for s in socks] == [401] * 3
    for t in senders:
        t.join(timeout=60)
    for s in socks:
        s.close()
    assert peak_rss_mb(k) - before < 100, "the refused bodies were read into memory"


def test_unauthenticated_bodies_to_a_keyed_route_do_not_grow_the_daemon(start_kiln, tmp_path):
    k = start_kiln("--max-connections-per-ip", "1000")
    fn = k.deploy_handler(tmp_path, OK, auth="key")
    before = peak_rss_mb(k)
    header = b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (fn.path.encode(), 2 * MiB)
    body = b"x" * (2 * MiB - 1)  # all but the last byte: a server that reads bodies holds each
    socks = []
    try:
        for _ in range(300):
            s = socket.create_connection(("127.0.0.1", k.port), timeout=30)
            socks.append(s)
            send_quietly(s, header + body)
        assert peak_rss_mb(k) - before < 100, "the unauthenticated bodies were read into memory"
        assert read_head(socks[-1]) == 401
    finally:
        for s in socks:
            s.close()


def test_an_authenticated_bundle_upload_is_spooled_not_held_in_memory(start_kiln):
    k = start_kiln()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("handler.py", "def handler(event, context):\n    return 1\n")
        z.writestr("weights.bin", os.urandom(60 * MiB))
    archive = buf.getvalue()
    before = peak_rss_mb(k)
    r = k.api("POST", "/v1/blobs", data=archive, timeout=120)
    assert r.status_code == 201, r.text
    assert r.json()["size"] == len(archive)
    assert peak_rss_mb(k) - before < 40, "the 60 MiB upload went through the daemon's memory"
    assert not list((k.data / "uploads").iterdir()), "the spooled upload was left behind"


def test_uploads_per_key_are_capped_with_429(start_kiln):
    k = start_kiln()
    header = (b"POST /v1/blobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
              b"Content-Length: %d\r\n\r\n" % (k.admin_key.encode(), 10 * MiB))
    stalled = [socket.create_connection(("127.0.0.1", k.port), timeout=30) for _ in range(2)]
    for s in stalled:
        s.sendall(header + b"x" * 1024)  # two uploads in progress, both slots taken

    def third():
        r = k.api("POST", "/v1/blobs", data=b"not an archive")
        return [r] if r.status_code == 429 else None  # (a 4xx Response is falsy)

    [refused] = wait_for(third, 8, "a third concurrent upload of one key refused")
    assert refused.json()["error"]["code"] == "throttled"
    assert refused.headers.get("Retry-After")
    for s in stalled:
        s.close()
    wait_for(lambda: k.api("POST", "/v1/blobs", data=b"x").status_code == 400, 20,
             "an upload admitted again once the others ended")
