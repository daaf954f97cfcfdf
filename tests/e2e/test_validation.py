"""Budgets and pool settings out of their SPEC §2 ranges are refused (issue #14,
defect 11): the CLI exits non-zero with a one-line error before uploading anything,
and the API answers 400 naming the field, where 0, -1 and 256.7 used to deploy."""
import pytest

from helpers import handler_tar_gz, unique, write_bundle

HANDLER = """
def handler(event, context):
    return "ok"
"""
GZIP = "application/gzip"


@pytest.fixture(scope="module")
def blob(kiln):
    r = kiln.api("POST", "/v1/blobs", data=handler_tar_gz(HANDLER), headers={"Content-Type": GZIP})
    assert r.status_code == 201, r.text
    return r.json()["digest"]


def one_line_error(p):
    assert p.returncode != 0, p.stdout
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kiln: "), p.stderr
    return lines[0]


@pytest.mark.parametrize("flags, says", [
    (("--memory", "0"), "memory must be within 64-2048 MB, got 0"),
    (("--memory", "-1"), "memory must be within 64-2048 MB, got -1"),
    (("--memory", "63"), "memory must be within 64-2048 MB, got 63"),
    (("--memory", "2049"), "memory must be within 64-2048 MB, got 2049"),
    (("--timeout", "901s"), "timeout must be within 1ms-900s"),
    (("--timeout", "0ms"), "timeout must be within 1ms-900s"),
])
def test_cli_refuses_budgets_out_of_range(kiln, tmp_path, flags, says):
    name = unique("bad")
    p = kiln.cli("deploy", write_bundle(tmp_path / name, HANDLER), "--name", name, *flags)
    assert says in one_line_error(p), p.stderr
    assert "uploading" not in p.stderr, "refused before the upload"
    assert kiln.api("GET", f"/v1/functions/{name}").status_code == 404


def test_cli_refuses_a_kiln_yaml_memory_out_of_range(kiln, tmp_path):
    name = unique("bad")
    bundle = write_bundle(tmp_path / name, HANDLER, {"kiln.yaml": f"name: {name}\nmemory: 0\n"})
    p = kiln.cli("deploy", bundle)
    assert p.returncode != 0
    assert "memory must be within 64-2048 MB, got 0" in p.stderr, p.stderr
    assert "uploading" not in p.stderr, "refused before the upload"
    assert kiln.api("GET", f"/v1/functions/{name}").status_code == 404


def test_cli_refuses_a_fractional_memory(kiln, tmp_path):
    name = unique("bad")
    p = kiln.cli("deploy", write_bundle(tmp_path / name, HANDLER), "--name", name, "--memory", "256.7")
    assert p.returncode != 0
    assert kiln.api("GET", f"/v1/functions/{name}").status_code == 404


@pytest.mark.parametrize("field, value", [
    ("memory_mb", 256.7), ("memory_mb", 0), ("memory_mb", -1), ("memory_mb", 63), ("memory_mb", 2049),
    ("memory_mb", "256"), ("memory_mb", None), ("memory_mb", 2**64 - 1),
    ("timeout_ms", 0), ("timeout_ms", 900001), ("timeout_ms", 1.5), ("timeout_ms", -5),
])
def test_api_refuses_budgets_out_of_range(kiln, blob, field, value):
    name = unique("bad")
    r = kiln.api("POST", f"/v1/functions/{name}/versions", json={"blob": blob, field: value})
    assert r.status_code == 400, r.text
    assert field in r.json()["error"]["message"], r.text


@pytest.mark.parametrize("setting, value", [
    ("max_containers", 0), ("max_containers", 65), ("min_warm", -1), ("min_warm", 65),
    ("queue_size", -1), ("recycle_after", 0), ("idle_evict_s", 0), ("scale_to_zero_s", -1),
    ("max_containers", 2.5),
])
def test_api_refuses_pool_settings_out_of_range(kiln, blob, setting, value):
    name = unique("bad")
    r = kiln.api("POST", f"/v1/functions/{name}/versions", json={"blob": blob, "pool": {setting: value}})
    assert r.status_code == 400, r.text
    assert setting in r.json()["error"]["message"], r.text


def test_the_edges_of_the_ranges_deploy(kiln, blob):
    for memory, timeout in ((64, 1), (2048, 900000)):
        name = unique("edge")
        r = kiln.api("POST", f"/v1/functions/{name}/versions",
                     json={"blob": blob, "memory_mb": memory, "timeout_ms": timeout, "wait": False})
        assert r.status_code == 201, r.text
