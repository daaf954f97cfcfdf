"""Async (background) runs, issue #6: 202 Accepted with Location, a durable queue that
survives `kill -9` of the daemon, at-least-once delivery with retries, the async
budget, Idempotency-Key, max_event_age_s, max_queued, result_too_large, and sync
requests served first while async work drains.

Each test deploys its own function with a plain-Python handler; the kill -9 test runs
its own daemon and kills it by pid. Everything is bounded in time and loopback only.
"""
import concurrent.futures
import os
import signal
import threading
import time

import pytest

from helpers import unique, write_bundle

FINAL = {"ok", "error", "timeout", "oom", "crashed", "result_too_large", "expired", "throttled", "rejected"}

# The handler reads what to do from the request body: sleep, crash on an attempt,
# raise, or return a large result. It answers with what it saw.
HANDLER = r'''
import json, os, time

def handler(event, context):
    body = event.get("body") if isinstance(event, dict) else None
    args = json.loads(body) if body else (event if isinstance(event, dict) else {})
    if args.get("sleep"):
        time.sleep(args["sleep"])
    if args.get("crash_on_attempt") == context.attempt:
        os._exit(3)
    if args.get("raise"):
        raise ValueError("asked to fail")
    if args.get("big"):
        return "x" * args["big"]
    return {"attempt": context.attempt, "echo": args.get("echo"), "request_id": context.aws_request_id}
'''


def deploy(kiln, tmp_path, yaml="", mode="sync", name=None):
    name = name or unique("async")
    files = {"kiln.yaml": yaml} if yaml else None
    bundle = write_bundle(tmp_path / name, HANDLER, files)
    kiln.cli_ok("deploy", bundle, "--name", name, "--min-warm", "0")
    kiln.cli_ok("route", "add", "POST", f"/{name}", name, "--auth", "none", "--mode", mode)
    return name


def enqueue(kiln, name, body, **headers):
    r = kiln.request("POST", f"/{name}", json=body,
                     headers={"X-Kiln-Invocation-Type": "Event", **headers})
    return r


