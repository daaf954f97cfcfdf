"""Operating functions (issue #15): ls, describe, rm, rollback, route set, unchanged
redeploys, env kept and never echoed, failed inits that can be found, the CLI's own
parse errors, run ids by prefix. Every refusal is checked with its status and message."""
import json
import subprocess

from conftest import KILN_BIN
from helpers import unique, write_bundle

ECHO_VERSION = """
import os
def handler(event, context):
    return {"version": context.function_version, "mode": os.environ.get("MODE")}
"""


def deploy(kiln, tmp_path, name, code=ECHO_VERSION, *flags, expect_ok=True):
    bundle = write_bundle(tmp_path / f"{name}-{unique('b')}", code)
    p = kiln.cli("deploy", bundle, "--name", name, *flags)
    if expect_ok:
        assert p.returncode == 0, p.stderr
    return p


def version_called(kiln, path):
    r = kiln.request("POST", path, json={})
    assert r.status_code == 200, r.text
    return r.json()["version"], r


def test_ls_and_describe_show_serving_version_routes_and_the_last_hour(kiln, tmp_path):
    name = unique("ls")
    deploy(kiln, tmp_path, name)
    kiln.cli_ok("route", "add", "POST", f"/{name}", name, "--auth", "none")
    for _ in range(3):
        version_called(kiln, f"/{name}")
    row = next(f for f in kiln.cli_json("ls")["functions"] if f["name"] == name)
    assert row["serving_version"] == 1 and row["state"] == "ready"
    assert row["routes"] == [f"POST /{name}"]
    assert row["last_hour"]["invocations"] == 3 and row["last_hour"]["errors"] == 0
    assert row["last_hour"]["warm_p50_ms"] is not None
    assert row["last_run_at"] is not None
    table = kiln.cli_ok("ls")
    assert "WARM P50 1H" in table.splitlines()[0] and name in table

    described = kiln.cli_json("describe", name)
    assert [v["version"] for v in described["versions"]] == [1]
    assert described["versions"][0]["serving"] is True
    assert described["routes"][0]["serves"] == 1 and described["routes"][0]["version"] is None
    assert described["last_hour"]["invocations"] == 3
    text = kiln.cli_ok("describe", name)
    assert "last hour: 3 runs, 0 errors" in text and "follows" in text


def test_env_is_kept_on_redeploy_cleared_on_request_and_never_echoed(kiln, tmp_path):
    name = unique("env")
    deploy(kiln, tmp_path, name, ECHO_VERSION, "--env", "MODE=s3cr3t-value")
    kiln.cli_ok("route", "add", "POST", f"/{name}", name, "--auth", "none")
    assert version_called(kiln, f"/{name}")[1].json()["mode"] == "s3cr3t-value"
    # A redeploy of other code without --env keeps the env.
    deploy(kiln, tmp_path, name, ECHO_VERSION + "\n# v2\n")
    assert version_called(kiln, f"/{name}")[1].json() == {"version": "2", "mode": "s3cr3t-value"}
    # Names only, anywhere the API or the CLI shows a version.
    for text in (kiln.cli_ok("describe", name), kiln.cli_ok("describe", name, "--json"),
                 kiln.api("GET", f"/v1/functions/{name}").text, kiln.cli_ok("ls", "--json")):
        assert "s3cr3t-value" not in text
    assert kiln.cli_json("describe", name)["versions"][-1]["env"] == ["MODE"]
    deploy(kiln, tmp_path, name, ECHO_VERSION + "\n# v3\n", "--env-clear")
    assert version_called(kiln, f"/{name}")[1].json() == {"version": "3", "mode": None}
    both = kiln.cli("deploy", tmp_path, "--name", name, "--env-clear", "--env", "A=1")
    assert both.returncode == 1 and "exclude each other" in both.stderr


def test_unchanged_redeploy_makes_no_version_unless_forced(kiln, tmp_path):
    name = unique("same")
    bundle = write_bundle(tmp_path / name, ECHO_VERSION)
    kiln.cli_ok("deploy", bundle, "--name", name, "--env", "MODE=a")
    out = kiln.cli_ok("deploy", bundle, "--name", name)  # env kept: nothing changed
    assert out.strip() == f"unchanged: {name}:1 (the same bundle, handler, layers and settings; " \
                          "--force makes a new version)"
    assert [v["version"] for v in kiln.cli_json("describe", name)["versions"]] == [1]
    again = kiln.api_json("POST", f"/v1/functions/{name}/versions", expect=200,
                          json={"blob": kiln.cli_json("describe", name)["versions"][0]["blob"],
                                "env": {"MODE": "a"}})
    assert again["unchanged"] is True and again["version"] == 1
    assert "deployed" in kiln.cli_ok("deploy", bundle, "--name", name, "--force")
    assert "deployed" in kiln.cli_ok("deploy", bundle, "--name", name, "--memory", "320")
    assert [v["version"] for v in kiln.cli_json("describe", name)["versions"]] == [1, 2, 3]


