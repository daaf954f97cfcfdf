"""Pipelines, issue #6: ordered steps whose results feed the next step, map steps that
run a function once per element in parallel and keep the order, failures that stop
the chain and name the step, the caps, the definitions' checks, a pipeline run that
survives `kill -9` of the daemon, and bulk scoring of 100,000 rows with a real
skl2onnx model (marked ml: it needs the ml layer).

The plain tests deploy one bundle of small step handlers (handler.py) as several
functions; the kill -9 test runs its own daemon and kills it by pid. Loopback only,
every wait bounded.
"""
import hashlib
import json
import re
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

from helpers import REPO, unique, wait_for, write_bundle

STEPS = r'''
import os, time

def split(event, context):
    """{"n", "stagger", "fail": {"i": how}} -> one element per i; element i sleeps (n - i) * stagger."""
    n, stagger, fail = event["n"], event.get("stagger", 0), event.get("fail", {})
    return [{"i": i, "sleep": (n - i) * stagger, "fail": fail.get(str(i))} for i in range(n)]

def split_keyed(event, context):
    return {"n": event["n"], "items": [{"i": i} for i in range(event["n"])]}

def square(event, context):
    time.sleep(event.get("sleep") or 0)
    how = event.get("fail")
    if how == "crash_on_attempt_1" and context.attempt == 1:
        os._exit(3)
    if how == "crash":
        os._exit(3)
    if how == "raise":
        raise ValueError(f"element {event['i']} asked to fail")
    return {"i": event["i"], "square": event["i"] ** 2, "attempt": context.attempt}

def total(event, context):
    return {"sum": sum(x["square"] for x in event), "order": [x["i"] for x in event],
            "attempts": [x["attempt"] for x in event]}

def echo(event, context):
    return event

def slow(event, context):
    time.sleep(event["sleep"])
    return {"slept": event["sleep"]}

def fail(event, context):
    raise ValueError("this step always fails")

def big(event, context):
    return "x" * event

def text(event, context):
    return {"statusCode": 200, "body": "plain text, not JSON"}
'''

FINAL = {"ok", "failed", "result_too_large"}


@pytest.fixture(scope="module")
def steps(kiln, tmp_path_factory):
    """Deploys every step handler as its own function; returns {handler: function name}."""
    bundle = write_bundle(tmp_path_factory.mktemp("steps") / "steps", STEPS,
                          {"kiln.yaml": "retries: 1\nmax_containers: 4\nmin_warm: 0\n"})
    names = {}
    for handler in ("split", "split_keyed", "square", "total", "echo", "slow", "fail", "big", "text"):
        names[handler] = unique(handler.replace("_", "-"))
        kiln.cli_ok("deploy", bundle, "--name", names[handler], "--handler", f"handler.{handler}",
                    "--timeout", "1s")
    return names


def define(kiln, steps, expect=201):
    name = unique("pipe")
    kiln.api_json("PUT", f"/v1/pipelines/{name}", expect=expect, json={"steps": steps})
    return name


def start(kiln, name, data):
    r = kiln.api("POST", f"/v1/pipelines/{name}/runs", json=data)
    assert r.status_code == 202, r.text
    assert r.headers["Location"] == f"/v1/pipeline-runs/{r.json()['run_id']}"
    return r.json()["run_id"]


def wait_done(kiln, run_id, timeout=60):
    wait_for(lambda: kiln.api_json("GET", f"/v1/pipeline-runs/{run_id}")["status"] in FINAL, timeout,
             f"pipeline run {run_id} to end")
    return kiln.api_json("GET", f"/v1/pipeline-runs/{run_id}")


def run_pipeline(kiln, steps, data, timeout=60):
    return wait_done(kiln, start(kiln, define(kiln, steps), data), timeout)


