"""Isolation and budgets (issue #4, SPEC §6 and §7): one test per row of the issue's
acceptance table, each a handler that misbehaves, each checked through its HTTP answer
and its run record; then the issue's "Plus:" items (private /tmp, nothing left on the
host after 200 container starts and kills, `kiln doctor` on this machine).

Each test first asks the daemon (GET /v1/doctor) for the sandbox pieces it depends on
and skips, naming the piece and the reason the daemon gave, where one is missing: a
host without a piece is reported, never passed silently. On a root host (this one, CI)
every piece is expected and test_doctor_reports_every_piece_active fails otherwise.

The container is observed from the host through /proc: a container's processes share
the pid namespace of its worker (/proc/<pid>/ns/pid), which `kiln ps` names by host pid.
Only 127.0.0.1 is contacted; the connect to 1.1.1.1 happens inside the container's
empty network namespace, where it has no route.
"""
import concurrent.futures
import errno
import json
import os
import time
import uuid
from pathlib import Path

import pytest

MiB = 1024 * 1024
LOG_MARKER = "[kiln] log limit of 256 KiB reached; the rest was dropped"
PIECES = ["mount namespace", "pid namespace", "net namespace", "ipc namespace",
          "uts namespace", "read-only root", "cgroup memory", "cgroup pids",
          "capabilities dropped", "seccomp"]
HANDLER_UID = 65534  # what `kiln doctor` reports for this host ("runs as uid 65534")

OK = """
def handler(event, context):
    return "fine"
"""


# -- helpers ---------------------------------------------------------------------------

def doctor(kiln):
    return {p["name"]: p for p in kiln.api_json("GET", "/v1/doctor")["sandbox"]}


def require(kiln, *pieces):
    """Skips, with the daemon's own reason, unless every named piece is active."""
    report = doctor(kiln)
    missing = [f"{name}: {report[name]['detail']}" if name in report else f"{name}: not reported"
               for name in pieces if not report.get(name, {}).get("active")]
    if missing:
        pytest.skip("kiln doctor reports missing: " + "; ".join(missing))


def error_of(r):
    body = r.json()
    return body["errorType"], body["errorMessage"]


def live(kiln, name):
    return [c for c in kiln.cli_json("ps")["containers"] if c["function"] == name]


