"""The daemon's work per warm request, in figures a noisy machine repeats: instructions
(valgrind's callgrind) and system calls (strace -c), for one or more kiln builds.

    .venv/bin/python bench/warm_instructions.py --kiln OLD=OLD/build/kiln --kiln NEW=build/kiln \\
        [--requests 2000] [--auth key] [--out FILE]

Per build, twice:
- instructions: `kiln serve` under `valgrind --tool=callgrind --instr-atstart=no`;
  the echo handler deployed behind POST /echo (a route key with --auth key) and warmed
  with 200 requests; then instrumentation is switched on (callgrind_control -i on), --requests
  requests go one at a time over one keep-alive connection, it is switched off
  and the counts dumped. Instructions per request = the dump's total / --requests: the
  daemon's user-space work (not the kernel's, not the container's; the worker is its own
  process and is not traced).
- system calls: the same daemon natively, `strace -c -f -p PID` attached around the same
  --requests requests; calls per request by name, and their total.
With --attribute NAME (repeatable), also the inclusive instructions per request of each
function whose qualified name ends in NAME (callgrind_annotate --inclusive=yes), and
their share of the total: what a given set of checks costs, in the same run.
Prints a table and the ratios to the first build. Every process it starts is stopped by
its pid; traffic is on 127.0.0.1 only.
"""
from __future__ import annotations

import argparse
import http.client
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import log, stop_all  # noqa: E402
from echo_daemon import deploy_echo, start  # noqa: E402

def send(url: str, headers: dict[str, str], n: int) -> None:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    try:
        for _ in range(n):
            conn.request("POST", "/echo", body=b"{}", headers={"Content-Type": "application/json", **headers})
            r = conn.getresponse()
            r.read()
            assert r.status == 200, r.status
    finally:
        conn.close()


def attribute(dump: Path, names: list[str], n: int) -> dict[str, float]:
    """Inclusive instructions per request of the functions whose names end in each of `names`."""
    text = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(dump)],
                          check=True, capture_output=True, text=True).stdout
    found = {name: 0 for name in names}
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+) \([\s\d.]+%\)\s+\S*?:(.*)$", line)
        if not m:
            continue
        symbol = m.group(2)
        for name in names:
            # "kiln::gateway::CheckFraming(boost::...)": the name, then its parameters.
            if re.search(r"(^|::)" + re.escape(name) + r"(\[abi:cxx11\])?\(", symbol):
                found[name] += int(m.group(1).replace(",", ""))
    return {name: count / n for name, count in found.items()}


def instructions(binary: str, root: Path, tag: str, n: int, auth: str) -> tuple[float, Path]:
    out = root / f"callgrind-{tag}.out"
    # valgrind keeps the soft limit (1024 here) as the only NOFILE limit its guest may set,
    # and the sandbox sets 1024 for each container it clones.
    proc, url, key = start(binary, root, f"{tag}-cg", prefix=("prlimit", "--nofile=1024:20000", "valgrind",
                           "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"), timeout=300)
    try:
        headers = deploy_echo(binary, url, key, root, auth)
        send(url, headers, 200)
        subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], check=True, capture_output=True)
        send(url, headers, n)
        subprocess.run(["callgrind_control", "-i", "off", str(proc.pid)], check=True, capture_output=True)
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, capture_output=True)
        total, counted = 0, None
        for dump in root.glob(f"callgrind-{tag}.out*"):  # the -d dump; the file at exit counts nothing
            for line in dump.read_text(errors="replace").splitlines():
                if line.startswith("totals:") and int(line.split()[1]) > total:
                    total, counted = int(line.split()[1]), dump
        if not total:
            raise RuntimeError(f"no callgrind totals in {out}*")
        return total / n, counted
    finally:
        proc.stop()


def syscalls(binary: str, root: Path, tag: str, n: int, auth: str) -> dict[str, float]:
    proc, url, key = start(binary, root, f"{tag}-st")
    report = root / f"strace-{tag}.txt"
    try:
        headers = deploy_echo(binary, url, key, root, auth)
        send(url, headers, 200)
        tracer = subprocess.Popen(["strace", "-c", "-f", "-o", str(report), "-p", str(proc.pid)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(1.0)  # attached to every thread before the first request
        send(url, headers, n)
        tracer.terminate()
        tracer.wait(timeout=30)
    finally:
        proc.stop()
    calls: dict[str, float] = {}
    for line in report.read_text().splitlines():
        m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$", line)
        if m and m.group(2) != "total":
            calls[m.group(2)] = int(m.group(1)) / n
    return calls


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", action="append", required=True, help="NAME=PATH of a kiln binary (repeatable)")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--auth", choices=["none", "key"], default="key")
    ap.add_argument("--attribute", action="append", default=[], metavar="NAME",
                    help="a function whose inclusive instructions per request to report (repeatable)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    builds = [tuple(k.split("=", 1)) for k in args.kiln]
    root = Path(tempfile.mkdtemp(prefix="kiln-instr-"))
    results = {}
    try:
        for name, binary in builds:
            log(f"{name}: callgrind over {args.requests} requests")
            per_request, dump = instructions(binary, root, name, args.requests, args.auth)
            attributed = attribute(dump, args.attribute, args.requests) if args.attribute else {}
            log(f"{name}: strace over {args.requests} requests")
            calls = syscalls(binary, root, name, args.requests, args.auth)
            results[name] = {"instructions_per_request": round(per_request),
                             "syscalls_per_request": round(sum(calls.values()), 2),
                             "attributed": {k: round(v) for k, v in attributed.items()},
                             "syscalls": {k: round(v, 2) for k, v in sorted(calls.items(), key=lambda kv: -kv[1])}}
    finally:
        stop_all()
    first = results[builds[0][0]]
    print(f"{'build':<12} {'instructions/req':>17} {'ratio':>7} {'syscalls/req':>13}")
    for name, r in results.items():
        ratio = r["instructions_per_request"] / first["instructions_per_request"]
        print(f"{name:<12} {r['instructions_per_request']:>17,} {ratio:>7.3f} {r['syscalls_per_request']:>13.2f}")
        print("             " + ", ".join(f"{k} {v}" for k, v in list(r["syscalls"].items())[:12]))
        if r["attributed"]:
            share = sum(r["attributed"].values()) / r["instructions_per_request"]
            print(f"             attributed {sum(r['attributed'].values()):,.0f} instructions/req ({share:.2%}): " +
                  ", ".join(f"{k} {v:,}" for k, v in r["attributed"].items()))
    if args.out:
        args.out.write_text(json.dumps({"requests": args.requests, "auth": args.auth, "builds": dict(builds),
                                        "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
