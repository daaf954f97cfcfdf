"""Kiln by start mode (issue 7): cold starts and the memory of 8 containers, side by side.

Start modes, one deploy flag each:
  plain     kiln deploy ... --no-zygote   every container starts a fresh interpreter (the baseline)
  zygote    kiln deploy ...               forked from the zygote of the version's layer set (default)
  snapshot  kiln deploy ... --snapshot    forked from the version's template (handler imported)

Cold starts, per mode and cold bundle: a dedicated function bench-<model>-cold-<mode> with
--min-warm 0 behind its own authenticated route. One untimed warm-up request (it may pay the
zygote's or the template's creation), then its container is stopped (DELETE /v1/containers/<id>,
the id from the run record); then, n times, one request is timed through the route (request
sent -> whole response read), its run record must say cold and start == <mode> with no
start_note (else the sample is an error, left out of the figures), and its container is stopped
again. The rounds go mode after mode (plain, zygote, snapshot, plain, ...), so a noisy moment
on the machine falls on all modes alike.

Memory, per mode: bench-<model>-mem-<mode> deployed with --min-warm 8 --max-containers 8 (the
deploy pre-warms 8), every other function of the daemon at --min-warm 0 with its containers
stopped; PSS and USS (Private_Clean + Private_Dirty) of the 8 containers' processes from
/proc/PID/smaps_rollup (each container's descendants included, other containers' and fork
sources' not), and the fork sources' own (GET /v1/zygotes) apart. Taken twice: idle right
after the pre-warm, and after a short load at concurrency 16 through the route (copy-on-write
of pages the requests touch). "One" = bench-<model>-mem-one, plain, --min-warm 1
--max-containers 1, measured the same way. Recycling is off for these functions so the load
does not replace containers.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from common import descendants, http, log, memory_of, summarize_ms
from loadgen import run_wrk
from systems.kiln import LAYER, Kiln

MODES = ("plain", "zygote", "snapshot")
MODE_FLAGS = {"plain": ("--no-zygote",), "zygote": (), "snapshot": ("--snapshot",)}
NO_RECYCLE = ("--recycle-after", "1000000000")
LIVE = ("starting", "warm", "busy", "draining")


# ------------------------------------------------------------------ helpers

def _version(doc: dict) -> int | None:
    v = doc.get("version") if isinstance(doc, dict) else None
    return v if isinstance(v, int) else None


def _uses_layer(z: dict) -> bool:
    return any(str(x).split(":")[0] == LAYER for x in z.get("layers") or [])


def fork_sources(k: Kiln, fname: str, version: int | None, mode: str) -> list[dict]:
    """The fork sources a container of fname in this mode comes from: the layer set's
    zygote (zygote, snapshot) and the version's template (snapshot)."""
    if mode == "plain":
        return []
    out = []
    for z in k.zygotes() or []:
        if z.get("kind") == "layers" and _uses_layer(z):
            out.append(z)
        elif (mode == "snapshot" and z.get("kind") == "snapshot" and z.get("function") == fname
              and (version is None or z.get("version") == version)):
            out.append(z)
    return out


def wait_sources_ready(k: Kiln, fname: str, version: int | None, mode: str, timeout: float = 30.0) -> list[dict]:
    """Until the mode's fork sources are listed and ready (or one is broken). Bounded."""
    want = {"plain": set(), "zygote": {"layers"}, "snapshot": {"layers", "snapshot"}}[mode]
    t0 = time.perf_counter()
    zs: list[dict] = []
    while time.perf_counter() - t0 < timeout:
        zs = fork_sources(k, fname, version, mode)
        kinds = {z.get("kind") for z in zs if z.get("state") == "ready"}
        if want <= kinds or any(z.get("state") == "broken" for z in zs):
            return zs
        time.sleep(0.05)
    return zs


def source_summary(z: dict) -> dict:
    return {k_: z.get(k_) for k_ in ("id", "kind", "layers", "function", "version", "pid", "state", "rss_mb",
                                     "forks", "message")} | {"preloaded": len(z.get("preloaded") or [])}


def source_pids(k: Kiln) -> set[int]:
    return {int(z["pid"]) for z in k.zygotes() or [] if z.get("pid")}


