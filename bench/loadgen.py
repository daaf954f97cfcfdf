"""The HTTP load generator: wrk (Debian package) driven by a generated Lua script.

The script POSTs the workload body with the system's headers, spreads its threads over
one or more addresses (one emulator per slot for the Lambda RIE), and on exit writes the
summary and latency percentiles (microseconds, wrk's own histogram) as JSON.
wrk is pinned with taskset to LOADGEN_CPU; the servers are left unpinned (2 cores
only: see meta.pinning in the results).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from common import cpu_seconds, process_tree, system_busy_s

LOADGEN_CPU = os.environ.get("BENCH_LOADGEN_CPU", "1")
CDF_POINTS = [1, 5, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 100]

LUA = r"""
local addrs = {}
local counter = 0
local threads = {}

function setup(thread)
  if #addrs == 0 then
    for _, hp in ipairs(ADDRS) do
      local a = wrk.lookup(hp[1], hp[2])
      addrs[#addrs + 1] = a[1]
    end
  end
  counter = counter + 1
  thread.addr = addrs[((counter - 1) % #addrs) + 1]
  table.insert(threads, thread)
end

wrk.method = "POST"
wrk.body = BODY
for k, v in pairs(HEADERS) do wrk.headers[k] = v end
wrk.headers["Content-Type"] = "application/json"

local bad = 0
function response(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
    if bad <= 3 then io.stderr:write("non-200: " .. status .. " " .. string.sub(body or "", 1, 300) .. "\n") end
  end
end

function done(summary, latency, requests)
  local f = io.open(OUT, "w")
  local pcts = {}
  for _, p in ipairs(CDF) do
    pcts[#pcts + 1] = string.format("[%s, %d]", tostring(p), latency:percentile(p))
  end
  f:write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"lat_mean_us": %.1f, "lat_max_us": %d, "lat_stdev_us": %.1f, "p50": %d, "p90": %d, "p99": %d, "p99_9": %d, "cdf": [%s]}\n',
    summary.requests, summary.duration, summary.bytes,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency.mean, latency.max, latency.stdev,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    table.concat(pcts, ", ")))
  f:close()
end
"""


def _lua_str(s: str) -> str:
    level = 0
    while ("]" + "=" * level + "]") in s:
        level += 1
    eq = "=" * level
    return f"[{eq}[{s}]{eq}]"


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(*, addrs: list[tuple[str, int]], path: str, body: str, headers: dict,
            connections: int, threads: int, duration_s: float, server_pids: list[int] | None = None,
            timeout_s: int = 10) -> dict:
    """Run wrk once; returns its summary plus CPU accounting (wrk's own and the servers')."""
    tmp = Path(tempfile.mkdtemp(prefix="kiln-bench-wrk-"))
    try:
        out = tmp / "out.json"
        addr_lua = "{" + ", ".join(f'{{"{h}", "{p}"}}' for h, p in addrs) + "}"
        hdr_lua = "{" + ", ".join(f"[ {_lua_str(k)} ] = {_lua_str(v)}" for k, v in headers.items()) + "}"
        script = (f"ADDRS = {addr_lua}\nBODY = {_lua_str(body)}\nHEADERS = {hdr_lua}\n"
                  f"OUT = {_lua_str(str(out))}\nCDF = {{{', '.join(str(p) for p in CDF_POINTS)}}}\n" + LUA)
        (tmp / "post.lua").write_text(script)
        host, port = addrs[0]
        url = f"http://{host}:{port}{path}"
        dur = max(1, int(round(duration_s)))
        cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{dur}s",
               "--timeout", f"{timeout_s}s", "-s", str(tmp / "post.lua"), url]
        if shutil.which("taskset") and LOADGEN_CPU:
            cmd = ["taskset", "-c", LOADGEN_CPU] + cmd
        tree = []
        for sp in server_pids or []:
            tree += process_tree(sp)
        cpu0 = cpu_seconds(tree) if tree else None
        per0 = {q: cpu_seconds([q], children=False) for q in tree}
        busy0 = system_busy_s()
        t0 = time.perf_counter()
        with open(tmp / "stdout", "wb") as so, open(tmp / "stderr", "wb") as se:
            p = subprocess.Popen(cmd, stdout=so, stderr=se, stdin=subprocess.DEVNULL)
        deadline = t0 + dur + timeout_s + 30
        rc, ru = None, None
        while rc is None:
            pid, status, rusage = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                rc, ru = os.waitstatus_to_exitcode(status), rusage
                p.returncode = rc
                break
            if time.perf_counter() > deadline:
                p.kill()
                p.wait()
                raise RuntimeError("wrk did not finish in time")
            time.sleep(0.02)
        wall = time.perf_counter() - t0
        busy1 = system_busy_s()
        cpu1 = None
        if server_pids:
            tree2 = []
            for sp in server_pids:
                tree2 += process_tree(sp)
            cpu1 = cpu_seconds(sorted(set(tree2) | set(tree)))
            per1 = {q: cpu_seconds([q], children=False) for q in set(tree2) | set(tree)}
        stdout = (tmp / "stdout").read_bytes()
        stderr = (tmp / "stderr").read_bytes()
        if rc != 0 or not out.exists():
            raise RuntimeError(f"wrk failed ({rc}): {stderr.decode(errors='replace')[-800:]}"
                               f"{stdout.decode(errors='replace')[-800:]}")
        res = json.loads(out.read_text())
        # wrk's percentile(100) is not the maximum: use its max.
        res["cdf"] = [[q, (res["lat_max_us"] if q >= 100 else v)] for q, v in res["cdf"]]
        dsec = res["duration_us"] / 1e6
        res["rps"] = round(res["requests"] / dsec, 1) if dsec else 0.0
        res["connections"], res["threads"] = connections, threads
        res["wall_s"] = round(wall, 2)
        res["stderr"] = stderr.decode(errors="replace")[-600:]
        res["loadgen_cpu_s"] = round(ru.ru_utime + ru.ru_stime, 2)
        res["loadgen_core_share"] = round((ru.ru_utime + ru.ru_stime) / wall, 3) if wall else None
        if cpu0 is not None and cpu1 is not None and res["requests"]:
            # Server CPU per request: a rough cost figure (includes workers that are children).
            res["server_cpu_s"] = round(cpu1 - cpu0, 2)
            res["server_cpu_us_per_req"] = round((cpu1 - cpu0) * 1e6 / res["requests"], 1)
            roots = set(server_pids)
            d_root = sum(max(0.0, per1[q] - per0.get(q, 0.0)) for q in per1 if q in roots)
            d_kids = sum(max(0.0, per1[q] - per0.get(q, 0.0)) for q in per1 if q not in roots)
            # Split: the server process itself (daemon / uvicorn master / emulator) vs its
            # descendants (containers / workers / runtimes), per request.
            res["root_cpu_us_per_req"] = round(d_root * 1e6 / res["requests"], 1)
            res["workers_cpu_us_per_req"] = round(d_kids * 1e6 / res["requests"], 1)
            # CPU used on the machine by anything but the servers and wrk (other tenants'
            # builds, daemons): a share of all cores over the run. Near 0 on a quiet machine.
            other = (busy1 - busy0) - (cpu1 - cpu0) - res["loadgen_cpu_s"]
            res["foreign_cpu_share"] = round(max(0.0, other) / (wall * (os.cpu_count() or 1)), 3)
        return res
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