def wait_for(predicate, timeout, what, every=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            break
        time.sleep(every)
    assert value, f"not within {timeout} s: {what}"
    return value


def host_pids():
    return [int(e.name) for e in os.scandir("/proc") if e.name.isdigit()]


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return None  # the process exited meanwhile


def status_of(pid):
    text = read_text(f"/proc/{pid}/status") or ""
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def pid_namespace(pid):
    return os.readlink(f"/proc/{pid}/ns/pid")


def pids_in_namespace(ns):
    """Host pids of the processes in pid namespace `ns` (as /proc/<pid>/ns/pid names it)."""
    found = []
    for pid in host_pids():
        try:
            if os.readlink(f"/proc/{pid}/ns/pid") == ns:
                found.append(pid)
        except OSError:
            continue
    return found


def rss_mb(pid):
    return int(status_of(pid)["VmRSS"].split()[0]) / 1024


def cgroup_parents(kiln):
    """The folders under which the daemon makes its containers' cgroups, as `kiln doctor`
    names them: v1 "cgroup v1 (memory: A, pids: B)", v2 "cgroup v2 (A, memory, ...)"."""
    detail = doctor(kiln)["cgroup memory"]["detail"]
    if detail.startswith("cgroup v1 ("):
        inner = detail[len("cgroup v1 ("):].split(")")[0]
        parts = dict(part.strip().split(": ", 1) for part in inner.split(", ") if ": " in part)
        # pids is a path, or "missing (why)" where v1 has no pids hierarchy.
        pids = [Path(parts["pids"])] if parts["pids"].startswith("/") else []
        return [Path(parts["memory"])] + pids
    assert detail.startswith("cgroup v2 ("), detail
    return [Path(detail[len("cgroup v2 ("):].split(",")[0])]


def subdirs(path):
    try:
        return sorted(e.name for e in os.scandir(path) if e.is_dir())
    except FileNotFoundError:
        return []


# -- network ---------------------------------------------------------------------------

NETWORK = """
import json, socket

def attempt(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        s.connect((host, port))
        return "connected"
    except OSError as e:
        return {"type": type(e).__name__, "errno": e.errno, "message": str(e)}
    finally:
        s.close()

def handler(event, context):
    port = json.loads(event["body"])["port"]
    return {"outside": attempt("1.1.1.1", 53), "daemon": attempt("127.0.0.1", port),
            "interfaces": [name for _, name in socket.if_nameindex()]}
"""


def test_network_has_no_route_out_and_no_way_to_the_daemon(kiln, tmp_path):
    require(kiln, "net namespace")
    fn = kiln.deploy_handler(tmp_path, NETWORK)
    r = fn.call(json={"port": kiln.port})
    assert r.status_code == 200, r.text
    seen = r.json()
    # Only a loopback of its own: no route to 1.1.1.1 at all (not a timeout: nothing
    # leaves), and nothing listens on the daemon's port in the container's loopback.
    assert seen["interfaces"] == ["lo"], seen
    assert seen["outside"] != "connected" and seen["outside"]["errno"] == errno.ENETUNREACH, seen
    assert seen["daemon"] != "connected" and seen["daemon"]["errno"] == errno.ECONNREFUSED, seen
    run = fn.run_of(r)
    assert run["status"] == "ok" and run["http_status"] == 200, run


# -- filesystem ------------------------------------------------------------------------

WRITES = """
import os

def write(path):
    try:
        with open(path, "w") as f:
            f.write("hello")
        with open(path) as f:
            return ["ok", f.read()]
    except OSError as e:
        return [type(e).__name__, e.errno]

def handler(event, context):
    tmp = os.statvfs("/tmp")
    return {"/var/task/x": write("/var/task/x"), "/x": write("/x"), "/tmp/x": write("/tmp/x"),
            "tmp_bytes": tmp.f_blocks * tmp.f_frsize}
"""


def test_root_and_bundle_are_read_only_and_tmp_is_writable(kiln, tmp_path):
    require(kiln, "read-only root")
    fn = kiln.deploy_handler(tmp_path, WRITES)
    r = fn.call(json={})
    assert r.status_code == 200, r.text
    seen = r.json()
    assert seen["/var/task/x"] == ["OSError", errno.EROFS], seen
    assert seen["/x"] == ["OSError", errno.EROFS], seen
    assert seen["/tmp/x"] == ["ok", "hello"], seen
    assert seen["tmp_bytes"] == 512 * MiB, seen  # the tmpfs of SPEC §2
    assert fn.run_of(r)["status"] == "ok"


PROC = """
import os, time

def handler(event, context):
    child = os.fork()
    if child == 0:
        try:
            time.sleep(30)
        finally:
            os._exit(0)
    try:
        listed = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        with open("/proc/1/cmdline", "rb") as f:
            pid1 = f.read().split(b"\\0")[0].decode()
    finally:
        os.kill(child, 9)
        os.waitpid(child, 0)
    return {"me": os.getpid(), "child": child, "listed": listed, "pid1": pid1,
            "hostname": os.uname().nodename}
"""


def test_proc_lists_only_the_containers_own_processes(kiln, tmp_path):
    require(kiln, "pid namespace", "read-only root")
    fn = kiln.deploy_handler(tmp_path, PROC)
    r = fn.call(json={})
    assert r.status_code == 200, r.text
    seen = r.json()
    # The worker is pid 1 of its own namespace, and the child it forked is the only
    # other process it can see; the host has many more.
    assert seen["me"] == 1, seen
    assert seen["listed"] == sorted({1, seen["child"]}), seen
    assert seen["pid1"].endswith("kiln-worker"), seen
    assert seen["hostname"] == "kiln", seen  # its own UTS namespace, too
    assert len(host_pids()) > len(seen["listed"]) + 5
    assert fn.run_of(r)["status"] == "ok"


PEEK = """
import json, os

def handler(event, context):
    seen = {}
    for path in json.loads(event["body"])["paths"]:
        try:
            if path.endswith("/"):
                seen[path] = ["listed", len(os.listdir(path))]
            else:
                with open(path, "rb") as f:
                    seen[path] = ["read", len(f.read())]
        except OSError as e:
            seen[path] = [type(e).__name__, e.errno]
    return seen
"""


def test_other_bundles_and_the_data_folder_are_not_there(kiln, tmp_path):
    require(kiln, "mount namespace", "read-only root")
    other = kiln.deploy_handler(tmp_path, OK)
    peek = kiln.deploy_handler(tmp_path, PEEK)
    assert other.call(json={}).status_code == 200
    bundles = [p for p in (kiln.data / "bundles").iterdir() if p.is_dir()]
    # The other function's bundle and this one's, each under its host path.
    assert len(bundles) >= 2, bundles
    paths = [str(kiln.data) + "/", str(kiln.data / "bundles") + "/",
             str(kiln.data / "kiln.db"), str(kiln.data / "admin.key")]
    for bundle in bundles:
        paths += [str(bundle) + "/", str(bundle / "handler.py")]
    assert all(os.path.exists(p) for p in paths), "the host has each path"
    r = peek.call(json={"paths": paths})
    assert r.status_code == 200, r.text
    seen = r.json()
    assert seen == {p: ["FileNotFoundError", errno.ENOENT] for p in paths}, seen
    assert peek.run_of(r)["status"] == "ok"


# -- budgets ---------------------------------------------------------------------------

FORK_BOMB = """
import json, os, time

def bomb():
    # Every child forks on too, as a fork bomb does, and never returns to the handler.
    try:
        while True:
            try:
                os.fork()
            except OSError:
                time.sleep(0.2)
    finally:
        os._exit(0)

def handler(event, context):
    hold = json.loads(event["body"])["hold"]
    forked, error, deadline = 0, None, time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            pid = os.fork()
        except OSError as e:
            error = [type(e).__name__, e.errno]
            break
        if pid == 0:
            bomb()
        forked += 1
    report = {"forked": forked, "error": error,
              "procs": sum(1 for p in os.listdir("/proc") if p.isdigit())}
    print("bomb:", json.dumps(report), flush=True)
    time.sleep(hold)
    return report
"""


def bomb_report(report):
    assert report["error"] == ["BlockingIOError", errno.EAGAIN], report
    # pids.max 256 counts processes and threads; the worker may run a thread or two.
    assert 200 <= report["procs"] <= 256, report


def test_fork_bomb_is_contained_and_the_rest_keeps_serving(kiln, tmp_path):
    require(kiln, "cgroup pids", "pid namespace")
    other = kiln.deploy_handler(tmp_path, OK)
    # --recycle-after 1: the container is retired after the run it served (the
    # contained run); --timeout 5s: the held run is killed by its deadline.
    fn = kiln.deploy_handler(tmp_path, FORK_BOMB, "--memory", "1024", "--timeout", "5s",
                             "--min-warm", "0", "--recycle-after", "1")
    parents = cgroup_parents(kiln)

    def during(hold):
        """Calls the bomb; while it holds, checks the host's view and the other function."""
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pending = pool.submit(fn.call, json={"hold": hold}, timeout=30)
            [c] = wait_for(lambda: [c for c in live(kiln, fn.name) if c["state"] == "busy"],
                           10, "the bomb's container")
            ns = pid_namespace(c["pid"])
            wait_for(lambda: len(pids_in_namespace(ns)) >= 200, 10, "the bomb to fill its pids")
            counts = []
            for _ in range(3):
                counts.append(len(pids_in_namespace(ns)))
                started = time.monotonic()
                r = other.call(json={}, timeout=10)
                assert r.status_code == 200, r.text
                assert time.monotonic() - started < 2, "the other function slowed down"
                assert kiln.request("GET", "/healthz", timeout=2).status_code == 200
            counts.append(len(pids_in_namespace(ns)))
            # The host sees the same bound, and the bomb was live throughout.
            assert 200 <= min(counts) and max(counts) <= 256, counts
            return pending.result(timeout=40), c, ns

    def nothing_left(c, ns):
        wait_for(lambda: not pids_in_namespace(ns), 5, f"the processes of {c['id']} to go")
        for parent in parents:
            wait_for(lambda: c["id"] not in subdirs(parent), 5, f"{parent}/{c['id']} removed")

    # 1. The bomb hits the limit, the handler sees EAGAIN and the run is ok.
    r, c, ns = during(hold=2.0)
    assert r.status_code == 200, r.text
    bomb_report(r.json())
    run = fn.run_of(r)
    assert run["status"] == "ok" and run["container_id"] == c["id"], run
    nothing_left(c, ns)

    # 2. The same bomb held past the deadline: killed with its 256 processes.
    started = time.monotonic()
    r, c, ns = during(hold=60)
    assert r.status_code == 504, r.text
    assert time.monotonic() - started < 10
    run = fn.run_of(r)
    assert run["status"] == "timeout" and run["container_id"] == c["id"], run
    line = next(x for x in run["logs"].splitlines() if x.startswith("bomb: "))
    bomb_report(json.loads(line[len("bomb: "):]))
    nothing_left(c, ns)
    assert other.call(json={}).status_code == 200


HOG = """
import json

def handler(event, context):
    body = json.loads(event["body"])
    mib, where = body.get("mib", 0), body.get("where", "heap")
    if where == "heap":
        hog = b"x" * (mib * 1024 * 1024)  # written, so it is resident
        return len(hog)
    with open("/tmp/hog", "wb") as f:  # tmpfs pages, charged to the container
        for _ in range(mib):
            f.write(b"x" * (1024 * 1024))
    return mib * 1024 * 1024
"""


# "heap": the row of the table; "tmp": the same through /tmp, which the issue counts
# in the memory limit (a tmpfs of 512 MiB would otherwise hold 4 times the limit).
@pytest.mark.parametrize("where", ["heap", "tmp"])
def test_twice_the_memory_limit_is_502_oom_and_the_next_request_gets_a_new_container(
        kiln, tmp_path, where):
    require(kiln, "cgroup memory")
    fn = kiln.deploy_handler(tmp_path, HOG, "--memory", "128")
    warm = fn.call(json={})
    assert warm.status_code == 200, warm.text
    r = fn.call(json={"mib": 256, "where": where})
    assert r.status_code == 502, r.text
    kind, message = error_of(r)
    assert kind == "Runtime.OutOfMemory", r.text
    assert "128 MB" in message, message
    run = fn.run_of(r)
    assert run["status"] == "oom" and run["http_status"] == 502, run
    assert run["error_message"] == message and "128 MB" in run["error_message"]
    assert run["container_id"] == fn.run_of(warm)["container_id"]
    assert 100 <= run["max_memory_mb"] <= 130, run  # the cgroup's peak, at the limit

    again = fn.call(json={"mib": 16, "where": where})
    assert again.status_code == 200 and again.json() == 16 * MiB, again.text
    assert fn.run_of(again)["container_id"] != run["container_id"]


LOOP = """
import json

def handler(event, context):
    if json.loads(event["body"]).get("loop"):
        while True:
            pass
    return "quick"
"""


def test_endless_loop_is_504_within_the_deadline_and_replaced(kiln, tmp_path):
    fn = kiln.deploy_handler(tmp_path, LOOP, "--timeout", "1s")
    warm = fn.call(json={})
    assert warm.status_code == 200, warm.text
    [c] = live(kiln, fn.name)
    started = time.monotonic()
    r = fn.call(json={"loop": True})
    elapsed = time.monotonic() - started
    assert r.status_code == 504, r.text
    assert error_of(r)[0] == "Runtime.Timeout"
    assert 0.9 <= elapsed < 1.5, f"answered after {elapsed:.2f} s with a 1 s timeout"
    run = fn.run_of(r)
    assert run["status"] == "timeout" and run["http_status"] == 504, run
    assert run["container_id"] == c["id"] == fn.run_of(warm)["container_id"], run
    # The looping worker is gone from the host, not just abandoned.
    wait_for(lambda: not os.path.exists(f"/proc/{c['pid']}")
             or "kiln-worker" not in (read_text(f"/proc/{c['pid']}/cmdline") or ""),
             5, f"worker {c['pid']} gone")

    again = fn.call(json={})
    assert again.status_code == 200, again.text
    assert fn.run_of(again)["container_id"] != run["container_id"]


CRASHES = {
    "exit": ("""
import os

def handler(event, context):
    os._exit(3)
""", "exited with status 3"),
    "segv": ("""
import ctypes

def handler(event, context):
    ctypes.string_at(0)
""", "SIGSEGV"),
}


@pytest.mark.parametrize("kind", CRASHES)
def test_crash_is_502_crashed(kiln, tmp_path, kind):
    code, why = CRASHES[kind]
    fn = kiln.deploy_handler(tmp_path, code, "--min-warm", "0")
    r = fn.call(json={})
    assert r.status_code == 502, r.text
    error_type, message = error_of(r)
    assert error_type == "Runtime.Crashed", r.text
    assert why in message, message
    run = fn.run_of(r)
    assert run["status"] == "crashed" and run["http_status"] == 502, run
    assert why in run["error_message"], run
    assert run["logs"].splitlines()[-1].startswith("REPORT RequestId:"), run["logs"]
    again = fn.call(json={})
    assert again.status_code == 502
    assert fn.run_of(again)["container_id"] != run["container_id"]


CHATTY = """
import json, sys

def handler(event, context):
    if json.loads(event["body"]).get("quiet"):
        print("quiet run")
        return 0
    print("first line", flush=True)
    chunk = ("x" * 1023 + "\\n") * 64  # 64 KiB
    for _ in range(1600):             # 100 MiB
        sys.stdout.write(chunk)
    sys.stdout.flush()
    return 1600 * len(chunk)
"""


def test_printing_100mb_caps_the_logs_and_the_daemon_stays_small(kiln, tmp_path):
    fn = kiln.deploy_handler(tmp_path, CHATTY, "--timeout", "60s")
    before = rss_mb(kiln.proc.pid)
    r = fn.call(json={}, timeout=90)
    after = rss_mb(kiln.proc.pid)
    assert r.status_code == 200, r.text
    assert r.json() == 100 * MiB
    run = fn.run_of(r)
    assert run["status"] == "ok", run
    logs = run["logs"]
    lines = logs.splitlines()
    assert lines[0] == "first line", lines[:2]
    assert LOG_MARKER in lines, lines[-3:]
    assert lines[-1].startswith("REPORT RequestId:"), lines[-3:]
    # The handler's output as kept: cut at the cap, mid-line here; the marker line
    # starts on a line of its own.
    kept = logs[:logs.index("\n" + LOG_MARKER)]
    assert 255 * 1024 <= len(kept.encode()) <= 256 * 1024, len(kept)
    assert len(logs.encode()) <= 256 * 1024 + 1024, len(logs)
    print(f"daemon RSS: {before:.1f} MB before, {after:.1f} MB after")
    assert after - before < 50, f"daemon RSS {before:.0f} MB before, {after:.0f} MB after"
    # Nothing of the dropped output spills into the next run on the same container.
    quiet = fn.call(json={"quiet": True})
    assert quiet.status_code == 200, quiet.text
    next_run = fn.run_of(quiet)
    assert next_run["container_id"] == run["container_id"], next_run
    spilled = next_run["logs"].split("quiet run\n")[0]
    assert spilled == "", (f"{len(spilled)} bytes of the previous run's output open the "
                           f"next run's logs: {spilled[:40]!r}...{spilled[-40:]!r}")
    assert "xxxx" not in next_run["logs"] and LOG_MARKER not in next_run["logs"]


# The row "returns a 7 MiB body → 502 ResponseTooLarge" is
# test_failures.py::test_response_over_6mib_is_502_response_too_large.


# -- privileges ------------------------------------------------------------------------

SYSCALLS = """
import ctypes, os, socket, threading

libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000

def attempt(call, *args):
    ctypes.set_errno(0)
    rc = call(*args)
    return [rc, ctypes.get_errno()]

def handler(event, context):
    os.makedirs("/tmp/mnt", exist_ok=True)
    seen = {
        "ptrace": attempt(libc.ptrace, 0, 0, None, None),  # PTRACE_TRACEME
        "mount": attempt(libc.mount, b"none", b"/tmp/mnt", b"tmpfs", ctypes.c_ulong(0), None),
        "unshare_user": attempt(libc.unshare, CLONE_NEWUSER),
        "unshare_net": attempt(libc.unshare, CLONE_NEWNET),
        "raw_socket": attempt(libc.socket, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
        "packet_socket": attempt(libc.socket, socket.AF_PACKET, socket.SOCK_RAW, 0),
    }
    # The run goes on: threads and fork still work (clone3 -> ENOSYS -> clone).
    box = []
    t = threading.Thread(target=box.append, args=("thread",))
    t.start()
    t.join()
    child = os.fork()
    if child == 0:
        os._exit(7)
    seen["thread"] = box
    seen["fork"] = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
    return seen
"""


def test_ptrace_mount_unshare_are_denied_and_the_run_goes_on(kiln, tmp_path):
    require(kiln, "seccomp")
    fn = kiln.deploy_handler(tmp_path, SYSCALLS)
    r = fn.call(json={})
    assert r.status_code == 200, r.text
    seen = r.json()
    # PTRACE_TRACEME and unshare(CLONE_NEWUSER) need no capability (uid 65534 may make a
    # user namespace on this host outside Kiln): EPERM for them is the seccomp filter's.
    for call in ("ptrace", "mount", "unshare_user", "unshare_net", "raw_socket", "packet_socket"):
        assert seen[call] == [-1, errno.EPERM], (call, seen)
    assert seen["thread"] == ["thread"] and seen["fork"] == 7, seen
    assert fn.run_of(r)["status"] == "ok"


KERNEL_SURFACE = """
import ctypes, socket

libc = ctypes.CDLL(None, use_errno=True)
IO_URING_SETUP, IO_URING_ENTER, IO_URING_REGISTER = 425, 426, 427
AF_ALG, AF_VSOCK, AF_BLUETOOTH, NETLINK_AUDIT = 38, 40, 31, 9

def attempt(call, *args):
    ctypes.set_errno(0)
    rc = call(*args)
    if rc >= 0 and call is libc.socket:
        libc.close(rc)
    return [-1 if rc < 0 else "ok", ctypes.get_errno()]

def handler(event, context):
    params = ctypes.create_string_buffer(120)  # struct io_uring_params, zeroed
    pair = (ctypes.c_int * 2)()
    return {
        "io_uring_setup": attempt(libc.syscall, IO_URING_SETUP, 1, params),
        "io_uring_enter": attempt(libc.syscall, IO_URING_ENTER, -1, 0, 0, 0, None, 0),
        "io_uring_register": attempt(libc.syscall, IO_URING_REGISTER, -1, 0, None, 0),
        "vsock": attempt(libc.socket, AF_VSOCK, socket.SOCK_STREAM, 0),
        "alg": attempt(libc.socket, AF_ALG, socket.SOCK_SEQPACKET, 0),
        "bluetooth": attempt(libc.socket, AF_BLUETOOTH, socket.SOCK_RAW, 0),
        "netlink_audit": attempt(libc.socket, socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_AUDIT),
        "vsock_pair": attempt(libc.socketpair, AF_VSOCK, socket.SOCK_STREAM, 0, pair),
        # What Python and its libraries need keeps working.
        "unix": attempt(libc.socket, socket.AF_UNIX, socket.SOCK_STREAM, 0),
        "inet6": attempt(libc.socket, socket.AF_INET6, socket.SOCK_DGRAM, 0),
        "netlink_route": attempt(libc.socket, socket.AF_NETLINK, socket.SOCK_RAW, 0),
        "loopback": socket.getaddrinfo("localhost", 80, proto=socket.IPPROTO_TCP)[0][4][0],
    }
"""


def test_io_uring_and_uncommon_socket_families_are_denied(kiln, tmp_path):
    """Defect 9 of issue #14: io_uring_setup and AF_VSOCK sockets were allowed."""
    require(kiln, "seccomp")
    fn = kiln.deploy_handler(tmp_path, KERNEL_SURFACE)
    r = fn.call(json={})
    assert r.status_code == 200, r.text
    seen = r.json()
    for call in ("io_uring_setup", "io_uring_enter", "io_uring_register", "vsock", "alg",
                 "bluetooth", "netlink_audit", "vsock_pair"):
        assert seen[call] == [-1, errno.EPERM], (call, seen)
    for call in ("unix", "inet6", "netlink_route"):
        assert seen[call][0] == "ok", (call, seen)
    assert seen["loopback"] in ("127.0.0.1", "::1"), seen


SHADOW_AND_FDS = """
import os, resource

def handler(event, context):
    try:
        with open("/etc/shadow") as f:
            shadow = ["read", len(f.read())]
    except OSError as e:
        shadow = [type(e).__name__, e.errno]
    # The lowest free descriptor: the one os.listdir's directory stream will take.
    probe = os.open("/dev/null", os.O_RDONLY)
    os.close(probe)
    listed = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
    targets = {}
    for fd in listed:
        try:
            targets[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError as e:
            targets[fd] = type(e).__name__  # the listing's own fd, closed by now
    with open("/proc/self/status") as f:
        status = dict(line.split(":\\t", 1) for line in f.read().splitlines())
    return {"shadow": shadow, "probe": probe, "listed": listed, "targets": targets,
            "uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(),
            "caps": [status[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")],
            "no_new_privs": status["NoNewPrivs"].strip(), "seccomp": status["Seccomp"].strip(),
            "nofile": resource.getrlimit(resource.RLIMIT_NOFILE),
            "core": resource.getrlimit(resource.RLIMIT_CORE)}
"""


def test_shadow_is_denied_and_only_stdio_and_the_channel_are_open(kiln, tmp_path):
    require(kiln, "capabilities dropped", "read-only root")
    assert os.path.exists("/etc/shadow"), "the host has /etc/shadow (bind-mounted /etc)"
    fn = kiln.deploy_handler(tmp_path, SHADOW_AND_FDS)
    r = fn.call(json={})
    assert r.status_code == 200, r.text
    seen = r.json()
    assert seen["shadow"] == ["PermissionError", errno.EACCES], seen
    # 0 stdin (/dev/null), 1 and 2 the log pipe, 3 the channel to the daemon; and the
    # descriptor os.listdir itself opened on /proc/self/fd to read it, which the handler
    # predicted as the lowest free one before listing (4: nothing else is open) and
    # which is closed again by the time it is resolved.
    assert seen["probe"] == 4, seen
    assert seen["listed"] == [0, 1, 2, 3, seen["probe"]], seen
    targets = seen["targets"]
    assert targets["0"] == "/dev/null", targets
    assert targets["1"].startswith("pipe:") and targets["2"] == targets["1"], targets
    assert targets["3"].startswith("socket:"), targets
    assert targets["4"] == "FileNotFoundError", targets
    # Why /etc/shadow is denied: not root, no capability, no way to gain one.
    assert (seen["uid"], seen["gid"], seen["groups"]) == (HANDLER_UID, HANDLER_UID, []), seen
    assert seen["caps"] == ["0000000000000000"] * 5, seen
    assert (seen["no_new_privs"], seen["seccomp"]) == ("1", "2"), seen
    assert seen["nofile"] == [1024, 1024] and seen["core"] == [0, 0], seen
    assert fn.run_of(r)["status"] == "ok"


# -- plus: private /tmp, nothing left behind, kiln doctor ------------------------------

TMP_WRITER = """
import json, os

def handler(event, context):
    name = json.loads(event["body"])["name"]
    if not os.path.exists(name):
        with open(name, "w") as f:
            f.write("secret")
    return {"mine": open(name).read(), "tmp": sorted(os.listdir("/tmp"))}
"""

TMP_READER = """
import json, os

def handler(event, context):
    name = json.loads(event["body"])["name"]
    return {"exists": os.path.exists(name), "tmp": sorted(os.listdir("/tmp"))}
"""


def test_a_second_function_cannot_see_the_first_ones_tmp(kiln, tmp_path):
    require(kiln, "mount namespace", "read-only root")
    writer = kiln.deploy_handler(tmp_path, TMP_WRITER)
    reader = kiln.deploy_handler(tmp_path, TMP_READER)
    name = f"/tmp/kiln-e2e-secret-{uuid.uuid4().hex}"
    first = writer.call(json={"name": name})
    assert first.status_code == 200, first.text
    assert first.json()["mine"] == "secret" and Path(name).name in first.json()["tmp"]
    # Written once, still there for the writer's warm container...
    again = writer.call(json={"name": name})
    assert again.json()["mine"] == "secret"
    assert writer.run_of(again)["container_id"] == writer.run_of(first)["container_id"]
    # ... and nowhere else: not for another function, not on the host.
    r = reader.call(json={"name": name})
    assert r.status_code == 200, r.text
    assert r.json() == {"exists": False, "tmp": []}, r.json()
    assert reader.run_of(r)["status"] == "ok"
    assert not os.path.exists(name)


CHURN_CRASH = """
import os

def handler(event, context):
    os._exit(1)
"""

CHURN_LOOP = """
def handler(event, context):
    while True:
        pass
"""

CHURN_IDLE = """
import time

def handler(event, context):
    time.sleep(0.2)
    return "done"
"""

CHURN_STARTS = 200
CHURN_BUDGET_S = 40


def test_200_container_starts_and_kills_leave_nothing_on_the_host(start_kiln, tmp_path):
    k = start_kiln()
    require(k, "cgroup memory", "cgroup pids", "pid namespace", "mount namespace", "read-only root")
    daemon = k.proc.pid
    parents = cgroup_parents(k)
    host_mounts_before = Path("/proc/self/mountinfo").read_text().splitlines()
    no_prewarm = ("--min-warm", "0")
    crash = k.deploy_handler(tmp_path, CHURN_CRASH, *no_prewarm)
    loop = k.deploy_handler(tmp_path, CHURN_LOOP, *no_prewarm, "--timeout", "100ms")
    idle = k.deploy_handler(tmp_path, CHURN_IDLE, *no_prewarm, "--idle-evict-s", "0.1",
                            "--scale-to-zero-s", "0.1", "--max-containers", "8")
    expected = {crash.name: (502, "crashed"), loop.name: (504, "timeout"), idle.name: (200, "ok")}
    fns = {f.name: f for f in (crash, loop, idle)}
    containers = set()

    def call(fn):
        r = fn.call(json={}, timeout=30)
        run = fn.run_of(r)
        assert (r.status_code, run["status"]) == expected[fn.name], (r.status_code, run)
        return run["container_id"]

    # Rounds of 8 concurrent idle requests (8 cold starts, evicted after 0.1 s idle)
    # beside 4 crashes and 4 timeouts (a cold start and a kill each).
    started = time.monotonic()
    rounds = 0
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        while len(containers) < CHURN_STARTS and time.monotonic() - started < CHURN_BUDGET_S:
            batch = [idle] * 8 + [crash] * 4 + [loop] * 4
            containers.update(f.result(timeout=60) for f in [pool.submit(call, fn) for fn in batch])
            rounds += 1
            wait_for(lambda: not live(k, idle.name), 5, "idle containers evicted", every=0.1)
    elapsed = time.monotonic() - started
    print(f"churn: {len(containers)} containers in {rounds} rounds, {elapsed:.1f} s")
    assert len(containers) >= CHURN_STARTS, (
        f"only {len(containers)} container starts in {elapsed:.1f} s ({rounds} rounds)")
    reasons = {c["reason"] for c in k.cli_json("ps", "--all")["containers"]
               if c["function"] in fns and c["state"] == "gone"}
    assert {"crashed", "timeout"} <= reasons and reasons & {"idle", "scale_to_zero"}, reasons

    # Everything has gone (min_warm 0 everywhere): nothing of any container remains.
    wait_for(lambda: not [c for c in k.cli_json("ps")["containers"] if c["function"] in fns],
             5, "every container gone")
    live_pids = {c["pid"] for c in k.cli_json("ps")["containers"]}
    # The layer zygote the containers forked from stays while their versions are
    # deployed, with the child it forked ahead for the next cold start: the only
    # processes and cgroups of the daemon's that may remain.
    zygotes = k.api_json("GET", "/v1/zygotes")["zygotes"]
    zygote_pids = {z["pid"] for z in zygotes if z["pid"]} | {z["spare"]["pid"] for z in zygotes if z["spare"]}
    # No process with the daemon as parent (workers, zombies included) but the live
    # containers `kiln ps` shows (none by now) and the zygote...
    children = {p for p in host_pids() if status_of(p).get("PPid") == str(daemon)}
    assert children - live_pids - zygote_pids == set(), [(p, status_of(p).get("State"),
                                                          read_text(f"/proc/{p}/cmdline")) for p in children]
    assert live_pids == set(), live_pids
    # ... and none anywhere in a cgroup of this daemon's but the zygote.
    tag = f"/kiln-{daemon}/"
    stray = [p for p in host_pids() if tag in (read_text(f"/proc/{p}/cgroup") or "") and p not in zygote_pids]
    assert stray == [], stray
    # No container cgroup left under the daemon's parent groups.
    for parent in parents:
        assert parent.is_dir(), parent
        assert set(subdirs(parent)) <= {z["id"] for z in zygotes} | {z["spare"]["id"] for z in zygotes if z["spare"]}, (
            parent, subdirs(parent))
    # No mount on the host under the data folder (the staging root) and no new tmpfs.
    host_mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    under_data = [m for m in host_mounts if str(k.data) in m]
    assert under_data == [], under_data
    new = [m for m in host_mounts if m not in host_mounts_before]
    assert [m for m in new if " - tmpfs " in m] == [], new
    assert os.listdir(k.data / "run" / "root") == []

    # Stopping the daemon removes its parent groups too.
    assert k.stop() == 0
    for parent in parents:
        assert not parent.exists(), f"{parent} left after the daemon stopped: {subdirs(parent)}"
    stray = [p for p in host_pids() if tag in (read_text(f"/proc/{p}/cgroup") or "")]
    assert stray == [], stray


def test_doctor_reports_every_piece_active(kiln):
    p = kiln.cli("doctor")
    assert p.returncode == 0, p.stderr
    pieces = kiln.cli_json("doctor")["sandbox"]
    assert [x["name"] for x in pieces] == PIECES, pieces
    lines = p.stdout.splitlines()
    assert len(lines) == len(PIECES), p.stdout
    for piece, line in zip(pieces, lines):
        state = "active" if piece["active"] else "MISSING"
        words = piece["name"].split() + [state]
        assert line.split()[:len(words)] == words, line
        assert piece["detail"] and piece["detail"] in line, (piece, line)
    # The daemon said the same at start.
    log = kiln.log_path.read_text(errors="replace")
    for piece in pieces:
        said = (f"sandbox: {piece['name']}: {piece['detail']}" if piece["active"]
                else f"sandbox: {piece['name']}: MISSING ({piece['detail']})")
        assert said in log, said
    by_name = {x["name"]: x for x in pieces}
    assert "pids.max 256" in by_name["cgroup pids"]["detail"], by_name["cgroup pids"]
    missing = [f"{x['name']}: {x['detail']}" for x in pieces if not x["active"]]
    if missing and os.geteuid() != 0:
        pytest.skip("not root, and kiln doctor reports missing: " + "; ".join(missing))
    assert missing == [], "this host runs the tests as root: every piece is expected"
