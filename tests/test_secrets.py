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
