"""The article's handler, copied out of the article at test time, runs on Kiln
unmodified (SPEC: "must run on Kiln unmodified")."""
import ast
import os
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from sklearn.datasets import load_iris

from helpers import REPO, unique

ARTICLE = "serverless-ml-inference-onnx-cpu.txt"


def article_path():
    candidates = [os.environ.get("KILN_SEED_ARTICLE"), REPO.parent / "shared/seed" / ARTICLE]
    for candidate in filter(None, candidates):
        if Path(candidate).is_file():
            return Path(candidate)
    pytest.skip(f"the seed article is not at {candidates[1]} (set KILN_SEED_ARTICLE)")


def extract_handler(text):
    """The article's code block: from the line `import os` to the end of the statement
    that completes handler()'s final `return`. The block is plain text in prose, so
    grow it a line at a time until it parses with handler() ending in a return."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "import os")
    for end in range(start + 1, len(lines) + 1):
        code = "\n".join(lines[start:end]) + "\n"
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        handlers = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "handler"]
        if handlers and isinstance(handlers[0].body[-1], ast.Return):
            return code
    raise AssertionError("no complete handler() after `import os` in the article")


@pytest.fixture(scope="module")
def seed_code():
    return extract_handler(article_path().read_text())


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
