"""FastAPI + uvicorn (uvloop + httptools), 1 or 2 worker processes."""
from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

from common import Proc, free_port, http, wait_http
from systems.base import Endpoint

BENCH = Path(__file__).resolve().parent.parent


def _cmd(port: int, workers: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "fastapi_app:app", "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(workers), "--log-level", "warning",
            "--no-access-log", "--loop", "uvloop", "--http", "httptools"]


class Uvicorn:
    def __init__(self, workers: int, logdir: Path):
        self.workers = workers
        self.name = f"uvicorn-{workers}w"
        self.label = f"FastAPI+uvicorn {workers} worker{'s' if workers > 1 else ''}"
        self.logdir = logdir

    def available(self):
        try:
            import fastapi, uvicorn  # noqa: F401,E401
        except ImportError as e:
            return False, f"fastapi/uvicorn not installed: {e}"
        return True, ""

    @contextlib.contextmanager
    def serve(self, bundle_name: str, bundle_dir: Path, probe_body: str):
        port = free_port()
        env = dict(os.environ, BENCH_BUNDLE=str(bundle_dir))
        proc = Proc(f"{self.name}-{bundle_name}", _cmd(port, self.workers), cwd=BENCH, env=env,
                    log=self.logdir / f"{self.name}-{bundle_name}.log")
        try:
            url = f"http://127.0.0.1:{port}/predict"
            wait_http(url, method="POST", body=probe_body, headers={"Content-Type": "application/json"},
                      timeout=60, proc=proc)
            # With 2 workers, make sure both have imported the app before measuring.
            time.sleep(0.5 if self.workers > 1 else 0)
            for _ in range(20 * self.workers):
                http("POST", url, probe_body, {"Content-Type": "application/json"})
            yield Endpoint(addrs=[("127.0.0.1", port)], path="/predict", pids=[proc.pid],
                           notes=f"uvicorn --workers {self.workers} --loop uvloop --http httptools; async route")
        finally:
            proc.stop()

    def cold_starts(self, bundle_name: str, bundle_dir: Path, probe_body: str, n: int) -> dict:
        """Process start (fork/exec of uvicorn, 1 worker) to the first 200 of a POST."""
        samples, errors = [], []
        env = dict(os.environ, BENCH_BUNDLE=str(bundle_dir))
        for i in range(n):
            port = free_port()
            t0 = time.perf_counter()
            proc = Proc(f"uvicorn-cold-{i}", _cmd(port, 1), cwd=BENCH, env=env,
                        log=self.logdir / f"uvicorn-cold-{bundle_name}.log")
            try:
                wait_http(f"http://127.0.0.1:{port}/predict", method="POST", body=probe_body,
                          headers={"Content-Type": "application/json"}, timeout=60, proc=proc,
                          interval=0.002)
                samples.append((time.perf_counter() - t0) * 1000)
            except Exception as e:  # noqa: BLE001 - reported
                errors.append(str(e)[:300])
            finally:
                proc.stop()
        return {"ms": samples, "errors": errors,
                "short": "process start → first 200", "what": "uvicorn process start (1 worker) to first HTTP 200, polled every 2 ms"}
