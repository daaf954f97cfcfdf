#!/usr/bin/env python3
"""Kiln benchmark suite (issue 8): Kiln side by side with the in-process limit, a
FastAPI/uvicorn model server and the AWS Lambda runtime emulator.

Run it through scripts/bench [--quick], which prepares the venv and the emulator.
Writes bench/results/<timestamp>.json, <timestamp>.md and <timestamp>-*.png.
"""
from __future__ import annotations

import argparse
import atexit
import datetime as dt
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import models  # noqa: E402
from common import (background_load, http, log, memory_of, percentiles_us, process_tree, stop_all,
                    summarize_ms)  # noqa: E402
from loadgen import LOADGEN_CPU, run_wrk, wrk_available  # noqa: E402
from systems.base import Unavailable  # noqa: E402
from systems.kiln import Kiln, KilnNoRecycle, kiln_binary  # noqa: E402
from systems.kiln_modes import cold_by_mode, memory_by_mode  # noqa: E402
from systems.kiln_pipeline import bulk_scoring  # noqa: E402
from systems.lambda_rie import LambdaRIE, rie_binary  # noqa: E402
from systems.uvicorn_server import Uvicorn  # noqa: E402

MODES = {
    #          c=1 requests, warm-up s, c=16 s, cold starts, limit loop calls, c=1 max s
    # cold_n is also the number of Kiln cold starts per start mode; mem_* = Kiln's memory by start
    # mode (containers per function, seconds of c=16 load before the second reading); bulk_* = the
    # pipeline's bulk scoring (rows, timed runs after the cold one)
    "quick": dict(lat_n=1000, warm_s=1, tput_s=2, cold_n=3, limit_n=3000, lat_max_s=4, limit_tput_s=1,
                  cold_bundles=1, mem_containers=8, mem_load_s=1, bulk_rows=20000, bulk_reps=2),
    "full": dict(lat_n=10000, warm_s=2, tput_s=10, cold_n=30, limit_n=20000, lat_max_s=60, limit_tput_s=5,
                 cold_bundles=2, mem_containers=8, mem_load_s=2, bulk_rows=100000, bulk_reps=5),
}
CONCURRENCY = 16
HIGH_CONCURRENCY = 64  # issue #16: where a front end's per-connection costs show
ALL_SYSTEMS = ["limit", "kiln", "uvicorn-1w", "uvicorn-2w", "lambda-rie", "kiln-norecycle"]
DEFAULT_SYSTEMS = ["limit", "kiln", "uvicorn-1w", "uvicorn-2w", "lambda-rie"]  # kiln-norecycle on request


def machine() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpu_model": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_gb, 1),
            "kernel": platform.release(), "python": platform.python_version()}


def versions() -> dict:
    out = {}
    for mod in ["numpy", "onnxruntime", "sklearn", "skl2onnx", "fastapi", "uvicorn", "uvloop",
                "httptools", "awslambdaric"]:
        try:
            m = __import__(mod)
            out[mod] = getattr(m, "__version__", "?")
        except Exception:  # noqa: BLE001
            out[mod] = None
    try:
        from importlib.metadata import version
        out["awslambdaric"] = version("awslambdaric")
    except Exception:  # noqa: BLE001
        pass
    try:
        w = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=5)
        out["wrk"] = (w.stdout + w.stderr).strip().splitlines()[0]
    except Exception:  # noqa: BLE001
        out["wrk"] = None
    rie = rie_binary()
    if rie:
        try:
            g = subprocess.run(["go", "version", "-m", rie], capture_output=True, text=True, timeout=10)
            mod = [ln.split() for ln in g.stdout.splitlines() if ln.strip().startswith("mod")]
            out["aws-lambda-rie"] = " ".join(mod[0][1:3]) if mod else rie
        except Exception:  # noqa: BLE001
            out["aws-lambda-rie"] = rie
    kb = kiln_binary()
    if kb:
        try:
            k = subprocess.run([kb, "version"], capture_output=True, text=True, timeout=10)
            out["kiln"] = (k.stdout.strip() or k.stderr.strip())[:200]
        except Exception as e:  # noqa: BLE001
            out["kiln"] = f"? ({e})"
    return out


def predictions_of(body: bytes, unwrap: bool):
    doc = json.loads(body)
    if unwrap:
        if doc.get("statusCode") != 200:
            raise RuntimeError(f"handler answered {doc}")
        doc = json.loads(doc["body"])
    return doc["predictions"]