def test_rollback_serves_an_earlier_version_warm_and_refuses_what_it_cannot(kiln, tmp_path):
    name = unique("rb")
    for _ in range(2):
        deploy(kiln, tmp_path, name, ECHO_VERSION + f"\n# {unique('v')}\n")
    kiln.cli_ok("route", "add", "POST", f"/{name}", name, "--auth", "none")
    kiln.cli_ok("route", "add", "POST", f"/{name}-pinned", f"{name}:2", "--auth", "none")
    assert version_called(kiln, f"/{name}")[0] == "2"

    out = kiln.cli_ok("rollback", name)
    assert out.strip() == f"{name} now serves version 1 (was 2; 1 warm)"
    version, response = version_called(kiln, f"/{name}")
    assert version == "1"
    run = kiln.run(response.headers["X-Kiln-Run-Id"])
    assert run["cold"] is False, "the rollback's target was pre-warmed"
    assert version_called(kiln, f"/{name}-pinned")[0] == "2", "a pinned route stays"

    refused = kiln.cli("rollback", name)  # nothing ready before version 1
    assert refused.returncode == 1 and f"{name} has no ready version before 1" in refused.stderr
    r = kiln.api("POST", f"/v1/functions/{name}/rollback", json={"version": 1})
    assert r.status_code == 409 and "serving version already" in r.json()["error"]["message"]
    r = kiln.api("POST", f"/v1/functions/{name}/rollback", json={"version": 9})
    assert r.status_code == 404
    r = kiln.api("POST", f"/v1/functions/{name}/rollback", json={"version": "2"})
    assert r.status_code == 400

    broken = deploy(kiln, tmp_path, name, "import not_a_module\n", expect_ok=False)
    assert broken.returncode == 1 and "Runtime.ImportModuleError" in broken.stderr
    r = kiln.api("POST", f"/v1/functions/{name}/rollback", json={"version": 3})
    assert r.status_code == 409, r.text
    assert f"cannot roll back to {name}:3: it failed its deploy (Runtime.ImportModuleError" in r.json()["error"]["message"]
    assert kiln.cli_ok("rollback", name, "2").startswith(f"{name} now serves version 2 (was 1")
    assert version_called(kiln, f"/{name}")[0] == "2"


def test_failed_init_is_recorded_and_named_by_invoke_and_route_add(kiln, tmp_path):
    name = unique("bad")
    p = deploy(kiln, tmp_path, name, "print('loading the model')\nimport not_a_module\n", expect_ok=False)
    assert p.returncode == 1
    runs = kiln.cli_json("runs", name)["runs"]
    assert len(runs) == 1
    run = runs[0]
    assert (run["trigger"], run["status"], run["error_type"]) == ("deploy", "error", "Runtime.ImportModuleError")
    assert "loading the model" in kiln.run(run["id"])["logs"]
    assert run["id"] in kiln.cli_ok("runs", name)

    for args in (("invoke", name), ("route", "add", "POST", f"/{name}", name)):
        refused = kiln.cli(*args)
        assert refused.returncode == 1
        assert f"{name} has no ready version (v1 failed: Runtime.ImportModuleError" in refused.stderr, refused.stderr
    assert kiln.cli_json("ls")["functions"][0]["state"] in ("failed", "ready")
    row = next(f for f in kiln.cli_json("ls")["functions"] if f["name"] == name)
    assert row["state"] == "failed" and row["serving_version"] is None
    assert kiln.cli("invoke", unique("none")).stderr.startswith("kiln: no function")


def test_rm_is_refused_while_routed_and_force_takes_the_routes_along(kiln, tmp_path):
    name = unique("rm")
    deploy(kiln, tmp_path, name)
    kiln.cli_ok("route", "add", "POST", f"/{name}", name, "--auth", "none")
    version_called(kiln, f"/{name}")
    refused = kiln.cli("rm", name)
    assert refused.returncode == 1
    assert f"{name} is in use by route POST /{name} (id " in refused.stderr and "--force" in refused.stderr
    r = kiln.api("DELETE", f"/v1/functions/{name}")
    assert r.status_code == 409

    pipeline = unique("pl")
    kiln.api_json("PUT", f"/v1/pipelines/{pipeline}", expect=201, json={"steps": [{"function": name}]})
    r = kiln.api("DELETE", f"/v1/functions/{name}")
    assert r.status_code == 409 and f"pipeline {pipeline}" in r.json()["error"]["message"]
    kiln.api("DELETE", f"/v1/pipelines/{pipeline}")

    out = kiln.cli_ok("rm", name, "--force")
    assert f"removed route POST /{name}" in out and f"removed {name} (1 versions)" in out
    assert kiln.request("POST", f"/{name}", json={}).status_code == 404
    assert kiln.api("GET", f"/v1/functions/{name}").status_code == 404
    assert all(f["name"] != name for f in kiln.cli_json("ls")["functions"])
    assert len(kiln.runs(name)) == 1, "run records stay until retention"
    assert kiln.cli("rm", name).returncode == 1
    # Deployed again, it goes on numbering: its old run records never name a new version.
    deploy(kiln, tmp_path, name)
    assert kiln.cli_json("describe", name)["serving_version"] == 2