def test_each_result_feeds_the_next_step_and_a_map_step_keeps_the_order(kiln, steps, tmp_path):
    name = unique("chain")
    out = kiln.cli_ok("pipeline", "create", name, "--step", steps["split"], "--map-step", steps["square"],
                      "--step", steps["total"])
    assert out.strip() == f"pipeline {name}: {steps['split']} -> map {steps['square']} -> {steps['total']}"
    # Element 0 sleeps longest, so the elements finish out of order.
    run_id = kiln.cli_ok("pipeline", "start", name, "--data", json.dumps({"n": 6, "stagger": 0.1})
                         ).strip().splitlines()[-1]
    shown = kiln.cli("pipeline", "show", run_id, "--wait")
    assert shown.returncode == 0, shown.stderr
    assert f"pipeline run {run_id} ({name}): ok" in shown.stdout
    # While it waits, a progress line on stderr: the step under way, its runs done, time.
    assert re.search(r"^step [123] of 3 \((map )?[\w-]+\): \d+ of \d+ runs done, [\d.]+ s$", shown.stderr, re.M), \
        shown.stderr
    run = kiln.api_json("GET", f"/v1/pipeline-runs/{run_id}")
    assert run["status"] == "ok" and run["failed_step"] is None, run
    assert run["result"] == {"sum": sum(i * i for i in range(6)), "order": list(range(6)), "attempts": [1] * 6}
    assert [s["status"] for s in run["steps"]] == ["ok", "ok", "ok"]
    assert [s["counts"]["runs"] for s in run["steps"]] == [1, 6, 1]
    assert [r["element"] for r in run["steps"][1]["runs"]] == list(range(6))
    records = [kiln.run(r["run_id"]) for r in run["steps"][1]["runs"]]
    assert {r["trigger"] for r in records} == {"pipeline"}
    assert json.loads(records[4]["result"])["square"] == 16
    durations = [r["duration_ms"] for r in records]
    assert durations == sorted(durations, reverse=True), "element 0 sleeps longest: it cannot have ended first"
    # The map step lasts at least as long as its slowest element (0.6 s); the steps' times follow each other.
    assert run["steps"][1]["duration_ms"] >= 600, run["steps"][1]
    assert run["steps"][0]["ended_at"] == run["steps"][1]["started_at"]
    assert run["steps"][2]["ended_at"] == run["ended_at"]
    listed = kiln.cli_json("pipeline", "runs", name)["runs"]
    assert [r["id"] for r in listed] == [run_id]
    assert name in kiln.cli_ok("pipeline", "ls")


def test_pipeline_yaml_maps_over_a_key_of_the_previous_result(kiln, steps, tmp_path):
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(f"steps:\n  - function: {steps['split_keyed']}\n"
                    f"  - function: {steps['square']}\n    map: items\n    timeout: 30s\n"
                    f"  - function: {steps['total']}\n")
    name = unique("yaml")
    kiln.cli_ok("pipeline", "create", name, "-f", spec)
    defined = kiln.api_json("GET", f"/v1/pipelines/{name}")
    assert defined["steps"][1] == {"function": steps["square"], "version": None, "map": True, "items": "items",
                                   "timeout_ms": 30000}
    shown = kiln.cli_json("pipeline", "start", name, "--data", '{"n": 4}', "--wait")
    assert shown["status"] == "ok" and shown["result"]["order"] == [0, 1, 2, 3], shown


def test_a_step_past_the_sync_timeout_succeeds_within_its_budget(kiln, steps):
    # Every step function is deployed with a 1 s sync timeout.
    run = run_pipeline(kiln, [{"function": steps["slow"]}], {"sleep": 2})
    assert run["status"] == "ok" and run["result"] == {"slept": 2}, run


def test_a_steps_timeout_ms_is_each_runs_budget(kiln, steps):
    run = run_pipeline(kiln, [{"function": steps["slow"], "timeout_ms": 500}], {"sleep": 3})
    assert (run["status"], run["failed_step"], run["error_type"]) == ("failed", 0, "Pipeline.StepFailed"), run
    assert "timeout after 2 attempt(s) (Runtime.Timeout)" in run["error_message"], run


def test_a_failed_step_stops_the_chain_and_names_the_step(kiln, steps):
    run = run_pipeline(kiln, [{"function": steps["echo"]}, {"function": steps["fail"]},
                              {"function": steps["echo"]}], {"x": 1})
    assert (run["status"], run["failed_step"], run["error_type"]) == ("failed", 1, "Pipeline.StepFailed"), run
    assert run["error_message"].startswith(f"step 1 ({steps['fail']}): run "), run
    assert "ended error after 1 attempt(s) (ValueError): this step always fails" in run["error_message"]
    assert [s["status"] for s in run["steps"]] == ["ok", "failed", "not_run"]
    assert run["steps"][2]["runs"] == [] and run["result"] is None
    failed = [line for line in kiln.api("GET", "/metrics").text.splitlines()
              if line.startswith('kiln_pipeline_runs{status="failed"}')]
    assert len(failed) == 1 and float(failed[0].split()[-1]) >= 1, failed


