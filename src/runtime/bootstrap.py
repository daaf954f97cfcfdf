"""Kiln's in-container Python runtime (protocol v1, see protocol.h).

The C++ worker host (worker_main.cc) calls init(config_json) once, then
invoke(header_json, event_bytes) for every request. The handler is resolved once;
an init failure is reported once, with the error types of the AWS Lambda Python
runtime (Runtime.ImportModuleError, Runtime.HandlerNotFound, ...), so tooling that
knows them keeps working. Nothing here is specific to handlers written for Kiln.
"""
import base64
import importlib
import json
import os
import resource
import site
import sys
import time
import traceback

_handler = None
_identity = {}


class LambdaContext:
    """The `context` argument: the attributes of Lambda's Python context object."""

    def __init__(self, request_id, remaining_ms):
        self.aws_request_id = request_id
        self.request_id = request_id
        self.function_name = _identity["function_name"]
        self.function_version = _identity["function_version"]
        self.memory_limit_in_mb = _identity["memory_mb"]
        self.invoked_function_arn = "arn:kiln:function:%s:%s" % (
            self.function_name, self.function_version)
        self.log_group_name = "/kiln/" + self.function_name
        self.log_stream_name = _identity["function_version"]
        self._deadline = time.monotonic() + remaining_ms / 1000.0

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _flush():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def _header(**fields):
    """A RESULT/INIT_DONE header; every one carries the process's peak RSS."""
    fields["max_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return json.dumps(fields)


def _failure(error_type, message):
    return _header(ok=False, errorType=error_type, errorMessage=message)


def _user_traceback(exc):
    """The traceback without this file's frames, as Lambda trims its bootstrap."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
    lines = ["Traceback (most recent call last):\n"]
    lines += traceback.format_list(frames)
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines)


def _resolve(handler_name):
    module_name, _, function_name = handler_name.rpartition(".")
    if not module_name or not function_name:
        raise _InitError("Runtime.MalformedHandlerName",
                         "Bad handler '%s': expected module.function" % handler_name)
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as e:
        sys.stderr.write(_user_traceback(e))
        raise _InitError("Runtime.ImportModuleError",
                         "Unable to import module '%s': %s" % (module_name, e))
    except SyntaxError as e:
        sys.stderr.write(_user_traceback(e))
        raise _InitError("Runtime.UserCodeSyntaxError", "Syntax error in module '%s': %s" %
                         (module_name, e))
    except Exception as e:  # module scope raised: the user's own error type
        sys.stderr.write(_user_traceback(e))
        raise _InitError(type(e).__name__, str(e))
    handler = getattr(module, function_name, None)
    if not callable(handler):
        raise _InitError("Runtime.HandlerNotFound",
                         "Handler '%s' missing on module '%s'" % (function_name, module_name))
    return handler


class _InitError(Exception):
    def __init__(self, error_type, message):
        super().__init__(message)
        self.error_type = error_type


def init(config_json):
    global _handler
    config = json.loads(config_json)
    _identity.update(function_name=config["function_name"],
                     function_version=str(config["function_version"]),
                     memory_mb=int(config["memory_mb"]))
    os.environ.update(config["env"])
    os.chdir(config["bundle"])
    # The bundle first, then the layers in attach order (Lambda's order); .pth files
    # of the layers are honoured as site-packages would.
    sys.path[:0] = [config["bundle"]] + config["layer_paths"]
    for path in config["layer_paths"]:
        site.addsitedir(path)
    started = time.perf_counter()
    try:
        _handler = _resolve(config["handler"])
    except _InitError as e:
        return _failure(e.error_type, str(e))
    finally:
        _flush()
    return _header(ok=True, init_ms=(time.perf_counter() - started) * 1000.0)


def _marshal(result):
    if isinstance(result, dict) and "statusCode" in result:
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        cookies = [str(c) for c in (result.get("cookies") or [])]
        body = result.get("body")
        if body is None:
            payload = b""
        elif result.get("isBase64Encoded"):
            payload = base64.b64decode(body)
        elif isinstance(body, str):
            payload = body.encode()
        else:
            payload = json.dumps(body).encode()
        http = {"statusCode": int(result["statusCode"]), "headers": headers, "cookies": cookies}
        return _header(ok=True, http=http), payload
    return _header(ok=True), json.dumps(result).encode()


def invoke(header_json, event_bytes):
    header = json.loads(header_json)
    context = LambdaContext(header["request_id"], header["remaining_ms"])
    try:
        event = json.loads(event_bytes) if event_bytes else None
        result = _handler(event, context)
    except Exception as e:
        sys.stderr.write(_user_traceback(e))
        _flush()
        return _failure(type(e).__name__, str(e)), b""
    _flush()
    try:
        return _marshal(result)
    except (TypeError, ValueError, OverflowError) as e:
        return _failure("Runtime.MarshalError", "Unable to marshal response: %s" % e), b""
