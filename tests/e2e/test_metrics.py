"""GET /metrics (issue #15): Prometheus text that a real parser reads, counts equal to
the test's run records, and who may read it."""
import contextlib
import os
import re
import subprocess
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from helpers import closed_at_once, connect, raw_http, unique, wait_for, write_bundle

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
    assert "kiln_async_queue_depth" in f and "kiln_containers" in f and "kiln_pipeline_runs" in f
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


def samples(families, family, sample_name, **labels):
    return [s for s in families[family].samples
            if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items())]


def test_cold_starts_are_split_into_phases_in_the_records_and_the_metrics(start_kiln, tmp_path):
    k = start_kiln()  # its own daemon: the phase histograms are the node's, not a function's
    names = {"zygote": unique("zy"), "plain": unique("pl")}
    for start, name in names.items():
        flags = ["--no-zygote"] if start == "plain" else []
        k.cli_ok("deploy", write_bundle(tmp_path / name, HANDLER), "--name", name, "--min-warm", "0", *flags)
        k.cli_ok("route", "add", "POST", f"/{name}", name, "--auth", "none")
        for _ in range(2):
            assert k.request("POST", f"/{name}", json={}).status_code == 200
    cold = []
    for start, name in names.items():
        first, second = sorted(k.runs(name), key=lambda r: r["started_at"])
        assert first["cold"] and first["start"] == start and not second["cold"]
        assert first["fork_ms"] >= 0 and first["sandbox_ms"] > 0 and first["init_ms"] >= 0, first
        assert second["fork_ms"] is None and second["sandbox_ms"] is None
        shown = k.cli_ok("run", "show", first["id"])
        assert re.search(r"^sandbox_ms\s+\d", shown, re.M), shown
        cold.append(first)

    f = scrape(k)
    for start in names:
        runs = [r for r in cold if r["start"] == start]
        phases = {}
        for phase in ("queue", "fork", "sandbox", "init"):
            [count] = samples(f, "kiln_cold_start_phase_seconds", "kiln_cold_start_phase_seconds_count",
                              phase=phase, start=start)
            [total] = samples(f, "kiln_cold_start_phase_seconds", "kiln_cold_start_phase_seconds_sum",
                              phase=phase, start=start)
            assert count.value == len(runs), (phase, start)
            phases[phase] = total.value
        for phase, field in (("fork", "fork_ms"), ("sandbox", "sandbox_ms"), ("init", "init_ms")):
            assert phases[phase] == pytest.approx(sum(r[field] for r in runs) / 1000, rel=1e-6, abs=1e-6)
        [whole] = samples(f, "kiln_cold_start_seconds", "kiln_cold_start_seconds_sum", start=start)
        assert whole.value == pytest.approx(sum(phases.values()), rel=1e-6, abs=1e-6)


def front_door(families):
    def one(family, sample, **labels):
        return value(families, family, sample, **labels)
    return {
        "accepted": one("kiln_http_connections_accepted", "kiln_http_connections_accepted_total"),
        "refused_address": one("kiln_http_connections_refused", "kiln_http_connections_refused_total",
                               cap="address"),
        "refused_node": one("kiln_http_connections_refused", "kiln_http_connections_refused_total", cap="node"),
        "open": one("kiln_http_connections_open", "kiln_http_connections_open"),
        "2xx": one("kiln_http_requests", "kiln_http_requests_total", code="2xx"),
        "4xx": one("kiln_http_requests", "kiln_http_requests_total", code="4xx"),
        "5xx": one("kiln_http_requests", "kiln_http_requests_total", code="5xx"),
        "bodies_refused": one("kiln_http_bodies_refused", "kiln_http_bodies_refused_total"),
        "accept_errors": one("kiln_http_accept_errors", "kiln_http_accept_errors_total"),
    }


def test_the_front_door_counts_connections_answers_and_refused_bodies(start_kiln):
    k = start_kiln("--max-connections-per-ip", "3", "--header-timeout-s", "60")
    before = front_door(scrape(k))
    # A 100 MB upload with no key: answered 401 from its header, its body never read.
    answer = raw_http(k.port, b"POST /v1/blobs HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 401"), answer
    assert requests.get(k.url + "/nowhere", timeout=30).status_code == 404
    held = [connect(k.port) for _ in range(2)]
    try:
        # Two idle connections and the scrape's own are open, under the cap of 3.
        wait_for(lambda: front_door(scrape(k))["open"] == 3, 20, "three connections open")

        def one_more_closed_at_once():
            held.append(connect(k.port))
            return closed_at_once(held[-1])
        wait_for(one_more_closed_at_once, 30, "a connection over the per-address cap closed at once")
    finally:
        for s in held:
            s.close()
    def scraped():
        with contextlib.suppress(requests.ConnectionError):  # closed at once while still over the cap
            return front_door(scrape(k))
    after = wait_for(scraped, 20, "a scrape once the held connections closed")
    assert after["bodies_refused"] - before["bodies_refused"] == 1
    assert after["4xx"] - before["4xx"] == 2  # the 401 and the 404
    assert after["2xx"] - before["2xx"] >= 2  # the scrapes
    assert after["5xx"] == before["5xx"]
    assert after["refused_address"] - before["refused_address"] >= 1
    assert after["refused_node"] == before["refused_node"] and after["accept_errors"] == 0
    assert after["accepted"] - before["accepted"] >= 6
