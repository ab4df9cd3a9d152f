"""`python -m pipeline COMMAND`: the command line. Owns parsing, exit codes and logging.

stdout carries results (one JSON document with --json); logs and progress go to stderr.
Bad input exits with status 2 and one line on stderr; a failed run exits with status 1; an
unexpected exception is a bug: status 70, its traceback with -v (pipeline/errors.py decides which is which).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback

from pipeline.commands import COMMAND_MODULES
from pipeline.errors import exit_code_for
from pipeline.settings import Settings
from store import DEFAULT_TABLE
from store.errors import is_rust_panic, one_line


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=None, help="database directory or URI (env IMAGESEARCH_DB, default ./data/lancedb)")
    common.add_argument("--table", default=None, help=f"table name (env IMAGESEARCH_TABLE, default {DEFAULT_TABLE})")
    common.add_argument("--model", default=None, help="CLIP model hub id or local directory (env IMAGESEARCH_MODEL; default: the table's model, else openai/clip-vit-base-patch32)")
    common.add_argument("--device", default=None, help="cpu, cuda, mps or auto (env IMAGESEARCH_DEVICE, default auto)")
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
    try:
        # Read once, here: every command gets its settings from args.settings, nothing reads the environment later.
        args.settings = Settings.load(db=args.db, table=args.table, model=args.model, device=args.device)
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `... | head` stopped reading: not an error, and no traceback at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except BaseException as error:  # noqa: BLE001 - sorted into user errors and bugs in one place
        if isinstance(error, SystemExit) or not (isinstance(error, Exception) or is_rust_panic(error)):
            raise
        code = exit_code_for(error)
        if code is None:  # a bug: say so, and show where with -v
            if args.verbose:
                traceback.print_exc()
            print(f"internal error: {type(error).__name__}: {one_line(error)} "
                  f"(this is a bug{'' if args.verbose else '; rerun with -v for the traceback'})", file=sys.stderr)
            return 70  # EX_SOFTWARE
        print(f"error: {one_line(error)}", file=sys.stderr)
        return code
