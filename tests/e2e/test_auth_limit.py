"""Failed authentication is rate-limited per source address (issue #14, defect 11): a
token bucket that only failures drain; while it is empty, 429 with Retry-After and the
key is not even checked. Every test speaks from 127.0.0.1, so one address."""
from helpers import unique, wait_for

OK = """
def handler(event, context):
    return "ok"
"""
BAD_KEY = "kiln_aaaaaaaa_" + "b" * 40 + "000000"


def burst(send, n):
    return [send() for _ in range(n)]


def test_a_burst_of_wrong_keys_gets_429s(start_kiln, tmp_path):
    # One token per 1000 s: the burst of 5 is all this test can spend.
    k = start_kiln("--auth-failures-per-s", "0.001", "--auth-failure-burst", "5")
    fn = k.deploy_handler(tmp_path, OK, auth="key")
    good = k.create_key(unique("good"), "--route", fn.path)
    answers = burst(lambda: fn.call(json={}, headers={"Authorization": f"Bearer {BAD_KEY}"}), 30)
    codes = [r.status_code for r in answers]
    assert codes.count(401) == 5 and codes.count(429) == 25, codes
    limited = [r for r in answers if r.status_code == 429]
    assert all(int(r.headers["Retry-After"]) >= 1 for r in limited), limited[0].headers
    # While the bucket is empty the key is not even checked: a good one is refused too.
    assert fn.call(json={}, headers={"Authorization": f"Bearer {good}"}).status_code == 429
    # The control API shares the limit: the admin key waits as well.
    assert k.api("GET", "/v1/functions").status_code == 429
    # No key at all is not a failed authentication: 401 as ever.
    assert fn.call(json={}).status_code == 401


def test_the_control_api_counts_failures_too(start_kiln):
    k = start_kiln("--auth-failures-per-s", "0.001", "--auth-failure-burst", "3")
    codes = [k.api("GET", "/v1/functions", key=BAD_KEY).status_code for _ in range(10)]
    assert codes.count(401) == 3 and codes.count(429) == 7, codes


def test_only_failures_count_and_the_bucket_refills(start_kiln, tmp_path):
    k = start_kiln("--auth-failures-per-s", "5", "--auth-failure-burst", "3")
    fn = k.deploy_handler(tmp_path, OK, auth="key")
    good = k.create_key(unique("good"), "--route", fn.path)
    codes = [fn.call(json={}, headers={"Authorization": f"Bearer {BAD_KEY}"}).status_code for _ in range(20)]
    assert 429 in codes, codes
    wait_for(lambda: fn.call(json={}, headers={"Authorization": f"Bearer {good}"}).status_code == 200,
             10, "the good key to work again once the bucket refills")
    # Successes take nothing from the bucket: far more good requests than the burst all pass.
    good_codes = [fn.call(json={}, headers={"Authorization": f"Bearer {good}"}).status_code for _ in range(30)]
    assert good_codes == [200] * 30, good_codes
