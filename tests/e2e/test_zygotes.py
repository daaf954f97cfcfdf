"""Zygotes and function snapshots (issue #7): how a container starts, end to end.

The contract these tests hold the daemon to:

- By default every container of a version is forked from the zygote of its layer set
  (an interpreter that imported the layers' preloadable modules), also when the version
  has no layers. A cold run records `start: "zygote"`; `--no-zygote` gives `"plain"`.
- `--snapshot`: the first container that finished its init phase becomes the version's
  template; later containers fork from it (`start: "snapshot"`), skip the handler
  import, run the `kiln.after_restore` hooks once, and get a reseeded `random`.
  A template that is not fork-safe (a thread, a socket) is refused with a message that
  says why: in the deploy's `warnings` and in each later cold run's `start_note`.
- A zygote that dies is replaced; a broken one (a preload that fails to import) makes
  containers start plain with a `start_note`. Neither ever fails a request.
- `GET /v1/zygotes` lists zygotes and templates; `DELETE /v1/containers/<id>` stops one
  container (reason "stopped"), so tests can force new containers without waiting for
  idle windows; unknown ids are 404.

Nothing here asserts on timings: new containers are forced by stopping the one that
served (`--min-warm 0`, so nothing restarts it), and waits only bound polls. Tests that
kill or break a zygote run on a daemon of their own (`start_kiln`).
"""
import concurrent.futures
import json
import os
import signal
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import Fn
from helpers import unique, write_bundle, wait_for

NO_PREWARM = ("--min-warm", "0")
MISSING_MODULE = "kiln_no_such_module_xyz"


# -- helpers ---------------------------------------------------------------------------

def deploy(k, tmp_path, code, *flags, files=None):
    """`kiln deploy DIR --name N [flags] --json` of handler.py (plus `files`, e.g. a
    kiln.yaml) under a unique name, then a keyless POST route /<name>.
    Returns .fn (to call it), .answer (the deploy's JSON answer) and .stderr."""
    name = unique("zy")
    bundle = write_bundle(Path(tmp_path) / name, code, files)
    p = k.cli("deploy", bundle, "--name", name, *flags, "--json")
    assert p.returncode == 0, f"kiln deploy {' '.join(flags)} -> {p.returncode}\n{p.stderr}"
    answer = json.loads(p.stdout)
    k.cli_ok("route", "add", "POST", f"/{name}", name, "--auth", "none")
    return SimpleNamespace(fn=Fn(k, name, f"/{name}"), answer=answer, stderr=p.stderr)


def call_ok(fn, body=None, **kw):
    """One request that must be 200; returns (its JSON body, its run record)."""
    r = fn.call(json=body if body is not None else {}, **kw)
    assert r.status_code == 200, f"{r.status_code} {r.text}"
    run = fn.run_of(r)
    assert run["function"] == fn.name and run["status"] == "ok", run
    return r.json(), run


def stop_container(k, container_id):
    r = k.api("DELETE", f"/v1/containers/{container_id}")
    assert r.status_code == 204, f"DELETE /v1/containers/{container_id} -> {r.status_code} {r.text}"


def call_on_a_new_container(fn, previous_run=None, body=None):
    """Stops the container `previous_run` ran on (if any), then makes a request, which
    must be a cold start on another container. Returns (body, run)."""
    if previous_run is not None:
        stop_container(fn.kiln, previous_run["container_id"])
    body, run = call_ok(fn, body)
    assert run["cold"] is True, f"expected a cold start on a new container: {run}"
    if previous_run is not None:
        assert run["container_id"] != previous_run["container_id"], run
    return body, run


def containers(k, *, all=False):
    return k.api_json("GET", "/v1/containers", params={"all": "true"} if all else None)["containers"]


def live(k, name):
    return [c for c in containers(k) if c["function"] == name]


def zygotes(k):
    return k.api_json("GET", "/v1/zygotes")["zygotes"]


def layer_zygotes(k, layers):
    """The "layers" zygotes of one ordered layer set, e.g. ["ml:1"] or []."""
    return [z for z in zygotes(k) if z["kind"] == "layers" and z["layers"] == layers]


def snapshots_of(k, name):
    return [z for z in zygotes(k) if z["kind"] == "snapshot" and z["function"] == name]


def layer_refs(answer):
    """A deploy answer's pinned layers as a zygote lists them: ["ml:1", ...]."""
    return [f"{layer['name']}:{layer['version']}" for layer in answer["layers"]]


# -- handlers --------------------------------------------------------------------------

