"""The limit: the seed's handler called in-process in a Python loop, and bare session.run.

Run as a subprocess of the suite (so it has its own clean interpreter):
  python systems/limit.py latency --bundle DIR --body-file F --n N --warmup W
  python systems/limit.py throughput --bundle DIR --body-file F --seconds S
Prints one JSON document on stdout.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time


def load_handler(bundle: str):
    spec = importlib.util.spec_from_file_location("handler", f"{bundle}/handler.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["handler"] = mod
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["latency", "throughput"])
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--body-file", required=True)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=5.0)
    a = ap.parse_args()

    t_imp = time.perf_counter()
    mod = load_handler(a.bundle)
    import_s = time.perf_counter() - t_imp
    body = open(a.body_file).read()
    event = {"body": body}
    import numpy as np

    out: dict = {"import_s": round(import_s, 4)}
    # Sanity: the handler answers 200 with predictions.
    res = mod.handler(event, None)
    assert res["statusCode"] == 200, res
    out["sample_response"] = json.loads(res["body"])

    if a.mode == "latency":
        for _ in range(a.warmup):
            mod.handler(event, None)
        h = mod.handler
        ns = [0] * a.n
        pc = time.perf_counter_ns
        c0 = time.thread_time()
        w0 = pc()
        for i in range(a.n):
            t = pc()
            h(event, None)
            ns[i] = pc() - t
        wall = (pc() - w0) / 1e9
        cpu = time.thread_time() - c0
        out["handler"] = {"ns": ns, "cpu_us_per_call": round(cpu * 1e6 / a.n, 2),
                          "wall_us_per_call": round(wall * 1e6 / a.n, 2)}

        # Bare session.run on the already-decoded float32 input.
        sess, name = mod._session, mod._input_name
        x = np.asarray(json.loads(body)["features"], dtype=np.float32)
        if x.ndim == 1:
            x = x.reshape(1, -1)
        for _ in range(a.warmup):
            sess.run(None, {name: x})
        ns2 = [0] * a.n
        c0 = time.thread_time()
        for i in range(a.n):
            t = pc()
            sess.run(None, {name: x})
            ns2[i] = pc() - t
        cpu = time.thread_time() - c0
        out["session_run"] = {"ns": ns2, "cpu_us_per_call": round(cpu * 1e6 / a.n, 2)}
        try:
            from threadpoolctl import threadpool_info
            out["threadpools"] = [{k: d.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
                                  for d in threadpool_info()]
        except Exception as e:  # noqa: BLE001 - informational only
            out["threadpools"] = repr(e)
    else:
        deadline_warm = time.perf_counter() + min(1.0, a.seconds / 4)
        while time.perf_counter() < deadline_warm:
            mod.handler(event, None)
        n = 0
        t0 = time.perf_counter()
        end = t0 + a.seconds
        h = mod.handler
        while True:
            for _ in range(16):
                h(event, None)
            n += 16
            if time.perf_counter() >= end:
                break
        out["calls"] = n
        out["seconds"] = time.perf_counter() - t0
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
