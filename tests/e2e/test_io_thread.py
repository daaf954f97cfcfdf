"""The daemon's I/O thread never waits on another process (issue #16): a container start
that is held up by its child does not hold up warm requests to other functions.

A start is held by stopping (SIGSTOP) the spare child the zygote keeps ready: the start
launches it and waits for its setup report, which a stopped child never sends, until
the test lets it go on (SIGCONT). The waiting is bounded by the daemon (5 s for a
child's setup); the test's own work while it holds the start (200 warm requests on
loopback) takes a fraction of that.
"""
import concurrent.futures
import contextlib
import os
import signal

from helpers import unique, wait_for, write_bundle

ECHO = "def handler(event, context):\n    return {'ok': True}\n"


def test_warm_requests_go_on_while_another_functions_start_is_held(start_kiln, tmp_path):
    k = start_kiln()
    names = {}
    for role, flags in (("a", ()), ("b", ("--min-warm", "0"))):
        names[role] = unique(f"io{role}")
        k.cli_ok("deploy", write_bundle(tmp_path / names[role], ECHO), "--name", names[role], *flags)
        k.cli_ok("route", "add", "POST", f"/{names[role]}", names[role], "--auth", "none")
    assert k.request("POST", f"/{names['a']}", json={}).status_code == 200  # A: warm

    def spare_of_the_plain_zygote():
        for z in k.api_json("GET", "/v1/zygotes")["zygotes"]:
            if z["kind"] == "layers" and z["layers"] == [] and z["state"] == "ready" and z["spare"]:
                return z["spare"]
        return None
    spare = wait_for(spare_of_the_plain_zygote, 30, "the zygote's spare child")
    os.kill(spare["pid"], signal.SIGSTOP)
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            held = pool.submit(k.request, "POST", f"/{names['b']}", json={})
            wait_for(lambda: any(r["status"] == "running" for r in k.runs(names["b"])), 30, "B's start under way")
            for _ in range(200):
                assert k.request("POST", f"/{names['a']}", json={}).status_code == 200
            assert not held.done(), "B's start ended while the child it launched was stopped"
            os.kill(spare["pid"], signal.SIGCONT)
            assert held.result(timeout=60).status_code == 200
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(spare["pid"], signal.SIGCONT)
    [run] = k.runs(names["b"])
    assert (run["status"], run["cold"], run["start"], run["container_id"]) == ("ok", True, "zygote", spare["id"]), run
    assert len(k.runs(names["a"], limit=300)) == 201
