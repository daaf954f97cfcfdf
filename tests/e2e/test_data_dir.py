"""The data folder belongs to one daemon and to no other user (issue #14, defects 5
and 7): the folder is 0700 and the files holding secrets 0600, an existing folder is
tightened at start; a second `kiln serve` on the same --data refuses, naming the
holder's pid, and changes nothing of the first daemon's work."""
import concurrent.futures
import os
import stat
import subprocess

from conftest import KILN_BIN, free_port
from helpers import unique, wait_for, write_bundle

SLOW = """
import json, time

def handler(event, context):
    time.sleep(json.loads(event["body"] or "{}").get("sleep", 0))
    return {"attempt": context.attempt}
"""

PRIVATE_FILES = ("kiln.db", "kiln.db-wal", "kiln.db-shm", "admin.key", "kiln.lock")


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_folder_is_0700_and_its_secret_files_0600(start_kiln, tmp_path):
    k = start_kiln()
    k.deploy_handler(tmp_path, SLOW)  # writes to the database, so the WAL exists
    assert mode(k.data) == 0o700
    for name in PRIVATE_FILES:
        assert (k.data / name).exists(), name
        assert mode(k.data / name) == 0o600, (name, oct(mode(k.data / name)))


def test_an_existing_open_folder_is_tightened_at_start(start_kiln, tmp_path):
    data = tmp_path / "old"
    k = start_kiln(data=data)
    k.stop()
    os.chmod(data, 0o755)
    for name in ("kiln.db", "admin.key"):
        os.chmod(data / name, 0o644)
    k = start_kiln(data=data)
    assert mode(data) == 0o700
    for name in ("kiln.db", "admin.key"):
        assert mode(data / name) == 0o600, name


def test_a_second_daemon_on_the_same_folder_refuses_and_changes_nothing(start_kiln, tmp_path):
    first = start_kiln()
    name = unique("lock")
    first.cli_ok("deploy", write_bundle(tmp_path / name, SLOW), "--name", name)
    first.cli_ok("route", "add", "POST", f"/{name}", name, "--auth", "none")
    queued = first.request("POST", f"/{name}", json={"sleep": 2},
                           headers={"X-Kiln-Invocation-Type": "Event"})
    assert queued.status_code == 202, queued.text
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(first.request, "POST", f"/{name}", json={"sleep": 2})
        wait_for(lambda: any(r["status"] == "running" for r in first.runs(name)), 20, "a run in flight")

        second = subprocess.run([str(KILN_BIN), "serve", "--data", str(first.data),
                                 "--listen", f"127.0.0.1:{free_port()}"],
                                capture_output=True, text=True, timeout=60)
        said = second.stdout + second.stderr
        assert second.returncode != 0, said
        assert f"pid {first.proc.pid}" in said and "data folder" in said, said

        sync = in_flight.result(timeout=30)
    assert sync.status_code == 200, sync.text
    run = wait_for(lambda: (lambda r: r if r["status"] not in ("queued", "running") else None)(
        first.run(queued.json()["run_id"])), 30, "the async run ends")
    assert (run["status"], run["attempt"]) == ("ok", 1), run
    assert first.request("POST", f"/{name}", json={}).status_code == 200
    assert (first.data / "kiln.lock").read_text().strip() == str(first.proc.pid)
