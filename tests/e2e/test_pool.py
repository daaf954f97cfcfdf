"""The pool: containers scale out under concurrency up to --max-containers, one request
per container; past that requests queue (FIFO, bounded) and past the bound get 429."""
import concurrent.futures
import re
import threading
import time

from helpers import wait_for

SLOW = """
import json, time

def handler(event, context):
    time.sleep(json.loads(event["body"] or "{}").get("sleep", 0))
    return "done"
"""


def call_all(fn, bodies):
    with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
        futures = [pool.submit(fn.call, json=b, timeout=30) for b in bodies]
        return [f.result(timeout=40) for f in futures]


def test_concurrent_requests_get_containers_of_their_own(kiln, tmp_path):
    fn = kiln.deploy_handler(tmp_path, SLOW)
    started = time.monotonic()
    responses = call_all(fn, [{"sleep": 1.0}] * 3)
    elapsed = time.monotonic() - started
    assert [r.status_code for r in responses] == [200] * 3, [r.text for r in responses]
    containers = {fn.run_of(r)["container_id"] for r in responses}
    assert len(containers) == 3, "three concurrent requests, three containers"
    # Served side by side, not one after the other (3 x 1 s).
    assert elapsed < 2.9, elapsed


def test_idle_containers_are_reused_most_recent_first(kiln, tmp_path):
    fn = kiln.deploy_handler(tmp_path, SLOW)
    call_all(fn, [{"sleep": 0.5}] * 2)  # two warm containers
    runs = [fn.run_of(fn.call(json={})) for _ in range(5)]
    assert all(not r["cold"] for r in runs)
    assert len({r["container_id"] for r in runs}) == 1, "light load stays on the hottest one"


def test_past_max_containers_requests_queue_then_throttle(start_kiln, tmp_path):
    k = start_kiln("--max-containers", "1", "--queue-size", "1")
    fn = k.deploy_handler(tmp_path, SLOW, "--timeout", "10s")
    assert fn.call(json={}).status_code == 200  # warm
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        busy = pool.submit(fn.call, json={"sleep": 1.5}, timeout=30)
        time.sleep(0.3)
        queued = pool.submit(fn.call, json={}, timeout=30)
        time.sleep(0.3)
        throttled = fn.call(json={}, timeout=30)
        assert throttled.status_code == 429, throttled.text
        assert throttled.headers.get("Retry-After")
        assert fn.run_of(throttled)["status"] == "throttled"
        assert busy.result(timeout=30).status_code == 200
        r = queued.result(timeout=30)
    assert r.status_code == 200, r.text
    assert fn.run_of(r)["cold"] is False, "the queued request got the released container"


def live_containers(kiln, name):
    doc = kiln.api_json("GET", "/v1/containers")
    return [c for c in doc["containers"] if c["function"] == name]


def test_max_containers_holds_while_containers_recycle(start_kiln, tmp_path):
    """Defect 6 of issue #14: recycling started successors past max_containers (8 alive
    with max 2). A successor may exceed the cap only by the one container it replaces."""
    k = start_kiln("--max-containers", "2")
    fn = k.deploy_handler(tmp_path, SLOW, "--recycle-after", "5", "--timeout", "20s")
    most, done = [0], threading.Event()

    def sample():
        while not done.is_set():
            most[0] = max(most[0], len(live_containers(k, fn.name)))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: fn.call(json={"sleep": 0.005}, timeout=60).status_code,
                                     range(300)))
    finally:
        done.set()
        sampler.join()
    assert statuses == [200] * 300, sorted(set(statuses))
    ended = [c for c in k.api_json("GET", "/v1/containers", params={"all": "true"})["containers"]
             if c["function"] == fn.name and c.get("reason") == "recycled"]
    assert len(ended) >= 10, "the load made containers recycle"
    assert most[0] <= 3, f"{most[0]} containers alive at once with max_containers 2"


def test_throttles_are_counted_and_share_a_record_per_second(start_kiln, tmp_path):
    """Defect 11 of issue #14: every 429 wrote a run record (11k/s grew the store by
    229 MB in seconds). Now: a counter per version, at most one record per second."""
    k = start_kiln("--max-containers", "1", "--queue-size", "0")
    fn = k.deploy_handler(tmp_path, SLOW, "--timeout", "60s")
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        busy = pool.submit(fn.call, json={"sleep": 10}, timeout=60)
        wait_for(lambda: [c for c in live_containers(k, fn.name) if c["state"] == "busy"], 10,
                 "the only container busy")
        throttled = list(pool.map(lambda _: fn.call(json={}, timeout=30), range(500)))
        assert busy.result(timeout=60).status_code == 200
    assert [r.status_code for r in throttled] == [429] * 500
    [version] = k.api_json("GET", f"/v1/functions/{fn.name}")["versions"]
    assert version["throttled"] == 500, version

    def records():
        runs = k.api_json("GET", "/v1/runs", params={"function": fn.name, "status": "throttled",
                                                     "limit": 1000})["runs"]
        # Each record says how many throttles it stands for once its second is over.
        stands_for = [int(m.group(1)) if (m := re.search(r"\((\d+) requests of", r["error_message"]))
                      else 1 for r in runs]
        return runs if sum(stands_for) == 500 else None

    runs = wait_for(records, 10, "the throttled records to account for all 500")
    assert len(runs) <= 10, f"{len(runs)} records for 500 throttled requests"
    # Every throttled answer names a record that exists (the one it shares).
    assert {r.headers["X-Kiln-Run-Id"] for r in throttled} == {r["id"] for r in runs}
