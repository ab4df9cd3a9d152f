"""User-facing errors and the exit code each maps to: the one place the CLI (and the API) decide
what is the user's fault, what is the run's, and what is a bug.

- BadInputError (exit 2): the request cannot be done as asked; the message says why in one line.
- ModelUnavailableError (exit 2): the model cannot be loaded; the message says how to fix it.
- RunFailedError (exit 1): the input was fine, the run failed (storage full, a job that stopped).
- store.LibraryError subclasses map by kind; StorageFullError and CorruptTableError are failed runs;
  a Rust panic from LanceDB (its answer to some malformed filters) is bad input.
Anything else is a bug: the CLI prints its traceback (with -v) instead of calling it bad input.
"""

from __future__ import annotations


class UserFacingError(Exception):
    """An error whose message is fit to show a person as it is (one line)."""

    exit_code = 2


class BadInputError(UserFacingError, ValueError):
    """A bad argument, setting, file or query (a ValueError too, for callers that catch those)."""


class ModelUnavailableError(UserFacingError, RuntimeError):
    """The model's config, processor or weights cannot be loaded (not cached, no internet, bad path)."""


class RunFailedError(UserFacingError):
    """The input was fine but the run failed."""

    exit_code = 1


def exit_code_for(error: BaseException) -> int | None:
    """The exit status for a user-facing error; None for anything else (a bug)."""
    from store.errors import CorruptTableError, LibraryError, StorageFullError, is_rust_panic  # here: the encoder imports this module without store

    if isinstance(error, (StorageFullError, CorruptTableError)):
        return 1
    if is_rust_panic(error):  # LanceDB's answer to some malformed input: a one-line bad request
        return 2
    if isinstance(error, LibraryError):
        return 2
    if isinstance(error, UserFacingError):
        return error.exit_code
    return None
