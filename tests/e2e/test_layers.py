"""Layers (issue #5): build from requirements, push a Lambda-layout archive, attach,
isolate, remove; one test per item of the issue's acceptance list, plus the CLI's
failure modes around them and the size caps (--max-layer-mb, --max-function-mb).

The quick tests build nothing from PyPI: they push archives, or build offline from a
wheelhouse of hand-made wheels (`--wheelhouse`, pip --no-index). The tests marked `ml`
download from PyPI (onnxruntime, numpy 1.26 and 2.x, scikit-learn) and run last; their
builds happen in fixtures, each bounded by LAYER_BUILD_TIMEOUT, so the test bodies stay
within the per-test alarm. Layer names of the `ml` session daemon are fixed, so a kept
KILN_E2E_ML_DATA folder skips the downloads on the next run.

What a container sees of its layers (the contract): each attached layer is mounted
read-only at /opt/<name>; sys.path is /var/task, then /opt/<name>/python for each layer
in attach order; a layer's lib/ is on LD_LIBRARY_PATH and its bin/ on PATH.
"""
import base64
import hashlib
import json
import os
import re
import stat
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import joblib
import numpy as np
import onnxruntime as ort
import pytest
import sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from conftest import LAYER_BUILD_TIMEOUT, running_kiln
from helpers import REPO, unique

MiB = 1024 * 1024
NO_PREWARM = ("--min-warm", "0")
MISSING = "kiln-e2e-no-such-package-xyz"


# -- helpers ---------------------------------------------------------------------------

def versions_of(k, name):
    """The version numbers `kiln layer ls --json` lists for one layer."""
    return sorted(layer["version"] for layer in k.cli_json("layer", "ls")["layers"]
                  if layer["name"] == name)


def build(k, tmp_path, name, requirements, *flags):
    """`kiln layer build NAME -r FILE [flags]`; returns (completed process, seconds)."""
    req = Path(tmp_path) / f"{name}-{unique('req')}.txt"
    req.write_text(requirements)
    started = time.monotonic()
    p = k.cli("layer", "build", name, "-r", req, *flags, timeout=LAYER_BUILD_TIMEOUT)
    return p, time.monotonic() - started


def build_ok(k, tmp_path, name, requirements, *flags):
    """A build that must succeed; returns its layer version object (--json)."""
    p, _ = build(k, tmp_path, name, requirements, *flags, "--json")
    assert p.returncode == 0, f"layer build {name} -> {p.returncode}\n{p.stderr}"
    return json.loads(p.stdout)