def test_a_map_element_that_crashes_once_is_retried(kiln, steps):
    run = run_pipeline(kiln, [{"function": steps["split"]}, {"function": steps["square"], "map": True},
                              {"function": steps["total"]}], {"n": 4, "fail": {"2": "crash_on_attempt_1"}})
    assert run["status"] == "ok", run
    assert run["result"]["attempts"] == [1, 1, 2, 1]
    assert run["steps"][1]["runs"][2]["attempt"] == 2


def test_a_map_element_that_keeps_failing_fails_the_step_after_its_retries(kiln, steps):
    run = run_pipeline(kiln, [{"function": steps["split"]}, {"function": steps["square"], "map": True},
                              {"function": steps["total"]}], {"n": 4, "fail": {"2": "crash"}})
    assert (run["status"], run["failed_step"]) == ("failed", 1), run
    assert f"step 1 ({steps['square']}, element 2 of 4): run " in run["error_message"]
    assert "ended crashed after 2 attempt(s) (Runtime.Crashed)" in run["error_message"]
    assert run["steps"][1]["counts"]["failed"] == 1 and run["steps"][2]["status"] == "not_run"


def test_a_map_over_an_empty_list_goes_straight_on(kiln, steps):
    run = run_pipeline(kiln, [{"function": steps["echo"], "map": True}, {"function": steps["total"]}], [])
    assert run["status"] == "ok" and run["result"] == {"sum": 0, "order": [], "attempts": []}, run
    assert run["steps"][0]["counts"]["runs"] == 0


def test_a_map_over_what_is_not_a_list_fails_with_the_reason(kiln, steps):
    name = define(kiln, [{"function": steps["echo"], "map": True}])
    r = kiln.api("POST", f"/v1/pipelines/{name}/runs", json={"a": 1})  # the input itself: refused at once
    assert r.status_code == 400 and "which is an object, not a list" in r.json()["error"]["message"], r.text
    run = run_pipeline(kiln, [{"function": steps["echo"]}, {"function": steps["square"], "map": True}], "x")
    assert (run["status"], run["failed_step"], run["error_type"]) == ("failed", 1, "Pipeline.InvalidEvent"), run
    assert "maps over the previous result, which is a string, not a list" in run["error_message"]
    run = run_pipeline(kiln, [{"function": steps["echo"]}, {"function": steps["square"], "map": "items"}], {"x": 1})
    assert "maps over key 'items' of the previous result, which has no such key" in run["error_message"], run


def test_a_result_that_is_not_json_cannot_feed_the_next_step(kiln, steps):
    run = run_pipeline(kiln, [{"function": steps["text"]}, {"function": steps["echo"]}], None)
    assert (run["status"], run["error_type"]) == ("failed", "Pipeline.InvalidResult"), run


def test_results_over_the_caps(kiln, steps):
    # One run's result over 64 KiB: the run is result_too_large and fails its step.
    run = run_pipeline(kiln, [{"function": steps["big"]}], 70000)
    assert (run["status"], run["error_type"]) == ("failed", "Pipeline.StepFailed"), run
    assert "ended result_too_large" in run["error_message"]
    # Each element is small, the combined last result is not: the pipeline run is result_too_large.
    run = run_pipeline(kiln, [{"function": steps["big"], "map": True}], [20000] * 4)
    assert (run["status"], run["error_type"]) == ("result_too_large", "ResultTooLarge"), run
    assert "page the results, or write them to your own store" in run["error_message"]


def test_an_event_over_the_body_cap_ends_the_run_result_too_large(start_kiln, tmp_path):
    k = start_kiln("--max-body-mb", "1")
    bundle = write_bundle(tmp_path / "caps", STEPS, {"kiln.yaml": "min_warm: 0\n"})
    big, echo = unique("big"), unique("echo")
    k.cli_ok("deploy", bundle, "--name", big, "--handler", "handler.big")
    k.cli_ok("deploy", bundle, "--name", echo, "--handler", "handler.echo")
    run = run_pipeline(k, [{"function": big, "map": True}, {"function": echo}], [60000] * 20)
    assert (run["status"], run["failed_step"], run["error_type"]) == ("result_too_large", 1, "ResultTooLarge"), run
    assert f"the event for step 1 ({echo}) is 1.1 MiB, over the 1.0 MiB a step takes" in run["error_message"]
    assert [s["status"] for s in run["steps"]] == ["ok", "failed"]


