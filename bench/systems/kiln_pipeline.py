"""Bulk scoring through a pipeline (issue 6), against the same work in one in-process loop.

The workload is examples/bulk-score: `rows` synthetic iris rows (make_rows.py, seeded) and the
benchmark's iris model.onnx in one bundle; split -> map score (chunks of 5 000 rows) -> summary.

Kiln: the three functions deployed with the bench layer and --min-warm 0, one pipeline; each run
timed from `POST /v1/pipelines/<name>/runs` (202) until GET /v1/pipeline-runs/<id> (polled every
5 ms) says ok. The first run is cold (its containers start, up to max_containers 8 for the map
step); the next `reps` are warm. Each run's result must equal the in-process one (label counts and
the labels' hash), else the figures are marked as errors.

Limit: the same three handler modules imported once in this process (LAMBDA_TASK_ROOT = the bundle)
and called in sequence, split -> score every chunk -> summary, `reps` times. It uses one core; the
map step may use both (one container per chunk in flight).
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import log, summarize_ms
from systems.kiln import REPO, Kiln

EXAMPLE = REPO / "examples" / "bulk-score"
STEPS = ("split", "score", "summary")
CHUNK_ROWS = 5000


def make_bundle(tmp: Path, iris_bundle: Path, rows: int) -> Path:
    d = tmp / "bulk-score"
    shutil.copytree(EXAMPLE, d, ignore=shutil.ignore_patterns("model.onnx", "rows.npy", "__pycache__"))
    shutil.copy(iris_bundle / "model.onnx", d / "model.onnx")
    subprocess.run([sys.executable, str(d / "make_rows.py"), "--rows", str(rows), "--out", str(d / "rows.npy")],
                   check=True, capture_output=True, timeout=120)
    return d


def in_process(bundle: Path, reps: int) -> tuple[dict, dict]:
    """The limit: the handlers called in this process. Returns (timings, the summary)."""
    os.environ["LAMBDA_TASK_ROOT"] = str(bundle)
    mods = {}
    for step in STEPS:
        spec = importlib.util.spec_from_file_location(f"bulk_{step}", bundle / f"{step}.py")
        mods[step] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mods[step])
    times, summary = [], None
    for _ in range(reps + 1):  # the first call is a warm-up (the session's first run)
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # split's log line, as a container's logs
            chunks = mods["split"].handler({"chunk_rows": CHUNK_ROWS}, None)["chunks"]
        scored = [mods["score"].handler(c, None) for c in chunks]
        summary = mods["summary"].handler(json.loads(json.dumps(scored)), None)
        times.append((time.perf_counter() - t0) * 1000)
    return summarize_ms(times[1:]), summary


def run_pipeline(k: Kiln, name: str, timeout: float = 300) -> tuple[float, dict]:
    t0 = time.perf_counter()
    st, body, _ = k.admin_call_body("POST", f"/v1/pipelines/{name}/runs", json.dumps({"chunk_rows": CHUNK_ROWS}))
    if st != 202:
        raise RuntimeError(f"pipeline start: HTTP {st} {body[:300]!r}")
    run_id = json.loads(body)["run_id"]
    while time.perf_counter() - t0 < timeout:
        st, doc, _ = k.admin_call("GET", f"/v1/pipeline-runs/{run_id}")
        if st == 200 and doc and doc.get("status") != "running":
            return (time.perf_counter() - t0) * 1000, doc
        time.sleep(0.005)
    raise RuntimeError(f"pipeline run {run_id} not done after {timeout} s")


def bulk_scoring(k: Kiln, iris_bundle: Path, tmp: Path, rows: int, reps: int) -> dict:
    bundle = make_bundle(tmp, iris_bundle, rows)
    limit, expected = in_process(bundle, reps)
    log(f"  limit (in-process loop): p50 {limit['p50']} ms for {rows} rows")
    for step in STEPS:
        k.deploy_function(f"bench-bulk-{step}", bundle, "--handler", f"{step}.handler", "--min-warm", "0")
    spec = {"steps": [{"function": "bench-bulk-split"},
                      {"function": "bench-bulk-score", "map": "chunks"},
                      {"function": "bench-bulk-summary"}]}
    st, body, _ = k.admin_call_body("PUT", "/v1/pipelines/bench-bulk", json.dumps(spec))
    if st not in (200, 201):
        raise RuntimeError(f"pipeline create: HTTP {st} {body[:300]!r}")
    errors, warm, cold, steps = [], [], None, None
    for i in range(reps + 1):
        ms, doc = run_pipeline(k, "bench-bulk")
        if doc.get("status") != "ok" or doc.get("result") != expected:
            errors.append(f"run {i}: {doc.get('status')} {doc.get('error_message') or ''} "
                          f"result {json.dumps(doc.get('result'))[:200]}")
            continue
        if i == 0:
            cold = round(ms, 1)
        else:
            warm.append(ms)
            steps = [{"function": s["function"], "map": s["map"], "runs": s["counts"]["runs"],
                      "duration_ms": s["duration_ms"]} for s in doc["steps"]]
    out = {"what": f"{rows} rows, chunks of {CHUNK_ROWS}: split -> map score -> summary (examples/bulk-score)",
           "rows": rows, "chunks": -(-rows // CHUNK_ROWS), "kiln_cold_ms": cold, "kiln_warm": summarize_ms(warm),
           "limit": limit, "last_warm_steps": steps, "errors": errors}
    if warm and limit.get("p50"):
        out["ratio_kiln_warm_to_limit_p50"] = round(out["kiln_warm"]["p50"] / limit["p50"], 2)
    log(f"  kiln pipeline: cold {cold} ms, warm p50 {out['kiln_warm'].get('p50')} ms, errors {len(errors)}")
    return out