def live_of(k: Kiln, fname: str | None) -> list[dict]:
    """Live containers of fname (of every function when None); never a fork source, should
    the daemon list a snapshot template among the containers too."""
    srcs = source_pids(k)
    return [c for c in k.containers() if (fname is None or c.get("function") == fname)
            and c.get("state") in LIVE and c.get("pid") not in srcs]


def stop_containers(k: Kiln, fname: str | None, first: str | None = None, timeout: float = 10.0) -> list[str]:
    """Stop container `first` (if given) and every other live container of fname (of every
    function when fname is None), then wait until none of them is listed. Returns problems."""
    problems = []
    ids = [first] if first else []
    ids += [c["id"] for c in live_of(k, fname) if c.get("id") != first]
    stopped = 0
    for cid in ids:
        t0 = time.perf_counter()
        while True:
            st = k.stop_container(cid)
            if st in (200, 204):
                stopped += 1
                break
            if st == 404:  # already gone, or a daemon without DELETE /v1/containers/<id>
                break
            if time.perf_counter() - t0 > 2.0:  # e.g. 409 while the lease is still being returned
                problems.append(f"DELETE /v1/containers/{cid} -> HTTP {st}")
                break
            time.sleep(0.01)
    if ids and not stopped:
        timeout = min(timeout, 1.0)  # nothing accepted the DELETE: do not wait out the full bound
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        left = [c["id"] for c in k.containers() if c.get("id") in ids and c.get("state") in LIVE]
        if not left:
            return problems
        time.sleep(0.01)
    problems.append(f"still listed {timeout:.0f} s after DELETE: {', '.join(left)}")
    return problems


def _key_for(k: Kiln, name: str, paths: list[str]) -> str:
    out = k.cli("key", "create", name, *[a for p in paths for a in ("--route", p)])
    key = out.strip().splitlines()[-1].strip()
    if not key.startswith("kiln_"):
        raise RuntimeError(f"`kiln key create` last line is not a key: {out!r}")
    return key


def _headers(key: str) -> dict:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def _predictions(body: bytes):
    try:
        return json.loads(body).get("predictions")
    except (ValueError, AttributeError):
        return None


# ------------------------------------------------------------------ cold starts by mode

def one_cold(k: Kiln, url: str, body: str, key: str, fname: str, mode: str, expect) -> dict:
    """One timed request to a function with no live container, then its container stopped."""
    t0 = time.perf_counter()
    st, b, h = http("POST", url, body, _headers(key), timeout=60)
    ms = (time.perf_counter() - t0) * 1000
    out = {"ms": round(ms, 2), "problem": None}
    problems = []
    rec = {}
    if st != 200:
        problems.append(f"HTTP {st}: {b[:200]!r}")
    elif expect is not None and _predictions(b) != expect:
        problems.append(f"predictions differ from the in-process call: {b[:200]!r}")
    rid = {k_.lower(): v for k_, v in h.items()}.get("x-kiln-run-id")
    if rid:
        rec = k.run_record(rid)
    elif st == 200:
        problems.append("no X-Kiln-Run-Id header")
    out.update({"cold": rec.get("cold"), "start": rec.get("start"), "start_note": rec.get("start_note"),
                "init_ms": rec.get("init_ms"), "container_id": rec.get("container_id")})
    if rec and not problems:
        if rec.get("cold") is not True:
            problems.append(f"not cold per the run record (cold={rec.get('cold')})")
        if "start" not in rec:
            problems.append("the run record has no `start` field")
        elif rec.get("start") != mode:
            problems.append(f"started {rec.get('start')}, asked {mode}")
        if rec.get("start_note"):
            problems.append(f"start_note: {rec['start_note']}")
    problems += stop_containers(k, fname, first=rec.get("container_id"))
    if problems:
        out["problem"] = "; ".join(problems)[:500]
    return out


