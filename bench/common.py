"""Process control, /proc readings and small numeric helpers for the benchmark.

Every process the suite starts goes through Proc: it runs in its own session (so its
process group id is its pid), is registered, and is stopped by that pid at the end
(SIGTERM to the group, SIGKILL after a grace period). Nothing is ever killed by name.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

_LIVE: dict[int, "Proc"] = {}


class Proc:
    def __init__(self, name: str, cmd: list[str], *, cwd=None, env=None, log: Path | None = None,
                 cpus: str | None = None):
        self.name = name
        if cpus:
            cmd = ["taskset", "-c", cpus] + list(cmd)
        self.cmd = cmd
        self.log_path = log
        self._log = open(log, "ab") if log else subprocess.DEVNULL
        self.t_start = time.perf_counter()
        self.p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
        self.pid = self.p.pid
        _LIVE[self.pid] = self

    def alive(self) -> bool:
        return self.p.poll() is None

    def stop(self, grace: float = 5.0) -> None:
        if self.pid not in _LIVE:
            return
        try:
            if self.p.poll() is None:
                try:
                    os.killpg(self.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    self.p.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    pass
            # The group may still hold children (workers) even once the leader is gone.
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        finally:
            _LIVE.pop(self.pid, None)
            if self._log not in (None, subprocess.DEVNULL):
                self._log.close()

    def log_tail(self, n: int = 30) -> str:
        if not self.log_path or not Path(self.log_path).exists():
            return ""
        lines = Path(self.log_path).read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])


def stop_all() -> None:
    for proc in list(_LIVE.values()):
        proc.stop(grace=3.0)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body: bytes | str | None = None, headers: dict | None = None,
         timeout: float = 10.0) -> tuple[int, bytes, dict]:
    """One request; returns (status, body, headers) and never raises on HTTP errors."""
    if isinstance(body, str):
        body = body.encode()
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def wait_http(url: str, *, method="GET", body=None, headers=None, timeout: float = 30.0,
              proc: Proc | None = None, interval: float = 0.005, want=(200,)) -> float:
    """Poll until url answers with a status in want; returns seconds waited. Bounded."""
    t0 = time.perf_counter()
    last = None
    while time.perf_counter() - t0 < timeout:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited ({proc.p.returncode}) before answering {url}:\n"
                               f"{proc.log_tail()}")
        try:
            st, b, _ = http(method, url, body, headers, timeout=5.0)
            if st in want:
                return time.perf_counter() - t0
            last = f"HTTP {st}: {b[:300]!r}"
        except (OSError, urllib.error.URLError) as e:
            last = repr(e)
        time.sleep(interval)
    raise TimeoutError(f"{url} did not answer {want} within {timeout}s (last: {last})")


# ---------------------------------------------------------------- /proc readings

def _ppid_map() -> dict[int, int]:
    m = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
            m[int(d)] = int(s[s.rindex(")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            pass
    return m


def process_tree(pid: int) -> list[int]:
    m = _ppid_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p in m or os.path.exists(f"/proc/{p}"):
            out.append(p)
        todo.extend(c for c, pp in m.items() if pp == p)
    return out


def descendants(roots: list[int], stop: set[int] | frozenset = frozenset()) -> dict[int, list[int]]:
    """Each root's descendants (one /proc scan for all), not entering pids in stop (other
    roots' trees: a fork server's children are not its own memory)."""
    m = _ppid_map()
    kids: dict[int, list[int]] = {}
    for c, pp in m.items():
        kids.setdefault(pp, []).append(c)
    out = {}
    for r in roots:
        seen, todo = [], list(kids.get(r, []))
        while todo:
            p = todo.pop()
            if p in stop or p == r or p in seen:
                continue
            seen.append(p)
            todo.extend(kids.get(p, []))
        out[r] = sorted(seen)
    return out


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def smaps_rollup(pid: int) -> dict[str, int]:
    """Rss/Pss/USS-ish figures in kB from /proc/PID/smaps_rollup."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[-1] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1])
    except OSError:
        return {}
    return out


def memory_of(pids: list[int]) -> dict:
    procs = []
    for p in pids:
        r = smaps_rollup(p)
        if not r:
            continue
        procs.append({"pid": p, "comm": comm(p), "rss_kb": r.get("Rss", 0), "pss_kb": r.get("Pss", 0),
                      "private_kb": r.get("Private_Clean", 0) + r.get("Private_Dirty", 0)})
    return {"processes": procs,
            "rss_mb": round(sum(x["rss_kb"] for x in procs) / 1024, 1),
            "pss_mb": round(sum(x["pss_kb"] for x in procs) / 1024, 1),
            "count": len(procs)}


def cpu_seconds(pids: list[int], children: bool = True) -> float:
    tck = os.sysconf("SC_CLK_TCK")
    tot = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                s = f.read()
            f_ = s[s.rindex(")") + 2:].split()
            tot += int(f_[11]) + int(f_[12])  # utime stime
            if children:
                tot += int(f_[13]) + int(f_[14])  # cutime cstime (reaped children)
        except (OSError, ValueError, IndexError):
            pass
    return tot / tck


def system_busy_s() -> float:
    """CPU seconds all cores spent busy since boot (from /proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return (sum(v[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def background_load(seconds: float = 1.0) -> float:
    """Share of all cores busy while the suite does nothing (other tenants' work)."""
    b0, t0 = system_busy_s(), time.perf_counter()
    time.sleep(seconds)
    return round((system_busy_s() - b0) / ((time.perf_counter() - t0) * (os.cpu_count() or 1)), 3)


# ---------------------------------------------------------------- numbers

PCTS = [50, 90, 99, 99.9]


def percentiles_us(samples_ns) -> dict:
    a = np.asarray(samples_ns, dtype=np.float64) / 1000.0
    out = {f"p{p:g}".replace(".", "_"): round(float(np.percentile(a, p, method="inverted_cdf")), 1)
           for p in PCTS}
    out["mean"] = round(float(a.mean()), 1)
    out["max"] = round(float(a.max()), 1)
    out["n"] = int(a.size)
    cdf_pts = [1, 5, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 100]
    out["cdf"] = [[p, round(float(np.percentile(a, p, method="inverted_cdf")), 1)] for p in cdf_pts]
    return out


def summarize_ms(ms) -> dict:
    if not ms:
        return {"n": 0, "p50": None, "p99": None}
    a = np.asarray(ms, dtype=float)
    return {"n": int(a.size), "p50": round(float(np.percentile(a, 50)), 1),
            "p99": round(float(np.percentile(a, 99)), 1), "min": round(float(a.min()), 1),
            "max": round(float(a.max()), 1)}


def pct(samples, p):
    return float(np.percentile(np.asarray(samples, dtype=np.float64), p, method="inverted_cdf"))


def dump(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=1, sort_keys=False) + "\n")


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)
