"""The stats API (issue #15): GET /v1/functions/{name}/stats, checked against numpy over
the same run records, and its refusals."""
import numpy as np

from helpers import unique, write_bundle

SLEEPS = """
import json, time
def handler(event, context):
    time.sleep(json.loads(event["body"] or "{}").get("ms", 0) / 1000)
    if json.loads(event["body"] or "{}").get("fail"):
        raise ValueError("asked to fail")
    return {"ok": True}
"""


def test_stats_percentiles_equal_numpy_over_the_same_records(kiln, tmp_path):
    name = unique("st")
    # min_warm 0: the first request is a cold start, the rest warm.
    kiln.cli_ok("deploy", write_bundle(tmp_path / name, SLEEPS), "--name", name, "--min-warm", "0")
    kiln.cli_ok("route", "add", "POST", f"/{name}", name, "--auth", "none", "--errors", "detailed")
    for i in range(40):
        body = {"ms": (i * 7) % 23, "fail": i % 10 == 9}
        r = kiln.request("POST", f"/{name}", json=body)
        assert r.status_code == (500 if body["fail"] else 200), r.text

    runs = kiln.runs(name, limit=1000)
    assert len(runs) == 40
    stats = kiln.api_json("GET", f"/v1/functions/{name}/stats", params={"window": "1h", "bucket": "1m"})
    totals = stats["totals"]
    assert totals["invocations"] == 40
    assert totals["errors"] == sum(r["status"] != "ok" for r in runs) == 4
    assert totals["throttles"] == 0
    cold = [r for r in runs if r["cold"]]
    warm = [r["duration_ms"] for r in runs if not r["cold"]]
    assert totals["cold"]["count"] == len(cold) == 1
    assert sum(totals["cold_starts"].values()) == 1 and totals["cold_starts"][cold[0]["start"]] == 1
    assert totals["warm"]["count"] == len(warm)
    for p in (50, 95, 99):
        assert abs(totals["warm"][f"p{p}_ms"] - float(np.percentile(warm, p))) < 0.002, p
    assert abs(totals["init_p50_ms"] - cold[0]["init_ms"]) < 0.002
    assert len(stats["buckets"]) == 60 and stats["bucket_s"] == 60
    assert sum(b["invocations"] for b in stats["buckets"]) == 40
    # Every bucket's own percentiles come from its own runs.
    busiest = max(stats["buckets"], key=lambda b: b["invocations"])
    assert busiest["warm"]["count"] > 0 and busiest["warm"]["p50_ms"] is not None

    six = kiln.api_json("GET", f"/v1/functions/{name}/stats", params={"window": "6h", "bucket": "5m"})
    assert len(six["buckets"]) == 72 and six["totals"]["invocations"] == 40


def test_stats_refuses_windows_it_cannot_cut_and_unknown_functions(kiln, tmp_path):
    name = unique("sr")
    kiln.cli_ok("deploy", write_bundle(tmp_path / name, SLEEPS), "--name", name)
    for params in ({"window": "90s", "bucket": "1m"}, {"window": "8d", "bucket": "1h"},
                   {"window": "24h", "bucket": "1s"}, {"window": "soon"}, {"bucket": "0"}):
        r = kiln.api("GET", f"/v1/functions/{name}/stats", params=params)
        assert r.status_code == 400, (params, r.text)
        assert r.json()["error"]["code"] == "invalid_argument"
    assert kiln.api("GET", f"/v1/functions/{unique('none')}/stats").status_code == 404
