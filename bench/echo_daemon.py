"""A kiln daemon on a temp data dir serving an echo handler at POST /echo, for the
focused benchmarks (warm_ab.py, warm_instructions.py)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from common import Proc, free_port, wait_http

ECHO = "def handler(event, context):\n    return {'ok': True}\n"


def start(binary: str, root: Path, tag: str, prefix: tuple[str, ...] = (), timeout: float = 30) -> tuple[Proc, str, str]:
    """`kiln serve` (behind `prefix`, e.g. valgrind) on root/data-TAG; returns it, its URL and admin key."""
    port = free_port()
    data = root / f"data-{tag}"
    proc = Proc(f"kiln-{tag}", [*prefix, binary, "serve", "--data", str(data), "--listen", f"127.0.0.1:{port}"],
                log=root / f"serve-{tag}.log")
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/healthz", timeout=timeout)
    return proc, url, (data / "admin.key").read_text().strip()


def deploy_echo(binary: str, url: str, key: str, root: Path, auth: str) -> dict[str, str]:
    """Deploys the echo handler at POST /echo; returns the headers a call needs (a key
    scoped to the route, as a caller would hold, with auth "key")."""
    bundle = root / "echo"
    bundle.mkdir(exist_ok=True)
    (bundle / "handler.py").write_text(ECHO)
    env = {**os.environ, "KILN_URL": url, "KILN_ADMIN_KEY": key}

    def kiln(*cmd: str) -> str:
        return subprocess.run([binary, *cmd], env=env, check=True, capture_output=True, text=True,
                              timeout=600).stdout

    kiln("deploy", str(bundle), "--name", "echo")
    kiln("route", "add", "POST", "/echo", "echo", "--auth", auth)
    if auth == "key":
        return {"Authorization": "Bearer " + kiln("key", "create", "bench", "--route", "/echo").split()[-1]}
    return {}