# Reports what a container looks like from inside: whether (and how often) the
# after_restore hook ran and in which process, module-scope and handler-time randomness.
RESTORE_PROBE = """
    import os
    import random

    import kiln

    INIT_RANDOM = random.random()  # module scope: runs once per init phase
    RESTORES = 0
    RESTORE_PID = None
    RESTORE_RANDOM = None


    def _after_restore():
        global RESTORES, RESTORE_PID, RESTORE_RANDOM
        RESTORES += 1
        RESTORE_PID = os.getpid()
        RESTORE_RANDOM = random.random()


    kiln.after_restore(_after_restore)


    def handler(event, context):
        return {
            "restores": RESTORES,
            "restore_pid": RESTORE_PID,
            "restore_random": RESTORE_RANDOM,
            "init_random": INIT_RANDOM,
            "pid": os.getpid(),
            "random": random.random(),
            "request_id": context.aws_request_id,
        }
    """

# Starts a thread at module scope (not fork-safe); `{"sleep": s}` keeps a request busy.
THREAD_AT_INIT = """
    import json
    import threading
    import time

    threading.Thread(target=time.sleep, args=(600,), daemon=True).start()


    def handler(event, context):
        time.sleep(json.loads(event["body"] or "{}").get("sleep", 0))
        return {"threads": threading.active_count()}
    """

PLAIN = """
    import random

    def handler(event, context):
        return {"random": random.random(), "request_id": context.aws_request_id}
    """

# The iris pattern: one onnxruntime session per container, loaded at module scope.
ORT_HANDLER = """
    import json
    import os

    import numpy as np
    import onnxruntime as ort

    _opts = ort.SessionOptions()
    _opts.intra_op_num_threads = 1
    _session = ort.InferenceSession(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "model.onnx"),
        sess_options=_opts, providers=["CPUExecutionProvider"])
    _input = _session.get_inputs()[0].name


    def handler(event, context):
        x = np.asarray(json.loads(event["body"])["features"], dtype=np.float32)
        return {"predictions": _session.run(None, {_input: x})[0].tolist()}
    """


# -- layer zygotes (default) -----------------------------------------------------------

def test_default_start_is_a_zygote_even_without_layers(kiln, tmp_path):
    d = deploy(kiln, tmp_path, RESTORE_PROBE, *NO_PREWARM)
    assert d.answer["layers"] == [] and d.answer["zygote"] is True, d.answer
    assert d.answer["snapshot"] is False, d.answer
    fn = d.fn

    bodies, runs, run = [], [], None
    for _ in range(3):
        body, run = call_on_a_new_container(fn, run)
        bodies.append(body)
        runs.append(run)
    for run in runs:
        assert (run["start"], run["start_note"]) == ("zygote", None), run
    # Not forked from a snapshot: the registered hook is never called.
    assert [b["restores"] for b in bodies] == [0, 0, 0], bodies
    # Each container's module scope ran on its own, with a reseeded `random`.
    assert len({b["init_random"] for b in bodies}) == 3, bodies
    assert len({b["random"] for b in bodies}) == 3, bodies

    # A warm run has no start.
    _, warm = call_ok(fn)
    assert warm["cold"] is False and warm["start"] is None, warm
    [c] = live(kiln, fn.name)
    assert c["start"] == "zygote", c

    [z] = wait_for(lambda: [z for z in layer_zygotes(kiln, []) if z["state"] == "ready"], 10,
                   "a ready zygote for the empty layer set")
    assert z["pid"] > 0 and z["forks"] >= 3, z
    assert not snapshots_of(kiln, fn.name), "no template without --snapshot"


def test_no_zygote_starts_a_fresh_interpreter(kiln, tmp_path):
    d = deploy(kiln, tmp_path, PLAIN, "--no-zygote", *NO_PREWARM)
    assert d.answer["zygote"] is False, d.answer
    fn = d.fn
    run = None
    for _ in range(2):
        _, run = call_on_a_new_container(fn, run)
        assert (run["start"], run["start_note"]) == ("plain", None), run
    [c] = live(kiln, fn.name)
    assert c["start"] == "plain", c


