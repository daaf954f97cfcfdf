"""Step 1 (a map step): score one chunk of rows.npy with the ONNX model.

The seed's pattern: the session is built once per container, at module scope, and
every chunk that lands on a warm container reuses it.
"""
import os

import numpy as np
import onnxruntime as ort

_TASK = os.environ.get("LAMBDA_TASK_ROOT", ".")
_opts = ort.SessionOptions()
_opts.intra_op_num_threads = 1
_session = ort.InferenceSession(os.path.join(_TASK, "model.onnx"), sess_options=_opts,
                                providers=["CPUExecutionProvider"])
_input = _session.get_inputs()[0].name
_ROWS = np.load(os.path.join(_TASK, "rows.npy"), mmap_mode="r")


def handler(event, context):
    start, count = int(event["start"]), int(event["count"])
    chunk = np.ascontiguousarray(_ROWS[start:start + count], dtype=np.float32)
    labels = _session.run(None, {_input: chunk})[0]
    return {"start": start, "labels": labels.astype(int).tolist()}
