"""The same FastAPI app as a Ray Serve deployment: two replicas on the session's local Ray, one table."""

from __future__ import annotations

import pytest
import requests

from pipeline.api.settings import ApiSettings
from tests.api_server import free_port
from tests.dashboard_support import PHOTOS, build_library

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_two_ray_serve_replicas_both_answer_over_one_table(ray_session, tmp_path, tiny_clip_dir):
    from ray import serve

    from pipeline.api.ray_serve import deploy

    db = build_library(tmp_path, tiny_clip_dir)
    settings = ApiSettings(db=str(db), model=tiny_clip_dir, device="cpu", rate_per_s=0)
    port = free_port()
    deploy(settings, replicas=2, port=port, num_cpus=0.25)
    url = f"http://127.0.0.1:{port}"
    try:
        replicas = set()
        # Serve routes each request to one of the two replicas; 200 requests all reaching the same
        # one would take odds of 2**-199, so seeing both is a statement about routing, not luck.
        for _ in range(200):
            health = requests.get(url + "/health", timeout=60).json()
            assert health["status"] == "ok" and health["table"]["rows"] == PHOTOS
            replicas.add(health["replica"])
            if len(replicas) == 2:
                break
        assert len(replicas) == 2
        found = requests.get(url + "/search", params={"query": "a photo", "k": 3}, timeout=60).json()
        assert len(found["results"]) == 3
        assert requests.get(url + "/images/not-hex", timeout=60).json() == {
            "error": "an image id is hex, at least 6 characters, got 'not-hex'"}
    finally:
        serve.shutdown()
