"""The CLI contract (docs/API.md): invoke, --json on every listing, one-line errors."""
import json

import pytest

ECHO = """
def handler(event, context):
    return {"got": event}
"""


@pytest.fixture(scope="module")
def echo(kiln, tmp_path_factory):
    fn = kiln.deploy_handler(tmp_path_factory.mktemp("cli"), ECHO)
    assert kiln.request("POST", fn.path, json={}).status_code == 200  # so runs exist
    return fn


def test_invoke_inline_data(kiln, echo):
    out = kiln.cli_ok("invoke", echo.name, "--data", '{"a":1}')
    assert json.loads(out) == {"got": {"a": 1}}


def test_invoke_data_from_file(kiln, echo, tmp_path):
    event = tmp_path / "event.json"
    event.write_text('{"from": "file", "n": [1, 2]}')
    out = kiln.cli_ok("invoke", echo.name, "--data", f"@{event}")
    assert json.loads(out) == {"got": {"from": "file", "n": [1, 2]}}


@pytest.mark.parametrize("command", [("route", "ls"), ("key", "ls"), ("layer", "ls"), ("runs",),
                                     ("runs", "{fn}")])
def test_json_output_parses(kiln, echo, command):
    kiln.cli_json(*[part.format(fn=echo.name) for part in command])


def test_run_show_json(kiln, echo):
    [latest] = kiln.runs(echo.name, limit=1)
    shown = kiln.cli_json("run", "show", latest["id"])
    assert shown["id"] == latest["id"] and shown["function"] == echo.name
    assert "REPORT RequestId:" in shown["logs"]


def test_version_prints_something(kiln):
    assert kiln.cli_ok("version").strip()


def test_unknown_function_is_one_line_error(kiln):
    p = kiln.cli("invoke", "no-such-function-e2e", "--data", "{}")
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kiln: "), p.stderr
    assert p.stdout == ""


def test_unreachable_daemon_is_one_line_error(kiln):
    p = kiln.cli("route", "ls", url="http://127.0.0.1:9")
    assert p.returncode != 0
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
