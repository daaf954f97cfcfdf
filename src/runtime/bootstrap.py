"""Kiln's in-container Python runtime (protocol v1, see protocol.h).

The C++ worker host (worker_main.cc) calls init(config_json) once, then
invoke(header_json, event_bytes) for every request. The handler is resolved once;
an init failure is reported once, with the error types of the AWS Lambda Python
runtime (Runtime.ImportModuleError, Runtime.HandlerNotFound, ...), so tooling that
knows them keeps working. Nothing here is specific to handlers written for Kiln.

Fork sources (issue #7): a zygote calls preload(config_json) instead of init; a
container asked to become its version's template calls check_snapshot(), and each
container forked from it calls restore(). Handlers may `import kiln` to register
kiln.after_restore(fn), which restore() runs (SnapStart's register_after_restore).
"""
import base64
import gc
import importlib
import json
import os
import random
import resource
import site
import sys
import time
import traceback
import types

_handler = None
_identity = {}
_after_restore = []


def after_restore(fn):
    """Runs fn() in every container forked from this version's snapshot, before it
    serves: reopen what must not be shared, draw fresh seeds. Usable as a decorator."""
    if not callable(fn):
        raise TypeError("kiln.after_restore wants a callable")
    _after_restore.append(fn)
    return fn


_kiln = types.ModuleType("kiln", "Kiln's runtime hooks for handlers.")
_kiln.after_restore = after_restore
sys.modules["kiln"] = _kiln


class LambdaContext:
    """The `context` argument: the attributes of Lambda's Python context object."""

    def __init__(self, request_id, remaining_ms, attempt=1):
        self.aws_request_id = request_id
        self.request_id = request_id
        self.attempt = attempt  # Kiln: the delivery of an async run (retries count up)
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


def _add_paths(bundle, layer_paths):
    """The bundle first, then the layers in attach order (Lambda's order); .pth files
    of the layers are honoured as site-packages would. Layers a zygote added
    already are not added twice."""
    layers = [p for p in layer_paths if p not in sys.path]
    sys.path[:0] = ([bundle] if bundle else []) + layers
    for path in layers:
        site.addsitedir(path)


def _threads():
    names = []
    for tid in sorted(os.listdir("/proc/self/task")):
        try:
            with open("/proc/self/task/%s/comm" % tid) as f:
                names.append(f.read().strip())
        except OSError:
            names.append("?")
    return names


def _sockets(keep=()):
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if int(fd) not in keep and os.readlink("/proc/self/fd/" + fd).startswith("socket:"):
                found.append(int(fd))
        except OSError:
            pass
    return found


def _fork_hazard(what, keep):
    """Why this process must not be forked, or None: a fork copies one thread and
    shares every open socket."""
    threads = _threads()
    if len(threads) > 1:
        return ("%s left %d threads running (%s): a fork copies only the calling one. "
                "Keep native pools at one thread, e.g. onnxruntime "
                "SessionOptions.intra_op_num_threads = 1 and inter_op_num_threads = 1"
                % (what, len(threads) - 1, ", ".join(threads[1:])))
    sockets = _sockets(keep)
    if sockets:
        return ("%s left %d socket(s) open: forked containers would share them"
                % (what, len(sockets)))
    return None


def _freeze():
    """Before a process starts forking: what exists now moves out of the collector's
    reach, so no collection in a child writes to (and copies) the shared pages."""
    gc.collect()
    gc.freeze()


def preload(config_json):
    """A zygote's imports, one module at a time; it stays fork-safe or says which
    module broke that."""
    config = json.loads(config_json)
    _add_paths(None, config["layer_paths"])
    done = []
    for name in config["modules"]:
        started = time.perf_counter()
        try:
            importlib.import_module(name)
        except BaseException as e:  # a module may even call sys.exit at import
            return json.dumps({"ok": False, "error": "importing %s failed: %s: %s"
                               % (name, type(e).__name__, e)})
        finally:
            _flush()
        hazard = _fork_hazard("importing " + name, keep=(3,))
        if hazard:
            return json.dumps({"ok": False, "error": hazard})
        done.append({"module": name, "import_ms": (time.perf_counter() - started) * 1000.0})
    _freeze()
    return _header(ok=True, modules=done)


def check_snapshot():
    """After the init phase: may this container become its version's template?"""
    hazard = _fork_hazard("the init phase", keep=(3,))
    if hazard:
        return json.dumps({"ok": False, "error": hazard})
    _flush()
    _freeze()
    return json.dumps({"ok": True})


def restore():
    """In a container forked from the template: fresh seeds, then the hooks."""
    started = time.perf_counter()
    random.seed()
    try:
        for fn in _after_restore:
            fn()
    except Exception as e:
        sys.stderr.write(_user_traceback(e))
        _flush()
        return json.dumps({"ok": False, "errorType": type(e).__name__,
                           "errorMessage": "an after_restore hook failed: %s" % e})
    _flush()
    return _header(ok=True, protocol=1, pid=os.getpid(), restored=True,
                   restore_ms=(time.perf_counter() - started) * 1000.0)


def init(config_json):
    global _handler
    config = json.loads(config_json)
    _identity.update(function_name=config["function_name"],
                     function_version=str(config["function_version"]),
                     memory_mb=int(config["memory_mb"]))
    os.environ.update(config["env"])
    os.chdir(config["bundle"])
    _add_paths(config["bundle"], config["layer_paths"])
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
        # Passed as the handler gave it: the daemon refuses anything but an integer
        # from 100 to 599 (Runtime.InvalidResult), rather than guessing what "200" or
        # 200.5 meant.
        status = result["statusCode"]
        if not isinstance(status, (int, float, str, type(None))):
            status = repr(status)
        http = {"statusCode": status, "headers": headers, "cookies": cookies}
        return _header(ok=True, http=http), payload
    return _header(ok=True), json.dumps(result).encode()


def invoke(header_json, event_bytes):
    header = json.loads(header_json)
    context = LambdaContext(header["request_id"], header["remaining_ms"], header.get("attempt", 1))
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