def cold_by_mode(k: Kiln, bundles: dict[str, Path], probes: dict[str, str], expect: dict, n: int,
                 nbundles: int) -> dict:
    """Cold starts per start mode for the first nbundles bundles; see the module doc."""
    out = {"what": "a new container of a deployed version (--min-warm 0; the previous one stopped with "
                   "DELETE /v1/containers/<id>): request sent to whole response through the authenticated "
                   "route; the run record must say cold and start == mode with no start_note",
           "modes": list(MODES), "n_per_mode": n, "bundles": {}}
    names = list(bundles)[:nbundles]
    cells: dict[tuple[str, str], dict] = {}
    paths = []
    for bname in names:
        out["bundles"][bname] = {"modes": {}}
        for mode in MODES:
            fname, path = f"bench-{bname}-cold-{mode}", f"/bench/{bname}/cold-{mode}"
            cell = {"function": fname, "route": path, "flags": list(MODE_FLAGS[mode]), "samples": [],
                    "errors": []}
            out["bundles"][bname]["modes"][mode] = cells[(bname, mode)] = cell
            try:
                v = k.deploy_function(fname, bundles[bname], "--min-warm", "0", *MODE_FLAGS[mode])
                cell["version"] = _version(v)
                k.cli("route", "add", "POST", path, fname)
                paths.append(path)
            except Exception as e:  # noqa: BLE001 - reported per mode
                cell["setup_error"] = str(e)[:800]
                log(f"  kiln {bname}/{mode}: setup failed: {str(e)[:300]}")
    if not paths:
        return out
    key = _key_for(k, "bench-cold-modes", paths)
    live = [(b, m) for (b, m), c in cells.items() if "setup_error" not in c]
    # Warm-up: the first container of each (it may pay the zygote's or the template's creation).
    for bname, mode in live:
        c = cells[(bname, mode)]
        w = one_cold(k, k.url + c["route"], probes[bname], key, c["function"], mode, expect.get(bname))
        c["warmup"] = w
        srcs = wait_sources_ready(k, c["function"], c.get("version"), mode)
        c["fork_sources"] = [source_summary(z) for z in srcs]
        log(f"  kiln {bname}/{mode}: warm-up {w['ms']:.1f} ms start={w.get('start')} "
            f"sources={[(z.get('kind'), z.get('state')) for z in srcs]}" + (f" ({w['problem']})" if w["problem"] else ""))
    for i in range(n):
        for bname, mode in live:
            c = cells[(bname, mode)]
            try:
                s = one_cold(k, k.url + c["route"], probes[bname], key, c["function"], mode, expect.get(bname))
            except Exception as e:  # noqa: BLE001 - reported
                s = {"ms": None, "problem": str(e)[:400]}
            c["samples"].append(s)
            if s["problem"]:
                c["errors"].append(f"#{i}: {s['problem']}" + (f" ({s['ms']:.1f} ms)" if s.get("ms") else ""))
    for (bname, mode), c in cells.items():
        ok = [s for s in c["samples"] if not s["problem"] and s.get("ms") is not None]
        c["ms"] = [s["ms"] for s in ok]
        c["init_ms"] = [float(s["init_ms"]) for s in ok if s.get("init_ms") is not None]
        c.update(summarize_ms(c["ms"]))
        c["init_p50"] = summarize_ms(c["init_ms"])["p50"]
        starts: dict[str, int] = {}
        for s in c["samples"]:
            starts[str(s.get("start"))] = starts.get(str(s.get("start")), 0) + 1
        c["starts"] = starts
        c["attempts"] = len(c["samples"])
        if c.get("version") is not None:  # fork sources as they stand after the samples
            c["fork_sources_after"] = [source_summary(z) for z in
                                       fork_sources(k, c["function"], c.get("version"), mode)]
    for bname in names:
        b = out["bundles"][bname]
        p = {m: b["modes"][m].get("p50") for m in MODES}
        for m in ("zygote", "snapshot"):
            b[f"ratio_plain_{m}_p50"] = round(p["plain"] / p[m], 1) if p["plain"] and p[m] else None
        log(f"  kiln {bname} cold by mode: " + "; ".join(
            f"{m} p50 {b['modes'][m].get('p50')} p99 {b['modes'][m].get('p99')} ms "
            f"(n={b['modes'][m].get('n')}, errors {len(b['modes'][m]['errors'])})" for m in MODES)
            + f"; plain/zygote {b['ratio_plain_zygote_p50']}x")
    return out


# ------------------------------------------------------------------ memory by mode

