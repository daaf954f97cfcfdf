"""The iris example end to end: train it, `kiln deploy` its kiln.yaml, call /predict
with a route-scoped key, and read the run records back."""
import json
import shutil
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import onnxruntime as ort
import pytest
from sklearn.datasets import load_iris

from helpers import REPO, listing, unique

pytestmark = pytest.mark.ml

WARM_CALLS = 20
BATCH = 7


@pytest.fixture(scope="module")
def iris(ml_kiln, tmp_path_factory):
    """Deploys examples/iris and makes 1 + WARM_CALLS calls, in that order, before any
    test looks at them: the first call must be the cold one."""
    k = ml_kiln
    src = tmp_path_factory.mktemp("iris") / "iris"
    shutil.copytree(REPO / "examples/iris", src,
                    ignore=shutil.ignore_patterns("model.onnx", "__pycache__"))
    subprocess.run([sys.executable, src / "train.py"], check=True, capture_output=True,
                   timeout=300)
    # No pre-warm here, so the first call below is the cold start these tests inspect.
    version = k.cli_json("deploy", src, "--min-warm", "0")
    yaml_routes = [r for r in listing(k.cli_json("route", "ls"), "routes")
                   if r["path"] == "/predict" and r["function"] == "iris"]
    if not yaml_routes:  # reported by test_deploy_creates_the_kiln_yaml_route
        k.cli_ok("route", "add", "POST", "/predict", "iris")
    key = k.create_key(unique("iris-client"), "--route", "/predict")

    rows = load_iris().data.astype(np.float32)
    calls = []
    for i in range(1 + WARM_CALLS):
        batch = rows[i * BATCH:(i + 1) * BATCH]
        calls.append((batch, k.request("POST", "/predict", key=key,
                                       json={"features": batch.tolist()})))
    session = ort.InferenceSession(str(src / "model.onnx"), providers=["CPUExecutionProvider"])
    return SimpleNamespace(kiln=k, version=version, yaml_routes=yaml_routes, key=key,
                           calls=calls, session=session)


def expected_labels(iris, batch):
    return iris.session.run(None, {iris.session.get_inputs()[0].name: batch})[0].tolist()


def test_deploy_reads_kiln_yaml(iris):
    v = iris.version
    assert v["function"] == "iris"
    assert v["handler"] == "handler.handler"
    assert [layer["name"] for layer in v["layers"]] == ["ml"]
    assert (v["memory_mb"], v["timeout_ms"]) == (256, 5000)


def test_deploy_creates_the_kiln_yaml_route(iris):
    assert [r["method"] for r in iris.yaml_routes] == ["POST"], "kiln.yaml routes not created"


def test_predictions_match_in_process_onnxruntime(iris):
    for batch, r in iris.calls:
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["rows"] == BATCH
        assert body["predictions"] == expected_labels(iris, batch)
        assert body["inference_ms"] >= 0


def test_single_row_is_a_batch_of_one(iris):
    row = load_iris().data[100].astype(np.float32)
    r = iris.kiln.request("POST", "/predict", key=iris.key, json={"features": row.tolist()})
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == 1
    assert r.json()["predictions"] == expected_labels(iris, row.reshape(1, -1))


def test_session_loaded_once_across_warm_calls(iris):
    loaded = {r.json()["session_loaded_at"] for _, r in iris.calls}
    assert len(loaded) == 1, f"model reloaded: {sorted(loaded)}"


def test_runs_show_one_cold_then_warm(iris):
    ids = [r.headers["X-Kiln-Run-Id"] for _, r in iris.calls]
    runs = {run["id"]: run for run in
            listing(iris.kiln.cli_json("runs", "iris", "--limit", "200"), "runs")}
    first, *rest = [runs[i] for i in ids]
    assert first["cold"] is True and first["init_ms"] > 0, first
    assert first["status"] == "ok" and first["http_status"] == 200
    for run in rest:
        assert run["cold"] is False and not run["init_ms"], run


def test_run_show_has_handler_print_and_report_line(iris):
    for index in (0, 1):  # the cold run (with Init Duration) and a warm one
        run_id = iris.calls[index][1].headers["X-Kiln-Run-Id"]
        run = iris.kiln.cli_json("run", "show", run_id)
        lines = run["logs"].splitlines()
        assert any(line.startswith(f"iris: rows={BATCH} request=") for line in lines), lines
        assert lines[-1].startswith("REPORT RequestId:"), run["logs"]
        assert ("Init Duration:" in lines[-1]) == (index == 0), lines[-1]


def test_missing_features_is_400(iris):
    r = iris.kiln.request("POST", "/predict", key=iris.key, json={"rows": [[1, 2, 3, 4]]})
    assert r.status_code == 400
    assert "features" in r.json()["error"]


def test_malformed_features_is_400(iris):
    r = iris.kiln.request("POST", "/predict", key=iris.key, json={"features": [[1, 2], [3]]})
    assert r.status_code == 400
    assert r.json()["error"]
