"""Nothing of a container runs while it is idle (issue #14, defect 10): whatever a
handler leaves running when its run ends (forked children, daemonized grandchildren)
is killed, the run's logs say so, and the container goes on serving. The same for
plain, zygote-forked and snapshot-forked containers."""
import os

import pytest

from helpers import wait_for

SPAWNER = """
import json, os

def busy():
    while True:
        pass

def handler(event, context):
    n = json.loads(event["body"] or "{}").get("spawn", 0)
    for i in range(n):
        pid = os.fork()
        if pid == 0:
            if i % 2 and os.fork() != 0:
                os._exit(0)  # a daemonized grandchild: its parent is gone at once
            busy()
        if i % 2:
            os.waitpid(pid, 0)
    return {"pid": os.getpid(), "spawned": n}
"""

STARTS = {"plain": ("--no-zygote",), "zygote": (), "snapshot": ("--snapshot", "--min-warm", "0")}


def doctor(kiln):
    return {p["name"]: p for p in kiln.api_json("GET", "/v1/doctor")["sandbox"]}


def cgroup_of(pid):
    """The memory cgroup line of /proc/<pid>/cgroup (v1), or the unified one (v2)."""
    with open(f"/proc/{pid}/cgroup") as f:
        lines = f.read().splitlines()
    return next((line for line in lines if ":memory:" in line), None) or \
        next(line for line in lines if line.startswith("0::"))


def running_in(group):
    """Host pids of live (not zombie) processes whose cgroup is `group`."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            if state != "Z" and cgroup_of(entry.name) == group:
                found.append(int(entry.name))
        except (OSError, StopIteration):
            continue  # gone meanwhile
    return sorted(found)


def container_of(kiln, run):
    doc = kiln.api_json("GET", "/v1/containers")
    return next(c for c in doc["containers"] if c["id"] == run["container_id"])


@pytest.mark.parametrize("start", STARTS)
def test_processes_left_running_are_killed_when_the_run_ends(kiln, tmp_path, start):
    checks = doctor(kiln)
    if not checks.get("cgroup memory", {}).get("active"):
        pytest.skip("no cgroup: kiln doctor reports " + str(checks.get("cgroup memory")))
    fn = kiln.deploy_handler(tmp_path, SPAWNER, *STARTS[start])
    if start == "snapshot":
        assert fn.call(json={}).status_code == 200  # this container becomes the template
        wait_for(lambda: [z for z in kiln.api_json("GET", "/v1/zygotes")["zygotes"]
                          if z["kind"] == "snapshot" and z["function"] == fn.name],
                 10, "the snapshot template")

    r = fn.call(json={"spawn": 8})
    assert r.status_code == 200, r.text
    run = fn.run_of(r)
    assert "killed 8 leftover processes" in run["logs"], run["logs"]
    c = container_of(kiln, run)
    assert c["start"] == start, c
    group = cgroup_of(c["pid"])
    # SIGKILL was sent before the answer; the kernel ends them right after.
    wait_for(lambda: running_in(group) == [c["pid"]], 10,
             f"only the worker {c['pid']} left in {group}: {running_in(group)}")

    again = fn.call(json={})
    assert again.status_code == 200, again.text
    run2 = fn.run_of(again)
    assert run2["container_id"] == run["container_id"], "the container goes on serving"
    assert "leftover" not in run2["logs"], run2["logs"]