def measure_memory(k: Kiln, fname: str, version: int | None, mode: str) -> dict:
    """PSS/USS/RSS of fname's live containers (each with its descendants) and, apart, of
    the fork sources of its mode, read at one moment."""
    listed = k.containers()
    zs = k.zygotes() or []
    zpids = {int(z["pid"]) for z in zs if z.get("pid")}
    stop = {int(c["pid"]) for c in listed if c.get("pid")} | zpids
    mine = [c for c in listed if c.get("function") == fname and c.get("state") in LIVE and c.get("pid")
            and int(c["pid"]) not in zpids]
    srcs = fork_sources(k, fname, version, mode)
    trees = descendants([int(c["pid"]) for c in mine] + [int(z["pid"]) for z in srcs if z.get("pid")], stop)
    conts = []
    for c in mine:
        pid = int(c["pid"])
        m = memory_of([pid] + trees.get(pid, []))
        conts.append({"id": c.get("id"), "pid": pid, "version": c.get("version"), "state": c.get("state"),
                      "start": c.get("start"), "invocations": c.get("invocations"), "processes": m["count"],
                      "pss_mb": m["pss_mb"], "rss_mb": m["rss_mb"],
                      "uss_mb": round(sum(x["private_kb"] for x in m["processes"]) / 1024, 1)})
    sources = []
    for z in srcs:
        if not z.get("pid"):
            continue
        pid = int(z["pid"])
        m = memory_of([pid] + trees.get(pid, []))
        sources.append(source_summary(z) | {"pss_mb": m["pss_mb"], "rss_mb": m["rss_mb"],
                                            "uss_mb": round(sum(x["private_kb"] for x in m["processes"]) / 1024, 1)})
    starts: dict[str, int] = {}
    for c in conts:
        starts[str(c["start"])] = starts.get(str(c["start"]), 0) + 1
    inv = [c["invocations"] for c in conts if isinstance(c.get("invocations"), int)]
    return {"count": len(conts),
            "pss_mb": round(sum(c["pss_mb"] for c in conts), 1),
            "uss_mb": round(sum(c["uss_mb"] for c in conts), 1),
            "rss_mb": round(sum(c["rss_mb"] for c in conts), 1),
            "sources_pss_mb": round(sum(s["pss_mb"] for s in sources), 1),
            "sources_uss_mb": round(sum(s["uss_mb"] for s in sources), 1),
            "starts": starts, "invocations": [min(inv), max(inv)] if inv else None,
            "containers": conts, "sources": sources}


def _scale_to_zero(k: Kiln, fname: str, bdir: Path, flags: tuple[str, ...]) -> list[str]:
    k.deploy_function(fname, bdir, "--min-warm", "0", *flags)
    return stop_containers(k, fname, timeout=30)


