"""Step 0 of the bulk pipeline: cut rows.npy into chunks for the map step."""
import os

import numpy as np

_ROWS = np.load(os.path.join(os.environ.get("LAMBDA_TASK_ROOT", "."), "rows.npy"), mmap_mode="r")


def handler(event, context):
    size = int((event or {}).get("chunk_rows", 5000))
    if size < 1:
        raise ValueError("chunk_rows must be at least 1")
    n = int(_ROWS.shape[0])
    chunks = [{"start": s, "count": min(size, n - s)} for s in range(0, n, size)]
    print(f"split: {n} rows into {len(chunks)} chunks of up to {size}")
    return {"rows": n, "chunks": chunks}
