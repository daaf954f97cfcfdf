"""Fixtures that run a real `kiln serve` on a loopback port and talk to it over HTTP.

- `kiln`: one fresh daemon per test module, own data dir, started with the module's
  KILN_SERVE_FLAGS; tests deploy plain-Python handlers under unique names.
- `ml_kiln`: one daemon per session whose data dir holds the `ml` layer
  (onnxruntime + numpy), built once; tests marked `ml` share it and run last.
  Set KILN_E2E_ML_DATA=/some/dir to keep that data dir (and the layer) across sessions.
- `start_kiln`: starts daemons with extra flags or on a given data dir, stopped at the
  end of the test.

Every daemon is stopped by pid: SIGTERM, then SIGKILL after 10 s, which fails the test.
The binary is $KILN_BIN, default <repo>/build/kiln. Only 127.0.0.1 is ever contacted.
"""
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from helpers import REPO, unique, write_bundle

KILN_BIN = Path(os.environ.get("KILN_BIN", REPO / "build" / "kiln"))
HTTP_TIMEOUT = 30          # seconds, for any single request
CLI_TIMEOUT = 120          # seconds, for any CLI command except layer builds
LAYER_BUILD_TIMEOUT = 1500  # pip installing onnxruntime + numpy
TEST_TIMEOUT = int(os.environ.get("KILN_E2E_TEST_TIMEOUT", "180"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Kiln:
    """One running daemon and the ways tests talk to it."""

    def __init__(self, data_dir, extra_args=(), ca=None):
        """`ca`: the daemon serves HTTPS (its flags name --tls-cert/--tls-key) with a
        certificate that chains to this PEM file, which clients then trust."""
        self.data = Path(data_dir)
        self.extra_args = list(extra_args)
        self.ca = str(ca) if ca else None
        self.verify = self.ca or True
        self.proc = None
        self.log_path = self.data.parent / f"{self.data.name}-serve.log"

    # -- lifecycle --
    def start(self):
        self.port = free_port()
        self.url = f"{'https' if self.ca else 'http'}://127.0.0.1:{self.port}"
        cmd = [str(KILN_BIN), "serve", "--data", str(self.data),
               "--listen", f"127.0.0.1:{self.port}", *self.extra_args]
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                     cwd=self.data.parent, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"kiln serve exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.url + "/healthz", timeout=1, verify=self.verify).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            self.stop()
            pytest.fail(f"kiln serve not healthy within 15 s:\n{self.log_tail()}")
        self.admin_key = (self.data / "admin.key").read_text().strip()
        return self

    def stop(self):
        """SIGTERM by pid; returns the exit code. Fails if it takes SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc and self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            pytest.fail(f"kiln serve (pid {self.proc.pid}) ignored SIGTERM for 10 s")

    def log_tail(self, lines=40):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- control API --
    def api(self, method, path, key=None, **kw):
        headers = {"Authorization": f"Bearer {key or self.admin_key}", **kw.pop("headers", {})}
        return requests.request(method, self.url + path, headers=headers, verify=self.verify,
                                timeout=kw.pop("timeout", HTTP_TIMEOUT), **kw)

    def api_json(self, method, path, expect=200, **kw):
        r = self.api(method, path, **kw)
        assert r.status_code == expect, f"{method} {path} -> {r.status_code} {r.text}"
        return r.json()

    def run(self, run_id):
        return self.api_json("GET", f"/v1/runs/{run_id}")

    def runs(self, function, **query):
        return self.api_json("GET", "/v1/runs", params={"function": function, **query})["runs"]

    # -- user routes --
    def request(self, method, path, key=None, **kw):
        headers = kw.pop("headers", {})
        if key:
            headers["Authorization"] = f"Bearer {key}"
        # Each call is a connection of its own; a test that keeps hundreds of responses
        # would otherwise keep their sockets open past the per-address cap (256).
        headers.setdefault("Connection", "close")
        return requests.request(method, self.url + path, headers=headers, verify=self.verify,
                                timeout=kw.pop("timeout", HTTP_TIMEOUT), **kw)

    # -- CLI --
    def cli(self, *args, timeout=CLI_TIMEOUT, input=None, url=None):
        env = {**os.environ, "KILN_URL": url or self.url, "KILN_ADMIN_KEY": self.admin_key}
        if self.ca:
            env["KILN_CA_CERT"] = self.ca
        return subprocess.run([str(KILN_BIN), *map(str, args)], env=env, input=input,
                              capture_output=True, text=True, timeout=timeout,
                              cwd=self.data.parent)

    def cli_ok(self, *args, **kw):
        p = self.cli(*args, **kw)
        assert p.returncode == 0, f"kiln {' '.join(map(str, args))} -> {p.returncode}\n{p.stderr}"
        return p.stdout

    def cli_json(self, *args, **kw):
        return json.loads(self.cli_ok(*args, "--json", **kw))

    def create_key(self, name, *flags):
        """`kiln key create` prints the new key alone on its last line."""
        return self.cli_ok("key", "create", name, *flags).strip().splitlines()[-1].strip()

    def deploy_handler(self, tmp_dir, code, *flags, name=None, methods=("POST",),
                       auth="none", files=None, errors="detailed"):
        """Deploys handler.py from `code` under a unique name, routed at /<name> for each
        method (no key unless auth="key"). Returns a Fn to call it. The routes say
        `errors: detailed`, so tests read the handler's error (a public route's default,
        generic, hides it: test_public_errors.py)."""
        name = name or unique("fn")
        bundle = write_bundle(Path(tmp_dir) / name, code, files)
        self.cli_ok("deploy", bundle, "--name", name, *flags)
        for method in methods:
            self.cli_ok("route", "add", method, f"/{name}", name, "--auth", auth, "--errors", errors)
        return Fn(self, name, f"/{name}")


class Fn:
    """A deployed function and its route."""

    def __init__(self, kiln, name, path):
        self.kiln, self.name, self.path = kiln, name, path

    def call(self, method="POST", **kw):
        return self.kiln.request(method, self.path, **kw)

    def run_of(self, response):
        """The run record behind a user-route response (X-Kiln-Run-Id)."""
        run_id = response.headers.get("X-Kiln-Run-Id")
        assert run_id, f"no X-Kiln-Run-Id on {response.status_code} {dict(response.headers)}"
        return self.kiln.run(run_id)


@contextlib.contextmanager
def running_kiln(data_dir, extra_args=()):
    k = Kiln(data_dir, extra_args).start()
    try:
        yield k
    finally:
        k.stop()


# -- fixtures --------------------------------------------------------------------------

@pytest.fixture(scope="session", autouse=True)
def _binary():
    if not KILN_BIN.exists():
        pytest.exit(f"no kiln binary at {KILN_BIN} (build it, or set KILN_BIN)", returncode=2)


@pytest.fixture(scope="module")
def kiln(request, tmp_path_factory):
    """A daemon per test module, started with the module's KILN_SERVE_FLAGS if any."""
    flags = getattr(request.module, "KILN_SERVE_FLAGS", ())
    with running_kiln(tmp_path_factory.mktemp("kiln") / "data", flags) as k:
        yield k


@pytest.fixture
def start_kiln(request, tmp_path):
    """start_kiln(*flags, data=None, ca=None) -> a started Kiln; all are stopped after
    the test."""
    started = request.node.kiln_daemons = []

    def start(*flags, data=None, ca=None):
        k = Kiln(data or tmp_path / f"data{len(started)}", flags, ca=ca).start()
        started.append(k)
        return k

    yield start
    for k in started:
        k.stop()


@pytest.fixture(scope="session")
def ml_kiln(tmp_path_factory):
    keep = os.environ.get("KILN_E2E_ML_DATA")
    data = Path(keep) if keep else tmp_path_factory.mktemp("ml") / "data"
    with running_kiln(data) as k:
        layers = k.api_json("GET", "/v1/layers")["layers"]
        if not any(layer["name"] == "ml" for layer in layers):
            k.cli_ok("layer", "build", "ml", "-r", REPO / "examples/iris/requirements.txt",
                     timeout=LAYER_BUILD_TIMEOUT)
        yield k


@pytest.fixture(scope="session")
def iris_model(tmp_path_factory):
    """A trained model.onnx (trained in this process's venv, like a user would)."""
    out = tmp_path_factory.mktemp("model") / "model.onnx"
    subprocess.run([sys.executable, REPO / "examples/iris/train.py", "--out", out],
                   check=True, capture_output=True, timeout=300)
    return out


# -- hooks -----------------------------------------------------------------------------

def pytest_collection_modifyitems(items):
    """Quick tests first; tests that need the ml layer (slow to build) last."""
    items.sort(key=lambda item: item.get_closest_marker("ml") is not None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """Bounds every test body in time, on top of the per-request timeouts."""
    def expire(signum, frame):
        raise TimeoutError(f"test took longer than {TEST_TIMEOUT} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(TEST_TIMEOUT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, attach the tail of each involved daemon's log to the report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        daemons = [v for v in getattr(item, "funcargs", {}).values() if isinstance(v, Kiln)]
        for k in daemons + getattr(item, "kiln_daemons", []):
            report.sections.append((f"kiln serve log ({k.log_path})", k.log_tail()))
