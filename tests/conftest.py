import os
import tempfile

# Two cores here: keep torch from oversubscribing when Ray workers share the machine.
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# int8 encoders keep their exported ONNX towers here, not in the user's ~/.cache
os.environ.setdefault("IMAGESEARCH_CACHE_DIR", tempfile.mkdtemp(prefix="imagesearch-test-cache-"))

import pytest

from tests.model_factory import build_random_clip


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory):
    """A tiny random CLIP checkpoint on disk, loadable with from_pretrained."""
    return str(build_random_clip(tmp_path_factory.mktemp("tiny-clip"), size="tiny"))


def pytest_configure(config):
    for marker in (
        "slow: takes more than a few seconds (Ray jobs, clusters, browsers); CI runs it too",
        "cluster: starts a multi-node Ray cluster on loopback",
        "browser: drives a real Chromium through Playwright",
        "gpu: needs CUDA; skipped without it",
    ):
        config.addinivalue_line("markers", marker)


@pytest.fixture(scope="session")
def tiny_sd_dir(tmp_path_factory):
    """A tiny random Stable Diffusion pipeline on disk (64 px native), loadable with from_pretrained."""
    from tests.diffusion_factory import build_tiny_sd

    return str(build_tiny_sd(tmp_path_factory.mktemp("tiny-sd")))


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for the whole pytest session (startup costs seconds): 2 CPUs, loopback only,
    a small object store. Yields its address so subprocess drivers can join it too."""
    from pipeline.job.run import connect

    started = connect(num_cpus=2)
    import ray

    yield ray.get_runtime_context().gcs_address
    if started:
        ray.shutdown()


@pytest.fixture(params=["local", pytest.param("ray", marks=pytest.mark.slow)])
def index_runner(request):
    """`index` flags for each runner; the Ray runner joins the session's Ray instead of starting its own."""
    if request.param == "ray":
        request.getfixturevalue("ray_session")
        return ["--runner", "ray", "--encode-batch-size", "4"]
    return ["--runner", "local"]
