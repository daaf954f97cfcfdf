"""Control roles (SPEC §1): every operation of the OpenAPI document, for each kind of
caller, is refused (401/403) or not exactly as the operation's x-kiln-role says
(reader < deployer < admin). The table is read from the served document, so an
operation added without a role, or whose role the daemon's table does not know (the
daemon then needs admin: default deny), fails here."""
import re

import pytest
import requests

from helpers import unique

RANK = {"none": 0, "reader": 1, "deployer": 2, "admin": 3}
METHODS = ("get", "post", "put", "patch", "delete")
CALLERS = ("admin", "deployer", "reader", "route", "nokey")


@pytest.fixture(scope="module")
def keys(kiln):
    made = {"admin": kiln.admin_key}
    for role in ("deployer", "reader"):
        made[role] = kiln.create_key(unique(role), "--role", role)
    made["route"] = kiln.create_key(unique("route"), "--route", "/some-route")
    made["nokey"] = None
    return made


def operations(kiln):
    doc = requests.get(kiln.url + "/v1/openapi.json", timeout=30).json()
    ops = []
    for path, item in doc["paths"].items():
        if not path.startswith("/v1/") and path != "/metrics":
            continue
        for method in METHODS:
            if method in item:
                ops.append((method, path, item[method].get("x-kiln-role")))
    assert len(ops) > 30, ops
    return ops


def allowed(caller, role):
    if role == "none":
        return True
    if caller in ("route", "nokey"):
        return False
    return RANK[caller] >= RANK[role]


def test_every_operation_says_its_role(kiln):
    missing = [f"{m.upper()} {p}" for m, p, role in operations(kiln) if role not in RANK]
    assert not missing, f"operations without a valid x-kiln-role: {missing}"


def test_each_role_is_refused_or_not_as_the_table_says(kiln, keys):
    wrong = []
    for method, path, role in operations(kiln):
        # Dummy path parameters: names and ids that exist nowhere, so nothing is changed.
        concrete = re.sub(r"\{[^}]+\}", "nosuch-" + unique("x")[-8:], path)
        for caller in CALLERS:
            headers = {"Authorization": f"Bearer {keys[caller]}"} if keys[caller] else {}
            body = b"{}" if method in ("post", "put", "patch") else None
            r = requests.request(method, kiln.url + concrete, headers=headers, data=body, timeout=30)
            refused = r.status_code in (401, 403)
            if refused == allowed(caller, role):
                wrong.append(f"{method.upper()} {path} as {caller} (x-kiln-role {role}): {r.status_code} {r.text[:120]}")
            if not allowed(caller, role):
                assert r.status_code == (401 if caller == "nokey" else 403), wrong[-1] if wrong else r.text
    assert not wrong, "\n".join(wrong)


def test_deployer_deploys_and_reader_reads(kiln, keys, tmp_path):
    fn = kiln.deploy_handler(tmp_path, "def handler(event, context):\n    return 1\n")
    r = kiln.api("POST", "/v1/routes", key=keys["deployer"],
                 json={"method": "GET", "path": f"/{fn.name}-d", "function": fn.name, "auth": "none"})
    assert r.status_code == 201, r.text
    assert kiln.api("GET", "/v1/routes", key=keys["reader"]).status_code == 200
    r = kiln.api("POST", "/v1/routes", key=keys["reader"],
                 json={"method": "GET", "path": f"/{fn.name}-r", "function": fn.name, "auth": "none"})
    assert r.status_code == 403 and "reader" in r.json()["error"]["message"], r.text
    assert kiln.api("POST", "/v1/keys", key=keys["deployer"], json={"name": "x", "role": "admin"}).status_code == 403


def test_cli_role_flag(kiln):
    r = kiln.cli("key", "create", unique("bad"), "--role", "root")
    assert r.returncode != 0
    name = unique("dep")
    kiln.create_key(name, "--role", "deployer")
    [k] = [k for k in kiln.cli_json("key", "ls")["keys"] if k["name"] == name]
    assert k["role"] == "deployer" and k["admin"] is False
