"""Warm pools (issue #3): pre-warm at deploy, max containers and the queue, idle
eviction and scale to zero, recycling, the node memory budget, zero-downtime
redeploys, `kiln ps`, and container leave reasons. Windows are shortened per function
(kiln.yaml / deploy flags) so nothing here waits for minutes."""
import concurrent.futures
import threading
import time

import pytest

from helpers import unique, write_bundle, wait_for

SLOW = """
import json, time

def handler(event, context):
    time.sleep(json.loads(event["body"] or "{}").get("sleep", 0))
    return "done"
"""

VERSIONED = """
import os, time

def handler(event, context):
    time.sleep(0.02)
    return {"version": os.environ["KILN_FUNCTION_VERSION"], "tag": "%s"}
"""


def ps(kiln, *flags):
    return kiln.cli_json("ps", *flags)["containers"]


def live(kiln, name):
    return [c for c in ps(kiln) if c["function"] == name]


def ended(kiln, name):
    return [c for c in ps(kiln, "--all") if c["function"] == name and c["state"] == "gone"]


def call_all(fn, bodies):
    with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
        futures = [pool.submit(fn.call, json=b, timeout=30) for b in bodies]
        return [f.result(timeout=40) for f in futures]


def test_deploy_prewarms_so_the_first_request_is_warm(kiln, tmp_path):
    name = unique("warm")
    bundle = write_bundle(tmp_path / name, SLOW)
    p = kiln.cli("deploy", bundle, "--name", name)
    assert p.returncode == 0, p.stderr
    assert f"{name}:1 warm, zygote start: init" in p.stdout + p.stderr
    [c] = live(kiln, name)
    assert c["state"] == "warm" and c["invocations"] == 0 and c["rss_mb"] > 0
    kiln.cli_ok("route", "add", "POST", f"/{name}", name, "--auth", "none")
    r = kiln.request("POST", f"/{name}", json={})
    assert r.status_code == 200
    run = kiln.run(r.headers["X-Kiln-Run-Id"])
    assert run["cold"] is False and run["container_id"] == c["id"]
    assert run["queue_ms"] == 0


def test_no_wait_deploy_returns_before_the_container_is_warm(kiln, tmp_path):
    name = unique("nowait")
    bundle = write_bundle(tmp_path / name, "import time\ntime.sleep(1)\n" + SLOW)
    started = time.monotonic()
    out = kiln.cli_json("deploy", bundle, "--name", name, "--no-wait")
    assert time.monotonic() - started < 1.0
    assert out["prewarm"] is None
    # The reconcile loop warms min_warm in the background.
    wait_for(lambda: [c for c in live(kiln, name) if c["state"] == "warm"], 10, "a warm container")


def test_failed_init_fails_the_deploy_and_keeps_the_previous_version(kiln, tmp_path):
    fn = kiln.deploy_handler(tmp_path, VERSIONED % "good")
    assert fn.call().json()["version"] == "1"
    bad = write_bundle(tmp_path / "bad", "raise RuntimeError('model file is corrupt')\n")
    p = kiln.cli("deploy", bad, "--name", fn.name)
    assert p.returncode != 0
    assert "version 2 failed its init phase" in p.stderr and "model file is corrupt" in p.stderr
    assert "routes keep serving version 1" in p.stderr
    r = fn.call()
    assert r.status_code == 200 and r.json()["version"] == "1"
    versions = kiln.api_json("GET", f"/v1/functions/{fn.name}")
    assert [v["state"] for v in versions["versions"]] == ["ready", "failed"]
    assert versions["serving_version"] == 1
    # The next good deploy takes over.
    good = write_bundle(tmp_path / "good3", VERSIONED % "three")
    kiln.cli_ok("deploy", good, "--name", fn.name)
    assert fn.call().json() == {"version": "3", "tag": "three"}


def test_sixteen_clients_against_max_eight(kiln, tmp_path):
    fn = kiln.deploy_handler(tmp_path, SLOW, "--max-containers", "8")
    seen = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            seen.append(len(live(kiln, fn.name)))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        responses = call_all(fn, [{"sleep": 0.5}] * 16)
    finally:
        stop.set()
        watcher.join(timeout=30)
    assert [r.status_code for r in responses] == [200] * 16, [r.text for r in responses]
    runs = [fn.run_of(r) for r in responses]
    assert len({r["container_id"] for r in runs}) <= 8
    assert max(seen) <= 8, seen
    assert any(r["queue_ms"] > 0 for r in runs), "eight of them waited for a container"


def test_queue_bound_zero_throttles_the_second_request(kiln, tmp_path):
    fn = kiln.deploy_handler(tmp_path, SLOW, "--max-containers", "1", "--queue-size", "0")
    responses = call_all(fn, [{"sleep": 1.0}] * 2)
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 429], [r.text for r in responses]
    throttled = next(r for r in responses if r.status_code == 429)
    assert throttled.headers.get("Retry-After")
    assert fn.run_of(throttled)["status"] == "throttled"


def test_idle_eviction_then_scale_to_zero(kiln, tmp_path):
    fn = kiln.deploy_handler(tmp_path, SLOW, "--min-warm", "1", "--idle-evict-s", "1",
                             "--scale-to-zero-s", "4")
    call_all(fn, [{"sleep": 0.5}] * 3)
    assert len(live(kiln, fn.name)) == 3
    # Above min_warm: gone after the idle window; min_warm stays until fully idle.
    wait_for(lambda: len(live(kiln, fn.name)) == 1, 4, "back to min_warm")
    assert {c["reason"] for c in ended(kiln, fn.name)} == {"idle"}
    wait_for(lambda: len(live(kiln, fn.name)) == 0, 6, "scaled to zero")
    assert "scale_to_zero" in {c["reason"] for c in ended(kiln, fn.name)}
    run = fn.run_of(fn.call(json={}))
    assert run["cold"] is True, "the request after scale-to-zero starts a container"


