"""What every command shares: errors, the library and encoder from the common options, output."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from pipeline.errors import BadInputError
from pipeline.formatting import human_bytes  # noqa: F401 - the commands' import
from store import ImageLibrary


UsageError = BadInputError  # the commands' name for it: bad input from the user, exit 2


def open_library(args: argparse.Namespace) -> ImageLibrary:
    """The library of the command's settings (IMAGESEARCH_READ_ONLY=1: the library refuses every write)."""
    return args.settings.open_library()


def choose_model(args: argparse.Namespace, library: ImageLibrary | None) -> str:
    """--model, then IMAGESEARCH_MODEL, then the model the table was built with, then the default."""
    return args.settings.model_for(library)


def make_encoder(args: argparse.Namespace, library: ImageLibrary | None):
    from pipeline.encoder import ClipEncoder

    return ClipEncoder(choose_model(args, library), device=args.settings.device)


def json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return None
    return str(value)


def print_json(document: Any) -> None:
    json.dump(document, sys.stdout, default=json_default, indent=2)
    sys.stdout.write("\n")
