"""The article's handler, copied out of the article at test time, runs on Kiln
unmodified (SPEC: "must run on Kiln unmodified")."""
import shutil
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from sklearn.datasets import load_iris

from helpers import REPO, unique

sys.path.insert(0, str(REPO / "tools"))
from seed_handler import article_path, extract_handler  # noqa: E402


@pytest.fixture(scope="module")
def seed_code():
    path = article_path()
    if path is None:
        pytest.skip("the seed article is not on this machine (set KILN_SEED_ARTICLE)")
    return extract_handler(path.read_text())


def test_extracted_code_is_the_articles_handler(seed_code):
    assert "ort.InferenceSession(" in seed_code
    assert "def handler(event, context):" in seed_code
    assert seed_code.rstrip().endswith("}")


@pytest.fixture(scope="module")
def seed_fn(ml_kiln, seed_code, iris_model, tmp_path_factory):
    k = ml_kiln
    name = unique("seed")
    bundle = tmp_path_factory.mktemp("seed") / name
    bundle.mkdir()
    (bundle / "handler.py").write_text(seed_code)
    shutil.copy(iris_model, bundle / "model.onnx")
    k.cli_ok("deploy", bundle, "--name", name, "--layer", "ml")
    k.cli_ok("route", "add", "POST", f"/{name}", name)
    key = k.create_key(unique("seed-client"), "--route", f"/{name}")
    session = ort.InferenceSession(str(iris_model), providers=["CPUExecutionProvider"])
    return k, f"/{name}", key, session


@pytest.mark.ml
def test_seed_handler_predicts(seed_fn):
    k, path, key, session = seed_fn
    rows = load_iris().data[::15].astype(np.float32)
    bodies = []
    for _ in range(2):
        r = k.request("POST", path, key=key, json={"features": rows.tolist()})
        assert r.status_code == 200, r.text
        bodies.append(r.json())
    expected = session.run(None, {session.get_inputs()[0].name: rows})[0].tolist()
    for body in bodies:
        assert body["predictions"] == expected
        assert body["rows"] == len(rows)
        assert isinstance(body["inference_ms"], (int, float))
    assert bodies[0]["session_loaded_at"] == bodies[1]["session_loaded_at"]


@pytest.mark.ml
def test_seed_handler_rejects_missing_features(seed_fn):
    k, path, key, _ = seed_fn
    r = k.request("POST", path, key=key, json={})
    assert r.status_code == 400
    assert r.json() == {"error": "features required"}
