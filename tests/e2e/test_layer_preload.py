"""Layer manifests say which top-level modules a zygote may import ahead (issue #7).

When a layer is pushed or built, each of its top-level modules is imported alone in a
fresh interpreter: it is preloadable when the import succeeds and leaves the process
with one thread, no child process and no socket. The manifest lists those under
`preload` (with their import time) and every other top-level module under
`not_preloaded`, with the reason. Private modules are skipped without being imported.
"""
import json
import os
import textwrap
import time

from helpers import pids_holding, unique

# Every variable an import check may see: a container's, not the daemon's (LC_CTYPE:
# CPython sets it itself when the C.UTF-8 locale is missing).
CHECK_ENV = {"PATH", "HOME", "TMPDIR", "LANG", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
             "MKL_NUM_THREADS", "LD_LIBRARY_PATH", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
             "LC_CTYPE", "ORT_DISABLE_TELEMETRY"}


def push_folder(kiln, folder, modules):
    """Writes python/<path> for each {path: code} under `folder`, pushes it as a new
    layer, and returns the manifest `kiln layer show NAME:1 --json` reports."""
    for path, code in modules.items():
        target = folder / "python" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(code).lstrip())
    name = unique("pre")
    kiln.cli_ok("layer", "push", name, folder)
    shown = kiln.cli_json("layer", "show", f"{name}:1")
    return shown["manifest"]


def split(manifest):
    """{module: import_ms} of the preloadable ones, {module: reason} of the others."""
    preload = {m["module"]: m["import_ms"] for m in manifest["preload"]}
    skipped = {m["module"]: m["reason"] for m in manifest["not_preloaded"]}
    assert not preload.keys() & skipped.keys(), manifest
    assert sorted(preload.keys() | skipped.keys()) == manifest["modules"], manifest
    return preload, skipped


def test_manifest_lists_preloadable_modules_and_why_others_are_not(kiln, tmp_path):
    manifest = push_folder(kiln, tmp_path / "layer", {
        "plain.py": "VALUE = 1\n",
        "pkg/__init__.py": "from . import part\n",
        "pkg/part.py": "PART = 2\n",
        "threader.py": """
            import threading
            import time

            threading.Thread(target=time.sleep, args=(300,), daemon=True).start()
            """,
        "sockety.py": """
            import socket

            _sock = socket.socket()
            """,
        "broken.py": 'raise RuntimeError("nope")\n',
        "_private.py": 'raise RuntimeError("a private module is never imported")\n',
    })
    preload, skipped = split(manifest)

    assert list(preload) == ["pkg", "plain"], manifest
    for module, import_ms in preload.items():
        assert isinstance(import_ms, (int, float)) and not isinstance(import_ms, bool), manifest
        assert 0 <= import_ms < 60000, (module, import_ms)

    assert set(skipped) == {"threader", "sockety", "broken", "_private"}, manifest
    assert "thread" in skipped["threader"], skipped
    assert "socket" in skipped["sockety"], skipped
    assert "import failed" in skipped["broken"], skipped
    assert "RuntimeError: nope" in skipped["broken"], skipped
    assert "private" in skipped["_private"], skipped


def test_import_checks_run_in_a_clean_env_and_leave_nothing_running(kiln, tmp_path):
    marker = tmp_path / f"held-{unique('fork')}"
    env_file = tmp_path / "env.json"
    manifest = push_folder(kiln, tmp_path / "layer", {
        # Output of any kind at import does not disturb the check.
        "noisy.py": """
            import os
            import sys

            print('{"error": "not from the check"}')
            sys.stderr.write("noise\\n")
            os.write(1, b"raw noise\\n")
            os.write(2, b"raw noise\\n")
            """,
        "envprobe.py": f"""
            import json
            import os

            with open({str(env_file)!r}, "w") as f:
                json.dump(dict(os.environ), f)
            """,
        # A child process that would sleep for minutes, holding a file open.
        "forker.py": f"""
            import os
            import time

            _held = open({str(marker)!r}, "w")
            if os.fork() == 0:
                time.sleep(300)
                os._exit(0)
            """,
    })
    preload, skipped = split(manifest)
    assert set(preload) == {"noisy", "envprobe"}, manifest
    assert "process" in skipped["forker"], skipped

    env = json.loads(env_file.read_text())
    assert set(env) <= CHECK_ENV, sorted(set(env) - CHECK_ENV)
    assert (env["OMP_NUM_THREADS"], env["OPENBLAS_NUM_THREADS"], env["MKL_NUM_THREADS"]) == ("1", "1", "1")
    assert env["ORT_DISABLE_TELEMETRY"] == "1"  # onnxruntime: no telemetry thread, so it can be preloaded
    assert env["HOME"] != os.environ.get("HOME"), env

    deadline = time.monotonic() + 5  # SIGKILL is sent; the process may take a moment to go
    while pids_holding(marker.name) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pids_holding(marker.name) == [], "an import check left a process running"


def test_a_daemon_stopped_while_a_zygote_imports_exits_without_starting_anything(start_kiln, tmp_path):
    # At start the daemon pre-warms the function: its layer's zygote imports a module
    # that takes 2 s. SIGTERM meanwhile must end the daemon (stop() fails the test if it
    # needs SIGKILL), not fall back to starting a fresh interpreter for the pre-warm.
    k = start_kiln()
    (tmp_path / "slow" / "python").mkdir(parents=True)
    (tmp_path / "slow" / "python" / "slowmod.py").write_text("import time\ntime.sleep(2)\n")
    layer = unique("slow")
    k.cli_ok("layer", "push", layer, tmp_path / "slow")
    k.deploy_handler(tmp_path, "import slowmod\n\ndef handler(event, context):\n    return 1\n",
                     "--layer", layer, "--min-warm", "1")
    assert k.stop() == 0
    again = start_kiln(data=k.data)
    time.sleep(0.5)  # the zygote is importing now
    started = time.monotonic()
    assert again.stop() == 0
    assert time.monotonic() - started < 5
    assert pids_holding(str(k.data)) == [], "a process of the stopped daemon is left"
