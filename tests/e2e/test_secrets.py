"""Secrets (SPEC §1): set from stdin, listed by name and time, stored sealed, and
reaching only the container's environment through `env: {NAME: secret:SECRET}`:
never the API, the CLI, the logs, the run records or the database in plain text."""
import hashlib
import os
import stat

from helpers import unique, write_bundle

CHECKS_ENV = """
import hashlib, os

def handler(event, context):
    value = os.environ.get("DB_PASSWORD", "")
    print("handler ran")
    return {"sha256": hashlib.sha256(value.encode()).hexdigest(), "ref": os.environ.get("PLAIN")}
"""


def plaintext_anywhere(kiln, value):
    """Where the plain value can be found on disk: the database, its WAL, the log."""
    found = []
    for name in ("kiln.db", "kiln.db-wal", "kiln.db-shm"):
        path = kiln.data / name
        if path.exists() and value.encode() in path.read_bytes():
            found.append(name)
    if value.encode() in kiln.log_path.read_bytes():
        found.append("daemon log")
    return found


def test_a_secret_reaches_the_handler_and_nowhere_else(kiln, tmp_path):
    secret, value = unique("db"), "pw-" + os.urandom(12).hex()
    kiln.cli_ok("secret", "set", secret, input=value + "\n")
    listed = kiln.cli_json("secret", "ls")["secrets"]
    mine = [s for s in listed if s["name"] == secret]
    assert len(mine) == 1 and mine[0]["updated_at"], listed
    assert value not in kiln.cli_ok("secret", "ls") and value not in str(listed)

    name = unique("sec")
    bundle = write_bundle(tmp_path / name, CHECKS_ENV, {"kiln.yaml": f"env:\n  PLAIN: visible\n  DB_PASSWORD: secret:{secret}\n"})
    kiln.cli_ok("deploy", bundle, "--name", name)
    kiln.cli_ok("route", "add", "POST", f"/{name}", name, "--auth", "none")
    r = kiln.request("POST", f"/{name}", json={})
    assert r.status_code == 200, r.text
    assert r.json() == {"sha256": hashlib.sha256(value.encode()).hexdigest(), "ref": "visible"}

    function = kiln.api_json("GET", f"/v1/functions/{name}")
    assert function["versions"][-1]["env_secrets"] == {"DB_PASSWORD": secret}
    assert sorted(function["versions"][-1]["env"]) == ["DB_PASSWORD", "PLAIN"]
    assert value not in str(function) and "visible" not in str(function)
    run = kiln.run(r.headers["X-Kiln-Run-Id"])
    assert value not in kiln.cli_ok("run", "show", run["id"]) + kiln.cli_ok("runs", name)
    assert value not in str(run) and "handler ran" in run["logs"]
    assert value not in kiln.api("GET", "/v1/secrets").text
    assert plaintext_anywhere(kiln, value) == []
    assert stat.S_IMODE(os.stat(kiln.data / "secret.key").st_mode) == 0o600
    assert os.path.getsize(kiln.data / "secret.key") == 32


def test_a_secret_update_reaches_versions_deployed_after(kiln, tmp_path):
    secret = unique("db")
    kiln.cli_ok("secret", "set", secret, input="first")
    kiln.cli_ok("secret", "set", secret, input="second")
    name = unique("sec")
    kiln.cli_ok("deploy", write_bundle(tmp_path / name, CHECKS_ENV), "--name", name,
                "--env", f"DB_PASSWORD=secret:{secret}")
    out = kiln.api_json("POST", f"/v1/functions/{name}/invocations", json={})
    assert out["sha256"] == hashlib.sha256(b"second").hexdigest()


def test_a_deploy_naming_a_missing_secret_is_refused(kiln, tmp_path):
    name, missing = unique("sec"), unique("nosuch")
    p = kiln.cli("deploy", write_bundle(tmp_path / name, CHECKS_ENV), "--name", name,
                 "--env", f"DB_PASSWORD=secret:{missing}")
    assert p.returncode != 0 and f"DB_PASSWORD refers to secret {missing}" in p.stderr, p.stderr
    assert kiln.api("GET", f"/v1/functions/{name}").status_code == 404


def test_removing_a_secret_in_use_is_refused_naming_the_version(kiln, tmp_path):
    secret, name = unique("db"), unique("sec")
    kiln.cli_ok("secret", "set", secret, input="v")
    kiln.cli_ok("deploy", write_bundle(tmp_path / name, CHECKS_ENV), "--name", name,
                "--env", f"DB_PASSWORD=secret:{secret}")
    r = kiln.api("DELETE", f"/v1/secrets/{secret}")
    assert r.status_code == 409 and f"{name}:1" in r.json()["error"]["message"], r.text
    kiln.cli_ok("deploy", write_bundle(tmp_path / name, CHECKS_ENV), "--name", name, "--env-clear")  # v2, no secret
    kiln.cli_ok("secret", "rm", secret)
    assert secret not in [s["name"] for s in kiln.cli_json("secret", "ls")["secrets"]]
    assert kiln.api("DELETE", f"/v1/secrets/{secret}").status_code == 404


def test_secret_api_never_returns_a_value_and_checks_its_input(kiln):
    secret = unique("db")
    put = kiln.api("PUT", f"/v1/secrets/{secret}", json={"value": "api-value-123"})
    assert put.status_code == 201 and "api-value-123" not in put.text, put.text
    again = kiln.api("PUT", f"/v1/secrets/{secret}", json={"value": "api-value-456"})
    assert again.status_code == 200 and "api-value" not in again.text, again.text
    assert kiln.api("GET", f"/v1/secrets/{secret}").status_code in (404, 405)
    assert kiln.api("PUT", f"/v1/secrets/{secret}", json={}).status_code == 400
    assert kiln.api("PUT", "/v1/secrets/bad%20name", json={"value": "x"}).status_code == 400
    assert kiln.cli("secret", "set", unique("db"), input="").returncode != 0