# ------------------------------------------------------------------ the limit

def run_limit(bundles, workloads, cfg, tmp: Path) -> dict:
    res = {}
    for w in workloads:
        bf = tmp / f"{w.name}.body.json"
        bf.write_text(w.body)
        log(f"limit/{w.name}: in-process handler loop x{cfg['limit_n']} and bare session.run")
        p = subprocess.run([sys.executable, str(HERE / "systems" / "limit.py"), "latency",
                            "--bundle", str(bundles[w.bundle]), "--body-file", str(bf),
                            "--n", str(cfg["limit_n"]), "--warmup", str(min(2000, cfg["limit_n"] // 5))],
                           capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            raise RuntimeError(f"limit latency failed: {p.stderr[-1500:]}")
        d = json.loads(p.stdout)
        hand = percentiles_us(d["handler"]["ns"])
        sess = percentiles_us(d["session_run"]["ns"])
        cpu_us = d["handler"]["cpu_us_per_call"]
        # Measured: two in-process loops, one per core, side by side.
        log(f"limit/{w.name}: two in-process loops side by side for {cfg['limit_tput_s']} s")
        ps = [subprocess.Popen([sys.executable, str(HERE / "systems" / "limit.py"), "throughput",
                                "--bundle", str(bundles[w.bundle]), "--body-file", str(bf),
                                "--seconds", str(cfg["limit_tput_s"])],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        rps_measured = 0.0
        for q in ps:
            o, e = q.communicate(timeout=120)
            if q.returncode != 0:
                raise RuntimeError(f"limit throughput failed: {e[-1500:]}")
            t = json.loads(o)
            rps_measured += t["calls"] / t["seconds"]
        res[w.name] = {
            "c1": hand, "session_run": sess,
            "handler_cpu_us": cpu_us, "session_run_cpu_us": d["session_run"]["cpu_us_per_call"],
            "c16": {"rps": round(2e6 / cpu_us, 1), "rps_measured_2_loops": round(rps_measured, 1),
                    "what": "2 cores / handler CPU cost per call (rps); measured: 2 loops side by side"},
            "sample": d["sample_response"], "threadpools": d.get("threadpools"),
        }
        log(f"  handler p50 {hand['p50']} us p99 {hand['p99']} us; session.run p50 {sess['p50']} us; "
            f"limit {res[w.name]['c16']['rps']} rps (measured {rps_measured:.0f})")
    return res


# ------------------------------------------------------------------ HTTP systems

def tree_memory(ep) -> dict:
    pids = []
    for p in ep.pids:
        pids += process_tree(p)
    roots = set(ep.pids)
    if ep.listed is not None:
        pids += list(ep.listed())
    pids = sorted(set(pids))
    note = None
    if ep.member is not None:
        mine = [p for p in pids if p in roots or ep.member(p)]
        if len(mine) > len(roots):
            pids = mine
        else:
            note = "could not tell this function's workers apart: all of the daemon's descendants counted"
    m = memory_of(pids)
    if note:
        m["note"] = note
    m["roots_rss_mb"] = round(sum(x["rss_kb"] for x in m["processes"] if x["pid"] in roots) / 1024, 1)
    m["children_count"] = sum(1 for x in m["processes"] if x["pid"] not in roots)
    m["children_pss_mb"] = round(sum(x["pss_kb"] for x in m["processes"] if x["pid"] not in roots) / 1024, 1)
    m["children_rss_mb"] = round(sum(x["rss_kb"] for x in m["processes"] if x["pid"] not in roots) / 1024, 1)
    return m


def measure_endpoint(ep, w, cfg, expect) -> dict:
    body = json.dumps({"body": w.body}) if ep.wrap_event else w.body
    hdrs = dict(ep.headers)
    st, b, _ = http("POST", ep.url, body, dict(hdrs, **{"Content-Type": "application/json"}), timeout=30)
    if st != 200:
        raise RuntimeError(f"probe {ep.url} -> HTTP {st}: {b[:400]!r}")
    got = predictions_of(b, ep.unwrap_result)
    ok = got == expect
    # c=1: warm-up, calibrate the duration for >= lat_n requests, then measure.
    c1addr = ep.addrs[:1]
    warm = run_wrk(addrs=c1addr, path=ep.path, body=body, headers=hdrs, connections=1, threads=1,
                   duration_s=cfg["warm_s"], server_pids=ep.pids)
    rate = max(warm["rps"], 1.0)
    # 1.5x margin: the warm-up rate over-estimates on a busy machine; capped per mode.
    dur = min(cfg["lat_max_s"], max(2, math.ceil(cfg["lat_n"] * 1.5 / rate)))
    c1 = run_wrk(addrs=c1addr, path=ep.path, body=body, headers=hdrs, connections=1, threads=1,
                 duration_s=dur, server_pids=ep.pids)
    mem_c1 = tree_memory(ep)
    # c=16: a short warm-up at full concurrency (fills pools), then measure.
    nthreads = CONCURRENCY if len(ep.addrs) > 1 else 2
    run_wrk(addrs=ep.addrs, path=ep.path, body=body, headers=hdrs, connections=CONCURRENCY,
            threads=nthreads, duration_s=cfg["warm_s"], server_pids=ep.pids)
    c16 = run_wrk(addrs=ep.addrs, path=ep.path, body=body, headers=hdrs, connections=CONCURRENCY,
                  threads=nthreads, duration_s=cfg["tput_s"], server_pids=ep.pids)
    out = {"c1": c1, "c16": c16, "predictions_match_limit": ok, "memory_after_c1": mem_c1}
    # c=64 where one address takes any concurrency; not the RIE, one emulator per slot,
    # each serving one invocation at a time (more connections than slots make it fail).
    if len(ep.addrs) == 1:
        out["c64"] = run_wrk(addrs=ep.addrs, path=ep.path, body=body, headers=hdrs, connections=HIGH_CONCURRENCY,
                             threads=nthreads, duration_s=cfg["tput_s"], server_pids=ep.pids)
    for key in ("c1", "c16", "c64"):
        if key in out and not out[key]["errors"]["status"]:
            out[key].pop("stderr", None)
    return out


def run_http_system(sysobj, bundles, workloads, cfg, expect, do_cold=True) -> dict:
    out = {"label": sysobj.label, "workloads": {}, "memory": {}, "cold": {}, "notes": ""}
    for bi, (bname, bdir) in enumerate(bundles.items()):
        ws = [w for w in workloads if w.bundle == bname]
        probe = ws[0].body
        log(f"{sysobj.name}/{bname}: starting")
        with sysobj.serve(bname, bdir, probe) as ep:
            out["notes"] = ep.notes
            for w in ws:
                r = measure_endpoint(ep, w, cfg, expect[w.name])
                out["workloads"][w.name] = r
                log(f"  {sysobj.name}/{w.name}: c1 p50 {r['c1']['p50']} us p99 {r['c1']['p99']} us "
                    f"({r['c1']['requests']} req) | c16 {r['c16']['rps']} rps p99 {r['c16']['p99']} us "
                    f"errors {r['c16']['errors']} | "
                    + (f"c64 {r['c64']['rps']} rps p99 {r['c64']['p99']} us | " if "c64" in r else "")
                    + f"match={r['predictions_match_limit']}")
            out["memory"][bname] = m = tree_memory(ep)
            out.setdefault("memory_after_c1", {})[bname] = out["workloads"][ws[0].name]["memory_after_c1"]
            log(f"  {sysobj.name}/{bname}: memory {m['count']} processes RSS {m['rss_mb']} MB PSS {m['pss_mb']} MB")
    # Cold starts last, so the versions and workers they leave behind disturb no warm figure.
    for bi, (bname, bdir) in enumerate(bundles.items()):
        if do_cold and cfg["cold_n"] > 0 and bi < cfg["cold_bundles"]:
            probe = [w for w in workloads if w.bundle == bname][0].body
            log(f"{sysobj.name}/{bname}: {cfg['cold_n']} cold starts")
            c = sysobj.cold_starts(bname, bdir, probe, cfg["cold_n"])
            c.update(summarize_ms(c["ms"]))
            out["cold"][bname] = c
            log(f"  cold p50 {c.get('p50')} ms p99 {c.get('p99')} ms (n={c.get('n')}, errors {len(c['errors'])})")
    return out


def run_kiln_modes(k: Kiln, bundles, workloads, cfg, expect, do_cold: bool) -> dict:
    """Issue 7 on the same daemon, after every other Kiln figure: cold starts per start mode
    (plain / zygote / snapshot) and the memory of 8 containers per start mode."""
    out = {}
    probes = {b: [w for w in workloads if w.bundle == b][0].body for b in bundles}
    first = {b: expect.get([w for w in workloads if w.bundle == b][0].name) for b in bundles}
    if do_cold and cfg["cold_n"] > 0:
        log(f"kiln: cold starts by start mode, {cfg['cold_n']} per mode")
        try:
            out["cold_modes"] = cold_by_mode(k, bundles, probes, first, cfg["cold_n"], cfg["cold_bundles"])
        except Exception as e:  # noqa: BLE001 - reported, the other figures stand
            log(f"  kiln cold by mode FAILED: {e}")
            out["cold_modes"] = {"error": str(e)[:2000]}
    log(f"kiln: memory of {cfg['mem_containers']} containers by start mode")
    try:
        out["memory_modes"] = memory_by_mode(k, bundles, probes, cfg["mem_containers"], cfg["mem_load_s"],
                                             quiet=[(f"bench-{b}", d) for b, d in bundles.items()])
    except Exception as e:  # noqa: BLE001
        log(f"  kiln memory by mode FAILED: {e}")
        out["memory_modes"] = {"error": str(e)[:2000]}
    return out


# ------------------------------------------------------------------ main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short run for development (<= 3 min)")
    ap.add_argument("--systems", default=",".join(DEFAULT_SYSTEMS),
                    help=f"comma-separated subset of {','.join(ALL_SYSTEMS)}")
    ap.add_argument("--no-cold", action="store_true", help="skip the cold-start figures")
    ap.add_argument("--no-modes", action="store_true",
                    help="skip Kiln's figures by start mode (cold starts and memory of plain / zygote / snapshot)")
    ap.add_argument("--no-pipeline", action="store_true",
                    help="skip Kiln's bulk scoring through a pipeline (split -> map score -> summary)")
    ap.add_argument("--out", default=str(HERE / "results"), help="results folder")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (bundles, server logs) for debugging")
    args = ap.parse_args()

    mode = "quick" if args.quick else "full"
    cfg = MODES[mode]
    selected = [s.strip() for s in args.systems.split(",") if s.strip()]
    for s in selected:
        if s not in ALL_SYSTEMS:
            ap.error(f"unknown system {s}")
    if not wrk_available():
        print("bench: wrk not found (apt-get install wrk)", file=sys.stderr)
        return 2

    t_start = time.perf_counter()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    outdir = Path(args.out)
    outdir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="kiln-bench-"))
    logdir = tmp / "logs"
    logdir.mkdir()

    def on_signal(signum, _frame):
        stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
        os._exit(128 + signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    atexit.register(stop_all)

    log(f"kiln bench, {mode} mode, work dir {tmp}")
    bg0 = background_load(1.0)
    if bg0 > 0.05:
        log(f"WARNING: {bg0:.0%} of the CPUs are busy with other work before the run: figures will be noisy")
    log("training models and exporting with skl2onnx (zipmap=False)")
    bundles, workloads, model_info = models.build(tmp)
    req = tmp / "requirements.txt"
    models.write_requirements(req)

    result = {
        "meta": {
            "timestamp": stamp, "mode": mode, "config": cfg, "concurrency": CONCURRENCY,
            "command": "scripts/bench" + (" --quick" if args.quick else ""),
            "machine": machine(), "versions": versions(), "models": model_info,
            "workloads": {w.name: {"title": w.title, "bundle": w.bundle, "rows": w.rows,
                                   "body_bytes": len(w.body)} for w in workloads},
            "loadgen": f"wrk (Lua POST script), pinned with taskset to CPU {LOADGEN_CPU}; "
                       "c=1: 1 thread 1 connection; c=16: 2 threads (16 for the RIE: one per emulator)",
            "pinning": f"wrk pinned to CPU {LOADGEN_CPU}; servers unpinned (CPUs 0-{(os.cpu_count() or 1) - 1}). "
                       "On 2 cores the load generator shares a core with the servers: its CPU use is "
                       "reported per run as loadgen_core_share.",
            "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "ORT_THREADS")},
            "requirements": req.read_text(),
            "background_load_before": bg0,
        },
        "systems": {},
    }
    # Sanity of the handler contract in every system: the same predictions as in-process.
    expect = {}
    rc = 0
    try:
        if "limit" in selected or True:  # the limit anchors every ratio: always run it
            result["systems"]["limit"] = {"label": "limit: handler in-process (no HTTP)", "available": True,
                                          "workloads": run_limit(bundles, workloads, cfg, tmp)}
            expect = {w: r["sample"]["predictions"] for w, r in result["systems"]["limit"]["workloads"].items()}

        for name in selected:
            if name == "limit":
                continue
            if name == "kiln":
                sysobj = Kiln(logdir, req, bundles)
            elif name == "kiln-norecycle":
                sysobj = KilnNoRecycle(logdir, req, bundles)
            elif name == "uvicorn-1w":
                sysobj = Uvicorn(1, logdir)
            elif name == "uvicorn-2w":
                sysobj = Uvicorn(2, logdir)
            elif name == "lambda-rie":
                sysobj = LambdaRIE(logdir, CONCURRENCY)
            ok, why = sysobj.available()
            if not ok:
                log(f"SKIP {name}: {why}")
                result["systems"][name] = {"label": sysobj.label, "available": False, "reason": why}
                continue
            t0 = time.perf_counter()
            try:
                if isinstance(sysobj, Kiln):
                    log(f"{name}: starting daemon, building the layer, deploying, adding routes and a key")
                    sysobj.start()
                # Cold starts of uvicorn: once (1 worker) is enough.
                cold = not args.no_cold and name != "uvicorn-2w"
                r = run_http_system(sysobj, bundles, workloads, cfg, expect, do_cold=cold)
                r["available"] = True
                if name == "kiln" and not args.no_modes:
                    # After every other Kiln figure: these deploy more functions on the daemon.
                    r.update(run_kiln_modes(sysobj, bundles, workloads, cfg, expect, do_cold=not args.no_cold))
                if name == "kiln" and not args.no_pipeline:
                    log(f"kiln: bulk scoring through a pipeline, {cfg['bulk_rows']} rows")
                    try:
                        r["bulk_pipeline"] = bulk_scoring(sysobj, bundles["iris"], tmp, cfg["bulk_rows"],
                                                          cfg["bulk_reps"])
                    except Exception as e:  # noqa: BLE001 - reported, the other figures stand
                        log(f"  kiln bulk pipeline FAILED: {e}")
                        r["bulk_pipeline"] = {"error": str(e)[:2000]}
                if isinstance(sysobj, Kiln):
                    r["setup_s"] = sysobj.setup_s
                    r["contract_deviations"] = sysobj.deviations
                    if sysobj.proc:
                        r["daemon_rss"] = memory_of([sysobj.proc.pid])
                    r["cli_calls"] = len(sysobj.cli_log)
                result["systems"][name] = r
            except (Exception, Unavailable) as e:  # noqa: BLE001 - a broken system is reported, not fatal
                log(f"FAILED {name}: {e}")
                tail = ""
                for f in sorted(logdir.glob("*.log")):
                    if f.name.startswith(name.split("-")[0]):
                        tail += f"--- {f.name}\n" + "\n".join(f.read_text(errors="replace").splitlines()[-25:]) + "\n"
                result["systems"][name] = {"label": sysobj.label, "available": True, "failed": str(e)[:3000],
                                           "log_tail": tail[-4000:]}
                if isinstance(sysobj, Kiln):
                    result["systems"][name]["cli_log"] = sysobj.cli_log[-10:]
                    result["systems"][name]["contract_deviations"] = sysobj.deviations
                rc = 1
            finally:
                if isinstance(sysobj, Kiln):
                    sysobj.stop()
                stop_all()
            result["systems"][name]["elapsed_s"] = round(time.perf_counter() - t0, 1)
    finally:
        stop_all()
        result["meta"]["elapsed_s"] = round(time.perf_counter() - t_start, 1)
        result["meta"]["background_load_after"] = background_load(1.0)
        import report
        result["targets"] = report.targets(result)
        jpath = outdir / f"{stamp}.json"
        jpath.write_text(json.dumps(result, indent=1) + "\n")
        md = report.markdown(result, stamp)
        try:
            pngs = report.plots(result, outdir, stamp)
        except Exception as e:  # noqa: BLE001
            pngs = []
            log(f"plots failed: {e}")
        if pngs:
            md += "\n## Plots\n\n" + "\n".join(f"![{p.stem}]({p.name})" for p in pngs) + "\n"
        (outdir / f"{stamp}.md").write_text(md)
        print()
        print(md)
        log(f"wrote {jpath}, {outdir / (stamp + '.md')} and {len(pngs)} plots in "
            f"{result['meta']['elapsed_s']} s")
        if args.keep:
            log(f"kept {tmp} (server logs in {logdir})")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
