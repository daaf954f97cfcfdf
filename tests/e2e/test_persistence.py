"""State lives in the data dir: a restarted daemon has everything, and no run is
left without a final record (SPEC §5)."""
import concurrent.futures
import time
import uuid

import requests

from helpers import pids_holding, unique

ECHO = """
import json

def handler(event, context):
    return json.loads(event["body"])
"""


def snapshot(k, fn, run_id):
    return {
        # Without what lives and moves: containers, and the last hour's figures.
        "function": {f: v for f, v in k.api_json("GET", f"/v1/functions/{fn.name}").items()
                     if f not in ("containers", "last_hour")},
        "routes": k.api_json("GET", "/v1/routes")["routes"],
        # Without last_used_at: the snapshot's own calls use the admin key.
        "keys": [{f: v for f, v in key.items() if f != "last_used_at"}
                 for key in k.api_json("GET", "/v1/keys")["keys"]],
        "run": k.run(run_id),
    }


def test_everything_survives_a_restart(start_kiln, tmp_path):
    data = tmp_path / "data"
    k = start_kiln(data=data)
    fn = k.deploy_handler(tmp_path, ECHO, auth="key")
    k.deploy_handler(tmp_path, ECHO, "--force", name=fn.name, methods=())  # a second version
    key = k.create_key(unique("client"), "--route", fn.path)
    r = k.request("POST", fn.path, key=key, json={"n": 1})
    assert r.status_code == 200, r.text
    before = snapshot(k, fn, r.headers["X-Kiln-Run-Id"])
    assert [v["version"] for v in before["function"]["versions"]] == [1, 2]
    assert k.stop() == 0, "SIGTERM should end kiln serve with status 0"

    k2 = start_kiln(data=data)
    assert k2.admin_key == k.admin_key
    after = snapshot(k2, fn, r.headers["X-Kiln-Run-Id"])
    for part in before:
        assert after[part] == before[part], part
    again = k2.request("POST", fn.path, key=key, json={"n": 2})
    assert again.status_code == 200 and again.json() == {"n": 2}, again.text


def test_run_in_flight_when_daemon_is_killed_is_closed_as_crashed(start_kiln, tmp_path):
    data = tmp_path / "data"
    k = start_kiln(data=data)
    fn = k.deploy_handler(tmp_path, """
        import json, time

        def handler(event, context):
            hold = json.loads(event["body"]).get("hold")
            if hold:
                with open(hold, "w"):
                    time.sleep(20)
            return "done"
        """)
    marker = f"/tmp/kiln-e2e-{uuid.uuid4().hex}"
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(fn.call, json={"hold": marker})
        deadline = time.monotonic() + 10
        while not pids_holding(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pids_holding(marker), "the handler never started"
        runs = k.runs(fn.name)
        assert [r["status"] for r in runs] == ["running"], \
            f"an invocation in flight must already have a run record: {runs}"
        running = runs[0]
        k.proc.kill()  # kill -9 the daemon, by its pid
        k.proc.wait(timeout=10)
        try:
            pending.result(timeout=40)
        except requests.RequestException:
            pass  # the connection dies with the daemon

    k2 = start_kiln(data=data)
    run = k2.run(running["id"])
    assert run["status"] == "crashed", run
    deadline = time.monotonic() + 10
    while pids_holding(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pids_holding(marker), "the container outlived its daemon"
    after = k2.request("POST", fn.path, json={})
    assert after.status_code == 200 and after.json() == "done", after.text


def test_records_are_deleted_after_the_retention(start_kiln, tmp_path):
    # --retention-days 0.00003 keeps records about 2.6 s and sweeps about every 0.26 s.
    from helpers import wait_for
    k = start_kiln("--retention-days", "0.00003")
    fn = k.deploy_handler(tmp_path, ECHO)
    sync_id = fn.call(json={"n": 1}).headers["X-Kiln-Run-Id"]
    async_id = fn.call(json={"n": 2}, headers={"X-Kiln-Invocation-Type": "Event"}).json()["run_id"]
    k.api_json("PUT", f"/v1/pipelines/{fn.name}", expect=201, json={"steps": [{"function": fn.name}]})
    pipeline_run = k.api_json("POST", f"/v1/pipelines/{fn.name}/runs", expect=202,
                              json={"body": "{\"n\": 3}"})["run_id"]
    assert k.run(sync_id)["status"] == "ok"  # kept for now
    wait_for(lambda: k.api_json("GET", f"/v1/pipeline-runs/{pipeline_run}")["status"] == "ok", 10, "the pipeline")
    wait_for(lambda: all(k.api("GET", path).status_code == 404 for path in (
        f"/v1/runs/{sync_id}", f"/v1/runs/{async_id}", f"/v1/pipeline-runs/{pipeline_run}")),
        30, "the records to be deleted")
    assert k.runs(fn.name) == []
    assert "retention: deleted" in k.log_path.read_text()
    # The daemon goes on recording new runs.
    assert fn.call(json={"n": 4}).status_code == 200
