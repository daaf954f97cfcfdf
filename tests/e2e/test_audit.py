"""The audit log (SPEC §1): every control-plane change, with who (key id, role),
from where, what, and how it ended; never a body. GET /v1/audit, kiln audit."""
import re

from helpers import unique

OK = """
def handler(event, context):
    return "ok"
"""
KEY_FORMAT = re.compile(r"kiln_([A-Za-z0-9]{8})_")


def audit(kiln, **params):
    return kiln.api_json("GET", "/v1/audit", params=params)["entries"]


def test_changes_are_audited_with_who_where_and_outcome(kiln, tmp_path):
    admin_id = KEY_FORMAT.match(kiln.admin_key).group(1)
    fn = kiln.deploy_handler(tmp_path, OK)  # blob, version, route: all by the admin key
    deployer = kiln.create_key(unique("dep"), "--role", "deployer")
    deployer_id = KEY_FORMAT.match(deployer).group(1)
    r = kiln.api("POST", "/v1/routes", key=deployer,
                 json={"method": "GET", "path": f"/{fn.name}-get", "function": fn.name, "auth": "none"})
    assert r.status_code == 201, r.text
    route_id = r.json()["id"]
    assert kiln.api("DELETE", f"/v1/routes/{route_id}", key=deployer).status_code == 204
    denied = kiln.api("POST", "/v1/keys", key=deployer, json={"name": "nope", "role": "admin"})
    assert denied.status_code == 403

    entries = audit(kiln)
    def find(method, path, key_id):
        return [e for e in entries if e["method"] == method and e["path"] == path and e["key_id"] == key_id]

    [version] = find("POST", f"/v1/functions/{fn.name}/versions", admin_id)
    assert version["status"] == 201 and version["target"] == fn.name and version["role"] == "admin"
    assert version["source"] == "127.0.0.1" and version["at"]
    [created] = [e for e in find("POST", "/v1/routes", deployer_id) if e["status"] == 201]
    assert created["role"] == "deployer" and created["target"] == str(route_id), created
    [removed] = find("DELETE", f"/v1/routes/{route_id}", deployer_id)
    assert removed["status"] == 204 and removed["target"] == str(route_id)
    [refused] = find("POST", "/v1/keys", deployer_id)
    assert refused["status"] == 403, "a refused attempt is audited too"
    [key_made] = [e for e in find("POST", "/v1/keys", admin_id) if e["status"] == 201]
    assert key_made["target"], key_made
    # Reads are not changes.
    assert not [e for e in entries if e["method"] == "GET"]


def test_key_changes_are_audited_and_no_secret_is_kept(kiln):
    name = unique("audited")
    key = kiln.create_key(name, "--route", "/x")
    key_id = KEY_FORMAT.match(key).group(1)
    rotated = kiln.cli_ok("key", "rotate", key_id, "--grace", "1m").strip().splitlines()[-1]
    kiln.cli_ok("key", "rm", key_id)
    entries = audit(kiln)
    paths = [(e["method"], e["path"], e["status"]) for e in entries]
    assert ("POST", f"/v1/keys/{key_id}/rotate", 200) in paths
    assert ("DELETE", f"/v1/keys/{key_id}", 204) in paths
    [made] = [e for e in entries if e["path"] == "/v1/keys" and e["target"] in (name, key_id)]
    assert made["status"] == 201
    text = str(entries)
    for secret in (key, rotated, key[14:54], rotated[14:54]):
        assert secret not in text


def test_unauthenticated_requests_are_not_audited(kiln):
    before = len(audit(kiln, limit=1000))
    r = kiln.api("POST", "/v1/routes", key="kiln_nope", json={})
    assert r.status_code == 401
    assert len(audit(kiln, limit=1000)) == before


def test_kiln_audit_cli(kiln):
    kiln.create_key(unique("cli"), "--route", "/x")
    doc = kiln.cli_json("audit", "--since", "1h")
    assert doc["entries"] and all(e["path"].startswith("/v1/") for e in doc["entries"])
    table = kiln.cli_ok("audit", "--since", "1h")
    assert "METHOD" in table and "/v1/keys" in table
    # since: nothing in the future; limit: the newest.
    assert kiln.api_json("GET", "/v1/audit", params={"since": 99999999999999})["entries"] == []
    [newest] = audit(kiln, limit=1)
    assert newest == audit(kiln)[-1]
    assert kiln.cli("audit", "--since", "yesterday").returncode != 0
