"""API keys (SPEC §1, §4): kiln_<id>_<secret><checksum>, shown once, stored only as a
hash, revocable, expiring, rotatable; one answer for every bad key."""
import hashlib
import json
import re
import sqlite3
import stat
import zlib

import requests

from helpers import listing, unique, wait_for

KEY_FORMAT = re.compile(r"kiln_([A-Za-z0-9]{8})_([A-Za-z0-9]{40})([A-Za-z0-9]{6})")
LEGACY_FORMAT = re.compile(r"kiln_([A-Za-z0-9]{8})_([A-Za-z0-9]{40})")
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Many tests here present bad keys on purpose: room enough that none is slowed.
KILN_SERVE_FLAGS = ("--auth-failure-burst", "1000")

OK = """
def handler(event, context):
    return "ok"
"""


def checksum(body):
    """SPEC §1: base62 of the CRC32 of everything before it, 6 characters."""
    value, out = zlib.crc32(body.encode()), ""
    while value:
        value, digit = divmod(value, 62)
        out = BASE62[digit] + out
    return out.rjust(6, "0")


def entry(kiln, name):
    [found] = [k for k in listing(kiln.cli_json("key", "ls"), "keys") if k["name"] == name]
    return found


def call(fn, key):
    return fn.call(json={}, headers={"Authorization": f"Bearer {key}"})


def test_new_key_ends_in_its_checksum(kiln):
    key = kiln.create_key(unique("fmt"), "--route", "/anything")
    match = KEY_FORMAT.fullmatch(key)
    assert match, f"not kiln_<8-char id>_<secret><checksum>: {key!r}"
    assert match.group(3) == checksum(key[:-6])


def test_key_secret_is_stored_nowhere(kiln):
    name = unique("secret")
    key = kiln.create_key(name, "--route", "/anything")
    secret = KEY_FORMAT.fullmatch(key).group(2)

    databases = [p for p in kiln.data.rglob("*") if p.suffix in (".db", ".sqlite", ".sqlite3")]
    assert databases, f"no SQLite database under {kiln.data}"
    for db in databases:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            for table in tables:
                for row in conn.execute(f'SELECT * FROM "{table}"'):
                    for value in row:
                        text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
                        assert secret not in text, f"secret stored in {db.name}:{table}"
        finally:
            conn.close()
    # Byte for byte too: WAL, journals, anything else in the data dir, and the daemon log.
    files = [p for p in kiln.data.rglob("*") if p.is_file() and p.name != "admin.key"]
    for path in files + [kiln.log_path]:
        assert secret.encode() not in path.read_bytes(), f"secret found in {path}"
    # Listings never show it again.
    listed = entry(kiln, name)
    assert "key" not in listed and secret not in str(listed), listed


def test_every_bad_key_gets_the_same_answer(kiln, tmp_path):
    """Unknown id, wrong secret, bad checksum, expired, revoked: one 401, one message."""
    fn = kiln.deploy_handler(tmp_path, OK, auth="key")
    good = kiln.create_key(unique("good"), "--route", fn.path)
    assert call(fn, good).status_code == 200
    body = good[:-6]
    wrong_secret = body[:14] + ("a" if body[14] != "a" else "b") + body[15:]
    unknown_id = "kiln_" + ("z" if body[5] != "z" else "y") + body[6:]
    expired = kiln.create_key(unique("expired"), "--route", fn.path, "--expires", "1s")
    revoked_name = unique("revoked")
    revoked = kiln.create_key(revoked_name, "--route", fn.path)
    kiln.cli_ok("key", "rm", entry(kiln, revoked_name)["id"])
    wait_for(lambda: call(fn, expired).status_code == 401, 10, "the 1 s key to expire")
    bad = {
        "unknown id": unknown_id + checksum(unknown_id),
        "wrong secret": wrong_secret + checksum(wrong_secret),
        "bad checksum": body + ("000000" if good[-6:] != "000000" else "000001"),
        "expired": expired,
        "revoked": revoked,
    }
    answers = {why: call(fn, key) for why, key in bad.items()}
    for why, r in answers.items():
        assert r.status_code == 401, f"{why}: {r.status_code} {r.text}"
    assert len({r.text for r in answers.values()}) == 1, {w: r.text for w, r in answers.items()}
    assert answers["unknown id"].json()["error"]["message"] == "the API key is not valid"
    # The control API answers them alike too.
    control = {why: kiln.api("GET", "/v1/functions", key=key) for why, key in bad.items()}
    assert {r.status_code for r in control.values()} == {401}
    assert len({r.text for r in control.values()}) == 1


def test_403_names_no_key_id(kiln, tmp_path):
    fn = kiln.deploy_handler(tmp_path, OK, auth="key")
    name = unique("elsewhere")
    key = kiln.create_key(name, "--route", "/elsewhere")
    key_id = KEY_FORMAT.fullmatch(key).group(1)
    r = call(fn, key)
    assert r.status_code == 403, r.text
    assert key_id not in r.text and "not allowed on " + fn.path in r.text, r.text
    control = kiln.api("GET", "/v1/functions", key=key)
    assert control.status_code == 403 and key_id not in control.text, control.text


def test_removed_key_is_401(kiln, tmp_path):
    fn = kiln.deploy_handler(tmp_path, OK, auth="key")
    name = unique("revoked")
    key = kiln.create_key(name, "--route", fn.path)
    assert call(fn, key).status_code == 200
    kiln.cli_ok("key", "rm", entry(kiln, name)["id"])
    assert call(fn, key).status_code == 401