def test_definitions_are_checked_and_named_errors_come_back(kiln, steps, tmp_path):
    name = unique("defs")
    put = lambda body: kiln.api("PUT", f"/v1/pipelines/{name}", json=body)  # noqa: E731
    r = put({"steps": [{"function": "no-such-function"}]})
    assert r.status_code == 404 and r.json()["error"]["message"] == "step 0: no function no-such-function"
    r = put({"steps": [{"function": steps["echo"]}, {"function": steps["echo"], "mapp": True}]})
    assert r.status_code == 400 and "step 1: unknown key 'mapp'" in r.json()["error"]["message"]
    assert put({"steps": []}).status_code == 400
    assert put({"steps": [{"function": steps["echo"], "timeout_ms": 900001}]}).status_code == 400
    assert put({"steps": [{"function": steps["echo"] + ":99"}]}).status_code == 404
    assert kiln.api("PUT", "/v1/pipelines/bad.name", json={"steps": [{"function": steps["echo"]}]}).status_code == 400
    assert put({"steps": [{"function": steps["echo"]}]}).status_code == 201
    assert put({"steps": [{"function": steps["echo"]}, {"function": steps["echo"]}]}).status_code == 200
    assert len(kiln.api_json("GET", f"/v1/pipelines/{name}")["steps"]) == 2
    assert name in [p["name"] for p in kiln.api_json("GET", "/v1/pipelines")["pipelines"]]
    r = kiln.api("POST", f"/v1/pipelines/{name}/runs", data="{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "must be JSON" in r.text
    r = kiln.api("POST", f"/v1/pipelines/{name}/runs", json="x" * (3 << 20))
    assert r.status_code == 413 and "over the 2.0 MiB a step takes" in r.text
    assert kiln.api("DELETE", f"/v1/pipelines/{name}").status_code == 204
    assert kiln.api("POST", f"/v1/pipelines/{name}/runs", json=1).status_code == 404
    assert kiln.api("GET", f"/v1/pipelines/{name}").status_code == 404
    assert kiln.api("GET", "/v1/pipeline-runs/no-such-run").status_code == 404
    # The CLI says what is wrong on one line.
    spec = tmp_path / "p.yaml"
    spec.write_text(f"steps:\n  - function: {steps['echo']}\n    mapp: true\n")
    for args, message in [
        (("create", name), "a pipeline needs steps"),
        (("create", name, "-f", spec, "--step", steps["echo"]), "give -f or --step/--map-step, not both"),
        (("create", name, "-f", spec), "step 0: unknown key 'mapp'"),
        (("create", "bad name", "--step", steps["echo"]), "pipeline name 'bad name'"),
        (("start", name), f"no pipeline {name}"),
        (("show", "no-such-run"), "no pipeline run with id no-such-run"),
    ]:
        p = kiln.cli("pipeline", *args)
        assert p.returncode != 0 and message in p.stderr, (args, p.stderr)


def test_the_same_idempotency_key_starts_one_run(kiln, steps):
    name = define(kiln, [{"function": steps["echo"]}])
    key = {"Idempotency-Key": unique("job")}
    first = kiln.api("POST", f"/v1/pipelines/{name}/runs", json={"n": 1}, headers=key)
    again = kiln.api("POST", f"/v1/pipelines/{name}/runs", json={"n": 2}, headers=key)
    assert (first.status_code, again.status_code) == (202, 202), (first.text, again.text)
    assert first.json()["created"] is True and again.json()["created"] is False
    assert again.json()["run_id"] == first.json()["run_id"]
    assert again.headers["Location"] == f"/v1/pipeline-runs/{first.json()['run_id']}"
    by_cli = kiln.cli_ok("pipeline", "start", name, "--data", '{"n": 3}', "--idempotency-key",
                         key["Idempotency-Key"]).strip().splitlines()[-1]
    assert by_cli == first.json()["run_id"]
    assert wait_done(kiln, by_cli)["result"] == {"n": 1}
    assert [r["id"] for r in kiln.api_json("GET", f"/v1/pipelines/{name}/runs")["runs"]] == [by_cli]
    # Another key, or none: another run.
    assert kiln.api_json("POST", f"/v1/pipelines/{name}/runs", expect=202, json={"n": 4})["created"] is True


def test_replacing_a_pipeline_leaves_runs_under_way_alone(kiln, steps):
    name = define(kiln, [{"function": steps["slow"]}])
    first = start(kiln, name, {"sleep": 0.5})
    kiln.api_json("PUT", f"/v1/pipelines/{name}", json={"steps": [{"function": steps["fail"]}]})
    second = start(kiln, name, {"sleep": 0.5})
    assert wait_done(kiln, first)["status"] == "ok"
    assert wait_done(kiln, second)["status"] == "failed"


def test_a_pipeline_run_survives_kill_9_of_the_daemon(start_kiln, tmp_path):
    k = start_kiln()
    bundle = write_bundle(tmp_path / "steps", STEPS, {"kiln.yaml": "max_containers: 4\nmin_warm: 0\n"})
    names = {}
    for handler in ("split", "square", "total"):
        names[handler] = unique(handler)
        k.cli_ok("deploy", bundle, "--name", names[handler], "--handler", f"handler.{handler}")
    run_id = start(k, define(k, [{"function": names["split"]}, {"function": names["square"], "map": True},
                                 {"function": names["total"]}]), {"n": 16, "stagger": 0.05})

    def map_progress():
        step = k.api_json("GET", f"/v1/pipeline-runs/{run_id}")["steps"][1]
        return [r["status"] for r in step["runs"]]
    wait_for(lambda: map_progress().count("ok") >= 2 and "running" in map_progress(), 30,
             "the map step to be under way")
    in_flight = {r["run_id"] for r in k.api_json("GET", f"/v1/pipeline-runs/{run_id}")["steps"][1]["runs"]
                 if r["status"] == "running"}
    os.kill(k.proc.pid, signal.SIGKILL)
    k.proc.wait(timeout=10)

    k2 = start_kiln(data=k.data)
    run = wait_done(k2, run_id, timeout=90)
    assert run["status"] == "ok", run
    assert run["result"]["order"] == list(range(16)) and run["result"]["sum"] == sum(i * i for i in range(16))
    by_id = {r["run_id"]: r for r in run["steps"][1]["runs"]}
    assert in_flight and {by_id[i]["attempt"] for i in in_flight} == {2}, [by_id[i] for i in in_flight]
    assert {k2.run(r)["status"] for r in by_id} == {"ok"}


# -- bulk scoring with the ml layer ---------------------------------------------------------

@pytest.mark.ml
def test_bulk_scoring_100000_rows_in_a_map_step_matches_in_process_onnxruntime(ml_kiln, iris_model, tmp_path):
    import onnxruntime as ort
    k = ml_kiln
    bundle = tmp_path / "bulk-score"
    shutil.copytree(REPO / "examples/bulk-score", bundle)
    shutil.copy(iris_model, bundle / "model.onnx")
    subprocess.run([sys.executable, bundle / "make_rows.py", "--rows", "100000", "--out", bundle / "rows.npy"],
                   check=True, capture_output=True, timeout=120)
    suffix = unique("x")[2:]
    spec = (bundle / "pipeline.yaml").read_text()
    for step in ("split", "score", "summary"):
        k.cli_ok("deploy", bundle, "--name", f"bulk-{step}-{suffix}", "--handler", f"{step}.handler",
                 "--layer", "ml", "--min-warm", "0", timeout=300)
        spec = spec.replace(f"function: bulk-{step}\n", f"function: bulk-{step}-{suffix}\n")
    (tmp_path / "pipeline.yaml").write_text(spec)
    name = unique("bulk")
    k.cli_ok("pipeline", "create", name, "-f", tmp_path / "pipeline.yaml")
    run = k.cli_json("pipeline", "start", name, "--data", '{"chunk_rows": 5000}', "--wait", "--wait-s", "170",
                     timeout=175)
    assert run["status"] == "ok", run
    assert [s["counts"]["runs"] for s in run["steps"]] == [1, 20, 1]

    rows = np.load(bundle / "rows.npy")
    session = ort.InferenceSession(str(iris_model), providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: rows})[0].astype(np.int64)
    # Every chunk's labels, in element order, are in-process onnxruntime's on the same rows.
    chunks = [json.loads(k.run(r["run_id"])["result"]) for r in run["steps"][1]["runs"]]
    assert [c["start"] for c in chunks] == list(range(0, 100000, 5000))
    combined = np.concatenate([np.asarray(c["labels"], dtype=np.int64) for c in chunks])
    assert np.array_equal(combined, expected)
    counts = np.bincount(expected)
    assert run["result"] == {"rows": 100000,
                             "counts": {str(i): int(n) for i, n in enumerate(counts)},
                             "labels_sha256": hashlib.sha256(expected.tobytes()).hexdigest()}
