"""The gateway's answers before and around a handler: auth, routing, body cap,
malformed HTTP (SPEC §4 user routes, §6)."""
import pytest

from helpers import raw_http, unique

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
