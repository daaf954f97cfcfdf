"""RFC 9112 conformance of the front door, table-driven over a raw socket.

Each case sends bytes as they are and checks the status of the one answer, that the
connection is closed where the framing was ambiguous, and that no handler ran: the
echo function's run count is unchanged (or grows by the case's `runs`). Every
smuggling case hides a second request for the echo function after the first one's
header, so a server that framed the body differently would run it.
"""
import socket
import time

import pytest

from helpers import unique

ECHO = """
def handler(event, context):
    return {"statusCode": 200, "body": event.get("body") or ""}
"""

# {fn} is the echo function's path (auth none; GET and POST).
HIDDEN = b"POST {fn} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
POST = b"POST {fn} HTTP/1.1\r\nHost: x\r\n"
HEALTH = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
CLOSE = b"Connection: close\r\n"


def case(name, data, status, closes=True, runs=0):
    return pytest.param(data, status, closes, runs, id=name)


CASES = [
    # -- Transfer-Encoding (RFC 9112 §6.1, §6.3; RFC 9110 §10.1.4) --
    case("te_xchunked", POST + b"Transfer-Encoding: xchunked\r\n\r\n" + HIDDEN, 501),
    case("te_identity", POST + b"Transfer-Encoding: identity\r\n\r\n" + HIDDEN, 501),
    case("te_gzip", POST + b"Transfer-Encoding: gzip\r\n\r\n" + HIDDEN, 501),
    case("te_chunked_semicolon", POST + b"Transfer-Encoding: chunked;a=b\r\n\r\n" + HIDDEN, 501),
    case("te_gzip_chunked", POST + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" + HIDDEN, 501),
    case("te_chunked_identity", POST + b"Transfer-Encoding: chunked, identity\r\n\r\n" + HIDDEN, 400),
    case("te_chunked_chunked", POST + b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n" + HIDDEN, 400),
    case("te_two_lines_not_ending_chunked",
         POST + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n" + HIDDEN, 400),
    case("te_empty_element", POST + b"Transfer-Encoding: ,chunked\r\n\r\n0\r\n\r\n" + HIDDEN, 400),
    case("te_trailing_comma", POST + b"Transfer-Encoding: chunked,\r\n\r\n0\r\n\r\n" + HIDDEN, 400),
    case("te_in_http10", b"POST {fn} HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + HIDDEN,
         400),
    case("te_with_cl", POST + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + HIDDEN, 400),
    case("cl_with_te", POST + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + HIDDEN, 400),
    case("te_xchunked_with_cl", POST + b"Transfer-Encoding: xchunked\r\nContent-Length: 0\r\n\r\n" + HIDDEN, 400),
    case("te_space_before_colon", POST + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + HIDDEN, 400),
    case("te_obs_fold", POST + b"Transfer-Encoding: identity\r\n chunked\r\n\r\n0\r\n\r\n" + HIDDEN, 400),
    case("te_vertical_tab", POST + b"Transfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n" + HIDDEN, (400, 501)),
    case("te_uppercase_ok", b"POST {fn} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: CHUNKED\r\n" + CLOSE
         + b"\r\n2\r\n{}\r\n0\r\n\r\n", 200, runs=1),
    # -- chunked bodies (RFC 9112 §7.1) --
    case("chunk_size_overflow", POST + b"Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n" + HIDDEN, 400),
    case("chunk_size_negative", POST + b"Transfer-Encoding: chunked\r\n\r\n-2\r\n{}\r\n0\r\n\r\n" + HIDDEN, 400),
    case("chunk_size_0x", POST + b"Transfer-Encoding: chunked\r\n\r\n0x2\r\n{}\r\n0\r\n\r\n" + HIDDEN, 400),
    case("chunk_missing_crlf", POST + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}0\r\n\r\n" + HIDDEN, 400),
    case("chunk_bare_lf_size", POST + b"Transfer-Encoding: chunked\r\n\r\n2\n{}\r\n0\r\n\r\n" + HIDDEN, 400),
    case("chunk_last_bare_lf", POST + b"Transfer-Encoding: chunked\r\n\r\n0\n\n" + HIDDEN, 400),
    case("chunk_extension_ok", b"POST {fn} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n" + CLOSE
         + b"\r\n2;name=value\r\n{}\r\n0\r\n\r\n", 200, runs=1),
    case("chunk_extension_bad", POST + b"Transfer-Encoding: chunked\r\n\r\n2;\x01\r\n{}\r\n0\r\n\r\n" + HIDDEN, 400),
    case("chunk_trailer_ok", b"POST {fn} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n" + CLOSE
         + b"\r\n2\r\n{}\r\n0\r\nX-Trailer: 1\r\n\r\n", 200, runs=1),
    case("chunk_over_body_limit_of_healthz", HEALTH + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
         413),
    # -- Content-Length (RFC 9112 §6.2, §6.3) --
    case("cl_plus", POST + b"Content-Length: +2\r\n\r\n{}" + HIDDEN, 400),
    case("cl_hex", POST + b"Content-Length: 0x2\r\n\r\n{}" + HIDDEN, 400),
    case("cl_negative", POST + b"Content-Length: -1\r\n\r\n" + HIDDEN, 400),
    case("cl_huge", POST + b"Content-Length: 99999999999999999999999\r\n\r\n" + HIDDEN, 400),
    case("cl_inner_space", POST + b"Content-Length: 1 2\r\n\r\n" + HIDDEN, 400),
    case("cl_list_same", POST + b"Content-Length: 2, 2\r\n\r\n{}" + HIDDEN, 400),
    case("cl_list_different", POST + b"Content-Length: 0, 58\r\n\r\n" + HIDDEN, 400),
    case("cl_repeated_same", POST + b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}" + HIDDEN, 400),
    case("cl_repeated_different", POST + b"Content-Length: 0\r\nContent-Length: 58\r\n\r\n" + HIDDEN, 400),
    case("cl_empty", POST + b"Content-Length: \r\n\r\n" + HIDDEN, 400),
    case("cl_letters", POST + b"Content-Length: abc\r\n\r\n" + HIDDEN, 400),
    case("cl_leading_zeros_ok", HEALTH + b"Content-Length: 000\r\n" + CLOSE + b"\r\n", 200),
    case("cl_over_body_limit_of_healthz", HEALTH + b"Content-Length: 5\r\n\r\nabcde", 413),
    # -- Host (RFC 9112 §3.2) --
    case("host_missing", b"POST {fn} HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}" + HIDDEN, 400),
    case("host_repeated", POST + b"Host: y\r\nContent-Length: 2\r\n\r\n{}" + HIDDEN, 400),
    case("host_repeated_same", POST + b"Host: x\r\nContent-Length: 2\r\n\r\n{}" + HIDDEN, 400),
    case("host_empty", b"POST {fn} HTTP/1.1\r\nHost: \r\nContent-Length: 2\r\n\r\n{}" + HIDDEN, 400),
    case("host_with_space", b"POST {fn} HTTP/1.1\r\nHost: a b\r\nContent-Length: 2\r\n\r\n{}" + HIDDEN, 400),
    case("host_with_slash", b"POST {fn} HTTP/1.1\r\nHost: a/b\r\nContent-Length: 2\r\n\r\n{}" + HIDDEN, 400),
    case("host_with_userinfo", b"POST {fn} HTTP/1.1\r\nHost: u@a\r\nContent-Length: 2\r\n\r\n{}" + HIDDEN, 400),
    case("host_ipv6_ok", b"GET /healthz HTTP/1.1\r\nHost: [::1]:80\r\n" + CLOSE + b"\r\n", 200),
    case("host_optional_in_http10", b"GET /healthz HTTP/1.0\r\n\r\n", 200),
    # -- field syntax (RFC 9112 §5, RFC 9110 §5.5) --
    case("obs_fold_space", POST + b"X-A: a\r\n b\r\nContent-Length: 2\r\n\r\n{}" + HIDDEN, 400),
    case("obs_fold_tab", POST + b"X-A: a\r\n\tb\r\nContent-Length: 2\r\n\r\n{}" + HIDDEN, 400),
    case("ws_before_first_field", b"POST {fn} HTTP/1.1\r\n Host: x\r\nContent-Length: 2\r\n\r\n{}" + HIDDEN, 400),
    case("ws_before_colon", b"POST {fn} HTTP/1.1\r\nHost : x\r\nContent-Length: 2\r\n\r\n{}" + HIDDEN, 400),
    case("ws_before_colon_cl", POST + b"Content-Length : 2\r\n\r\n{}" + HIDDEN, 400),
    case("bare_cr_in_value", POST + b"X-A: a\rb\r\nContent-Length: 2\r\n\r\n{}" + HIDDEN, 400),
    case("nul_in_value", POST + b"X-A: a\x00b\r\nContent-Length: 2\r\n\r\n{}" + HIDDEN, 400),
    case("nul_in_name", POST + b"X-\x00A: b\r\nContent-Length: 2\r\n\r\n{}" + HIDDEN, 400),
    case("ctl_in_name", POST + b"X\x01A: b\r\nContent-Length: 2\r\n\r\n{}" + HIDDEN, 400),
    case("empty_field_name", POST + b": b\r\nContent-Length: 2\r\n\r\n{}" + HIDDEN, 400),
    case("bare_lf_line_endings", b"POST {fn} HTTP/1.1\nHost: x\nContent-Length: 2\n\n{}" + HIDDEN, 400),
    case("bare_lf_in_field", POST + b"X-A: a\nContent-Length: 2\r\n\r\n{}" + HIDDEN, 400),
    # -- request line (RFC 9112 §3) --
    case("method_bad_char", b"P@ST {fn} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}" + HIDDEN, 400),
    case("method_empty", b" {fn} HTTP/1.1\r\nHost: x\r\n\r\n" + HIDDEN, 400),
    # Beast's parser knows HTTP/1.0 and 1.1 only; any other version is 400 before Kiln's checks.
    case("version_http2", b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n" + HIDDEN, 400),
    case("version_http12", b"GET /healthz HTTP/1.2\r\nHost: x\r\n\r\n" + HIDDEN, 400),
    case("version_missing", b"GET /healthz\r\nHost: x\r\n\r\n" + HIDDEN, 400),
    case("version_lowercase", b"GET /healthz http/1.1\r\nHost: x\r\n\r\n" + HIDDEN, 400),
    case("version_letters", b"GET /healthz HTTP/1.x\r\nHost: x\r\n\r\n" + HIDDEN, 400),
    case("version_two_digits", b"GET /healthz HTTP/11.1\r\nHost: x\r\n\r\n" + HIDDEN, 400),
    case("target_absolute_form", b"POST http://x{fn} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}" + HIDDEN,
         400),
    case("target_authority_form", b"CONNECT x:80 HTTP/1.1\r\nHost: x:80\r\n\r\n" + HIDDEN, 400),
    case("target_asterisk_for_get", b"GET * HTTP/1.1\r\nHost: x\r\n\r\n" + HIDDEN, 400),
    case("target_asterisk_options", b"OPTIONS * HTTP/1.1\r\nHost: x\r\n" + CLOSE + b"\r\n", 404),
    case("target_with_space", b"GET /heal thz HTTP/1.1\r\nHost: x\r\n\r\n" + HIDDEN, 400),
    case("double_space", b"GET  /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + HIDDEN, 400),
    case("tab_separator", b"GET\t/healthz HTTP/1.1\r\nHost: x\r\n\r\n" + HIDDEN, 400),
    case("trailing_space_after_version", b"GET /healthz HTTP/1.1 \r\nHost: x\r\n\r\n" + HIDDEN, 400),
    case("tls_hello_on_plain_port", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 64 + b"\r\n\r\n", 400),
    # -- sizes (SPEC §2) --
    case("request_line_over_8k", b"GET /" + b"a" * (9 << 10) + b" HTTP/1.1\r\nHost: x\r\n\r\n" + HIDDEN, 414),
    case("fields_over_32k", HEALTH + b"X-Big: " + b"a" * (33 << 10) + b"\r\n\r\n" + HIDDEN, 431),
    case("fields_over_100", HEALTH + b"".join(b"X-%d: v\r\n" % i for i in range(100)) + b"\r\n" + HIDDEN, 431),
    case("fields_100_ok", HEALTH + b"".join(b"X-%d: v\r\n" % i for i in range(98)) + CLOSE + b"\r\n", 200),
    # -- smuggling classics --
    case("smuggle_cl_te", POST + b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + HIDDEN, 400),
    case("smuggle_te_cl", POST + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\n" + HIDDEN, 400),
    case("smuggle_te_te_obfuscated",
         POST + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n" + HIDDEN, 400),
    case("smuggle_cl_cl", POST + b"Content-Length: 0\r\nContent-Length: 58\r\n\r\n" + HIDDEN, 400),
    case("smuggle_te_newline_value", POST + b"Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n" + HIDDEN, 400),
    case("smuggle_te_quoted", POST + b'Transfer-Encoding: "chunked"\r\n\r\n0\r\n\r\n' + HIDDEN, 501),
    case("smuggle_in_http10_keepalive",
         b"POST {fn} HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
         + HIDDEN, 400),
    # -- bodies that never complete --
    case("cl_body_cut_short", POST + b"Content-Length: 10\r\n\r\n{}", None),
]


@pytest.fixture(scope="module")
def echo(kiln, tmp_path_factory):
    return kiln.deploy_handler(tmp_path_factory.mktemp("conf"), ECHO, name=unique("echo"), methods=("GET", "POST"))


def run_count(kiln, fn):
    return len(kiln.runs(fn.name, limit=1000))


def statuses(answer):
    """The status codes of the responses in `answer`, in order."""
    return [int(line.split(b" ")[1]) for line in answer.split(b"\r\n") if line.startswith(b"HTTP/1.")
            and len(line.split(b" ")) > 1 and line.split(b" ")[1].isdigit()]


def exchange(port, data, settle=8.0):
    """Sends `data` (then half-closes, for cases with a body cut short) and reads until
    the server closes or is quiet for `settle` seconds after an answer. Returns
    (bytes answered, closed by the server)."""
    with socket.create_connection(("127.0.0.1", port), timeout=settle) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server refused before reading everything; its answer is still there
        answer = b""
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return answer, False
            except ConnectionResetError:
                return answer, True
            if not chunk:
                return answer, True
            answer += chunk
        return answer, False


@pytest.mark.parametrize("data,status,closes,runs", CASES)
def test_conformance(kiln, echo, data, status, closes, runs):
    data = data.replace(b"{fn}", echo.path.encode())
    before = run_count(kiln, echo)
    if status is None:
        with socket.create_connection(("127.0.0.1", kiln.port), timeout=8) as s:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            answer = s.recv(65536)
        assert answer == b"", answer[:300]
    else:
        answer, closed = exchange(kiln.port, data)
        got = statuses(answer)
        expected = status if isinstance(status, tuple) else (status,)
        assert len(got) == 1 and got[0] in expected, f"expected {status}, got {got}: {answer[:400]!r}"
        if closes:
            assert closed, f"the connection stayed open after: {answer[:400]!r}"
    assert run_count(kiln, echo) == before + runs, "a handler ran (or did not) against expectations"


def test_corpus_is_large_enough():
    assert len(CASES) >= 60
