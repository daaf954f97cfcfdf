"""Train the benchmark models and lay out one bundle directory per model.

A bundle is what a user would deploy: the seed's handler.py next to a model.onnx.
Every system serves the same bundle directories, and every workload sends the same
request body to all of them.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tools"))
from seed_handler import seed_handler_source  # noqa: E402
SEED = 20240613


@dataclass
class Workload:
    name: str            # e.g. "iris"
    bundle: str          # key into bundles (which model.onnx)
    title: str           # human label
    body: str            # the HTTP request body (JSON with "features")
    rows: int
    x: np.ndarray = field(repr=False, default=None)  # float32 input for bare session.run


def _export(model, n_features: int, path: Path) -> None:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    onx = to_onnx(
        model,
        initial_types=[("input", FloatTensorType([None, n_features]))],
        options={id(model): {"zipmap": False}},
        target_opset=None,
    )
    path.write_bytes(onx.SerializeToString())


def build(workdir: Path) -> tuple[dict[str, Path], list[Workload], dict]:
    """Train, export, and write bundles under workdir/bundles/<name>/."""
    from sklearn.datasets import load_iris, make_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    bundles_dir = workdir / "bundles"
    if bundles_dir.exists():
        shutil.rmtree(bundles_dir)
    bundles: dict[str, Path] = {}
    info: dict = {}

    # 1. Iris LogisticRegression, 4 features.
    iris = load_iris()
    lr = LogisticRegression(max_iter=1000, random_state=SEED).fit(iris.data, iris.target)
    d = bundles_dir / "iris"
    d.mkdir(parents=True)
    _export(lr, 4, d / "model.onnx")
    bundles["iris"] = d
    info["iris"] = {"estimator": "LogisticRegression", "features": 4,
                    "onnx_bytes": (d / "model.onnx").stat().st_size}

    # 2. RandomForest, 100 trees, 30 features (make_classification).
    X, y = make_classification(n_samples=2000, n_features=30, n_informative=12,
                               n_redundant=6, random_state=SEED)
    rf = RandomForestClassifier(n_estimators=100, random_state=SEED, n_jobs=1).fit(X, y)
    d = bundles_dir / "rf30"
    d.mkdir(parents=True)
    _export(rf, 30, d / "model.onnx")
    bundles["rf30"] = d
    info["rf30"] = {"estimator": "RandomForestClassifier(n_estimators=100)", "features": 30,
                    "onnx_bytes": (d / "model.onnx").stat().st_size}

    # The article's handler, read out of the article now: the repository keeps no copy.
    handler_source = seed_handler_source()
    for d in bundles.values():
        (d / "handler.py").write_text(handler_source)

    rng = np.random.default_rng(SEED)
    iris_row = [float(v) for v in iris.data[0]]
    rf_row = [round(float(v), 6) for v in X[0]]
    rf_batch = [[round(float(v), 6) for v in row] for row in X[rng.choice(len(X), 64, replace=False)]]

    workloads = [
        Workload("iris", "iris", "Iris LogisticRegression, 1 row x 4",
                 json.dumps({"features": iris_row}), 1),
        Workload("rf30", "rf30", "RandomForest 100 trees, 1 row x 30",
                 json.dumps({"features": rf_row}), 1),
        Workload("rf30_b64", "rf30", "RandomForest 100 trees, 64 rows x 30",
                 json.dumps({"features": rf_batch}), 64),
    ]
    for w in workloads:
        x = np.asarray(json.loads(w.body)["features"], dtype=np.float32)
        w.x = x.reshape(1, -1) if x.ndim == 1 else x
        info.setdefault("bodies", {})[w.name] = len(w.body)
    return bundles, workloads, info


def write_requirements(path: Path) -> None:
    """The layer requirements the handler needs (what the seed tells users to attach)."""
    import numpy
    import onnxruntime

    path.write_text(f"onnxruntime=={onnxruntime.__version__}\nnumpy=={numpy.__version__}\n")


if __name__ == "__main__":
    import tempfile

    out = Path(tempfile.mkdtemp(prefix="kiln-bench-models-"))
    b, ws, info = build(out)
    print(out, json.dumps(info, indent=1))
