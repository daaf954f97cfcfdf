"""kiln logs (issue #15): a function's runs' output in time order, framed the Lambda way."""
from helpers import unique, write_bundle

PRINTS = """
import json
print("module scope")
def handler(event, context):
    n = json.loads(event["body"] or "{}").get("n")
    print(f"handling {n}")
    if n == 2:
        raise ValueError("two is bad")
    return n
"""


def test_logs_frame_each_run_oldest_first_and_filter(kiln, tmp_path):
    name = unique("lg")
    kiln.cli_ok("deploy", write_bundle(tmp_path / name, PRINTS), "--name", name)
    kiln.cli_ok("route", "add", "POST", f"/{name}", name, "--auth", "none")
    ids = [kiln.request("POST", f"/{name}", json={"n": n}).headers["X-Kiln-Run-Id"] for n in (1, 2, 3)]

    out = kiln.cli_ok("logs", name).splitlines()
    starts = [i for i, line in enumerate(out) if "START RequestId:" in line]
    assert [out[i].split("START RequestId: ")[1].split()[0] for i in starts] == ids  # oldest first
    for run_id, at in zip(ids, starts):
        block = out[at:]
        assert block[0].split()[1] == run_id[:8] and block[0].endswith("Version: 1")
        end = next(i for i, line in enumerate(block) if f"END RequestId: {run_id}" in line)
        assert f"REPORT RequestId: {run_id}" in block[end + 1]
        assert any("handling" in line for line in block[1:end])
    assert any("handling 2" in line for line in out) and any("ValueError: two is bad" in line for line in out)

    errors = kiln.cli_json("logs", name, "--status", "error")["runs"]
    assert [r["id"] for r in errors] == [ids[1]]
    assert [r["id"] for r in kiln.cli_json("logs", name, "--limit", "2")["runs"]] == ids[1:]
    assert kiln.cli_json("logs", name, "--since", "1h")["runs"][0]["id"] == ids[0]

    for query, status in ((f"function={name}&since=soon", 400), (f"function={name}&status=nope", 400),
                          ("", 400), (f"function={unique('none')}", 404)):
        assert kiln.api("GET", f"/v1/logs?{query}").status_code == status, query
    # A removed function's runs stay readable until retention.
    kiln.cli_ok("rm", name, "--force")
    assert len(kiln.cli_json("logs", name)["runs"]) == 3
