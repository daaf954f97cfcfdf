"""kiln logs (issue #15): a function's runs' output in time order, framed the Lambda way,
and -f: a running run's lines as it prints them, slow followers dropped, followers capped."""
import concurrent.futures
import os
import subprocess

import requests

from conftest import KILN_BIN
from helpers import unique, write_bundle

PRINTS = """
import json
print("module scope")
def handler(event, context):
    n = json.loads(event["body"] or "{}").get("n")
    print(f"handling {n}")
    if n == 2:
        raise ValueError("two is bad")
    return n
"""


def test_logs_frame_each_run_oldest_first_and_filter(kiln, tmp_path):
    name = unique("lg")
    kiln.cli_ok("deploy", write_bundle(tmp_path / name, PRINTS), "--name", name)
    kiln.cli_ok("route", "add", "POST", f"/{name}", name, "--auth", "none")
    ids = [kiln.request("POST", f"/{name}", json={"n": n}).headers["X-Kiln-Run-Id"] for n in (1, 2, 3)]

    out = kiln.cli_ok("logs", name).splitlines()
    starts = [i for i, line in enumerate(out) if "START RequestId:" in line]
    assert [out[i].split("START RequestId: ")[1].split()[0] for i in starts] == ids  # oldest first
    for run_id, at in zip(ids, starts):
        block = out[at:]
        assert block[0].split()[1] == run_id[:8] and block[0].endswith("Version: 1")
        end = next(i for i, line in enumerate(block) if f"END RequestId: {run_id}" in line)
        assert f"REPORT RequestId: {run_id}" in block[end + 1]
        assert any("handling" in line for line in block[1:end])
    assert any("handling 2" in line for line in out) and any("ValueError: two is bad" in line for line in out)

    errors = kiln.cli_json("logs", name, "--status", "error")["runs"]
    assert [r["id"] for r in errors] == [ids[1]]
    assert [r["id"] for r in kiln.cli_json("logs", name, "--limit", "2")["runs"]] == ids[1:]
    assert kiln.cli_json("logs", name, "--since", "1h")["runs"][0]["id"] == ids[0]

    for query, status in ((f"function={name}&since=soon", 400), (f"function={name}&status=nope", 400),
                          ("", 400), (f"function={unique('none')}", 404)):
        assert kiln.api("GET", f"/v1/logs?{query}").status_code == status, query
    # A removed function's runs stay readable until retention.
    kiln.cli_ok("rm", name, "--force")
    assert len(kiln.cli_json("logs", name)["runs"]) == 3


# Runs for all of its budget but a second, so the test has that whole budget to see
# "halfway" arrive while the run is still going, however loaded the machine.
SLOW = """
import time
def handler(event, context):
    print("halfway", flush=True)
    while context.get_remaining_time_in_millis() > 1000:
        time.sleep(0.05)
    return "done"
"""

CHATTY = """
import sys
def handler(event, context):
    line = "x" * 1023 + "\\n"
    for _ in range(24 * 1024):  # 24 MiB
        sys.stdout.write(line)
    sys.stdout.flush()
    return "said a lot"
"""


def read_until(stream, needle, limit=4 << 20):
    """Reads a follower's output line by line until one holds `needle`."""
    seen = []
    for raw in stream:
        line = raw.decode() if isinstance(raw, bytes) else raw
        seen.append(line)
        if needle in line:
            return seen
        assert sum(map(len, seen)) < limit, "never came"
    raise AssertionError(f"the stream ended without {needle!r}: {seen[-5:]}")


def test_logs_follow_shows_a_running_runs_output_while_it_runs(kiln, tmp_path):
    name = unique("lf")
    kiln.cli_ok("deploy", write_bundle(tmp_path / name, SLOW), "--name", name, "--timeout", "15s")
    kiln.cli_ok("route", "add", "POST", f"/{name}", name, "--auth", "none")
    env = {**os.environ, "KILN_URL": kiln.url, "KILN_ADMIN_KEY": kiln.admin_key}
    follower = subprocess.Popen([str(KILN_BIN), "logs", name, "-f"], stdout=subprocess.PIPE, env=env, text=True)
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            call = pool.submit(kiln.request, "POST", f"/{name}", json={}, timeout=60)
            seen = read_until(follower.stdout, "halfway")
            run_id = next(line.split("START RequestId: ")[1].split()[0] for line in seen if "START RequestId" in line)
            run = kiln.run(run_id)
            assert run["status"] == "running", "the line came while the run was going"
            assert "halfway" in run["logs"], "run show of a running run shows its output so far"
            assert call.result().status_code == 200
        read_until(follower.stdout, f"REPORT RequestId: {run_id}")
    finally:
        follower.kill()
        follower.wait()


def test_a_slow_follower_is_dropped_and_never_slows_the_run(kiln, tmp_path):
    name = unique("lc")
    kiln.cli_ok("deploy", write_bundle(tmp_path / name, CHATTY), "--name", name)
    kiln.cli_ok("route", "add", "POST", f"/{name}", name, "--auth", "none")
    with requests.get(kiln.url + f"/v1/logs?function={name}&follow=true",
                      headers={"Authorization": f"Bearer {kiln.admin_key}"}, stream=True, timeout=60) as stream:
        assert stream.headers["Content-Type"] == "text/event-stream"
        r = kiln.request("POST", f"/{name}", json={})  # the follower reads nothing meanwhile
        assert r.status_code == 200 and r.json() == "said a lot"
        events = read_until(stream.iter_lines(), "event: dropped", limit=64 << 20)
        assert any("event: start" in e for e in events)
    run = kiln.run(r.headers["X-Kiln-Run-Id"])
    assert run["status"] == "ok" and "log limit of 256 KiB reached" in run["logs"]


def test_followers_are_capped_per_node(start_kiln, tmp_path):
    k = start_kiln("--max-log-followers", "1")
    name = unique("cap")
    k.cli_ok("deploy", write_bundle(tmp_path / name, SLOW), "--name", name)
    url = k.url + f"/v1/logs?function={name}&follow=true"
    auth = {"Authorization": f"Bearer {k.admin_key}"}
    with requests.get(url, headers=auth, stream=True, timeout=30) as first:
        assert first.status_code == 200
        second = requests.get(url, headers=auth, stream=True, timeout=30)
        assert second.status_code == 429 and "--max-log-followers" in second.json()["error"]["message"]
        p = k.cli("logs", name, "-f")
        assert p.returncode == 1 and "followers are following logs already" in p.stderr
    # The first one gone, its place is free again.
    with requests.get(url, headers=auth, stream=True, timeout=30) as again:
        assert again.status_code == 200
    assert k.api("GET", f"/v1/logs?function={unique('none')}&follow=true").status_code == 404
