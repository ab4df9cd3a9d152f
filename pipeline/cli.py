"""`python -m pipeline COMMAND`: the command line. Owns parsing, exit codes and logging.

stdout carries results (one JSON document with --json); logs and progress go to stderr.
Bad input exits with status 2 and one line on stderr; a failed run exits with status 1.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from pipeline.commands import COMMAND_MODULES
from pipeline.commands.common import UsageError
from store import DEFAULT_TABLE, LibraryError, StorageFullError
from store.errors import CorruptTableError, is_rust_panic, one_line


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=None, help="database directory or URI (env IMAGESEARCH_DB, default ./data/lancedb)")
    common.add_argument("--table", default=os.environ.get("IMAGESEARCH_TABLE", DEFAULT_TABLE), help="table name (env IMAGESEARCH_TABLE, default images)")
    common.add_argument("--model", default=None, help="CLIP model hub id or local directory (env IMAGESEARCH_MODEL; default: the table's model, else openai/clip-vit-base-patch32)")
    common.add_argument("--device", default=os.environ.get("IMAGESEARCH_DEVICE", "auto"), help="cpu, cuda, mps or auto (env IMAGESEARCH_DEVICE, default auto)")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline",
        description="Semantic image library: index, search and manage images with CLIP and LanceDB.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _common_options()
    for name in COMMAND_MODULES:
        importlib.import_module(f"pipeline.commands.{name}").register(sub, common)
    return parser


def _quiet_model_loading() -> None:
    """Keep stderr to our own lines: no weight-loading bars or hub chatter."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_VERBOSITY", "error")
    logging.getLogger("huggingface_hub").setLevel(logging.ERROR)  # offline retries: our error says it once
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    if "diffusers" in sys.modules:
        from diffusers.utils import logging as diffusers_logging

        diffusers_logging.set_verbosity_error()
    if "transformers" in sys.modules:  # already imported (tests, notebooks): env is read too late
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()


def main(argv: list[str] | None = None) -> int:
    from pipeline.commands.search import attach_dash_values

    argv = attach_dash_values(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        _quiet_model_loading()
    from pipeline.encoder import ModelUnavailableError

    try:
        return args.run(args)
    except UsageError as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 2
    except (StorageFullError, CorruptTableError) as error:  # the run failed, the input was fine
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 1
    except (LibraryError, ModelUnavailableError, ValueError, OverflowError) as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `... | head` stopped reading: not an error, and no traceback at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except BaseException as error:  # noqa: BLE001 - a bug or a library panic: one line, not pages
        if isinstance(error, SystemExit) or not (isinstance(error, Exception) or is_rust_panic(error)):
            raise
        logging.getLogger(__name__).debug("unexpected error", exc_info=True)
        print(f"error: {type(error).__name__}: {one_line(error)} (run with -v for the traceback)", file=sys.stderr)
        return 1
