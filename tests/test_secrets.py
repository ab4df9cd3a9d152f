"""Storage credentials never reach logs, errors or JSON output."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sample_images import write_photos

ROOT = Path(__file__).resolve().parents[1]
SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYSECRET"
KEY_ID = "AKIAEXAMPLEKEYID1234"


def cli(*args, env):
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)


@pytest.mark.slow
def test_credentials_never_appear_in_output(tmp_path, tiny_clip_dir):
    env = {**os.environ, "AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET,
           "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_REGION": "us-east-1",
           "IMAGESEARCH_MODEL": tiny_clip_dir, "PYTHONPATH": str(ROOT)}
    write_photos(tmp_path / "photos", 2)
    runs = [
        cli("index", str(tmp_path / "photos"), "--db", str(tmp_path / "db"), "-v", env=env),
        cli("stats", "--json", "--db", str(tmp_path / "db"), "-v", env=env),
        cli("search", "--text", "x", "--json", "--db", str(tmp_path / "db"), "-v", env=env),
        cli("stats", "--db", "s3://bucket/library", "-v", env=env),  # unreachable object store
    ]
    assert [r.returncode for r in runs] == [0, 0, 0, 2]
    assert "cannot reach the database at s3://bucket/library: connection refused" in runs[-1].stderr
    for run in runs:
        for text in (run.stdout, run.stderr):
            assert SECRET not in text and KEY_ID not in text


def test_credentials_inside_a_database_uri_are_redacted_in_the_one_line_error(tmp_path):
    env = {**os.environ, "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_REGION": "us-east-1",
           "PYTHONPATH": str(ROOT)}
    run = cli("stats", "--db", f"s3://{KEY_ID}:{SECRET}@bucket/library", env=env)
    assert run.returncode == 2 and run.stderr.count("\n") == 1
    assert run.stderr.startswith("error: cannot reach the database at s3://***@bucket/library: ")
    assert SECRET not in run.stdout + run.stderr and KEY_ID not in run.stdout + run.stderr


def test_a_bucket_whose_region_cannot_be_found_is_the_one_line_unreachable_error():
    """The text LanceDB raises offline for `stats --db s3://bkt/lib` with no region (captured; the
    test sends no traffic beyond loopback)."""
    from store import LibraryError
    from store.commits import raise_if_unreachable as _raise_if_unreachable
    error = RuntimeError("lance error: LanceError(IO): Generic S3 error: Failed to resolve region for bucket "
                         "'bkt', /root/.cargo/registry/src/lance-io-13.0.0/src/object_store/providers/aws.rs:319:13")
    with pytest.raises(LibraryError) as caught:
        _raise_if_unreachable(f"s3://{KEY_ID}:{SECRET}@bkt/lib", error)
    assert str(caught.value).startswith("cannot reach the database at s3://***@bkt/lib: cannot find the bucket's region")
    assert SECRET not in str(caught.value)


def test_redact_uri_hides_userinfo_and_leaves_everything_else():
    from store.redact import redact_uri
    assert redact_uri("failed: http://user:pass@host:8/a.jpg?x=1 and s3://K:S@b/k") == \
        "failed: http://***@host:8/a.jpg?x=1 and s3://***@b/k"
    assert redact_uri("mail me@example.com, see /a@b/c.jpg and http://host/a@b.jpg") == \
        "mail me@example.com, see /a@b/c.jpg and http://host/a@b.jpg"
