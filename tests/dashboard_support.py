"""A small real library (tiny random CLIP, photos on disk) for the dashboard tests, copied per test."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

from tests.sample_images import make_image, write_photos

PHOTOS = 8


def build_library(root: Path, model_dir: str) -> Path:
    """root/data/db with PHOTOS images indexed from root/photos; returns the db path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.encoder import ClipEncoder
    from pipeline.ingest.index import index
    from store import ImageLibrary

    photos = write_photos(root / "photos", PHOTOS, size=(160, 120))
    db = root / "data" / "db"
    library = ImageLibrary(str(db))
    listing = root / "photos.parquet"  # per-image descriptions and tags, as a curator would give them
    pq.write_table(pa.table({"uri": [str(p) for p in photos], "description": [f"sample {i}" for i in range(PHOTOS)],
                             "tags": [["sample", "even" if i % 2 == 0 else "odd"] for i in range(PHOTOS)]}), listing)
    report = index(library, ClipEncoder(model_dir, device="cpu"), [str(listing)])
    assert report.indexed == PHOTOS, report
    return db


def copy_library(template_root: Path, target_root: Path) -> Path:
    """A private copy (db + photos keep their absolute uris pointing at the template's photos)."""
    shutil.copytree(template_root / "data", target_root / "data")
    return target_root / "data" / "db"


def jpeg_bytes(seed: int, size=(96, 72)) -> bytes:
    buf = io.BytesIO()
    make_image(seed, size).save(buf, "JPEG")
    return buf.getvalue()


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DashboardServer:
    """`streamlit run dashboard/app.py` on a free loopback port, stopped by its own pid."""

    def __init__(self, env: dict[str, str], port: int | None = None):
        import os
        import sys

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "OMP_NUM_THREADS": "2", "HF_HUB_OFFLINE": "1", **env}
        self.command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"),
                        "--server.port", str(self.port), "--server.address", "127.0.0.1",
                        "--server.headless", "true", "--browser.gatherUsageStats", "false",
                        "--server.fileWatcherType", "none", "--client.toolbarMode", "viewer"]
        self.process = None

    def __enter__(self) -> "DashboardServer":
        import subprocess
        import tempfile
        import time
        import urllib.request

        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited early:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        self.__exit__(None, None, None)
        raise RuntimeError(f"streamlit did not answer within 60 s:\n{self.output()}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except Exception:  # noqa: BLE001
                self.process.kill()
                self.process.wait()


def launch_chromium(playwright):
    import shutil

    return playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS, headless=True)


# True once the last rerun is drawn: no stale element left and every image in the main area loaded.
SETTLED_JS = """(minImages) => {
  if (document.querySelector('[data-stale="true"]')) return false;
  const imgs = [...document.querySelectorAll('section.main [data-testid="stImage"] img, [data-testid="stMain"] [data-testid="stImage"] img')];
  return imgs.length >= minImages && imgs.every(i => i.complete && i.naturalWidth > 0);
}"""


def run_search(page, text: str, expected_images: int, timeout_ms: int = 30_000) -> None:
    """Type a query, press Search, wait until that query's results grid is drawn with its thumbnails."""
    page.get_by_label("Describe what you are looking for").fill(text)
    # The tiny random model's scores spread far wider than CLIP's: the relevance cutoff would hide most.
    # The switch lives in the folded "Filters and options": unfold, switch off, fold again (the grid
    # must stay where a person would see it).
    cutoff = page.get_by_role("checkbox", name="Hide weak matches")
    if not cutoff.is_visible():
        options = page.get_by_text("Filters and options", exact=True)
        options.click()
        cutoff.wait_for(state="visible")
        if cutoff.is_checked():
            page.get_by_text("Hide weak matches", exact=True).click()
        options.click()
    elif cutoff.is_checked():
        page.get_by_text("Hide weak matches", exact=True).click()
    page.get_by_test_id("stBaseButton-primaryFormSubmit").click()
    page.get_by_text(f'results for "{text}"').wait_for(timeout=timeout_ms)
    page.wait_for_function(SETTLED_JS, arg=expected_images, timeout=timeout_ms)
