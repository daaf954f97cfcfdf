"""The caller's key never reaches the handler or the disk (issue #14, defect 5): the
event carries no Authorization or X-Api-Key header, and names the key that was
accepted in requestContext.authorizer instead; the async queue, which stores the
event, holds no key either."""
import json
import sqlite3

from helpers import unique, wait_for, write_bundle

ECHO_EVENT = """
import json, time

def handler(event, context):
    if event.get("body") and json.loads(event["body"]).get("sleep"):
        time.sleep(json.loads(event["body"])["sleep"])
    return {"headers": event["headers"], "authorizer": event["requestContext"].get("authorizer")}
"""


def deploy_echo(kiln, tmp_path, auth, mode="sync"):
    name = unique("creds")
    kiln.cli_ok("deploy", write_bundle(tmp_path / name, ECHO_EVENT), "--name", name)
    kiln.cli_ok("route", "add", "POST", f"/{name}", name, "--auth", auth, "--mode", mode)
    return name


def file_bytes(kiln):
    return b"".join((kiln.data / f).read_bytes() for f in ("kiln.db", "kiln.db-wal") if (kiln.data / f).exists())


def test_a_keyed_route_hands_the_key_id_and_name_not_the_key(kiln, tmp_path):
    name = deploy_echo(kiln, tmp_path, "key")
    key = kiln.create_key("caller-" + name, "--route", f"/{name}")
    key_id = key.split("_")[1]
    for headers in ({"Authorization": f"Bearer {key}"}, {"X-Api-Key": key}):
        r = kiln.request("POST", f"/{name}", headers=headers, json={})
        assert r.status_code == 200, r.text
        seen = r.json()
        assert "authorization" not in seen["headers"] and "x-api-key" not in seen["headers"], seen
        assert key not in r.text
        assert seen["authorizer"] == {"kiln": {"keyId": key_id, "keyName": "caller-" + name}}, seen


def test_a_public_route_has_no_authorizer_and_no_credentials(kiln, tmp_path):
    name = deploy_echo(kiln, tmp_path, "none")
    r = kiln.request("POST", f"/{name}", headers={"Authorization": "Bearer not-a-kiln-key"}, json={})
    assert r.status_code == 200, r.text
    assert r.json()["authorizer"] is None
    assert "authorization" not in r.json()["headers"]


def test_a_queued_async_run_stores_no_key(kiln, tmp_path):
    name = deploy_echo(kiln, tmp_path, "key", mode="async")
    key = kiln.create_key("async-" + name, "--route", f"/{name}")
    r = kiln.request("POST", f"/{name}", key=key, json={"sleep": 3})
    assert r.status_code == 202, r.text
    run_id = r.json()["run_id"]
    db = sqlite3.connect(f"file:{kiln.data / 'kiln.db'}?mode=ro", uri=True)
    try:
        # The queue row lives until the run's final record is written.
        row = db.execute("SELECT event FROM async_queue WHERE run_id = ?", (run_id,)).fetchone()
    finally:
        db.close()
    assert row is not None, "the run left the queue before it could be read"
    event = json.loads(row[0])
    assert "authorization" not in event["headers"], event["headers"]
    assert event["requestContext"]["authorizer"]["kiln"]["keyName"] == "async-" + name
    assert key.encode() not in file_bytes(kiln)
    run = wait_for(lambda: (lambda x: x if x["status"] not in ("queued", "running") else None)(kiln.run(run_id)),
                   30, "the async run ends")
    assert run["status"] == "ok", run
    assert key not in run["result"]
    assert key.encode() not in file_bytes(kiln)
