"""The AWS Lambda runtime: aws-lambda-rie (built from its Go source at bench time)
running awslambdaric with the handler unmodified, one emulator per concurrent slot.

The emulator handles one invocation at a time, so for concurrency C the suite starts C
emulators (each with its own runtime API port and its own Python runtime process) and
wrk spreads its connections over them, one connection per emulator.
Events are function-URL shaped: {"body": "<request body>"}.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

from common import Proc, free_port, http, wait_http
from systems.base import Endpoint

INVOKE_PATH = "/2015-03-31/functions/function/invocations"


def rie_binary() -> str | None:
    cand = os.environ.get("BENCH_RIE_BIN") or str(Path.home() / ".cache/kiln-bench/bin/aws-lambda-rie")
    if os.access(cand, os.X_OK):
        return cand
    return shutil.which("aws-lambda-rie")


def _env() -> dict:
    env = dict(os.environ)
    env.update({"AWS_LAMBDA_FUNCTION_NAME": "bench", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
                "AWS_LAMBDA_FUNCTION_TIMEOUT": "30", "AWS_REGION": "us-east-1", "LOG_LEVEL": "error"})
    return env


class LambdaRIE:
    name = "lambda-rie"
    label = "AWS Lambda RIE + awslambdaric"

    def __init__(self, logdir: Path, slots: int):
        self.logdir = logdir
        self.slots = slots

    def available(self):
        if not rie_binary():
            return False, "aws-lambda-rie not built (scripts/bench builds it with go install)"
        try:
            import awslambdaric  # noqa: F401
        except ImportError as e:
            return False, f"awslambdaric not installed: {e}"
        return True, ""

    def _start(self, tag: str, bundle_dir: Path, log: Path):
        port, api = free_port(), free_port()
        cmd = [rie_binary(), "--log-level", "error",
               "--runtime-interface-emulator-address", f"127.0.0.1:{port}",
               "--runtime-api-address", f"127.0.0.1:{api}",
               sys.executable, "-m", "awslambdaric", "handler.handler"]
        return Proc(tag, cmd, cwd=bundle_dir, env=_env(), log=log), port

    @staticmethod
    def event(body: str) -> str:
        return json.dumps({"body": body})

    @contextlib.contextmanager
    def serve(self, bundle_name: str, bundle_dir: Path, probe_body: str):
        procs, addrs = [], []
        ev = self.event(probe_body)
        try:
            for i in range(self.slots):
                p, port = self._start(f"rie-{bundle_name}-{i}", bundle_dir,
                                      self.logdir / f"rie-{bundle_name}.log")
                procs.append(p)
                addrs.append(("127.0.0.1", port))
            for i in range(self.slots):
                # A port free when chosen may be taken before the emulator binds it (32 ports
                # from the ephemeral range): an emulator that exits before answering gets
                # fresh ports, twice at most.
                for attempt in range(3):
                    url = f"http://127.0.0.1:{addrs[i][1]}{INVOKE_PATH}"
                    try:
                        wait_http(url, method="POST", body=ev, timeout=60, proc=procs[i])
                        break
                    except RuntimeError:
                        if attempt == 2 or procs[i].alive():
                            raise
                        procs[i], port = self._start(f"rie-{bundle_name}-{i}", bundle_dir,
                                                     self.logdir / f"rie-{bundle_name}.log")
                        addrs[i] = ("127.0.0.1", port)
                for _ in range(20):
                    http("POST", url, ev)
            yield Endpoint(addrs=addrs, path=INVOKE_PATH, pids=[p.pid for p in procs],
                           wrap_event=True, unwrap_result=True,
                           notes=f"{self.slots} emulators (one per concurrent slot); c=1 uses the first")
        finally:
            for p in procs:
                p.stop()

    def cold_starts(self, bundle_name: str, bundle_dir: Path, probe_body: str, n: int) -> dict:
        """A new emulator per sample: wait for its HTTP port, then time the first invoke
        (the emulator inits the runtime lazily on it); Init Duration from its own log."""
        first, start_to_first, init_ms, report_init, errors = [], [], [], [], []
        ev = self.event(probe_body)
        for i in range(n):
            log = self.logdir / f"rie-cold-{bundle_name}-{i}.log"
            log.unlink(missing_ok=True)
            port, api = free_port(), free_port()
            cmd = [rie_binary(), "--log-level", "info",
                   "--runtime-interface-emulator-address", f"127.0.0.1:{port}",
                   "--runtime-api-address", f"127.0.0.1:{api}",
                   sys.executable, "-m", "awslambdaric", "handler.handler"]
            env = _env()
            env["LOG_LEVEL"] = "info"
            t0 = time.perf_counter()
            p = Proc(f"rie-cold-{i}", cmd, cwd=bundle_dir, env=env, log=log)
            try:
                url = f"http://127.0.0.1:{port}{INVOKE_PATH}"
                # Readiness without invoking: any HTTP answer on a path that does not exist.
                wait_http(f"http://127.0.0.1:{port}/ready-probe", timeout=30, proc=p, interval=0.002,
                          want=(404, 405))
                t1 = time.perf_counter()
                st, b, _ = http("POST", url, ev, timeout=60)
                t2 = time.perf_counter()
                if st != 200 or json.loads(b).get("statusCode") != 200:
                    errors.append(f"HTTP {st}: {b[:200]!r}")
                    continue
                first.append((t2 - t1) * 1000)
                start_to_first.append((t2 - t0) * 1000)
                time.sleep(0.05)
                text = log.read_text(errors="replace")
                m = re.search(r"INIT REPORT\(durationMs: ([0-9.]+)\)", text)
                if m:
                    init_ms.append(float(m.group(1)))
                m = re.search(r"Init Duration: ([0-9.]+) ms", text)
                if m:
                    report_init.append(float(m.group(1)))
            except Exception as e:  # noqa: BLE001 - reported
                errors.append(str(e)[:300])
            finally:
                p.stop()
                log.unlink(missing_ok=True)
        return {"ms": first, "process_start_to_first_ms": start_to_first,
                "init_duration_ms": init_ms, "report_init_duration_ms": report_init, "errors": errors,
                "short": "first invoke of a new emulator; init = INIT REPORT", "what": "first invoke on a fresh emulator (request to response; the emulator starts "
                        "the Python runtime on it). init_duration_ms = the emulator's 'INIT REPORT "
                        "durationMs'; its REPORT line's 'Init Duration' is kept as report_init_duration_ms"}
