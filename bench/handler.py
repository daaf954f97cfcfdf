# The seed article's handler, verbatim (shared/seed/serverless-ml-inference-onnx-cpu.txt):
# every system in the benchmark serves exactly this file, unmodified, next to a model.onnx.
import os
import json
import time
import numpy as np
import onnxruntime as ort

# ---- Loaded ONCE on cold start, at module scope ----
# The .onnx model ships inside the function bundle and lives next to
# this handler in /var/task. Building the session here means it loads
# on the cold start of a fresh container, then every warm invocation
# in the pool reuses it — no per-request model load.
MODEL_PATH = os.path.join(os.path.dirname(__file__), "model.onnx")

_options = ort.SessionOptions()
# CPU inference: cap intra-op threads so one heavy request does not
# contend for every core in the container.
_options.intra_op_num_threads = int(os.environ.get("ORT_THREADS", "1"))

# CPU only — there is no GPU on the platform.
_session = ort.InferenceSession(
    MODEL_PATH,
    sess_options=_options,
    providers=["CPUExecutionProvider"],
)
_input_name = _session.get_inputs()[0].name
_loaded_at = time.time()  # constant across warm calls => proof of load-once


def handler(event, context):
    body = json.loads(event.get("body") or "{}")
    features = body.get("features")
    if features is None:
        return {
            "statusCode": 400,
            "body": json.dumps({"error": "features required"}),
        }

    # Accept a single row or a batch; onnxruntime wants a 2-D float32 array.
    x = np.asarray(features, dtype=np.float32)
    if x.ndim == 1:
        x = x.reshape(1, -1)  # single row -> batch of 1

    started = time.perf_counter()
    outputs = _session.run(None, {_input_name: x})  # warm: reuses _session
    elapsed_ms = round((time.perf_counter() - started) * 1000, 2)

    return {
        "statusCode": 200,
        "body": json.dumps(
            {
                "predictions": outputs[0].tolist(),
                "rows": int(x.shape[0]),
                "inference_ms": elapsed_ms,
                "session_loaded_at": _loaded_at,
            }
        ),
    }
