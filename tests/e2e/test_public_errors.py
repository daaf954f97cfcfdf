"""What a caller sees of a failure (SPEC §3): on an auth: none route only
{"error":"internal","run_id"}, unless the route says errors: detailed; keyed routes
show the error; the run record always has all of it."""
from helpers import unique, write_bundle

RAISES = """
def handler(event, context):
    raise ValueError("db password is hunter2")
"""


def deploy(kiln, tmp_path, *route_flags, yaml=""):
    name = unique("errs")
    files = {"kiln.yaml": yaml} if yaml else None
    kiln.cli_ok("deploy", write_bundle(tmp_path / name, RAISES, files), "--name", name)
    if route_flags:
        kiln.cli_ok("route", "add", "POST", f"/{name}", name, *route_flags)
    return name


def assert_full_record(kiln, r):
    run = kiln.run(r.headers["X-Kiln-Run-Id"])
    assert (run["status"], run["error_type"]) == ("error", "ValueError"), run
    assert run["error_message"] == "db password is hunter2"
    assert "Traceback" in run["logs"]
    return run


def test_a_public_route_hides_the_exception(kiln, tmp_path):
    name = deploy(kiln, tmp_path, "--auth", "none")
    r = kiln.request("POST", f"/{name}", json={})
    assert r.status_code == 500, r.text
    assert r.json() == {"error": "internal", "run_id": r.headers["X-Kiln-Run-Id"]}
    assert "hunter2" not in r.text
    assert_full_record(kiln, r)
    routes = kiln.cli_json("route", "ls")["routes"]
    assert [x["errors"] for x in routes if x["path"] == f"/{name}"] == ["generic"]


def test_a_public_route_with_errors_detailed_shows_it(kiln, tmp_path):
    name = deploy(kiln, tmp_path, "--auth", "none", "--errors", "detailed")
    r = kiln.request("POST", f"/{name}", json={})
    assert r.status_code == 500, r.text
    assert r.json() == {"errorType": "ValueError", "errorMessage": "db password is hunter2"}
    assert_full_record(kiln, r)


def test_kiln_yaml_routes_may_say_errors_detailed(kiln, tmp_path):
    path = "/" + unique("yaml-errs")
    deploy(kiln, tmp_path, yaml=f"routes:\n  - {{path: {path}, auth: none, errors: detailed}}\n")
    r = kiln.request("POST", path, json={})
    assert r.status_code == 500 and r.json()["errorType"] == "ValueError", r.text


def test_a_keyed_route_keeps_detailed_errors(kiln, tmp_path):
    name = deploy(kiln, tmp_path, "--auth", "key")
    key = kiln.create_key("errs-" + name, "--route", f"/{name}")
    r = kiln.request("POST", f"/{name}", key=key, json={})
    assert r.status_code == 500, r.text
    assert r.json() == {"errorType": "ValueError", "errorMessage": "db password is hunter2"}
    assert_full_record(kiln, r)


def test_errors_must_be_generic_or_detailed(kiln, tmp_path):
    name = deploy(kiln, tmp_path)
    r = kiln.api("POST", "/v1/routes", json={"method": "POST", "path": f"/{name}", "function": name,
                                             "auth": "none", "errors": "verbose"})
    assert r.status_code == 400 and "errors must be" in r.text, r.text