def zip_file(path, entries):
    """Writes a zip of {name: (bytes, mode)}; a mode of None makes a folder entry."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, (data, mode) in entries.items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3  # unix: external_attr carries st_mode
            if mode is None:
                info.external_attr = (stat.S_IFDIR | 0o755) << 16
                data = b""
            else:
                info.external_attr = (stat.S_IFREG | mode) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return path


def make_wheel(directory, name, version, code):
    """A minimal pure-Python wheel of one package `name`, installable by pip offline."""
    dist = f"{name}-{version}"
    files = {
        f"{name}/__init__.py": code,
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}.dist-info/WHEEL": ("Wheel-Version: 1.0\nGenerator: kiln-e2e\n"
                                    "Root-Is-Purelib: true\nTag: py3-none-any\n"),
        f"{dist}.dist-info/top_level.txt": f"{name}\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest())
        record.append(f"{path},sha256={digest.rstrip(b'=').decode()},{len(text.encode())}")
    files[f"{dist}.dist-info/RECORD"] = "\n".join(record + [f"{dist}.dist-info/RECORD,,"]) + "\n"
    Path(directory).mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(Path(directory) / f"{dist}-py3-none-any.whl", "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def error_of(r):
    body = r.json()
    return body["errorType"], body["errorMessage"]


# A handler that reports what the container sees of its layers.
PROBE = """
    import json
    import os
    import sys

    import kiln_e2e_mod

    LAYER = os.environ["E2E_LAYER"]


    def handler(event, context):
        try:
            with open(f"/opt/{LAYER}/python/kiln_e2e_written", "w") as f:
                f.write("x")
            written = True
        except OSError:
            written = False
        return {
            "value": kiln_e2e_mod.VALUE,
            "file": kiln_e2e_mod.__file__,
            "sys_path": sys.path,
            "PATH": os.environ.get("PATH", ""),
            "LD_LIBRARY_PATH": os.environ.get("LD_LIBRARY_PATH", ""),
            "tool": os.path.isfile(f"/opt/{LAYER}/bin/kiln-e2e-tool"),
            "lib": os.path.isfile(f"/opt/{LAYER}/lib/libkiln_e2e.txt"),
            "written": written,
        }
    """


def lambda_zip(path, value):
    return zip_file(path, {
        "python/": (None, None),
        "python/kiln_e2e_mod.py": (f"VALUE = {value!r}\n".encode(), 0o644),
        "bin/": (None, None),
        "bin/kiln-e2e-tool": (b"#!/bin/sh\necho kiln-e2e-tool\n", 0o755),
        "lib/": (None, None),
        "lib/libkiln_e2e.txt": (b"a stand-in for a shared library\n", 0o644),
    })


# -- pushed archives (quick) -----------------------------------------------------------

def test_pushed_lambda_zip_works_like_a_built_layer(kiln, tmp_path):
    name = unique("zl")
    archive = lambda_zip(tmp_path / "layer.zip", "from-zip")
    pushed = kiln.cli_json("layer", "push", name, archive)
    assert (pushed["name"], pushed["version"], pushed["source"]) == (name, 1, "push"), pushed
    assert pushed["digest"].startswith("sha256:") and pushed["size_bytes"] > 0, pushed
    assert "kiln_e2e_mod" in pushed["manifest"]["modules"], pushed["manifest"]

    fn = kiln.deploy_handler(tmp_path, PROBE, "--layer", name, "--env", f"E2E_LAYER={name}")
    r = fn.call(json={})
    assert r.status_code == 200, r.text
    seen = r.json()
    assert seen["value"] == "from-zip"
    assert seen["file"] == f"/opt/{name}/python/kiln_e2e_mod.py"
    path = seen["sys_path"]
    assert "/var/task" in path and f"/opt/{name}/python" in path, path
    assert path.index("/var/task") < path.index(f"/opt/{name}/python"), path
    assert f"/opt/{name}/bin" in seen["PATH"].split(":"), seen["PATH"]
    assert f"/opt/{name}/lib" in seen["LD_LIBRARY_PATH"].split(":"), seen["LD_LIBRARY_PATH"]
    assert seen["tool"] and seen["lib"], seen
    assert seen["written"] is False, "a layer must be mounted read-only"


def test_layers_join_sys_path_in_attach_order(kiln, tmp_path):
    first, second = unique("la"), unique("lb")
    kiln.cli_ok("layer", "push", first, lambda_zip(tmp_path / "a.zip", "from-first"))
    kiln.cli_ok("layer", "push", second, lambda_zip(tmp_path / "b.zip", "from-second"))
    fn = kiln.deploy_handler(tmp_path, PROBE, "--layer", first, "--layer", second,
                             "--env", f"E2E_LAYER={first}")
    r = fn.call(json={})
    assert r.status_code == 200, r.text
    seen = r.json()
    assert seen["value"] == "from-first", "the first attached layer wins, as on Lambda"
    mine = [f"/opt/{first}/python", f"/opt/{second}/python"]
    assert [p for p in seen["sys_path"] if p in mine] == mine, seen["sys_path"]


def test_push_folder_then_same_folder_again_is_unchanged(kiln, tmp_path):
    name = unique("dir")
    folder = tmp_path / "layer"
    (folder / "python").mkdir(parents=True)
    (folder / "python" / "kiln_e2e_mod.py").write_text("VALUE = 'from-folder'\n")
    p = kiln.cli("layer", "push", name, folder)
    assert p.returncode == 0, p.stderr
    assert "uploading" in p.stderr and "MiB" in p.stderr, p.stderr
    assert re.search(rf"^{name}:1 published: \d+ distributions?, [\d.]+ MiB", p.stdout, re.M), p.stdout
    again = kiln.cli("layer", "push", name, folder)
    assert again.returncode == 0, again.stderr
    assert re.search(rf"^{name}:1 unchanged", again.stdout, re.M), again.stdout
    assert versions_of(kiln, name) == [1]


def test_push_without_python_folder_is_400(kiln, tmp_path):
    name = unique("bad")
    archive = zip_file(tmp_path / "flat.zip", {"kiln_e2e_mod.py": (b"VALUE = 1\n", 0o644)})
    p = kiln.cli("layer", "push", name, archive)
    assert p.returncode != 0
    assert "python" in p.stderr, p.stderr
    r = kiln.api("POST", f"/v1/layers/{name}/archives", data=archive.read_bytes(),
                 headers={"Content-Type": "application/zip"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_argument"
    assert versions_of(kiln, name) == []


def random_layer(folder, mib):
    """A Lambda-layout folder holding `mib` MiB of incompressible data."""
    (folder / "python").mkdir(parents=True)
    (folder / "python" / "kiln_e2e_mod.py").write_text("VALUE = 'big'\n")
    (folder / "python" / "blob.bin").write_bytes(os.urandom(int(mib * MiB)))
    return folder


def test_push_of_a_real_sized_layer_is_accepted(kiln, tmp_path):
    """Real layers are tens of MiB packed: the upload is bounded by the layer cap, not by
    the small body limit of the other control endpoints."""
    name = unique("big")
    pushed = kiln.cli_json("layer", "push", name, random_layer(tmp_path / "big", 24))
    assert pushed["version"] == 1 and pushed["size_bytes"] >= 24 * MiB, pushed


def test_push_over_max_layer_mb_is_refused(start_kiln, tmp_path):
    k = start_kiln("--max-layer-mb", "1")
    name = unique("cap")
    p = k.cli("layer", "push", name, random_layer(tmp_path / "cap", 2))
    assert p.returncode != 0
    assert "--max-layer-mb" in p.stderr, p.stderr
    assert versions_of(k, name) == []


def test_build_over_max_layer_mb_fails(start_kiln, tmp_path):
    k = start_kiln("--max-layer-mb", "1")
    name = unique("capb")
    make_wheel(tmp_path / "wheels", "kiln_e2e_big", "1.0",
               f"BLOB = {os.urandom(int(1.5 * MiB)).hex()!r}\n")
    p, _ = build(k, tmp_path, name, "kiln_e2e_big\n", "--wheelhouse", tmp_path / "wheels")
    assert p.returncode != 0
    assert "--max-layer-mb" in p.stderr.strip().splitlines()[-1], p.stderr
    assert versions_of(k, name) == []


def test_deploy_over_max_function_mb_is_400(start_kiln, tmp_path):
    k = start_kiln("--max-function-mb", "1", "--min-warm", "0")
    name = unique("capf")
    k.cli_ok("layer", "push", name, random_layer(tmp_path / "layer", 0.7))
    bundle = {"blob.bin": os.urandom(int(0.5 * MiB))}
    k.deploy_handler(tmp_path, "def handler(event, context):\n    return 1\n", files=bundle)
    with pytest.raises(AssertionError, match="--max-function-mb"):
        k.deploy_handler(tmp_path, "def handler(event, context):\n    return 1\n",
                         "--layer", name, files=bundle)


# -- offline builds from a wheelhouse (quick) ------------------------------------------

def test_offline_build_from_wheelhouse_has_manifest_and_runs(kiln, tmp_path):
    name = unique("wh")
    wheelhouse = tmp_path / "wheels"
    make_wheel(wheelhouse, "kiln_e2e_wheel", "1.0", "VALUE = 'from-wheel'\n")
    p, _ = build(kiln, tmp_path, name, "kiln_e2e_wheel==1.0\n", "--wheelhouse", wheelhouse)
    assert p.returncode == 0, p.stderr
    assert re.search(rf"^{name}:1 published: 1 distribution, [\d.]+ MiB", p.stdout, re.M), p.stdout
    assert "kiln_e2e_wheel" in p.stdout and "1.0" in p.stdout, p.stdout

    shown = kiln.cli_json("layer", "show", f"{name}:1")
    assert (shown["source"], shown["version"]) == ("build", 1), shown
    assert "kiln_e2e_wheel==1.0" in shown["requirements"]
    dists = {canonical(d["name"]): d for d in shown["manifest"]["distributions"]}
    assert dists["kiln-e2e-wheel"]["version"] == "1.0", dists
    assert dists["kiln-e2e-wheel"]["top_level"] == ["kiln_e2e_wheel"], dists
    text = kiln.cli_ok("layer", "show", name)
    assert "source build" in text and "kiln_e2e_wheel" in text and "TOP-LEVEL" in text, text

    fn = kiln.deploy_handler(tmp_path, """
        import kiln_e2e_wheel

        def handler(event, context):
            return {"value": kiln_e2e_wheel.VALUE, "file": kiln_e2e_wheel.__file__}
        """, "--layer", f"{name}:1")
    r = fn.call(json={})
    assert r.status_code == 200, r.text
    assert r.json() == {"value": "from-wheel",
                        "file": f"/opt/{name}/python/kiln_e2e_wheel/__init__.py"}


def test_offline_build_of_missing_package_fails_with_pips_message(kiln, tmp_path):
    name = unique("miss")
    empty = tmp_path / "empty-wheelhouse"
    empty.mkdir()
    p, _ = build(kiln, tmp_path, name, f"{MISSING}\n", "--wheelhouse", empty)
    assert p.returncode != 0
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("kiln: ") and "No matching distribution found" in last, p.stderr
    assert versions_of(kiln, name) == []


def test_wheelhouse_that_is_not_a_folder_is_refused(kiln, tmp_path):
    p, _ = build(kiln, tmp_path, unique("nowh"), "anything\n",
                 "--wheelhouse", tmp_path / "no-such-folder")
    assert p.returncode != 0
    assert "wheelhouse" in p.stderr, p.stderr


# -- removal (quick) -------------------------------------------------------------------

def test_rm_of_layer_in_use_is_409_naming_the_function(kiln, tmp_path):
    name = unique("used")
    kiln.cli_ok("layer", "push", name, lambda_zip(tmp_path / "used.zip", "used"))
    fn = kiln.deploy_handler(tmp_path, PROBE, "--layer", name, "--env", f"E2E_LAYER={name}",
                             *NO_PREWARM)
    for ref in (f"{name}:1", name):
        p = kiln.cli("layer", "rm", ref)
        assert p.returncode != 0, p.stdout
        assert f"{name}:1" in p.stderr and f"{fn.name}:1" in p.stderr, p.stderr
    for path in (f"/v1/layers/{name}/versions/1", f"/v1/layers/{name}"):
        r = kiln.api("DELETE", path)
        assert r.status_code == 409, r.text
        error = r.json()["error"]
        assert error["code"] == "conflict" and f"{fn.name}:1" in error["message"], error
    assert versions_of(kiln, name) == [1]
    assert fn.call(json={}).status_code == 200, "a refused rm must leave the layer usable"


def test_rm_of_unused_layer_removes_it(kiln, tmp_path):
    name = unique("free")
    kiln.cli_ok("layer", "push", name, lambda_zip(tmp_path / "v1.zip", "one"))
    kiln.cli_ok("layer", "push", name, lambda_zip(tmp_path / "v2.zip", "two"))
    assert versions_of(kiln, name) == [1, 2]
    kiln.cli_ok("layer", "rm", f"{name}:1")
    assert versions_of(kiln, name) == [2]
    kiln.cli_ok("layer", "rm", name)
    assert versions_of(kiln, name) == []
    assert kiln.api("GET", f"/v1/layers/{name}").status_code == 404
    p = kiln.cli("layer", "rm", name)
    assert p.returncode != 0 and p.stderr.startswith("kiln: "), p.stderr
    assert kiln.api("DELETE", f"/v1/layers/{name}/versions/1").status_code == 404


# -- the ml layer (PyPI) ---------------------------------------------------------------

ORT_HANDLER = """
    import json
    import os

    import numpy as np
    import onnxruntime as ort

    _MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model.onnx")
    _session = ort.InferenceSession(_MODEL, providers=["CPUExecutionProvider"])
    _input = _session.get_inputs()[0].name


    def handler(event, context):
        x = np.asarray(json.loads(event["body"])["features"], dtype=np.float32)
        return {"predictions": _session.run(None, {_input: x})[0].tolist(),
                "onnxruntime": ort.__file__}
    """


@pytest.mark.ml
def test_ml_layer_runs_the_handler_and_without_it_import_fails(ml_kiln, iris_model, tmp_path):
    k = ml_kiln
    files = {"model.onnx": Path(iris_model).read_bytes()}
    with_layer = k.deploy_handler(tmp_path, ORT_HANDLER, "--layer", "ml", files=files)
    without = k.deploy_handler(tmp_path, ORT_HANDLER, *NO_PREWARM, files=files)

    rows = load_iris().data[::10].astype(np.float32)
    session = ort.InferenceSession(str(iris_model), providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: rows})[0].tolist()
    r = with_layer.call(json={"features": rows.tolist()})
    assert r.status_code == 200, r.text
    assert r.json()["predictions"] == expected
    assert r.json()["onnxruntime"].startswith("/opt/ml/python/"), r.json()

    r = without.call(json={"features": rows.tolist()})
    assert r.status_code == 502, r.text
    kind, message = error_of(r)
    assert kind == "Runtime.ImportModuleError", (kind, message)
    assert "No module named" in message, message


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    """The ml requirements built twice on a daemon of its own (an empty wheel cache), so
    the first build is a cold one: downloads, install; the second is the rebuild."""
    tmp = tmp_path_factory.mktemp("rebuild")
    requirements = (REPO / "examples/iris/requirements.txt").read_text()
    with running_kiln(tmp / "data") as k:
        first, first_s = build(k, tmp, "ml", requirements)
        second, second_s = build(k, tmp, "ml", requirements)
        versions = versions_of(k, "ml")
    return SimpleNamespace(first=first, first_s=first_s, second=second, second_s=second_s,
                           versions=versions)


@pytest.mark.ml
def test_rebuild_with_same_requirements_is_same_version(rebuilt, record_property):
    assert rebuilt.first.returncode == 0, rebuilt.first.stderr
    assert rebuilt.second.returncode == 0, rebuilt.second.stderr
    assert re.search(r"^ml:1 published: \d+ distributions", rebuilt.first.stdout, re.M), \
        rebuilt.first.stdout
    assert re.search(r"^ml:1 unchanged", rebuilt.second.stdout, re.M), rebuilt.second.stdout
    assert rebuilt.versions == [1]
    # A figure for the closing note, not a timed assertion (shown with -s or -rP).
    record_property("first_build_s", round(rebuilt.first_s, 1))
    record_property("rebuild_s", round(rebuilt.second_s, 1))
    print(f"\nlayer ml (onnxruntime, numpy): first build {rebuilt.first_s:.1f} s, "
          f"rebuild {rebuilt.second_s:.1f} s (unchanged, from the wheel cache)")


NUMPY_HANDLER = """
    import numpy

    def handler(event, context):
        return {"numpy": numpy.__version__, "file": numpy.__file__}
    """
NUMPY_1, NUMPY_2 = "1.26.4", "2.1.3"


@pytest.fixture(scope="module")
def numpy_pair(ml_kiln, tmp_path_factory):
    k = ml_kiln
    tmp = tmp_path_factory.mktemp("numpy")
    fns = {}
    for want, layer in ((NUMPY_1, "e2e-numpy1"), (NUMPY_2, "e2e-numpy2")):
        built = build_ok(k, tmp, layer, f"numpy=={want}\n")
        assert f"numpy=={want}" in built["packages"], built["packages"]
        fns[want] = k.deploy_handler(tmp, NUMPY_HANDLER, "--layer", layer)
    return fns


@pytest.mark.ml
def test_numpy_1_and_2_layers_each_import_their_own(numpy_pair):
    seen = {want: [] for want in numpy_pair}
    for _ in range(50):
        for want, fn in numpy_pair.items():
            r = fn.call(json={})
            assert r.status_code == 200, r.text
            seen[want].append(r.json()["numpy"])
    for want, versions in seen.items():
        assert versions == [want] * 50, f"{want}: {sorted(set(versions))}"


@pytest.mark.ml
def test_missing_package_on_pypi_fails_build_with_pips_message(ml_kiln, tmp_path):
    k = ml_kiln
    name = unique("missing")
    before = k.cli_json("layer", "ls")["layers"]
    p, _ = build(k, tmp_path, name, f"numpy\n{MISSING}\n")
    assert p.returncode != 0, p.stdout
    assert "No matching distribution found" in p.stderr, p.stderr
    assert MISSING in p.stderr.strip().splitlines()[-1], "pip's reason on the error line"
    assert k.cli_json("layer", "ls")["layers"] == before, "a failed build published something"


SKLEARN_HANDLER = """
    import json
    import os

    import joblib
    import numpy as np

    _pipeline = joblib.load(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                         "pipeline.joblib"))


    def handler(event, context):
        x = np.asarray(json.loads(event["body"])["features"], dtype=np.float64)
        return {"predictions": _pipeline.predict(x).tolist()}
    """


@pytest.fixture(scope="module")
def sklearn_fn(ml_kiln, tmp_path_factory):
    """A scikit-learn + joblib layer built in Kiln, pinned to this venv's versions so the
    pipeline fitted and pickled here loads there; and a function that loads it."""
    k = ml_kiln
    tmp = tmp_path_factory.mktemp("sklearn")
    requirements = (f"scikit-learn=={sklearn.__version__}\njoblib=={joblib.__version__}\n"
                    f"numpy=={np.__version__}\n")
    built = build_ok(k, tmp, "e2e-sklearn", requirements)
    packages = {canonical(p.split("==")[0]) for p in built["packages"]}
    assert {"scikit-learn", "joblib", "scipy"} <= packages, built["packages"]

    iris = load_iris()
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    pipeline.fit(iris.data, iris.target)
    model = tmp / "pipeline.joblib"
    joblib.dump(pipeline, model)
    fn = k.deploy_handler(tmp, SKLEARN_HANDLER, "--layer", "e2e-sklearn", "--memory", "512",
                          files={"pipeline.joblib": model.read_bytes()})
    return fn, pipeline


@pytest.mark.ml
def test_sklearn_pipeline_loaded_with_joblib_predicts_like_in_process(sklearn_fn):
    fn, pipeline = sklearn_fn
    rows = load_iris().data[::7]
    for _ in range(2):  # cold, then warm
        r = fn.call(json={"features": rows.tolist()})
        assert r.status_code == 200, r.text
        assert r.json()["predictions"] == pipeline.predict(rows).tolist()