def test_rm_of_one_version_only_when_nothing_serves_it(kiln, tmp_path):
    name = unique("rmv")
    for _ in range(3):
        deploy(kiln, tmp_path, name, ECHO_VERSION + f"\n# {unique('v')}\n")
    kiln.cli_ok("route", "add", "POST", f"/{name}-pinned", f"{name}:1", "--auth", "none")
    serving = kiln.cli("rm", f"{name}:3")
    assert serving.returncode == 1 and "is the serving version" in serving.stderr
    pinned = kiln.cli("rm", f"{name}:1")
    assert pinned.returncode == 1 and f"{name}:1 is pinned by route POST /{name}-pinned" in pinned.stderr
    assert kiln.cli_ok("rm", f"{name}:2").strip() == f"removed {name}:2"
    assert [v["version"] for v in kiln.cli_json("describe", name)["versions"]] == [1, 3]
    assert kiln.api("DELETE", f"/v1/functions/{name}/versions/2").status_code == 404
    assert kiln.cli("rm", f"{name}:x").returncode == 2


def test_route_set_repoints_at_once_by_id_or_by_method_and_path(kiln, tmp_path):
    a, b = unique("ra"), unique("rb")
    deploy(kiln, tmp_path, a)
    deploy(kiln, tmp_path, b)
    deploy(kiln, tmp_path, b, ECHO_VERSION + "\n# v2\n")
    route = json.loads(kiln.cli_ok("route", "add", "POST", f"/{a}", a, "--auth", "none", "--json"))
    kiln.cli_ok("route", "set", str(route["id"]), "--function", b)
    assert version_called(kiln, f"/{a}")[0] == "2"
    kiln.cli_ok("route", "set", "post", f"/{a}", "--function", f"{b}:1")
    assert version_called(kiln, f"/{a}")[0] == "1"
    listed = next(r for r in kiln.cli_json("route", "ls")["routes"] if r["id"] == route["id"])
    assert (listed["function"], listed["version"], listed["auth"]) == (b, 1, "none")
    for target, status in ((unique("none"), 404), (f"{b}:7", 404)):
        r = kiln.api("PUT", f"/v1/routes/{route['id']}", json={"function": target.split(":")[0],
                                                               "version": int(target.split(":")[1]) if ":" in target else None})
        assert r.status_code == status, r.text
    r = kiln.api("PUT", f"/v1/routes/{route['id']}", json={"function": a, "auth": "key"})
    assert r.status_code == 400 and "'auth' is not one" in r.json()["error"]["message"]
    assert kiln.api("PUT", "/v1/routes/99999", json={"function": a}).status_code == 404
    missing = kiln.cli("route", "set", "GET", "/nowhere", "--function", a)
    assert missing.returncode == 1 and "no route GET /nowhere" in missing.stderr


def test_deploy_repoints_kiln_yaml_routes_and_leaves_pinned_ones(kiln, tmp_path):
    old, new = unique("old"), unique("new")
    deploy(kiln, tmp_path, old)
    kiln.cli_ok("route", "add", "POST", f"/{new}", old, "--auth", "none")
    kiln.cli_ok("route", "add", "POST", f"/{new}-pinned", f"{old}:1", "--auth", "none")
    bundle = write_bundle(tmp_path / new, ECHO_VERSION, {
        "kiln.yaml": f"name: {new}\nroutes:\n  - {{method: POST, path: /{new}, auth: none}}\n"
                     f"  - {{method: POST, path: /{new}-pinned, auth: none}}\n"})
    p = kiln.cli("deploy", bundle)
    assert p.returncode == 0, p.stderr
    assert f"route POST /{new} served {old}; it now serves {new}" in p.stderr
    assert f"route POST /{new}-pinned is pinned to {old}:1 and stays so" in p.stderr
    routes = {r["path"]: r for r in kiln.cli_json("route", "ls")["routes"]}
    assert routes[f"/{new}"]["function"] == new
    assert (routes[f"/{new}-pinned"]["function"], routes[f"/{new}-pinned"]["version"]) == (old, 1)


def test_cli_parse_errors_are_one_line_and_exit_2(kiln):
    for args in ((), ("ls", "--bogus"), ("deploy",), ("rollback", "x", "0"), ("nonsense",)):
        p = subprocess.run([str(KILN_BIN), *args], capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, (args, p.returncode, p.stderr)
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("kiln: "), (args, p.stderr)
    assert subprocess.run([str(KILN_BIN), "--help"], capture_output=True, timeout=30).returncode == 0


def test_run_show_takes_a_unique_prefix(kiln, tmp_path):
    name = unique("px")
    deploy(kiln, tmp_path, name)
    kiln.cli_ok("route", "add", "POST", f"/{name}", name, "--auth", "none")
    _, r = version_called(kiln, f"/{name}")
    run_id = r.headers["X-Kiln-Run-Id"]
    shown = kiln.cli_json("run", "show", run_id[:8])
    assert shown["id"] == run_id
    assert kiln.api("GET", f"/v1/runs/{run_id[:3]}").status_code == 404  # under 4 characters: no search
    assert kiln.api("GET", "/v1/runs/zzzzzzzz").status_code == 404
