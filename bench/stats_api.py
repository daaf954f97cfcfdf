"""The stats API over many run records (issue #15: GET /v1/functions/{name}/stats within
50 ms over 100,000 runs), and `kiln ls` beside it.

    .venv/bin/python bench/stats_api.py [--runs 100000] [--kiln build/kiln] [--out FILE]
        [--compare OTHER/kiln --rounds 3]

Starts a daemon on a temp data dir, deploys an echo handler behind a public route,
makes --runs real invocations with wrk (16 connections), waits until the run records
are all in the store, then stops it. Then, per round and build (--kiln, and each
--compare on the same records, the order swapped every other round), starts a daemon
on that data dir and times the stats endpoint (1 h by 1 min, 24 h by 5 min) and
GET /v1/functions (what `kiln ls` reads) 20 times each after one untimed call; prints
per build the median of the rounds' medians and the slowest call. Timings only:
nothing here passes or fails on them.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Proc, free_port, http, log, stop_all, wait_http  # noqa: E402
from loadgen import run_wrk  # noqa: E402

ECHO = "def handler(event, context):\n    return {'ok': True}\n"
REPO = Path(__file__).resolve().parents[1]


def serve(binary: str, data: Path, root: Path, tag: str) -> tuple[Proc, str, dict[str, str]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = Proc(f"kiln-{tag}", [binary, "serve", "--data", str(data), "--listen", f"127.0.0.1:{port}"],
                log=root / f"serve-{tag}.log")
    wait_http(url + "/healthz", timeout=30)
    key = (data / "admin.key").read_text().strip()
    return proc, url, {"Authorization": f"Bearer {key}"}


def timed(url: str, auth: dict[str, str], path: str, calls: int = 20) -> dict:
    http("GET", url + path, headers=auth)  # the first call reads the index into the page cache
    ms = []
    for _ in range(calls):
        t0 = time.perf_counter()
        status, _, _ = http("GET", url + path, headers=auth)
        ms.append((time.perf_counter() - t0) * 1000)
        assert status == 200, status
    return {"median_ms": round(statistics.median(ms), 1), "max_ms": round(max(ms), 1)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", default=str(REPO / "build" / "kiln"))
    ap.add_argument("--compare", action="append", default=[],
                    help="another kiln binary timed on the same records, round by round (repeatable)")
    ap.add_argument("--rounds", type=int, default=1, help="with --compare: rounds, the order swapped each")
    ap.add_argument("--runs", type=int, default=100000)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kiln-stats-"))
    data = root / "data"
    try:
        proc, url, auth = serve(args.kiln, data, root, "make")
        env = {**os.environ, "KILN_URL": url, "KILN_ADMIN_KEY": auth["Authorization"].split()[1]}
        (root / "echo").mkdir()
        (root / "echo" / "handler.py").write_text(ECHO)
        for cmd in (["deploy", str(root / "echo"), "--name", "echo", "--max-containers", "2"],
                    ["route", "add", "POST", "/echo", "echo", "--auth", "none"]):
            subprocess.run([args.kiln, *cmd], env=env, check=True, capture_output=True, timeout=120)
        made = 0
        while made < args.runs:
            r = run_wrk(addrs=[("127.0.0.1", int(url.rsplit(":", 1)[1]))], path="/echo", body="{}", headers={},
                        connections=16, threads=1, duration_s=5, server_pids=[proc.pid])
            made = json.loads(http("GET", url + "/v1/functions/echo/stats?window=24h&bucket=1h",
                                   headers=auth)[1])["totals"]["invocations"]
            log(f"{made} runs recorded ({r['rps']:.0f} req/s)")
        proc.stop()

        binaries = [args.kiln, *args.compare]
        timings: dict[str, list[dict]] = {b: [] for b in binaries}
        for i in range(args.rounds):
            for binary in (binaries if i % 2 == 0 else binaries[::-1]):
                proc, url, auth = serve(binary, data, root, f"r{i}")
                timings[binary].append({
                    "stats_1h_by_1m": timed(url, auth, "/v1/functions/echo/stats?window=1h&bucket=1m"),
                    "stats_24h_by_5m": timed(url, auth, "/v1/functions/echo/stats?window=24h&bucket=5m"),
                    "functions_list": timed(url, auth, "/v1/functions")})
                proc.stop()
                log(f"round {i + 1} {binary}: {json.dumps(timings[binary][-1])}")
        result = {"runs": made, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "builds": {}}
        for binary, rounds in timings.items():
            result["builds"][binary] = {
                call: {"median_ms": statistics.median(r[call]["median_ms"] for r in rounds),
                       "max_ms": max(r[call]["max_ms"] for r in rounds)}
                for call in rounds[0]}
    finally:
        stop_all()
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
