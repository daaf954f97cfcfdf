"""Memory, reported one way (issue #15): a container's private memory is what its
cgroup is charged (what the limit applies to); the rest of its resident memory is
shared with the zygote it was forked from. The deploy line, `kiln ps`, the run record
and the REPORT line agree."""
import re

from helpers import unique, write_bundle

BALLAST = """
ballast = bytearray(24 << 20)  # written: 24 MiB of the container's own
for i in range(0, len(ballast), 4096):
    ballast[i] = 1
def handler(event, context):
    return len(ballast)
"""


def test_private_and_shared_memory_agree_everywhere(kiln, tmp_path):
    name = unique("mem")
    out = kiln.cli_ok("deploy", write_bundle(tmp_path / name, BALLAST), "--name", name)
    m = re.search(r"memory (\d+) of 256 MB \(\+(\d+) MB shared with its zygote\)", out)
    assert m, out
    assert int(m.group(1)) >= 24, out
    assert int(m.group(2)) > 0, "a zygote's child shares the interpreter's pages"

    ps = [c for c in kiln.cli_json("ps")["containers"] if c["function"] == name]
    assert len(ps) == 1
    c = ps[0]
    assert 24 <= c["private_mb"] <= c["memory_mb"] == 256
    assert c["shared_mb"] > 0
    assert abs(c["private_mb"] + c["shared_mb"] - c["rss_mb"]) < 1 or c["private_mb"] > c["rss_mb"]
    assert re.search(rf"\b{round(c['private_mb'])}/256 MB \+\d+ shared", kiln.cli_ok("ps")), kiln.cli_ok("ps")

    kiln.cli_ok("route", "add", "POST", f"/{name}", name, "--auth", "none")
    r = kiln.request("POST", f"/{name}", json={})
    run = kiln.run(r.headers["X-Kiln-Run-Id"])
    assert run["max_memory_mb"] == int(run["max_memory_mb"]) >= 24
    report = re.search(r"Max Memory Used: (\d+) MB", run["logs"])
    assert report and int(report.group(1)) == run["max_memory_mb"], run["logs"]
