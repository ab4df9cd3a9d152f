"""Errors raised by the store. Each carries a one-line message fit to show a user as is."""

from store.redact import redact_uri


def one_line(error: BaseException, limit: int = 300) -> str:
    """The first line of an error's message (libraries raise pages of debug output), or its type;
    credentials inside URIs are redacted, since messages reach logs and screens."""
    text = redact_uri(str(error).strip())
    return " ".join(text.splitlines()[0].split())[:limit] if text else type(error).__name__


class LibraryError(Exception):
    """Base class: something about the library or a request to it is wrong."""


class TableNotFoundError(LibraryError):
    """The table has not been created yet (nothing indexed)."""


class ModelMismatchError(LibraryError):
    """The table's vectors were made by another model than the one asked for."""


class InvalidFilterError(LibraryError):
    """A `where` filter that does not parse or is not a pure filter expression."""


class InvalidRowsError(LibraryError):
    """Rows handed to `add` that do not fit the schema (wrong vector size, missing id...)."""


class StorageFullError(LibraryError):
    """The disk (or quota) ran out during a write; the table keeps its last committed version."""


class InvalidRequestError(LibraryError, ValueError):
    """An argument out of range or of an unknown kind (an index type, a size)."""


class ReadOnlyError(LibraryError):
    """A write on a library opened read-only (shared deployments)."""


class CorruptTableError(LibraryError):
    """The table's files cannot be read (a truncated or missing data file): named with its path."""


def is_rust_panic(error: BaseException) -> bool:
    """LanceDB reports some bad input as a Rust panic (pyo3's PanicException is a BaseException)."""
    return type(error).__name__ in ("RustPanic", "PanicException")
