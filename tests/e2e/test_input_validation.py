"""Route paths and env keys are checked where they are made (issue #14, defect 11):
paths are '/' and RFC 3986 path characters, at most 1 KiB (400 at route creation,
from the API and from kiln.yaml, so `route ls` always prints); env keys are POSIX
names, refused at deploy with 400 naming the key (not at the container's init)."""
import pytest

from helpers import unique, write_bundle

OK = """
def handler(event, context):
    return "fine"
"""


@pytest.fixture(scope="module")
def fn(kiln, tmp_path_factory):
    name = unique("valid")
    kiln.cli_ok("deploy", write_bundle(tmp_path_factory.mktemp("v") / name, OK), "--name", name)
    return name


@pytest.mark.parametrize("path", ["/a\r\nX-Evil: 1", "/a b", "/a\tb", "/a\x00b", "/a\x7fb", "/" + "a" * 1024,
                                  "no-slash", "/a%zz", "/caf\u00e9"])
def test_a_bad_route_path_is_400(kiln, fn, path):
    r = kiln.api("POST", "/v1/routes", json={"method": "POST", "path": path, "function": fn})
    assert r.status_code == 400, r.text
    assert all(x["path"] != path for x in kiln.api_json("GET", "/v1/routes")["routes"])


def test_a_path_of_1024_bytes_is_fine_and_route_ls_prints(kiln, fn):
    path = "/" + "b" * 1023
    kiln.api_json("POST", "/v1/routes", expect=201, json={"method": "POST", "path": path, "function": fn})
    out = kiln.cli_ok("route", "ls")
    assert path in out
    assert all(len(line.split()) >= 7 for line in out.strip().splitlines()[1:]), out


def test_a_bad_route_path_in_kiln_yaml_is_refused_before_deploying(kiln, tmp_path):
    name = unique("valid")
    bundle = write_bundle(tmp_path / name, OK, {"kiln.yaml": 'routes:\n  - {path: "/a b"}\n'})
    p = kiln.cli("deploy", bundle, "--name", name)
    assert p.returncode != 0 and "RFC 3986" in p.stderr, p.stderr
    assert kiln.api("GET", f"/v1/functions/{name}").status_code == 404


def blob_of(kiln, fn):
    return kiln.api_json("GET", f"/v1/functions/{fn}")["versions"][-1]["blob"]


@pytest.mark.parametrize("key", ["", "A=B", "A\x00B", "1ABC", "A B", "A-B"])
def test_a_bad_env_key_is_400_naming_it(kiln, fn, key):
    before = len(kiln.api_json("GET", f"/v1/functions/{fn}")["versions"])
    r = kiln.api("POST", f"/v1/functions/{fn}/versions", json={"blob": blob_of(kiln, fn), "env": {key: "v"}})
    assert r.status_code == 400, r.text
    assert "env key" in r.json()["error"]["message"], r.text
    assert len(kiln.api_json("GET", f"/v1/functions/{fn}")["versions"]) == before


def test_a_nul_in_an_env_value_is_400(kiln, fn):
    r = kiln.api("POST", f"/v1/functions/{fn}/versions", json={"blob": blob_of(kiln, fn), "env": {"A": "x\x00y"}})
    assert r.status_code == 400 and "NUL" in r.text, r.text