@pytest.mark.ml
def test_ml_containers_forked_from_the_layer_zygote_predict_like_in_process(
        ml_kiln, iris_model, tmp_path):
    np = pytest.importorskip("numpy")
    ort = pytest.importorskip("onnxruntime")
    load_iris = pytest.importorskip("sklearn.datasets").load_iris
    k = ml_kiln
    files = {"model.onnx": Path(iris_model).read_bytes()}

    rows = load_iris().data.astype(np.float32)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(str(iris_model), sess_options=opts,
                                   providers=["CPUExecutionProvider"])

    def expected(batch):
        return session.run(None, {session.get_inputs()[0].name: batch})[0].tolist()

    # Two containers pre-warmed at deploy, both forked from the ml zygote.
    warm = deploy(k, tmp_path, ORT_HANDLER, "--layer", "ml", "--min-warm", "2", files=files)
    assert warm.answer["prewarm"]["containers"] == 2, warm.answer
    prewarmed = live(k, warm.fn.name)
    assert len(prewarmed) == 2, prewarmed
    assert [c["start"] for c in prewarmed] == ["zygote", "zygote"], prewarmed
    for i in range(6):
        batch = rows[i * 25:(i + 1) * 25]
        body, run = call_ok(warm.fn, {"features": batch.tolist()})
        assert body["predictions"] == expected(batch)
        assert run["cold"] is False and run["start"] is None, run

    # The same handler without pre-warm: its first request is a cold fork of that zygote.
    cold = deploy(k, tmp_path, ORT_HANDLER, "--layer", "ml", *NO_PREWARM, files=files)
    batch = rows[::10]
    body, run = call_on_a_new_container(cold.fn, body={"features": batch.tolist()})
    assert (run["start"], run["start_note"]) == ("zygote", None), run
    assert body["predictions"] == expected(batch)

    refs = layer_refs(warm.answer)
    assert len(refs) == 1 and refs[0].startswith("ml:"), refs
    [z] = wait_for(lambda: [z for z in layer_zygotes(k, refs) if z["state"] == "ready"], 10,
                   f"a ready zygote for {refs}")
    assert {"numpy", "onnxruntime"} <= set(z["preloaded"]), z
    assert z["forks"] >= 3 and z["rss_mb"] > 0, z


# -- function snapshots ----------------------------------------------------------------

def test_snapshot_forks_run_after_restore_once_with_fresh_randomness(kiln, tmp_path):
    d = deploy(kiln, tmp_path, RESTORE_PROBE, "--snapshot", *NO_PREWARM,
               "--max-containers", "4")
    assert d.answer["snapshot"] is True and d.answer["warnings"] == [], d.answer
    fn = d.fn

    # The first container runs the init phase, serves this request, then becomes the
    # template (it leaves the serving set: nothing is left to stop).
    first, run = call_on_a_new_container(fn)
    assert run["start"] == "zygote", run
    # The hook runs only in a container forked from the template.
    assert first["restores"] == 0, (first, run)
    wait_for(lambda: snapshots_of(kiln, fn.name), 10, "the snapshot template")
    assert live(kiln, fn.name) == []

    forked = []
    run = None
    for _ in range(3):
        body, run = call_on_a_new_container(fn, run)
        assert (run["start"], run["start_note"]) == ("snapshot", None), run
        forked.append(body)

    for body in forked:
        assert body["restores"] == 1, f"after_restore ran {body['restores']} times: {body}"
        assert body["restore_pid"] == body["pid"], "the hook ran in another process"
    # Module scope ran once, in the template: every fork carries its value...
    assert {b["init_random"] for b in forked} == {first["init_random"]}, (first, forked)
    # ...but `random` is reseeded in each fork, before the hooks and the handler.
    everyone = [first] + forked
    assert len({b["random"] for b in everyone}) == len(everyone), everyone
    assert len({b["restore_random"] for b in forked}) == len(forked), forked
    assert len({b["request_id"] for b in everyone}) == len(everyone), everyone

    [template] = snapshots_of(kiln, fn.name)
    assert template["version"] == 1 and template["state"] == "ready", template
    assert template["forks"] >= 3 and template["pid"] > 0, template


def test_thread_at_init_refuses_the_snapshot_with_a_warning(kiln, tmp_path):
    # min_warm 1: the deploy's pre-warm runs the init phase, so the check happens then.
    d = deploy(kiln, tmp_path, THREAD_AT_INIT, "--snapshot", "--min-warm", "1",
               "--timeout", "30s")
    fn = d.fn
    warnings = d.answer["warnings"]
    refusal = [w for w in warnings if "thread" in w]
    assert refusal, f"no warning about the thread: {warnings}"
    assert "warning:" in d.stderr and "thread" in d.stderr, d.stderr

    _, warm = call_ok(fn)
    assert warm["cold"] is False, warm

    # Keep the pre-warmed container busy, so the next request starts a new one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        slow = pool.submit(fn.call, json={"sleep": 5}, timeout=60)
        wait_for(lambda: any(c["state"] == "busy" for c in live(kiln, fn.name)), 20,
                 "the pre-warmed container busy")
        _, run = call_ok(fn)
        assert slow.result(timeout=60).status_code == 200
    assert run["cold"] is True, run
    assert run["start"] == "zygote", run
    note = run["start_note"] or ""
    assert "snapshot" in note.lower() and "thread" in note, run

    assert not [z for z in snapshots_of(kiln, fn.name) if z["state"] == "ready"], \
        "a refused snapshot must not serve as a template"
    assert {c["start"] for c in live(kiln, fn.name)} == {"zygote"}


