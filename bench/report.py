"""Targets (PASS/MISS), the Markdown table and the matplotlib plots of one run."""
from __future__ import annotations

from pathlib import Path

ORDER = ["limit", "kiln", "kiln-norecycle", "uvicorn-1w", "uvicorn-2w", "lambda-rie"]
SHORT = {"limit": "limit (in-process)", "kiln": "Kiln", "kiln-norecycle": "Kiln, no recycling",
         "uvicorn-1w": "uvicorn 1w", "uvicorn-2w": "uvicorn 2w", "lambda-rie": "Lambda RIE"}


# Issue 7 (start modes): targets shown next to the measurements.
TARGET_ZYGOTE_MS = 30
TARGET_PLAIN_OVER_ZYGOTE = 20
TARGET_SNAPSHOT_MS = 8
TARGET_MEM_RATIO = 2.0
START_MODES = ["plain", "zygote", "snapshot"]
MODE_COLORS = {"plain": "#862e9c", "zygote": "#e8590c", "snapshot": "#f08c00", "one (plain)": "#868e96"}
MODE_TARGET = {"plain": "baseline", "zygote": f"<= {TARGET_ZYGOTE_MS} ms, >= {TARGET_PLAIN_OVER_ZYGOTE}x vs plain",
               "snapshot": f"<= {TARGET_SNAPSHOT_MS} ms"}


def _ok(s: dict | None) -> bool:
    return bool(s) and s.get("available") and not s.get("failed") and "workloads" in s


def _w(result, sysname, wname):
    s = result["systems"].get(sysname)
    if not _ok(s):
        return None
    return s["workloads"].get(wname)


def targets(result: dict) -> list[dict]:
    out = []
    wnames = list(result["meta"]["workloads"])
    kiln_ok = _ok(result["systems"].get("kiln"))

    def add(name, wname, value, goal, passed, unit=""):
        out.append({"target": name, "workload": wname, "value": value, "goal": goal, "unit": unit,
                    "status": ("PASS" if passed else "MISS") if value is not None else "SKIP"})

    for wn in wnames:
        lim = _w(result, "limit", wn)
        k = _w(result, "kiln", wn)
        if not (kiln_ok and k and lim):
            for t in ("Kiln warm overhead p50", "Kiln warm overhead p99", "Kiln rps / best uvicorn rps",
                      "Kiln rps / limit rps", "Lambda RIE p50 / Kiln p50"):
                add(t, wn, None, None, False)
            continue
        o50 = round(k["c1"]["p50"] - lim["c1"]["p50"], 1)
        o99 = round(k["c1"]["p99"] - lim["c1"]["p99"], 1)
        add("Kiln warm overhead p50", wn, o50, "<= 100 us", o50 <= 100, "us")
        add("Kiln warm overhead p99", wn, o99, "<= 1000 us", o99 <= 1000, "us")
        uv = [(_w(result, n, wn) or {}).get("c16", {}).get("rps") for n in ("uvicorn-1w", "uvicorn-2w")]
        uv = [x for x in uv if x]
        if uv:
            r = round(k["c16"]["rps"] / max(uv), 2)
            add("Kiln rps / best uvicorn rps", wn, r, ">= 3.0x", r >= 3.0, "x")
        else:
            add("Kiln rps / best uvicorn rps", wn, None, ">= 3.0x", False)
        r = round(k["c16"]["rps"] / lim["c16"]["rps"], 2)
        add("Kiln rps / limit rps", wn, r, ">= 0.70", r >= 0.70, "x")
        rie = _w(result, "lambda-rie", wn)
        if rie:
            r = round(rie["c1"]["p50"] / k["c1"]["p50"], 2)
            add("Lambda RIE p50 / Kiln p50", wn, r, ">= 5.0x", r >= 5.0, "x")
        else:
            add("Lambda RIE p50 / Kiln p50", wn, None, ">= 5.0x", False)
    # Start modes (issue 7), when the run measured them.
    k = result["systems"].get("kiln") or {}
    cm = k.get("cold_modes") or {}
    for bn, b in (cm.get("bundles") or {}).items():
        modes = b.get("modes") or {}
        z, sn = (modes.get("zygote") or {}).get("p50"), (modes.get("snapshot") or {}).get("p50")
        add("Kiln zygote cold start p50 (issue 7)", bn, z, f"<= {TARGET_ZYGOTE_MS} ms",
            z is not None and z <= TARGET_ZYGOTE_MS, "ms")
        r = b.get("ratio_plain_zygote_p50")
        add("Kiln plain p50 / zygote p50 (issue 7)", bn, r, f">= {TARGET_PLAIN_OVER_ZYGOTE}x",
            r is not None and r >= TARGET_PLAIN_OVER_ZYGOTE, "x")
        add("Kiln snapshot cold start p50 (issue 7)", bn, sn, f"<= {TARGET_SNAPSHOT_MS} ms",
            sn is not None and sn <= TARGET_SNAPSHOT_MS, "ms")
    mm = k.get("memory_modes") or {}
    if mm.get("modes"):
        ph = ((mm["modes"].get("zygote") or {}).get("phases") or {}).get("loaded") or {}
        r = ph.get("ratio_pss_vs_one")
        add(f"Kiln PSS of {mm.get('containers')} zygote containers / one plain, after load (issue 7)",
            mm.get("bundle"), r, f"<= {TARGET_MEM_RATIO}x", r is not None and r <= TARGET_MEM_RATIO, "x")
    return out


