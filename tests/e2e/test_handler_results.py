"""What a handler returns is checked before it reaches the caller (issue #14, defect 4):
a header name must be an RFC 9110 token, values and cookies carry no CR, LF or NUL,
and statusCode is an integer from 100 to 599. Anything else is 502
Runtime.InvalidResult, and the run record says why. One test per bad shape."""
import json

import pytest

from conftest import Fn
from helpers import raw_http, unique, write_bundle

# The handler returns the "http" dict its request body describes.
ECHO_RESULT = """
import json

def handler(event, context):
    return json.loads(event["body"])
"""


@pytest.fixture(scope="module")
def shaper(kiln, tmp_path_factory):
    # errors: detailed, so the caller sees the reason (a public route's default hides it).
    name = unique("shaper")
    kiln.cli_ok("deploy", write_bundle(tmp_path_factory.mktemp("shaper") / name, ECHO_RESULT), "--name", name)
    kiln.cli_ok("route", "add", "POST", f"/{name}", name, "--auth", "none", "--errors", "detailed")
    return Fn(kiln, name, f"/{name}")


def assert_invalid(fn, result, reason):
    r = fn.call(json=result)
    assert r.status_code == 502, r.text
    body = r.json()
    assert body["errorType"] == "Runtime.InvalidResult", body
    assert reason in body["errorMessage"], body
    assert "evil" not in "".join(r.headers.keys()).lower(), r.headers
    assert "set-cookie" not in {k.lower() for k in r.headers}, r.headers
    run = fn.run_of(r)
    assert (run["status"], run["error_type"], run["http_status"]) == ("error", "Runtime.InvalidResult", 502), run
    assert reason in run["error_message"], run
    return run


def test_crlf_in_a_header_value_is_refused(shaper):
    assert_invalid(shaper, {"statusCode": 200, "headers": {"X-A": "1\r\nSet-Cookie: evil=1"}, "body": "x"},
                   "header X-A carries a CR, LF or NUL")


def test_lf_alone_in_a_header_value_is_refused(shaper):
    assert_invalid(shaper, {"statusCode": 200, "headers": {"X-A": "1\nX-Evil: 1"}}, "header X-A")


def test_crlf_in_a_header_name_is_refused(shaper):
    assert_invalid(shaper, {"statusCode": 200, "headers": {"X-A\r\nSet-Cookie: evil": "1"}},
                   "is not an RFC 9110 token")


def test_space_in_a_header_name_is_refused(shaper):
    assert_invalid(shaper, {"statusCode": 200, "headers": {"X A": "1"}}, "is not an RFC 9110 token")


def test_crlf_in_a_cookie_is_refused(shaper):
    assert_invalid(shaper, {"statusCode": 200, "cookies": ["a=1\r\nSet-Cookie: evil=2"]},
                   "a cookie carries a CR, LF or NUL")


@pytest.mark.parametrize("status", [0, 99999, -1, 99, 600, "200", 200.5])
def test_a_status_outside_100_to_599_is_refused(shaper, status):
    assert_invalid(shaper, {"statusCode": status, "body": "x"}, "statusCode must be an integer from 100 to 599")


def test_a_valid_result_goes_out_as_given(shaper):
    r = shaper.call(json={"statusCode": 418, "headers": {"X-Tea": "pot"}, "cookies": ["a=1", "b=2"],
                          "body": "short and stout"})
    assert r.status_code == 418, r.text
    assert r.headers["X-Tea"] == "pot"
    assert r.text == "short and stout"
    assert shaper.run_of(r)["status"] == "ok"


def test_framing_headers_of_a_handler_are_dropped(kiln, shaper):
    result = {"statusCode": 200, "headers": {"Content-Length": "1", "Transfer-Encoding": "chunked",
                                             "Connection": "close"}, "body": "four"}
    body = json.dumps(result).encode()
    raw = raw_http(kiln.port, b"POST " + shaper.path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                   b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() +
                   b"\r\n\r\n" + body)
    head = raw.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 200"), raw
    assert b"content-length: 4" in head, raw
    assert b"transfer-encoding" not in head and b"connection: close" not in head, raw


def test_a_body_on_204_is_not_sent_and_the_daemon_keeps_serving(shaper):
    r = shaper.call(json={"statusCode": 204, "body": "nobody reads this"})
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert shaper.run_of(r)["status"] == "ok"
    assert shaper.call(json={"statusCode": 200, "body": "still here"}).text == "still here"
