"""API keys: shown once, stored only as a hash, revocable (SPEC §1, §4)."""
import re
import sqlite3
import stat

from helpers import listing, unique

KEY_FORMAT = re.compile(r"kiln_([A-Za-z0-9]{8})_(\S+)")
OK = """
def handler(event, context):
    return "ok"
"""


def test_key_secret_is_stored_nowhere(kiln):
    name = unique("secret")
    key = kiln.create_key(name, "--route", "/anything")
    match = KEY_FORMAT.fullmatch(key)
    assert match, f"not kiln_<8-char id>_<secret>: {key!r}"
    secret = match.group(2)

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
    [listed] = [k for k in listing(kiln.cli_json("key", "ls"), "keys") if k["name"] == name]
    assert "key" not in listed and secret not in str(listed), listed


def test_removed_key_is_401(kiln, tmp_path):
    fn = kiln.deploy_handler(tmp_path, OK, auth="key")
    name = unique("revoked")
    key = kiln.create_key(name, "--route", fn.path)
    assert fn.call(json={}, headers={"Authorization": f"Bearer {key}"}).status_code == 200
    [entry] = [k for k in listing(kiln.cli_json("key", "ls"), "keys") if k["name"] == name]
    kiln.cli_ok("key", "rm", entry["id"])
    assert fn.call(json={}, headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_admin_key_file_is_private(kiln):
    path = kiln.data / "admin.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert KEY_FORMAT.fullmatch(kiln.admin_key)
