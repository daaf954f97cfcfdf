"""The dedicated model server: FastAPI app serving the seed's handler logic.

The bundle's handler module is imported at startup, so the onnxruntime session is
built once per worker at import time, as an always-on model server does it. The route
hands the raw body to the same handler code and returns its status and body.
BENCH_BUNDLE names the bundle directory (handler.py + model.onnx).
"""
import os
import sys

sys.path.insert(0, os.environ["BENCH_BUNDLE"])

import handler as _handler  # noqa: E402  (builds the InferenceSession at import)
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import Response  # noqa: E402

app = FastAPI()


@app.post("/predict")
async def predict(request: Request) -> Response:
    body = await request.body()
    result = _handler.handler({"body": body.decode()}, None)
    return Response(content=result["body"], status_code=result["statusCode"],
                    media_type="application/json")
