"""`demo`: copy the sample photos that scikit-image ships, index them, start the dashboard."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from pipeline.commands.common import UsageError, make_encoder, open_library
from pipeline.formats import has_image_extension

REPO_ROOT = Path(__file__).resolve().parents[2]


def register(sub, common) -> None:
    p = sub.add_parser("demo", parents=[common], help="index the bundled sample photos and start the dashboard")
    p.add_argument("--samples", default="./data/samples", help="where to copy the sample photos (default ./data/samples)")
    p.add_argument("--port", type=int, default=8501, help="dashboard port (default 8501)")
    p.add_argument("--no-dashboard", action="store_true", help="only index the samples")
    p.set_defaults(run=run_demo)


def copy_sample_photos(target: str | Path) -> list[Path]:
    """scikit-image's bundled photos (astronaut, coffee, cat, rocket...): no download needed."""
    try:
        import skimage
    except ImportError:
        raise UsageError("the sample photos come with scikit-image: pip install scikit-image") from None
    source = Path(skimage.__file__).parent / "data"
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for path in sorted(source.iterdir()):
        if path.is_file() and has_image_extension(path.name) and _opens(path):
            destination = target / path.name
            if not destination.exists():
                shutil.copyfile(path, destination)
            copied.append(destination)
    return copied


def _opens(path: Path) -> bool:
    """scikit-image also ships test fixtures among its photos (a 10x10 multi-page TIFF Pillow cannot
    identify): a newcomer's first run should not open with a failure that is not theirs."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path):
            return True
    except (UnidentifiedImageError, OSError):
        return False


def dashboard_command(port: int) -> list[str]:
    """The dashboard on loopback, without Streamlit's Deploy button and usage statistics."""
    return [sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "dashboard" / "app.py"),
            "--server.address", "127.0.0.1", "--server.port", str(port), "--server.headless", "true",
            "--client.toolbarMode", "minimal", "--browser.gatherUsageStats", "false"]


def run_demo(args: argparse.Namespace) -> int:
    from pipeline.encoder import ModelUnavailableError
    from pipeline.ingest.index import IndexOptions, index

    photos = copy_sample_photos(args.samples)
    print(f"{len(photos)} sample photos in {args.samples}", file=sys.stderr)
    library = open_library(args)
    encoder = make_encoder(args, library)
    try:
        report = index(library, encoder, [args.samples], settings=args.settings, options=IndexOptions(runner="local"))
    except ModelUnavailableError as error:
        # Without the model nothing new can be indexed, but the dashboard still browses what exists
        # (and says how to get the model): open it rather than exit.
        if args.no_dashboard:
            raise
        print(f"{error}\nOpening the dashboard in browse-only mode.", file=sys.stderr)
    else:
        for failure in report.failures:
            print(f"failed: {failure.uri}: {failure.reason}", file=sys.stderr)
        print(report.summary())
    if args.no_dashboard:
        return 0
    # The dashboard is another process: hand it these settings the way it reads them.
    env = {**os.environ, "IMAGESEARCH_DB": library.db_uri, "IMAGESEARCH_TABLE": library.table_name,
           "IMAGESEARCH_MODEL": encoder.model_id}
    command = dashboard_command(args.port)
    print(f"dashboard: http://127.0.0.1:{args.port}  (Ctrl+C to stop)", file=sys.stderr)
    try:
        return subprocess.call(command, env=env)
    except KeyboardInterrupt:
        return 0
