"""Iris classifier on Kiln: an ONNX model served with the load-once pattern.

Everything at module scope runs once per container (the cold start); warm calls
only run handler(). session_loaded_at is captured then, so it stays constant for
as long as requests land on the same warm container.
"""
import base64
import json
import os
import time

import numpy as np
import onnxruntime as ort

_MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model.onnx")

_opts = ort.SessionOptions()
# One heavy request must not take every core of the host.
_opts.intra_op_num_threads = int(os.environ.get("ORT_THREADS", "1"))
_session = ort.InferenceSession(_MODEL, sess_options=_opts, providers=["CPUExecutionProvider"])
_input = _session.get_inputs()[0]
_n_features = _input.shape[1] if isinstance(_input.shape[1], int) else None
session_loaded_at = time.time()


def _reply(status, payload):
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(payload),
    }


def _parse_features(event):
    """Returns a 2-D float32 array, or raises ValueError with a user-facing message."""
    raw = event.get("body") or "{}"
    if event.get("isBase64Encoded"):  # a client that did not say application/json
        raw = base64.b64decode(raw)
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"body is not JSON: {e}") from None
    features = body.get("features") if isinstance(body, dict) else None
    if features is None:
        raise ValueError('expected {"features": [[...], ...]}')
    try:
        x = np.asarray(features, dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError("features must be numbers in equal-length rows") from None
    if x.ndim == 1:
        x = x.reshape(1, -1)  # a single row is a batch of one
    if x.ndim != 2 or x.shape[0] == 0 or (_n_features and x.shape[1] != _n_features):
        raise ValueError(f"features must be rows of {_n_features} numbers")
    return x


def handler(event, context):
    try:
        x = _parse_features(event)
    except ValueError as e:
        print(f"iris: bad request {context.aws_request_id}: {e}")
        return _reply(400, {"error": str(e)})

    started = time.perf_counter()
    labels = _session.run(None, {_input.name: x})[0]
    inference_ms = round((time.perf_counter() - started) * 1000, 3)
    print(f"iris: rows={x.shape[0]} request={context.aws_request_id}")
    return _reply(200, {
        "predictions": labels.tolist(),
        "rows": int(x.shape[0]),
        "inference_ms": inference_ms,
        "session_loaded_at": session_loaded_at,
    })