def wait_final(kiln, run_id, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = kiln.run(run_id)
        if run["status"] in FINAL:
            return run
        time.sleep(0.1)
    pytest.fail(f"run {run_id} not final after {timeout} s: {kiln.run(run_id)}")


def statuses(kiln, name):
    return [r["status"] for r in kiln.runs(name, limit=1000)]


def test_async_route_answers_202_with_location_and_the_run_ends_ok(kiln, tmp_path):
    name = deploy(kiln, tmp_path, mode="async")
    r = kiln.request("POST", f"/{name}", json={"echo": "hello"})
    assert r.status_code == 202, r.text
    run_id = r.json()["run_id"]
    assert r.headers["Location"] == f"/v1/runs/{run_id}"
    assert r.headers["X-Kiln-Run-Id"] == run_id
    run = wait_final(kiln, run_id)
    assert (run["status"], run["trigger"], run["attempt"]) == ("ok", "async", 1), run
    assert '"echo": "hello"' in run["result"] and run_id in run["result"]
    # The CLI waits for it too, and shows the same record.
    shown = kiln.cli_json("run", "show", run_id, "--wait")
    assert shown["status"] == "ok" and shown["id"] == run_id


def test_invocation_type_event_and_idempotency_key_make_one_run(kiln, tmp_path):
    name = deploy(kiln, tmp_path)
    first = enqueue(kiln, name, {"echo": 1}, **{"Idempotency-Key": "order-42"})
    again = enqueue(kiln, name, {"echo": 2}, **{"Idempotency-Key": "order-42"})
    assert (first.status_code, again.status_code) == (202, 202), (first.text, again.text)
    assert first.json()["run_id"] == again.json()["run_id"]
    assert (first.json()["created"], again.json()["created"]) == (True, False)
    run = wait_final(kiln, first.json()["run_id"])
    assert run["status"] == "ok" and '"echo": 1' in run["result"], run
    other = enqueue(kiln, name, {"echo": 3}, **{"Idempotency-Key": "order-43"})
    wait_final(kiln, other.json()["run_id"])
    assert len(kiln.runs(name)) == 2  # one per key, never a second execution
    # kiln invoke --async prints the run id alone on its last line.
    out = kiln.cli_ok("invoke", name, "--async", "--data", '{"echo": "cli"}').strip().splitlines()[-1]
    assert wait_final(kiln, out)["status"] == "ok"


def test_a_run_past_the_sync_timeout_succeeds_with_the_async_budget(kiln, tmp_path):
    name = deploy(kiln, tmp_path, yaml="timeout: 1s\n")
    sync = kiln.request("POST", f"/{name}", json={"sleep": 2})
    assert sync.status_code == 504, sync.text
    r = enqueue(kiln, name, {"sleep": 2, "echo": "slow"})
    run = wait_final(kiln, r.json()["run_id"])
    assert run["status"] == "ok" and run["duration_ms"] >= 2000, run


def test_a_crash_on_the_first_attempt_is_retried_and_succeeds(kiln, tmp_path):
    name = deploy(kiln, tmp_path)
    r = enqueue(kiln, name, {"crash_on_attempt": 1})
    run = wait_final(kiln, r.json()["run_id"])
    assert (run["status"], run["attempt"]) == ("ok", 2), run
    assert '"attempt": 2' in run["result"]


def test_handler_errors_are_not_retried_unless_the_function_asks(kiln, tmp_path):
    plain = deploy(kiln, tmp_path)
    run = wait_final(kiln, enqueue(kiln, plain, {"raise": True}).json()["run_id"])
    assert (run["status"], run["attempt"], run["error_type"]) == ("error", 1, "ValueError"), run
    retried = deploy(kiln, tmp_path, yaml="retries: 1\nretry_on_error: true\n")
    run = wait_final(kiln, enqueue(kiln, retried, {"raise": True}).json()["run_id"])
    assert (run["status"], run["attempt"]) == ("error", 2), run


def test_a_result_over_64_kib_is_result_too_large_and_keeps_the_logs(kiln, tmp_path):
    name = deploy(kiln, tmp_path)
    run = wait_final(kiln, enqueue(kiln, name, {"big": 100_000}).json()["run_id"])
    assert run["status"] == "result_too_large", run
    assert "page the results" in run["error_message"] and "REPORT RequestId" in run["logs"]


def occupy(kiln, name, seconds):
    """A sync request holding the function's only container for `seconds`."""
    t = threading.Thread(target=kiln.request, args=("POST", f"/{name}"),
                         kwargs={"json": {"sleep": seconds}, "timeout": 30})
    t.start()
    time.sleep(0.5)  # it has the container now
    return t


def test_a_run_queued_past_max_event_age_expires(kiln, tmp_path):
    name = deploy(kiln, tmp_path, yaml="max_containers: 1\nmax_event_age_s: 1\ntimeout: 5s\n")
    busy = occupy(kiln, name, 3)
    r = enqueue(kiln, name, {"echo": "late"})
    run = wait_final(kiln, r.json()["run_id"])
    busy.join()
    assert run["status"] == "expired" and "max_event_age_s" in run["error_message"], run


def test_past_max_queued_the_answer_is_429(kiln, tmp_path):
    name = deploy(kiln, tmp_path, yaml="max_containers: 1\nmax_queued: 2\ntimeout: 5s\n")
    busy = occupy(kiln, name, 2)
    answers = [enqueue(kiln, name, {"echo": i}) for i in range(3)]
    busy.join()
    assert [a.status_code for a in answers] == [202, 202, 429], [a.text for a in answers]
    assert answers[2].headers.get("Retry-After") == "1"
    assert "max_queued" in answers[2].json()["error"]["message"]
    for a in answers[:2]:
        assert wait_final(kiln, a.json()["run_id"])["status"] == "ok"


def test_bad_async_settings_are_400(kiln, tmp_path):
    name = unique("async")
    bundle = write_bundle(tmp_path / name, HANDLER, {"kiln.yaml": "async_timeout: 20m\n"})
    p = kiln.cli("deploy", bundle, "--name", name)
    assert p.returncode != 0 and "async.timeout_ms must be within 1-900000" in p.stderr, p.stderr


def test_500_queued_runs_survive_kill_9_of_the_daemon(start_kiln, tmp_path):
    k = start_kiln()
    name = deploy(k, tmp_path, yaml="max_containers: 8\n")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: enqueue(k, name, {"sleep": 0.1, "echo": i}), range(500)))
    assert [a.status_code for a in answers] == [202] * 500
    ids = {a.json()["run_id"] for a in answers}
    # Kill it while runs are in flight, some done, most still queued.
    deadline = time.monotonic() + 30
    while statuses(k, name).count("ok") < 40 and time.monotonic() < deadline:
        time.sleep(0.1)
    in_flight = {r["id"] for r in k.runs(name, status="running", limit=1000)}
    assert in_flight, "no run in flight when the daemon was killed"
    os.kill(k.proc.pid, signal.SIGKILL)
    k.proc.wait(timeout=10)

    k2 = start_kiln(data=k.data)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        runs = k2.runs(name, limit=1000)
        if len(runs) == 500 and all(r["status"] in FINAL for r in runs):
            break
        time.sleep(0.5)
    runs = {r["id"]: r for r in k2.runs(name, limit=1000)}
    assert set(runs) == ids  # none lost
    assert [r for r in runs.values() if r["status"] != "ok"] == []  # none left running or queued
    attempts = {runs[i]["attempt"] for i in in_flight}
    assert 2 in attempts and attempts <= {1, 2}, attempts  # in flight at the kill: delivered again


def test_sync_requests_are_served_within_their_timeout_while_1000_async_runs_drain(start_kiln, tmp_path):
    k = start_kiln()
    name = deploy(k, tmp_path, yaml="max_containers: 4\ntimeout: 2s\n")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: enqueue(k, name, {"sleep": 0.02}), range(1000)))
    assert all(a.status_code == 202 for a in answers)
    def pending():
        return k.runs(name, status="queued", limit=1) + k.runs(name, status="running", limit=1)

    sync = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        sync.append(k.request("POST", f"/{name}", json={"echo": "sync"}))
        if len(sync) >= 20 and not pending():
            break
        time.sleep(0.05)
    assert [r.status_code for r in sync if r.status_code != 200] == []
    records = [k.run(r.headers["X-Kiln-Run-Id"]) for r in sync[:50]]
    assert all(rec["queue_ms"] + rec["duration_ms"] < 2000 for rec in records), records
    final = time.monotonic() + 60
    while time.monotonic() < final and pending():
        time.sleep(0.5)
    assert not pending()
    for status in FINAL - {"ok"}:
        assert k.runs(name, status=status, limit=5) == [], status
