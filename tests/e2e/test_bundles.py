"""Bundle uploads are untrusted archives: anything that could write outside the
extraction directory, or is not a plain file or directory, or exceeds the caps, is
refused with 400 and leaves nothing behind. Good Lambda-style archives deploy."""
import os
import re
import tarfile
import uuid
from pathlib import Path

import pytest

from helpers import handler_tar_gz, handler_zip, tar_file, tar_gz, tar_special, unique, zip_bytes

KILN_SERVE_FLAGS = ("--max-bundle-mb", "1", "--max-bundle-files", "50")

MARK = uuid.uuid4().hex[:12]  # in every path a bad archive names, to look for later
HANDLER = tar_file("handler.py", b"def handler(event, context):\n    return 1\n")
GZIP, ZIP = "application/gzip", "application/zip"


def tar_with(*members):
    return tar_gz([HANDLER, *members]), GZIP


BAD = {
    "tar-absolute-path": tar_with(tar_file(f"/tmp/kiln-e2e-abs-{MARK}", b"x")),
    "tar-dotdot": tar_with(tar_file(f"../evil-{MARK}", b"x")),
    "tar-deep-dotdot": tar_with(tar_file(f"a/../../../../../../../../tmp/kiln-e2e-deep-{MARK}", b"x")),
    "tar-symlink-relative-outside": tar_with(tar_special("passwd", tarfile.SYMTYPE, "../../etc/passwd")),
    "tar-symlink-absolute": tar_with(tar_special("passwd", tarfile.SYMTYPE, "/etc/passwd")),
    "tar-write-through-symlink": tar_with(
        tar_special("d", tarfile.SYMTYPE, f"/tmp/kiln-e2e-dir-{MARK}"),
        tar_file("d/pwn", b"x")),
    "tar-hardlink-outside": tar_with(tar_special("passwd", tarfile.LNKTYPE, "/etc/passwd")),
    "tar-char-device": tar_with(tar_special("null", tarfile.CHRTYPE)),
    "tar-fifo": tar_with(tar_special("pipe", tarfile.FIFOTYPE)),
    "zip-dotdot": (zip_bytes({"handler.py": b"", f"../evil-{MARK}": b"x"}), ZIP),
    "zip-absolute-path": (zip_bytes({"handler.py": b"", f"/tmp/kiln-e2e-zabs-{MARK}": b"x"}), ZIP),
    "zip-symlink-outside": (zip_bytes({"handler.py": b""}, symlinks=[("passwd", "/etc/passwd")]), ZIP),
    "too-many-files": tar_with(*[tar_file(f"f{i}.txt", b"x") for i in range(51)]),
    "over-size-cap": tar_with(tar_file("blob.bin", os.urandom(1536 * 1024))),
    "unpacks-over-size-cap": tar_with(tar_file("zeros.bin", bytes(8 * 1024 * 1024))),
    "not-an-archive": (b"just some bytes, not an archive", GZIP),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_archive_is_refused(kiln, case):
    data, content_type = BAD[case]
    r = kiln.api("POST", "/v1/blobs", data=data, headers={"Content-Type": content_type})
    allowed = {400, 413} if "size-cap" in case else {400}
    assert r.status_code in allowed, f"{case}: {r.status_code} {r.text}"
    assert r.json()["error"]["message"], r.text


def test_nothing_was_written_outside(kiln):
    for target in ("kiln-e2e-abs", "kiln-e2e-deep", "kiln-e2e-dir", "kiln-e2e-zabs"):
        assert not Path(f"/tmp/{target}-{MARK}").exists(), target
    # The daemon's temp root holds the data dir; nothing named by a bad archive may
    # exist anywhere under it, inside the data dir (refused = not kept) or beside it.
    root = kiln.data.parent.parent
    leaked = [os.path.join(d, n) for d, dirs, files in os.walk(root)
              for n in dirs + files if MARK in n]
    assert not leaked, leaked


def test_good_archive_upload_answers_digest_and_counts(kiln):
    r = kiln.api("POST", "/v1/blobs", data=handler_tar_gz("def handler(e, c):\n    return 1\n"),
                 headers={"Content-Type": GZIP})
    assert r.status_code == 201, r.text
    blob = r.json()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", blob["digest"]), blob
    assert blob["files"] == 1 and blob["size"] > 0, blob


@pytest.mark.parametrize("suffix, build", [(".zip", handler_zip), (".tar.gz", handler_tar_gz)])
def test_lambda_style_archive_deploys(kiln, tmp_path, suffix, build):
    name = unique("z")
    archive = tmp_path / f"bundle{suffix}"
    archive.write_bytes(build(f"""
        def handler(event, context):
            return {{"from": "{suffix}", "event": event}}
        """))
    kiln.cli_ok("deploy", archive, "--name", name)
    r = kiln.api("POST", f"/v1/functions/{name}/invocations", json={"a": 1})
    assert r.status_code == 200, r.text
    assert r.json() == {"from": suffix, "event": {"a": 1}}
