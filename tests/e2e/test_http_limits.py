"""The front door's limits and timeouts (SPEC §2; issue #14, defects 3, 8 and 11):
slow clients, keep-alive, requests per connection, connection caps, file-descriptor
exhaustion, clients that never read. Timeouts are set to 1-2 s by flag so the tests
end quickly; they assert answers, closes and counts, not elapsed time."""
import contextlib
import os
import re
import resource
import socket

import pytest

from helpers import closed_at_once, connect, unique, wait_for

KILN_SERVE_FLAGS = ("--header-timeout-s", "1", "--body-timeout-s", "1", "--keepalive-s", "1",
                    "--max-requests-per-conn", "3")

HEALTH = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


def read_all(sock):
    """Everything the server sends until it closes the connection."""
    out = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return out
        if not chunk:
            return out
        out += chunk


def read_response(sock):
    """One response (header and Content-Length body): (status, header bytes)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before an answer: {data!r}"
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(rest) < length:
        rest += sock.recv(65536)
    return int(head.split(b" ")[1]), head


def status_of(answer):
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.") else None


# -- slow clients and keep-alive -----------------------------------------------------

def test_a_header_that_stalls_is_408_and_closed(kiln):
    with connect(kiln.port) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never the empty line
        assert status_of(read_all(s)) == 408


def test_a_body_that_stalls_is_408_and_closed(kiln):
    with connect(kiln.port) as s:
        s.sendall(b"POST /v1/functions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                  b"Content-Length: 100\r\n\r\n{\"a\":" % kiln.admin_key.encode())
        assert status_of(read_all(s)) == 408


def test_an_idle_keepalive_connection_is_closed_silently(kiln):
    with connect(kiln.port) as s:
        s.sendall(HEALTH)
        assert read_response(s)[0] == 200
        assert read_all(s) == b"", "an idle connection got an answer it did not ask for"


def test_a_connection_that_never_sends_is_closed(kiln):
    with connect(kiln.port) as s:
        assert read_all(s) == b""


def test_the_last_request_of_a_connection_says_close(kiln):
    with connect(kiln.port) as s:
        for _ in range(2):
            s.sendall(HEALTH)
            status, head = read_response(s)
            assert status == 200 and b"Connection: close" not in head
        s.sendall(HEALTH)
        status, head = read_response(s)
        assert status == 200 and b"Connection: close" in head, head
        assert read_all(s) == b""


# -- connection caps and file descriptors (defect 3) ---------------------------------

def test_connections_over_the_node_cap_are_closed_at_once(start_kiln):
    k = start_kiln("--max-connections", "20", "--header-timeout-s", "60")
    socks = [connect(k.port) for _ in range(30)]
    try:
        closed = [closed_at_once(s) for s in socks]
        assert sum(closed) >= 10, f"only {sum(closed)} of 30 closed over a cap of 20"
        assert not all(closed)
        for s in socks[:5]:
            s.close()
        wait_for(lambda: _healthy(k), 20, "a fresh connection served once some closed")
    finally:
        for s in socks:
            s.close()


def test_connections_over_the_per_address_cap_are_closed_at_once(start_kiln):
    k = start_kiln("--max-connections-per-ip", "5", "--header-timeout-s", "60")
    held = [connect(k.port) for _ in range(5)]
    try:
        wait_for(lambda: closed_at_once(connect(k.port)), 20, "a 6th connection from one address closed")
        assert not any(closed_at_once(s) for s in held[:1]), "a connection under the cap was closed"
        held.pop().close()
        wait_for(lambda: _healthy(k), 20, "served again once one closed")
    finally:
        for s in held:
            s.close()


def _healthy(k):
    with contextlib.suppress(OSError):
        with connect(k.port, timeout=3) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return status_of(read_all(s)) == 200
    return False


def test_running_out_of_file_descriptors_does_not_spin_or_flood_the_log(start_kiln):
    k = start_kiln("--header-timeout-s", "60")
    resource.prlimit(k.proc.pid, resource.RLIMIT_NOFILE, (256, 256))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    socks = []
    try:
        for _ in range(400):
            socks.append(connect(k.port))
        # The log line is written once a second at most, with the count of the attempts
        # it left out: a back-off makes a handful a second, a spinning loop millions.
        emfile = lambda: [line for line in k.log_path.read_text(errors="replace").splitlines()
                          if "Too many open files" in line]
        wait_for(lambda: any("left out" in line for line in emfile()), 30,
                 "a second EMFILE line, with the count of those left out")
        lines = emfile()
        left_out = [int(re.search(r"\((\d+) more such lines", line).group(1))
                    for line in lines if "left out" in line]
        assert max(left_out) < 50, f"accept() retried {max(left_out)} times in a second on EMFILE"
        assert len(lines) < 20, f"{len(lines)} EMFILE log lines"
    finally:
        for s in socks[:300]:
            s.close()
    try:
        wait_for(lambda: _healthy(k), 30, "served again once connections closed")
    finally:
        for s in socks:
            s.close()


# -- clients that never read (defect 8) ----------------------------------------------

BIG = """
def handler(event, context):
    return {"statusCode": 200, "body": "x" * 5_000_000}
"""


def daemon_connections(k):
    """The client connections the daemon holds open (TCP, on its port, not listening)."""
    inodes = set()
    for fd in os.scandir(f"/proc/{k.proc.pid}/fd"):
        with contextlib.suppress(OSError):
            link = os.readlink(fd.path)
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if int(cols[1].rsplit(":", 1)[1], 16) == k.port and cols[3] != "0A" and cols[9] in inodes:
                    n += 1
    return n


def daemon_rss_mb(k):
    with open(f"/proc/{k.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def stall_ten_readers(k, fn):
    """Ten clients ask for the 5 MB answer and never read; returns once the daemon
    has closed all ten connections."""
    readers = []
    try:
        for _ in range(10):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the response cannot fit in flight
            s.settimeout(15)
            s.connect(("127.0.0.1", k.port))
            s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % fn.path.encode())
            readers.append(s)
        wait_for(lambda: daemon_connections(k) >= 10, 30, "all ten requests accepted")
        assert _healthy(k), "another client is not served while ten never read"
        wait_for(lambda: daemon_connections(k) == 0, 60,
                 "the connections of clients that never read closed by the daemon")
    finally:
        for s in readers:
            s.close()


def test_clients_that_never_read_are_closed_after_the_write_timeout(start_kiln, tmp_path):
    k = start_kiln("--write-timeout-s", "2")
    fn = k.deploy_handler(tmp_path, BIG, name=unique("big"), methods=("GET",))
    assert len(fn.call("GET").content) == 5_000_000
    stall_ten_readers(k, fn)
    after_first = daemon_rss_mb(k)
    stall_ten_readers(k, fn)
    # The abandoned responses' memory is released for reuse: a second round of ten
    # does not pin another ten responses' worth (malloc may keep the pages mapped).
    assert daemon_rss_mb(k) - after_first < 25, "abandoned responses stay pinned"