def _f(x, nd=0):
    if x is None:
        return "–"
    if isinstance(x, float) and nd == 0:
        return f"{x:,.0f}"
    return f"{x:,.{nd}f}" if isinstance(x, (int, float)) else str(x)


def _pc(x):
    return "–" if x is None else f"{x:.0%}"


def markdown(result: dict, stamp: str) -> str:
    m = result["meta"]
    L = []
    L.append(f"# Kiln benchmark {stamp} ({m['mode']})\n")
    mc = m["machine"]
    L.append(f"- Command: `{m['command']}`; whole run {m.get('elapsed_s')} s")
    L.append(f"- Machine: {mc['cpu_model']}, {mc['cores']} cores, {mc['memory_gib']} GiB, Linux {mc['kernel']}, "
             f"Python {mc['python']}")
    v = m["versions"]
    L.append("- Versions: " + ", ".join(f"{k} {v[k]}" for k in v if v[k]))
    L.append(f"- Load generator: {m['loadgen']}")
    L.append(f"- Pinning: {m['pinning']}")
    bg = [m.get("background_load_before"), m.get("background_load_after")]
    busy = [x for x in bg if x is not None]
    if busy:
        warn = " — **the machine was not quiet: figures are noisy**" if max(busy) > 0.05 else " (quiet)"
        L.append(f"- Other load on the machine (share of all cores busy while the suite idled), before/after: "
                 f"{' / '.join(f'{x:.0%}' for x in busy)}{warn}; per run: the 'other CPU' columns")
    L.append(f"- Workloads: " + "; ".join(f"`{k}` = {w['title']} ({w['body_bytes']} B body)"
                                           for k, w in m["workloads"].items()))
    L.append("- Every system serves the seed's handler.py unmodified (module-scope InferenceSession, "
             "ORT_THREADS unset = 1 intra-op thread) next to the same model.onnx.")
    for name in ORDER:
        s = result["systems"].get(name)
        if s is None:
            continue
        if not s.get("available"):
            L.append(f"- **{SHORT[name]} skipped**: {s.get('reason')}")
        elif s.get("failed"):
            L.append(f"- **{SHORT[name]} failed**: {s['failed'][:600]}")
        elif s.get("notes"):
            L.append(f"- {SHORT[name]}: {s['notes']}")
        for d in s.get("contract_deviations") or []:
            L.append(f"- **{SHORT[name]} contract deviation**: {d}")
    L.append("")

    wnames = list(m["workloads"])
    L.append("## Warm latency, concurrency 1 (µs)\n")
    L.append("| workload | system | p50 | p99 | p99.9 | requests | p50 − limit p50 | other CPU |")
    L.append("|---|---|--:|--:|--:|--:|--:|--:|")
    for wn in wnames:
        lim = _w(result, "limit", wn)
        for name in ORDER:
            r = _w(result, name, wn)
            if not r:
                continue
            c = r["c1"]
            n = c.get("requests", c.get("n"))
            ov = round(c["p50"] - lim["c1"]["p50"], 1) if lim and name != "limit" else None
            L.append(f"| {wn} | {SHORT[name]} | {_f(c['p50'], 1)} | {_f(c['p99'], 1)} | {_f(c['p99_9'], 1)} "
                     f"| {_f(n)} | {_f(ov, 1)} | {_pc(c.get('foreign_cpu_share'))} |")
            if name == "limit":
                sr = r["session_run"]
                L.append(f"| {wn} | bare session.run | {_f(sr['p50'], 1)} | {_f(sr['p99'], 1)} | "
                         f"{_f(sr['p99_9'], 1)} | {_f(sr['n'])} | | |")
    L.append("")
    for key, conns in (("c16", m["concurrency"]), ("c64", 64)):
        if not any((_w(result, name, wn) or {}).get(key) for wn in wnames for name in ORDER if name != "limit"):
            continue  # a run from before the c=64 row
        L.append(f"## Throughput, concurrency {conns}\n")
        L.append("Daemon CPU = the serving root process's CPU time per request (Kiln's daemon, uvicorn's "
                 "master, the emulators); server CPU = the whole serving process tree's (root + workers: "
                 "containers / uvicorn workers / runtimes).\n")
        L.append("| workload | system | req/s | p50 µs | p99 µs | daemon CPU µs/req | server CPU µs/req (root + workers) "
                 "| wrk core share | other CPU | non-2xx/errors |")
        L.append("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
        for wn in wnames:
            for name in ORDER:
                r = _w(result, name, wn)
                if not r:
                    continue
                if name == "limit":
                    if key == "c16":
                        c = r["c16"]
                        L.append(f"| {wn} | {SHORT[name]} | {_f(c['rps'])} (2 cores ÷ {r['handler_cpu_us']} µs CPU; "
                                 f"measured 2 loops: {_f(c['rps_measured_2_loops'])}) | | | | {r['handler_cpu_us']} | | | |")
                    continue
                c = r.get(key)
                if not c:
                    continue
                errs = sum(c["errors"].values())
                L.append(f"| {wn} | {SHORT[name]} | {_f(c['rps'])} | {_f(c['p50'])} | {_f(c['p99'])} | "
                         f"**{_f(c.get('root_cpu_us_per_req'))}** | "
                         f"{_f(c.get('server_cpu_us_per_req'))} ({_f(c.get('root_cpu_us_per_req'))} + "
                         f"{_f(c.get('workers_cpu_us_per_req'))}) | {_f(c.get('loadgen_core_share'), 2)} | "
                         f"{_pc(c.get('foreign_cpu_share'))} | {errs} |")
        L.append("")
    L.append("## Cold start (ms)\n")
    L.append("| model | system | n | p50 | p99 | init (p50) | measured |")
    L.append("|---|---|--:|--:|--:|--:|---|")
    whats = {}
    for name in ORDER:
        s = result["systems"].get(name) or {}
        for bn, c in (s.get("cold") or {}).items():
            init = c.get("init_ms") or c.get("init_duration_ms") or []
            init50 = sorted(init)[len(init) // 2] if init else None
            extra = ""
            if c.get("not_cold"):
                extra = f" ({c['not_cold']} of them not cold per the run record)"
            if c.get("errors"):
                extra += f" errors: {len(c['errors'])}"
            if c.get("starts"):
                extra += " (start: " + ", ".join(f"{k} ×{v}" for k, v in c["starts"].items()) + ")"
            if c.get("start_notes"):
                extra += f" **start_note on {len(c['start_notes'])}**"
            whats[SHORT[name]] = c["what"]
            L.append(f"| {bn} | {SHORT[name]} | {c['n']} | {_f(c['p50'], 1)} | {_f(c['p99'], 1)} | "
                     f"{_f(init50, 1)} | {c.get('short', '')}{extra} |")
            if name == "kiln":
                cm = s.get("cold_modes") or {}
                for mode, mc in ((cm.get("bundles") or {}).get(bn, {}).get("modes") or {}).items():
                    errs = f" errors: {len(mc.get('errors') or [])}" if mc.get("errors") else ""
                    if mc.get("setup_error"):
                        errs = " **not measured** (see below)"
                    L.append(f"| {bn} | Kiln, {mode} start | {mc.get('n', 0)} | {_f(mc.get('p50'), 1)} | "
                             f"{_f(mc.get('p99'), 1)} | {_f(mc.get('init_p50'), 1)} | new container of a deployed "
                             f"version (see below){errs} |")
    L.append("")
    for k, v in whats.items():
        L.append(f"- {k}: {v}")
    L.append("")
    L += _cold_modes_md(result)
    L += _memory_modes_md(result)
    L += _bulk_pipeline_md(result)
    L.append("## Memory (whole serving process tree; /proc/PID/smaps_rollup)\n")
    L.append("Root = the server process (uvicorn master, Kiln daemon, each emulator); "
             "workers = its descendants (uvicorn workers, Kiln containers, Python runtimes).\n")
    L.append("| model | system | after | processes | RSS MB | PSS MB | root RSS MB | workers | workers PSS MB |")
    L.append("|---|---|---|--:|--:|--:|--:|--:|--:|")
    for name in ORDER:
        s = result["systems"].get(name) or {}
        for when, key in (("c=1", "memory_after_c1"), ("c=16", "memory")):
            for bn, mm in (s.get(key) or {}).items():
                L.append(f"| {bn} | {SHORT[name]} | {when} | {mm['count']} | {mm['rss_mb']} | {mm['pss_mb']} | "
                         f"{mm.get('roots_rss_mb', '–')} | {mm.get('children_count', '–')} | "
                         f"{mm.get('children_pss_mb', '–')} |")
    L.append("")
    L.append("## Not measured yet\n")
    if not (result["systems"].get("kiln") or {}).get("cold_modes"):
        L.append("- Kiln cold start per start mode (plain / layer zygote / snapshot): only the mode the daemon "
                 "has today is measured (a new version's first request).")
    if not (result["systems"].get("kiln") or {}).get("bulk_pipeline"):
        L.append("- Bulk: rows through a pipeline map step vs one in-process loop (`--no-pipeline`, or Kiln "
                 "did not run).")
    L.append("")
    issue7 = any("issue 7" in t["target"] for t in result.get("targets", []))
    L.append("## Targets (issue 8" + ("; start modes: issue 7)\n" if issue7 else ")\n"))
    L.append("| target | workload | value | goal | result |")
    L.append("|---|---|--:|---|---|")
    for t in result.get("targets", []):
        val = "–" if t["value"] is None else f"{t['value']} {t['unit']}".strip()
        L.append(f"| {t['target']} | {t['workload']} | {val} | {t['goal'] or ''} | {t['status']} |")
    L.append("")
    return "\n".join(L) + "\n"


def _bulk_pipeline_md(result: dict) -> list[str]:
    bp = (result["systems"].get("kiln") or {}).get("bulk_pipeline")
    if not bp:
        return []
    L = ["## Bulk scoring through a pipeline (Kiln, issue 6)\n"]
    if bp.get("error"):
        return L + [f"**Not measured: {bp['error'][:800]}**", ""]
    warm, limit = bp.get("kiln_warm") or {}, bp.get("limit") or {}
    L.append(f"{bp.get('what')}: {bp.get('chunks')} map elements. Kiln: start (202) to `ok`, polled; the first "
             "run cold (containers start), then warm runs. Limit: the same handlers called in one in-process "
             "loop (one core).\n")
    L.append("| | p50 ms | p99 ms | n |")
    L.append("|---|--:|--:|--:|")
    L.append(f"| Kiln pipeline, first run (cold) | {_f(bp.get('kiln_cold_ms'), 1)} | – | 1 |")
    L.append(f"| Kiln pipeline, warm | {_f(warm.get('p50'), 1)} | {_f(warm.get('p99'), 1)} | {warm.get('n', 0)} |")
    L.append(f"| limit: in-process loop | {_f(limit.get('p50'), 1)} | {_f(limit.get('p99'), 1)} | {limit.get('n', 0)} |")
    L.append("")
    if bp.get("ratio_kiln_warm_to_limit_p50") is not None:
        L.append(f"Kiln warm p50 ÷ limit p50 = {bp['ratio_kiln_warm_to_limit_p50']}x. Steps of the last warm run: " +
                 ", ".join(f"{s['function']}{' (map, ' + str(s['runs']) + ' runs)' if s['map'] else ''} "
                           f"{s['duration_ms']} ms" for s in bp.get("last_warm_steps") or []) + "\n")
    for e in (bp.get("errors") or [])[:3]:
        L.append(f"- error: {e[:300]}")
    L.append("")
    return L


def _cold_modes_md(result: dict) -> list[str]:
    cm = (result["systems"].get("kiln") or {}).get("cold_modes")
    if not cm:
        return []
    L = ["## Cold start by start mode (Kiln, ms)\n"]
    if cm.get("error"):
        return L + [f"**Not measured: {cm['error'][:800]}**", ""]
    L.append(f"Measured: {cm.get('what', '')}; {cm.get('n_per_mode')} per mode, the modes in turn. "
             "init = the run record's init_ms (p50); vs plain = plain p50 ÷ this mode's p50.\n")
    L.append("| model | mode | p50 | p99 | n | errors | init p50 | vs plain | target | first container (warm-up) |")
    L.append("|---|---|--:|--:|--:|--:|--:|--:|---|---|")
    notes = []
    for bn, b in (cm.get("bundles") or {}).items():
        modes = b.get("modes") or {}
        plain = (modes.get("plain") or {}).get("p50")
        for mode in START_MODES:
            mc = modes.get(mode)
            if mc is None:
                continue
            vs = round(plain / mc["p50"], 1) if plain and mc.get("p50") else None
            w = mc.get("warmup") or {}
            first = f"{_f(w.get('ms'), 1)} ms, start {w.get('start')}" if w else "–"
            errs = len(mc.get("errors") or [])
            L.append(f"| {bn} | {mode} | {_f(mc.get('p50'), 1)} | {_f(mc.get('p99'), 1)} | {mc.get('n', 0)} | "
                     f"{'**' + str(errs) + '**' if errs else 0} | {_f(mc.get('init_p50'), 1)} | "
                     f"{'–' if vs is None else f'{vs}x'} | {MODE_TARGET[mode]} | {first} |")
            if mc.get("setup_error"):
                notes.append(f"- {bn}/{mode}: **not measured**: {mc['setup_error'][:400]}")
            for e in (mc.get("errors") or [])[:3]:
                notes.append(f"- {bn}/{mode}: {e[:300]}")
            if len(mc.get("errors") or []) > 3:
                notes.append(f"- {bn}/{mode}: … {len(mc['errors']) - 3} more errors")
            srcs = mc.get("fork_sources_after") or mc.get("fork_sources") or []
            if srcs:
                notes.append(f"- {bn}/{mode} fork sources: " + "; ".join(
                    f"{z.get('kind')} {z.get('id')} {z.get('state')}, {_f(z.get('rss_mb'), 1)} MB RSS, "
                    f"{z.get('forks')} forks, {z.get('preloaded')} modules preloaded"
                    + (f" ({z['message']})" if z.get("message") else "") for z in srcs))
        if b.get("ratio_plain_zygote_p50") is not None or b.get("ratio_plain_snapshot_p50") is not None:
            notes.append(f"- {bn}: plain p50 ÷ zygote p50 = {_f(b.get('ratio_plain_zygote_p50'), 1)}x, "
                         f"plain p50 ÷ snapshot p50 = {_f(b.get('ratio_plain_snapshot_p50'), 1)}x")
    L.append("")
    if notes:
        L += notes + [""]
    return L


def _memory_modes_md(result: dict) -> list[str]:
    mm = (result["systems"].get("kiln") or {}).get("memory_modes")
    if not mm:
        return []
    n = mm.get("containers", 8)
    L = [f"## Memory of {n} containers by start mode (Kiln, MB)\n"]
    if mm.get("error"):
        return L + [f"**Not measured: {mm['error'][:800]}**", ""]
    L.append(f"Measured ({mm.get('bundle')}): {mm.get('what', '')}. ÷ one = the sum ÷ the same figure of the "
             f"one plain-started container, same phase. Target (zygote, PSS): ≤ {TARGET_MEM_RATIO}x of one "
             f"(expected of {n} plain ones: ~{n}x).\n")
    L.append("| mode | after | containers | PSS | USS | RSS | fork sources PSS (USS) | PSS ÷ one | USS ÷ one "
             "| PSS + sources ÷ one | requests in the load |")
    L.append("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    notes = []
    rows = [("one (plain)", mm.get("one") or {})] + [(m, (mm.get("modes") or {}).get(m) or {}) for m in START_MODES]
    for label, cell in rows:
        if cell.get("setup_error"):
            notes.append(f"- {label}: **not measured**: {cell['setup_error'][:400]}")
        for e in (cell.get("errors") or [])[:4]:
            notes.append(f"- {label}: {e[:300]}")
        for ph in ("idle", "loaded"):
            m = (cell.get("phases") or {}).get(ph)
            if not m:
                continue
            src = "–" if not m.get("sources") else f"{m['sources_pss_mb']} ({m['sources_uss_mb']})"
            req = (cell.get("load") or {}).get("requests") if ph == "loaded" else None
            ratio = lambda k: "–" if m.get(k) is None else f"{m[k]}x"  # noqa: E731
            L.append(f"| {label} | {ph} | {m['count']} | {m['pss_mb']} | {m['uss_mb']} | {m['rss_mb']} | {src} | "
                     f"{ratio('ratio_pss_vs_one')} | {ratio('ratio_uss_vs_one')} | "
                     f"{ratio('ratio_pss_with_sources_vs_one')} | {_f(req)} |")
    for e in mm.get("quiet_errors") or []:
        notes.append(f"- quieting the node: {e[:300]}")
    L.append("")
    if notes:
        L += notes + [""]
    return L


def plots(result: dict, outdir: Path, stamp: str) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    wnames = list(result["meta"]["workloads"])
    names = [n for n in ORDER if _ok(result["systems"].get(n))]
    colors = {"limit": "#555555", "kiln": "#d9480f", "kiln-norecycle": "#ffa94d", "uvicorn-1w": "#1c7ed6", "uvicorn-2w": "#74c0fc",
              "lambda-rie": "#2f9e44"}
    out = []

    # 1. warm latency p50 / p99 at c=1
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    x = np.arange(len(wnames))
    wbar = 0.8 / max(1, len(names))
    for ax, key, title in ((axes[0], "p50", "p50"), (axes[1], "p99", "p99")):
        for i, n in enumerate(names):
            vals = [(_w(result, n, wn) or {}).get("c1", {}).get(key, np.nan) for wn in wnames]
            ax.bar(x + i * wbar - 0.4 + wbar / 2, vals, wbar, label=SHORT[n], color=colors[n])
        ax.set_xticks(x, wnames)
        ax.set_yscale("log")
        ax.set_ylabel("µs (log)")
        ax.set_title(f"Warm latency at concurrency 1, {title}")
        ax.grid(axis="y", alpha=0.3, which="both")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    p = outdir / f"{stamp}-latency.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    out.append(p)

    # 2. latency by percentile at c=1 per workload (HdrHistogram-style "nines" axis)
    def nines(q):
        return 5.0 if q >= 100 else -np.log10(1 - q / 100.0)

    fig, axes = plt.subplots(1, len(wnames), figsize=(5 * len(wnames), 4), squeeze=False)
    for ax, wn in zip(axes[0], wnames):
        for n in names:
            r = _w(result, n, wn)
            if not r or not r["c1"].get("cdf"):
                continue
            pts = [(q, v) for q, v in r["c1"]["cdf"] if q >= 25]
            ax.plot([nines(q) for q, _ in pts], [v for _, v in pts], marker=".", label=SHORT[n], color=colors[n])
        ax.set_xticks([nines(q) for q in (50, 90, 99, 99.9, 99.99, 100)],
                      ["50", "90", "99", "99.9", "99.99", "max"])
        ax.set_yscale("log")
        ax.set_xlabel("percentile")
        ax.set_ylabel("latency µs (log)")
        ax.set_title(f"{wn}: warm latency by percentile, c=1")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    p = outdir / f"{stamp}-latency-percentiles.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    out.append(p)

    # 3. throughput at c=16
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for i, n in enumerate(names):
        vals = [(_w(result, n, wn) or {}).get("c16", {}).get("rps", np.nan) for wn in wnames]
        ax.bar(x + i * wbar - 0.4 + wbar / 2, vals, wbar, label=SHORT[n] + (" (2 cores ÷ CPU cost)" if n == "limit" else ""),
               color=colors[n])
    ax.set_xticks(x, wnames)
    ax.set_yscale("log")
    ax.set_ylabel("requests/s (log)")
    ax.set_title(f"Throughput at concurrency {result['meta']['concurrency']}")
    ax.grid(axis="y", alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    p = outdir / f"{stamp}-throughput.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    out.append(p)

    # 4. cold start
    rows = []
    for n in ORDER:
        s = result["systems"].get(n) or {}
        for bn, c in (s.get("cold") or {}).items():
            if c.get("n"):
                rows.append((f"{SHORT[n]}\n{bn}", c["p50"], c["p99"], colors[n]))
            if n == "kiln":
                modes = (((s.get("cold_modes") or {}).get("bundles") or {}).get(bn) or {}).get("modes") or {}
                for mode in START_MODES:
                    mc = modes.get(mode) or {}
                    if mc.get("n"):
                        rows.append((f"Kiln {mode}\n{bn}", mc["p50"], mc["p99"], MODE_COLORS[mode]))
    if rows:
        fig, ax = plt.subplots(figsize=(9, 4.5))
        xx = np.arange(len(rows))
        ax.bar(xx - 0.2, [r[1] for r in rows], 0.4, color=[r[3] for r in rows], label="p50")
        ax.bar(xx + 0.2, [r[2] for r in rows], 0.4, color=[r[3] for r in rows], alpha=0.5, label="p99")
        ax.set_xticks(xx, [r[0] for r in rows], fontsize=8)
        ax.set_ylabel("ms")
        ax.set_title("Cold start: request to first response on a new worker (p50 solid, p99 light)")
        if any(r[0].startswith("Kiln ") for r in rows):
            ax.set_yscale("log")  # the start modes span two orders of magnitude
            ax.set_ylabel("ms (log)")
        ax.grid(axis="y", alpha=0.3, which="both")
        fig.tight_layout()
        p = outdir / f"{stamp}-cold.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        out.append(p)

    # 4b. memory of N containers by start mode (Kiln)
    mm = (result["systems"].get("kiln") or {}).get("memory_modes") or {}
    rows = []
    for label, cell in [("one (plain)", mm.get("one") or {})] + [(m, (mm.get("modes") or {}).get(m) or {})
                                                                 for m in START_MODES]:
        m = (cell.get("phases") or {}).get("loaded") or (cell.get("phases") or {}).get("idle")
        if m and m.get("count"):
            rows.append((f"{label}\n{m['count']} container{'s' if m['count'] > 1 else ''}", m["pss_mb"],
                         m["uss_mb"], m.get("sources_pss_mb") or 0.0,
                         MODE_COLORS.get(label, "#555555")))
    if rows:
        fig, ax = plt.subplots(figsize=(9, 4.5))
        xx = np.arange(len(rows))
        ax.bar(xx - 0.2, [r[1] for r in rows], 0.4, color=[r[4] for r in rows], label="PSS of the containers")
        ax.bar(xx - 0.2, [r[3] for r in rows], 0.4, bottom=[r[1] for r in rows], color="#adb5bd",
               label="+ fork sources' PSS")
        ax.bar(xx + 0.2, [r[2] for r in rows], 0.4, color=[r[4] for r in rows], alpha=0.5, label="USS")
        ax.set_xticks(xx, [r[0] for r in rows], fontsize=8)
        ax.set_ylabel("MB")
        ax.set_title(f"Kiln: memory of {mm.get('containers')} containers by start mode "
                     f"({'after load' if any((c.get('phases') or {}).get('loaded') for c in (mm.get('modes') or {}).values()) else 'idle'})")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        p = outdir / f"{stamp}-memory-modes.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        out.append(p)

    # 5. memory
    rows = []
    for n in ORDER:
        s = result["systems"].get(n) or {}
        for bn, mm in (s.get("memory") or {}).items():
            rows.append((f"{SHORT[n]}\n{bn} ({mm['count']} proc)", mm["rss_mb"], mm["pss_mb"], colors[n]))
    if rows:
        fig, ax = plt.subplots(figsize=(10, 4.5))
        xx = np.arange(len(rows))
        ax.bar(xx - 0.2, [r[1] for r in rows], 0.4, color=[r[3] for r in rows], alpha=0.5, label="RSS")
        ax.bar(xx + 0.2, [r[2] for r in rows], 0.4, color=[r[3] for r in rows], label="PSS")
        ax.set_xticks(xx, [r[0] for r in rows], fontsize=7)
        ax.set_ylabel("MB")
        ax.set_title("Memory of the serving process tree after the c=16 run (RSS light, PSS solid)")
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        p = outdir / f"{stamp}-memory.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        out.append(p)
    return out