# -- zygotes that die or break ---------------------------------------------------------

def test_killed_zygote_is_replaced_and_no_request_fails(start_kiln, tmp_path):
    k = start_kiln()
    fn = deploy(k, tmp_path, PLAIN, *NO_PREWARM).fn
    _, run = call_on_a_new_container(fn)
    assert run["start"] == "zygote", run
    [old] = [z for z in layer_zygotes(k, []) if z["state"] == "ready"]
    stop_container(k, run["container_id"])

    os.kill(old["pid"], signal.SIGKILL)

    # New containers while the zygote is down or coming back: each request is served.
    during = []
    run = None
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline or len(during) < 3:
        _, run = call_on_a_new_container(fn, run)
        during.append(run)
    # A replacement comes back (on its own or on demand: keep starting containers).
    deadline = time.monotonic() + 20
    while not [z for z in layer_zygotes(k, [])
               if z["state"] == "ready" and z["pid"] != old["pid"]]:
        if time.monotonic() > deadline:
            pytest.fail(f"no replacement zygote within 20 s: {zygotes(k)}")
        _, run = call_on_a_new_container(fn, run)
        during.append(run)
        time.sleep(0.2)
    for r in during:
        assert r["start"] in ("zygote", "plain"), r
        if r["start"] == "plain":
            assert r["start_note"], f"a plain start of a zygote version without a note: {r}"

    _, after = call_on_a_new_container(fn, run)
    assert (after["start"], after["start_note"]) == ("zygote", None), after
    assert len(layer_zygotes(k, [])) == 1, zygotes(k)


BROKEN_PRELOAD = {
    "kiln.yaml": ((), f"preload: [{MISSING_MODULE}]\nmin_warm: 0\n"),
    "--preload": (("--preload", MISSING_MODULE, *NO_PREWARM), None),
}


@pytest.mark.parametrize("given_by", list(BROKEN_PRELOAD))
def test_broken_zygote_falls_back_to_a_plain_start(start_kiln, tmp_path, given_by):
    k = start_kiln()
    flags, yaml = BROKEN_PRELOAD[given_by]
    d = deploy(k, tmp_path, PLAIN, *flags, files={"kiln.yaml": yaml} if yaml else None)
    assert d.answer["preload"] == [MISSING_MODULE], d.answer
    fn = d.fn

    run = None
    for _ in range(2):
        _, run = call_on_a_new_container(fn, run)
        assert run["start"] == "plain", run
        assert MISSING_MODULE in (run["start_note"] or ""), run

    broken = wait_for(
        lambda: [z for z in zygotes(k)
                 if z["kind"] == "layers" and z["state"] == "broken"
                 and MISSING_MODULE in (z["message"] or "")],
        10, f"a broken zygote naming {MISSING_MODULE}")
    assert broken[0]["layers"] == [], broken


# -- containers: DELETE and `kiln ps` --------------------------------------------------

def test_stopped_container_is_gone_and_ps_shows_how_containers_started(kiln, tmp_path):
    fn = deploy(kiln, tmp_path, PLAIN, *NO_PREWARM).fn
    _, run = call_on_a_new_container(fn)

    [c] = [c for c in kiln.cli_json("ps")["containers"] if c["function"] == fn.name]
    assert c["id"] == run["container_id"] and c["start"] == "zygote", c
    text = kiln.cli_ok("ps")
    line = next(line for line in text.splitlines() if fn.name in line)
    assert "zygote" in line, text

    stop_container(kiln, c["id"])
    gone = wait_for(lambda: [x for x in containers(kiln, all=True)
                             if x["id"] == c["id"] and x["state"] == "gone"], 10,
                    "the stopped container recorded as gone")
    assert gone[0]["reason"] == "stopped" and gone[0]["start"] == "zygote", gone[0]
    # min_warm 0: nothing starts a replacement (a few reconcile passes later).
    time.sleep(1.5)
    assert live(kiln, fn.name) == []


def test_delete_of_unknown_container_is_404(kiln, tmp_path):
    fn = deploy(kiln, tmp_path, PLAIN, *NO_PREWARM).fn
    _, run = call_on_a_new_container(fn)
    stop_container(kiln, run["container_id"])  # the endpoint exists: a known id is 204
    r = kiln.api("DELETE", "/v1/containers/c-999999-nosuch")
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == "not_found", r.text
