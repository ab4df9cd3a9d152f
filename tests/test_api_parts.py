"""The API's small parts on their own: keys files, token buckets, settings from the environment."""

from __future__ import annotations

import pytest

from pipeline.api.keys import KeyFileError, KeyRing, parse_keys, presented_key
from pipeline.api.ratelimit import TokenBuckets, retry_after_header
from pipeline.api.settings import ApiSettings


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_bucket_allows_its_burst_then_refills_at_its_rate():
    clock = Clock()
    buckets = TokenBuckets(rate_per_s=2, burst=3, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)  # one token comes back every half second
    assert buckets.take("b") == 0.0  # another client has its own bucket
    clock.now = 0.5
    assert buckets.take("a") == 0.0 and buckets.take("a") > 0
    clock.now = 100
    assert [buckets.take("a") for _ in range(4)][-1] > 0  # refills only up to the burst
    assert retry_after_header(0.2) == "1" and retry_after_header(2.1) == "3"
    assert TokenBuckets(rate_per_s=0, burst=1).take("a") == 0.0  # rate 0: off


def test_keys_come_from_the_variable_and_the_file_with_their_scopes():
    keys = parse_keys("inline-key-1:read", "# team keys\nfile-key-0001 write ci robot\n\n", "keys.txt")
    ring = KeyRing(keys)
    assert [(k.key, k.scope) for k in keys] == [("inline-key-1", "read"), ("file-key-0001", "write")]
    assert keys[1].name == "ci robot" and keys[0].name != "inline-key-1"  # logs never show a key
    assert ring.find("file-key-0001").allows("write") and not ring.find("inline-key-1").allows("write")
    assert ring.find("nope") is None and ring.find(None) is None
    assert presented_key({"authorization": "Bearer abc"}) == "abc" and presented_key({"x-api-key": "k"}) == "k"


@pytest.mark.parametrize("inline, text, message", [
    ("key-without-scope", None, "KEY:SCOPE"),
    ("long-enough-key:admin", None, "scope must be read or write"),
    ("short:read", None, "at least 8 characters"),
    ("", "only-a-key\n", "line 1: write KEY SCOPE"),
])
def test_a_bad_key_entry_is_one_line_saying_where(inline, text, message):
    with pytest.raises(KeyFileError, match=message):
        parse_keys(inline, text, "keys.txt")


def test_settings_read_the_environment_once_and_options_win():
    env = {"IMAGESEARCH_DB": "/srv/db", "IMAGESEARCH_READ_ONLY": "yes", "IMAGESEARCH_API_RATE": "0",
           "IMAGESEARCH_API_CORS": "https://a.example, https://b.example", "IMAGESEARCH_API_ROOTS": "/srv/photos:/mnt/x"}
    settings = ApiSettings.from_env(env, table="other", model=None)
    assert (settings.db, settings.table, settings.read_only, settings.rate_per_s) == ("/srv/db", "other", True, 0)
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.roots == ("/srv/photos", "/mnt/x") and settings.model is None
    with pytest.raises(ValueError, match="IMAGESEARCH_API_BURST must be at least 1"):
        ApiSettings.from_env({"IMAGESEARCH_API_BURST": "0"})
    with pytest.raises(ValueError, match="IMAGESEARCH_API_SQL_TIMEOUT must be a number"):
        ApiSettings.from_env({"IMAGESEARCH_API_SQL_TIMEOUT": "soon"})
