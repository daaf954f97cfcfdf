"""Warm path, two kiln builds side by side (issue #14: what its checks cost on the warm
path: framing checks, the key's checksum and equal-work comparison, the failed-auth
limiter, the result checks, ending leftover processes after every run).

    bench/.venv/bin/python bench/warm_ab.py --a OLD/build/kiln --b build/kiln [--auth key]

Starts one daemon per build (own data dir, own port), deploys the same echo handler to
each, warms it, then runs wrk against A and B in paired rounds, the order swapped every
other round (A B, B A, A B, ...), so both see the same machine load and neither always
goes first.
Per build and round: requests/s, p50/p99 latency and the server CPU per request (daemon
and containers). Prints the medians over rounds, the ratios B/A of the medians, and
for requests/s and daemon CPU the spread of the per-round ratios (min, median, max:
each round's B over the same round's A, which cancels the machine's drift between
rounds); --out writes every round as JSON. Nothing here depends on which build
kills leftovers: the difference between A and B is whatever B changed on the warm path.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import http, log, stop_all  # noqa: E402
from echo_daemon import deploy_echo, start  # noqa: E402
from loadgen import run_wrk  # noqa: E402

def warmed(binary: str, url: str, key: str, root: Path, auth: str) -> dict[str, str]:
    headers = deploy_echo(binary, url, key, root, auth)
    for _ in range(200):  # warm: the container, the daemon's caches
        status, _, _ = http("POST", url + "/echo", body=b"{}", headers=headers)
        assert status == 200, status
    return headers


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True, help="baseline kiln binary")
    ap.add_argument("--b", required=True, help="changed kiln binary")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--connections", type=int, default=1, help="1: one request at a time (per-request cost)")
    ap.add_argument("--auth", choices=["none", "key"], default="none", help="the route's auth")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kiln-warm-ab-"))
    rounds: dict[str, list[dict]] = {"a": [], "b": []}
    try:
        servers = {}
        for tag, binary in (("a", args.a), ("b", args.b)):
            proc, url, key = start(binary, root, tag)
            servers[tag] = (proc, url, warmed(binary, url, key, root, args.auth))
        for i in range(args.rounds):
            for tag in (("a", "b") if i % 2 == 0 else ("b", "a")):
                proc, url, headers = servers[tag]
                host, port = url.removeprefix("http://").split(":")
                r = run_wrk(addrs=[(host, int(port))], path="/echo", body="{}", headers=headers,
                            connections=args.connections, threads=1, duration_s=args.seconds,
                            server_pids=[proc.pid])
                row = {"rps": r["rps"], "p50_us": dict(r["cdf"])[50], "p99_us": dict(r["cdf"])[99],
                       "server_cpu_us_per_req": r.get("server_cpu_us_per_req"),
                       "daemon_cpu_us_per_req": r.get("root_cpu_us_per_req"),
                       "container_cpu_us_per_req": r.get("workers_cpu_us_per_req"),
                       "foreign_cpu_share": r.get("foreign_cpu_share")}
                rounds[tag].append(row)
                log(f"round {i + 1} {tag}: {json.dumps(row)}")
    finally:
        stop_all()
    med = {tag: {k: statistics.median(row[k] for row in rows if row[k] is not None) for k in rows[0]}
           for tag, rows in rounds.items()}
    ratios = {k: round(med["b"][k] / med["a"][k], 3) for k in med["a"] if med["a"][k]}
    paired = {}
    for k in ("rps", "daemon_cpu_us_per_req"):
        per_round = sorted(b[k] / a[k] for a, b in zip(rounds["a"], rounds["b"]) if a[k] and b[k])
        if per_round:
            paired[k] = {"min": round(per_round[0], 3), "median": round(statistics.median(per_round), 3),
                         "max": round(per_round[-1], 3)}
    summary = {"a": args.a, "b": args.b, "connections": args.connections, "auth": args.auth, "median": med,
               "b_over_a": ratios, "paired_b_over_a": paired, "rounds": rounds,
               "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    print(json.dumps({"median": med, "b_over_a": ratios, "paired_b_over_a": paired}, indent=2))
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