def memory_by_mode(k: Kiln, bundles: dict[str, Path], probes: dict[str, str], count: int,
                   load_s: float, quiet: list[tuple[str, Path]]) -> dict:
    """The memory figure of issue 7 for the first bundle; see the module doc. quiet: the
    other functions the bench deployed (name, bundle), set to --min-warm 0 first."""
    bname = next(iter(bundles))
    bdir, body = bundles[bname], probes[bname]
    out = {"what": f"{count} warm containers of one function per start mode, PSS and USS (Private_Clean + "
                   "Private_Dirty) summed over the containers' processes from /proc/PID/smaps_rollup; the fork "
                   "sources (layer zygote, snapshot template) apart; 'one' = a single plain-started container. "
                   "idle = right after the deploy's pre-warm; loaded = after wrk at c=16 for "
                   f"{load_s:g} s through the route. Every other function at --min-warm 0, its containers "
                   "stopped; recycling off for these functions",
           "bundle": bname, "containers": count, "load_s": load_s, "modes": {}, "one": {}}
    plan = [("one", ("--no-zygote",), 1, 1)] + [(m, MODE_FLAGS[m], count, count) for m in MODES]
    cells = {}
    paths = []
    # Functions, routes and a key first (at --min-warm 0: nothing starts yet).
    for label, flags, _, _ in plan:
        fname, path = f"bench-{bname}-mem-{label}", f"/bench/{bname}/mem-{label}"
        cell = {"function": fname, "route": path, "flags": list(flags), "phases": {}, "errors": []}
        cells[label] = cell
        try:
            k.deploy_function(fname, bdir, "--min-warm", "0", *flags, *NO_RECYCLE)
            k.cli("route", "add", "POST", path, fname)
            paths.append(path)
        except Exception as e:  # noqa: BLE001 - reported per mode
            cell["setup_error"] = str(e)[:800]
            log(f"  kiln memory/{label}: setup failed: {str(e)[:300]}")
    out["one"] = cells.pop("one")
    out["modes"] = cells
    if not paths:
        return out
    key = _key_for(k, "bench-mem-modes", paths)
    # Quiet the node: the latency and cold-start functions to --min-warm 0, every container stopped.
    for fname, bd in quiet:
        try:
            k.deploy_function(fname, bd, "--min-warm", "0")
        except Exception as e:  # noqa: BLE001
            out.setdefault("quiet_errors", []).append(str(e)[:300])
    out.setdefault("quiet_errors", []).extend(stop_containers(k, None, timeout=30))
    for label, flags, warm, cap in plan:
        cell = out["one"] if label == "one" else out["modes"][label]
        if "setup_error" in cell:
            continue
        fname = cell["function"]
        mode = "plain" if label == "one" else label
        try:
            t0 = time.perf_counter()
            v = k.deploy_function(fname, bdir, "--min-warm", str(warm), "--max-containers", str(cap),
                                  *flags, *NO_RECYCLE, timeout=600)
            cell["version"] = _version(v)
            cell["deploy_s"] = round(time.perf_counter() - t0, 2)
            cell["prewarm"] = v.get("prewarm") if isinstance(v, dict) else None
            for w in (v.get("warnings") or []) if isinstance(v, dict) else []:
                cell["errors"].append(f"deploy warning: {w}")
            t1 = time.perf_counter()
            while time.perf_counter() - t1 < 60:
                if len([c for c in live_of(k, fname) if c.get("state") == "warm"]) >= warm:
                    break
                time.sleep(0.05)
            wait_sources_ready(k, fname, cell.get("version"), mode)
            time.sleep(1.0)  # settle: the last container's init, the daemon's reconcile
            cell["phases"]["idle"] = measure_memory(k, fname, cell.get("version"), mode)
            host, port = k.url[len("http://"):].split(":")
            load = run_wrk(addrs=[(host, int(port))], path=cell["route"], body=body,
                           headers={"Authorization": f"Bearer {key}"}, connections=16, threads=2,
                           duration_s=load_s)
            cell["load"] = {"requests": load["requests"], "rps": load["rps"], "errors": load["errors"]}
            time.sleep(0.5)
            cell["phases"]["loaded"] = measure_memory(k, fname, cell.get("version"), mode)
            for ph, m in cell["phases"].items():
                if m["count"] != warm:
                    cell["errors"].append(f"{ph}: {m['count']} containers listed, {warm} expected")
                bad = {s: n for s, n in m["starts"].items() if s != mode}
                if bad:
                    cell["errors"].append(f"{ph}: containers started {bad}, asked {mode}")
            i, l_ = cell["phases"]["idle"], cell["phases"]["loaded"]
            log(f"  kiln memory/{label}: {i['count']} containers PSS {i['pss_mb']} MB USS {i['uss_mb']} MB idle, "
                f"{l_['pss_mb']} / {l_['uss_mb']} MB loaded ({cell['load']['requests']} requests); "
                f"fork sources PSS {l_['sources_pss_mb']} MB")
        except Exception as e:  # noqa: BLE001 - reported per mode
            cell["errors"].append(f"measure: {str(e)[:600]}")
            log(f"  kiln memory/{label}: FAILED {str(e)[:300]}")
        finally:
            try:
                cell["errors"] += _scale_to_zero(k, fname, bdir, tuple(flags) + NO_RECYCLE)
            except Exception as e:  # noqa: BLE001
                cell["errors"].append(f"scale to zero: {str(e)[:300]}")
    one = out["one"].get("phases", {})
    for mode, cell in out["modes"].items():
        for ph, m in cell.get("phases", {}).items():
            o = one.get(ph)
            if not o or not o.get("count"):
                continue
            m["ratio_pss_vs_one"] = round(m["pss_mb"] / o["pss_mb"], 2) if o["pss_mb"] else None
            m["ratio_uss_vs_one"] = round(m["uss_mb"] / o["uss_mb"], 2) if o["uss_mb"] else None
            m["ratio_pss_with_sources_vs_one"] = (round((m["pss_mb"] + m["sources_pss_mb"]) / o["pss_mb"], 2)
                                                  if o["pss_mb"] else None)
    return out
