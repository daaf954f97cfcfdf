"""Small builders shared by the end-to-end tests: handler bundles, archives, raw HTTP."""
import io
import os
import socket
import stat
import tarfile
import textwrap
import time
import uuid
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def unique(prefix):
    """A fresh name, so tests sharing a daemon never collide on functions or routes."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def listing(doc, key):
    """The items of a `--json` listing, whether wrapped ({"routes": [...]}) or bare."""
    return doc[key] if isinstance(doc, dict) else doc


def write_bundle(directory, code, files=None):
    """Writes handler.py (dedented) plus optional extra {name: text|bytes} files."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "handler.py").write_text(textwrap.dedent(code).lstrip())
    for name, content in (files or {}).items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return directory


# --- archives ----------------------------------------------------------------------

def tar_gz(members):
    """members: list of (TarInfo, bytes|None). Returns the .tar.gz bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def tar_file(name, data):
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    return info, data


def tar_special(name, kind, linkname=""):
    """A non-regular tar entry: kind is tarfile.SYMTYPE, LNKTYPE, CHRTYPE, FIFOTYPE, ..."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = 0o644
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 1, 3  # /dev/null's numbers
    return info, None


def zip_bytes(entries, symlinks=()):
    """entries: {name: bytes}; symlinks: [(name, target)] stored the way Info-ZIP does."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in symlinks:
            info = zipfile.ZipInfo(name)
            info.create_system = 3  # unix, so external_attr carries st_mode
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return buf.getvalue()


def handler_tar_gz(code):
    return tar_gz([tar_file("handler.py", textwrap.dedent(code).lstrip().encode())])


def handler_zip(code):
    return zip_bytes({"handler.py": textwrap.dedent(code).lstrip().encode()})


# --- raw sockets -------------------------------------------------------------------

def connect(port, timeout=15):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def closed_at_once(sock):
    """Did the server close this connection without an answer (within 3 s)?"""
    sock.settimeout(3)
    try:
        return sock.recv(1) == b""
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


def raw_http(port, data, timeout=5.0):
    """Sends bytes as they are and returns everything the server answers until it
    closes the connection or goes quiet for `timeout` seconds."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks):
                break  # the status line and headers are all the tests look at
        return b"".join(chunks)


# --- processes ---------------------------------------------------------------------

def pids_holding(path_fragment):
    """Host pids of processes with an open fd whose target contains path_fragment.

    Works whatever namespaces the worker lives in: /proc/<pid>/fd shows the path as
    the worker opened it, and the fragment is a uuid no other process knows."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            for fd in os.scandir(f"/proc/{entry.name}/fd"):
                if path_fragment in os.readlink(fd.path):
                    found.append(int(entry.name))
                    break
        except OSError:
            continue  # the process exited, or is not ours to read
    return found


def wait_for(predicate, timeout, what, every=0.2):
    """predicate()'s first truthy value within `timeout` seconds, else the test fails."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"not within {timeout} s: {what}")
