"""GET /metrics (issue #15): Prometheus text that a real parser reads, counts equal to
the test's run records, and who may read it."""
import os
import subprocess
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from helpers import unique, write_bundle

HANDLER = """
import json, time
def handler(event, context):
    asked = json.loads(event["body"] or "{}")
    if asked.get("fail"):
        raise KeyError("asked to fail")
    time.sleep(asked.get("sleep", 0))
    return {"ok": True}
"""


def scrape(kiln, key=None):
    r = requests.get(kiln.url + "/metrics", headers={"Authorization": f"Bearer {key or kiln.admin_key}"},
                     timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {family.name: family for family in text_string_to_metric_families(r.text)}


def value(families, family, sample_name, **labels):
    """The value of the one sample of `family` named `sample_name` whose labels include `labels`."""
    found = [s.value for s in families[family].samples
             if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (family, sample_name, labels, families[family].samples)
    return found[0]


def test_metrics_count_what_the_run_records_say(kiln, tmp_path):
    name = unique("m")
    kiln.cli_ok("deploy", write_bundle(tmp_path / name, HANDLER), "--name", name, "--min-warm", "0",
                "--timeout", "1s")
    kiln.cli_ok("route", "add", "POST", f"/{name}", name, "--auth", "none", "--errors", "detailed")
    bodies = [{}] * 6 + [{"fail": True}] * 2 + [{"sleep": 30}]  # far past its 1 s budget: a timeout
    for body in bodies:
        kiln.request("POST", f"/{name}", json=body)
    kiln.cli_ok("invoke", name, "--data", '{"body": "{}"}')
    runs = kiln.runs(name, limit=100)
    assert len(runs) == 10

    f = scrape(kiln)
    me = {"faas_name": name, "faas_version": "1"}
    http, cli = dict(me, faas_trigger="http"), dict(me, faas_trigger="cli")
    assert value(f, "faas_invocations", "faas_invocations_total", **http) == 9
    assert value(f, "faas_invocations", "faas_invocations_total", **cli) == 1
    assert value(f, "faas_errors", "faas_errors_total", error_type="KeyError", **http) == 2
    assert value(f, "faas_errors", "faas_errors_total", error_type="Runtime.Timeout", **http) == 1
    assert value(f, "faas_timeouts", "faas_timeouts_total", **http) == 1
    cold = sum(r["cold"] for r in runs)
    assert cold >= 2  # the first request, and the start after the timeout killed its container
    colds = sum(s.value for s in f["faas_coldstarts"].samples
                if s.name == "faas_coldstarts_total" and s.labels["faas_name"] == name)
    assert colds == cold
    assert value(f, "faas_invoke_duration_seconds", "faas_invoke_duration_seconds_count", **http) == 9
    assert value(f, "faas_invoke_duration_seconds", "faas_invoke_duration_seconds_bucket", le="+Inf", **http) == 9
    assert value(f, "faas_invoke_duration_seconds", "faas_invoke_duration_seconds_bucket", le="0.0005", **http) >= 0
    assert value(f, "faas_init_duration_seconds", "faas_init_duration_seconds_count", **me) == cold
    starts = {s.labels["start"] for s in f["kiln_cold_start_seconds"].samples if s.labels.get("faas_name") == name}
    assert starts and starts <= {"plain", "zygote", "snapshot"}
    codes = {s.labels["code"]: s.value for s in f["gateway_function_invocation"].samples
             if s.labels.get("function_name") == name}
    assert codes == {"200": 7, "500": 2, "504": 1}
    # The parser names a counter's sample with _total, whatever the exposition says.
    assert value(f, "gateway_function_invocation_started", "gateway_function_invocation_started_total",
                 function_name=name) == 10
    assert value(f, "gateway_service_count", "gateway_service_count", function_name=name) >= 1
    assert value(f, "kiln_memory_budget_bytes", "kiln_memory_budget_bytes", kind="total") > 0
    assert "kiln_async_queue_depth" in f and "kiln_containers" in f and "kiln_pipeline_runs_running" in f
    assert value(f, "kiln_container_memory_bytes", "kiln_container_memory_bytes", faas_name=name, kind="private") > 0


# The OpenFaaS gateway names Kiln keeps so existing dashboards work; promtool's linter
# would name them otherwise. Anything else it says fails the test.
OPENFAAS_NAMES = {
    'gateway_function_invocation_started counter metrics should have "_total" suffix',
    'gateway_service_count non-histogram and non-summary metrics should not have "_count" suffix',
}


def test_promtool_accepts_the_exposition(kiln):
    promtool = Path(os.environ.get("KILN_PROMTOOL", Path.home() / ".cache/kiln-test/bin/promtool"))
    if not promtool.exists():
        pytest.skip(f"no promtool at {promtool} (scripts/setup builds it where Go is installed)")
    r = requests.get(kiln.url + "/metrics", headers={"Authorization": f"Bearer {kiln.admin_key}"}, timeout=30)
    assert r.status_code == 200
    p = subprocess.run([str(promtool), "check", "metrics"], input=r.text, capture_output=True, text=True, timeout=60)
    said = {line.strip() for line in (p.stdout + p.stderr).splitlines() if line.strip()}
    assert said <= OPENFAAS_NAMES, said - OPENFAAS_NAMES
    assert p.returncode in (0, 3), p.returncode  # 3: lint findings only (the names above); 1: unparsable


def test_metrics_need_a_key_that_may_read_them(kiln):
    assert requests.get(kiln.url + "/metrics", timeout=30).status_code == 401
    route_only = kiln.create_key(unique("client"), "--route", "/x")
    r = requests.get(kiln.url + "/metrics", headers={"Authorization": f"Bearer {route_only}"}, timeout=30)
    assert r.status_code == 403 and "--metrics" in r.json()["error"]["message"]
    scrape(kiln, kiln.create_key(unique("prom"), "--metrics"))
    scrape(kiln, kiln.create_key(unique("reader"), "--role", "reader"))
    listed = [k for k in kiln.api_json("GET", "/v1/keys")["keys"] if k["metrics"]]
    assert len(listed) == 1
    r = kiln.api("POST", "/v1/keys", json={"name": unique("bad"), "metrics": "yes"})
    assert r.status_code == 400


def test_metrics_public_opens_them_without_a_key(start_kiln):
    k = start_kiln("--metrics-public")
    r = requests.get(k.url + "/metrics", timeout=30)
    assert r.status_code == 200 and "kiln_memory_budget_bytes" in r.text
    assert k.api("GET", "/v1/functions", key="kiln_nope").status_code == 401  # only /metrics opens