def test_expires_flag_sets_the_expiry(kiln):
    name = unique("month")
    kiln.create_key(name, "--route", "/x", "--expires", "30d")
    listed = entry(kiln, name)
    assert listed["expires_at"], listed
    r = kiln.cli("key", "create", unique("bad"), "--route", "/x", "--expires", "soon")
    assert r.returncode != 0 and "--expires" in r.stderr


def test_rotate_keeps_the_old_secret_for_the_grace(kiln, tmp_path):
    fn = kiln.deploy_handler(tmp_path, OK, auth="key")
    name = unique("rot")
    old = kiln.create_key(name, "--route", fn.path)
    key_id = KEY_FORMAT.fullmatch(old).group(1)
    new = kiln.cli_ok("key", "rotate", key_id, "--grace", "1h").strip().splitlines()[-1].strip()
    assert KEY_FORMAT.fullmatch(new) and new != old
    assert KEY_FORMAT.fullmatch(new).group(1) == key_id, "rotation keeps the id"
    assert call(fn, new).status_code == 200
    assert call(fn, old).status_code == 200, "the old secret works within the grace"
    assert entry(kiln, name)["previous_valid_until"]
    # Without a grace the old secret stops at once.
    newer = kiln.cli_ok("key", "rotate", key_id).strip().splitlines()[-1].strip()
    assert call(fn, newer).status_code == 200
    assert call(fn, new).status_code == 401
    assert call(fn, old).status_code == 401


def test_last_used_at_is_shown(kiln, tmp_path):
    fn = kiln.deploy_handler(tmp_path, OK, auth="key")
    name = unique("used")
    key = kiln.create_key(name, "--route", fn.path)
    assert entry(kiln, name)["last_used_at"] is None
    assert call(fn, key).status_code == 200
    assert entry(kiln, name)["last_used_at"], "noted on use"
    assert "LAST USED" in kiln.cli_ok("key", "ls")


def test_last_used_at_survives_a_restart(start_kiln, tmp_path):
    k = start_kiln()
    fn = k.deploy_handler(tmp_path, OK, auth="key")
    name = unique("kept")
    key = k.create_key(name, "--route", fn.path)
    assert call(fn, key).status_code == 200
    used = entry(k, name)["last_used_at"]
    assert k.stop() == 0
    k.start()
    assert entry(k, name)["last_used_at"] == used, "flushed at shutdown"


def test_old_format_keys_keep_working_and_are_marked_legacy(start_kiln, tmp_path):
    k = start_kiln()
    fn = k.deploy_handler(tmp_path, OK, auth="key")
    assert k.stop() == 0
    # A key as Kiln made them before the checksum: kiln_<id>_<secret>, stored by hash.
    key_id, secret = "legacy01", "L" * 40
    db = sqlite3.connect(k.data / "kiln.db")
    with db:
        db.execute("INSERT INTO api_keys (id, name, secret_sha256, routes, functions, admin, created_at, legacy) "
                   "VALUES (?, 'old', ?, ?, '[]', 0, 1, 1)",
                   (key_id, hashlib.sha256(secret.encode()).hexdigest(), json.dumps([fn.path])))
    db.close()
    k.start()
    old = f"kiln_{key_id}_{secret}"
    assert LEGACY_FORMAT.fullmatch(old)
    assert call(fn, old).status_code == 200
    assert entry(k, "old")["legacy"] is True
    assert [line for line in k.cli_ok("key", "ls").splitlines() if key_id in line and "legacy" in line]
    # The admin key of the data folder keeps working too (made before: legacy or not).
    assert k.api("GET", "/v1/keys").status_code == 200


def test_create_key_fields_are_type_checked(kiln):
    """Defect 11: "admin": "yes" was a 500. Every field of POST /v1/keys: 400 on a wrong type."""
    bad_bodies = [
        {"name": "k", "routes": ["/x"], "admin": "yes"},
        {"name": 5, "routes": ["/x"]},
        {"name": "k", "routes": "/x"},
        {"name": "k", "routes": [1]},
        {"name": "k", "functions": {"a": 1}},
        {"name": "k", "role": "root"},
        {"name": "k", "role": 1},
        {"name": "k", "role": "reader", "admin": True},
        {"name": "k", "routes": ["/x"], "expires_in_s": "30d"},
        {"name": "k", "routes": ["/x"], "expires_in_s": 0},
        {"name": "k", "routes": ["/x"], "expires_in_s": 1.5},
        {"name": "k", "routes": ["/x"], "surprise": True},
        {"name": "", "routes": ["/x"]},
        {"name": "k"},
        [],
    ]
    for body in bad_bodies:
        r = kiln.api("POST", "/v1/keys", json=body)
        assert r.status_code == 400, f"{body} -> {r.status_code} {r.text}"
        assert r.json()["error"]["code"] == "invalid_argument", r.text
    for body in ({"name": unique("r"), "role": "reader"}, {"name": unique("a"), "admin": True}):
        assert kiln.api("POST", "/v1/keys", json=body).status_code == 201, body
    r = kiln.api("POST", "/v1/keys/nosuchid/rotate", json={"grace_s": "1h"})
    assert r.status_code == 400, r.text
    assert kiln.api("POST", "/v1/keys/nosuchid/rotate", json={}).status_code == 404


def test_admin_key_file_is_private(kiln):
    path = kiln.data / "admin.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert KEY_FORMAT.fullmatch(kiln.admin_key)
    assert requests.get(kiln.url + "/v1/keys", timeout=30).status_code == 401