def test_recycle_after_five_invocations(kiln, tmp_path):
    fn = kiln.deploy_handler(tmp_path, SLOW, "--recycle-after", "5")
    runs = [fn.run_of(fn.call(json={})) for _ in range(5)]
    assert [r["status"] for r in runs] == ["ok"] * 5
    first = runs[0]["container_id"]
    assert all(r["container_id"] == first for r in runs)
    # Its successor starts after the 5th request; the old one goes once that is warm.
    recycled = wait_for(lambda: [c for c in ended(kiln, fn.name) if c["id"] == first], 10,
                        "the first container recycled")
    assert recycled[0]["reason"] == "recycled" and recycled[0]["invocations"] == 5
    sixth = fn.run_of(fn.call(json={}))
    assert sixth["status"] == "ok"
    assert sixth["container_id"] != first, "the 6th request runs on a new container"
    assert sixth["cold"] is False, "the successor was warm before the old one went"


def test_recycling_under_load_costs_no_cold_start(kiln, tmp_path):
    fn = kiln.deploy_handler(tmp_path, SLOW, "--recycle-after", "5")
    runs = [fn.run_of(fn.call(json={})) for _ in range(30)]
    assert [r["status"] for r in runs] == ["ok"] * 30
    assert not any(r["cold"] for r in runs), "no request waited for a container to start"
    assert len({r["container_id"] for r in runs}) > 1


def test_memory_budget_evicts_the_least_recently_used_idle_container(start_kiln, tmp_path):
    k = start_kiln("--memory-budget-mb", "512")
    a = k.deploy_handler(tmp_path, SLOW, "--memory", "256")
    b = k.deploy_handler(tmp_path, SLOW, "--memory", "256")
    c = k.deploy_handler(tmp_path, SLOW, "--memory", "256", "--min-warm", "0")
    assert a.call(json={}).status_code == 200
    assert b.call(json={}).status_code == 200  # a is now the least recently used
    r = c.call(json={})
    assert r.status_code == 200, r.text
    assert c.run_of(r)["cold"] is True
    names = {x["function"] for x in ps(k)}
    assert names == {b.name, c.name}, names
    assert [x["reason"] for x in ended(k, a.name)] == ["budget"]


def test_memory_budget_full_of_busy_containers_queues_then_throttles(start_kiln, tmp_path):
    k = start_kiln("--memory-budget-mb", "256", "--min-warm", "0")
    a = k.deploy_handler(tmp_path, SLOW, "--memory", "256", "--queue-size", "0")
    b = k.deploy_handler(tmp_path, SLOW, "--memory", "256", "--queue-size", "0")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        busy = pool.submit(a.call, json={"sleep": 1.5}, timeout=30)
        time.sleep(0.5)
        r = b.call(json={})
        assert r.status_code == 429, r.text
        assert "memory budget" in r.json()["errorMessage"]
        assert busy.result(timeout=30).status_code == 200


def test_redeploy_under_load_has_no_failed_requests(kiln, tmp_path):
    fn = kiln.deploy_handler(tmp_path, VERSIONED % "one")
    results = {i: [] for i in range(8)}
    stop = threading.Event()

    def client(i):
        while not stop.is_set():
            r = fn.call(timeout=30)
            results[i].append((r.status_code, r.json().get("version") if r.ok else r.text))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    try:
        time.sleep(4)
        v2 = write_bundle(tmp_path / "v2", VERSIONED % "two")
        kiln.cli_ok("deploy", v2, "--name", fn.name)
        time.sleep(6)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    every = [x for i in results for x in results[i]]
    assert len(every) > 100
    assert [x for x in every if x[0] != 200] == []
    for i, seq in results.items():
        versions = [v for _, v in seq]
        assert versions[-1] == "2", f"client {i} never saw version 2"
        switch = versions.index("2")
        assert set(versions[switch:]) == {"2"}, f"client {i} went back to version 1"
    # Version 1's containers drained and went.
    wait_for(lambda: all(c["version"] == 2 for c in live(kiln, fn.name)), 5, "v1 drained")
    assert {c["reason"] for c in ended(kiln, fn.name)} <= {"superseded"}


def test_ps_shows_live_containers(kiln, tmp_path):
    fn = kiln.deploy_handler(tmp_path, SLOW)
    fn.call(json={})
    out = kiln.cli_ok("ps")
    line = next(line for line in out.splitlines() if fn.name in line)
    assert "warm" in line
    [c] = live(kiln, fn.name)
    assert c["invocations"] == 1 and c["version"] == 1 and c["idle_s"] is not None


@pytest.mark.parametrize("pool, message", [
    ({"min_wram": 2}, "unknown setting 'min_wram'"),
    ({"max_containers": 1.5}, "pool.max_containers must be an integer"),
    ({"max_containers": 65}, "max_containers must be within 1-64"),
    ({"min_warm": 3, "max_containers": 2}, "must not exceed max_containers"),
    ({"idle_evict_s": 0}, "idle_evict_s must be between"),
])
def test_bad_pool_settings_are_refused_and_nothing_is_recorded(kiln, tmp_path, pool, message):
    name = unique("badpool")
    bundle = write_bundle(tmp_path / name, SLOW)
    kiln.cli_ok("deploy", bundle, "--name", name)
    blob = kiln.api_json("GET", f"/v1/functions/{name}")["versions"][0]["blob"]
    r = kiln.api("POST", f"/v1/functions/{name}/versions", json={"blob": blob, "pool": pool})
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]["message"]
    assert len(kiln.api_json("GET", f"/v1/functions/{name}")["versions"]) == 1
