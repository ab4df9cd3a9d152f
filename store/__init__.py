"""The LanceDB side of the image library: schema, table handle, queries. Imports no model code."""

from store.errors import (
    CorruptTableError, InvalidFilterError, InvalidRowsError, LibraryError, ModelMismatchError, ReadOnlyError,
    StorageFullError, TableNotFoundError,
)
from store.indexes import optimize, optimize_if_large
from store.library import DEFAULT_DB, DEFAULT_TABLE, AddResult, ImageLibrary

__all__ = [
    "AddResult", "CorruptTableError", "DEFAULT_DB", "DEFAULT_TABLE", "ImageLibrary", "InvalidFilterError",
    "InvalidRowsError", "LibraryError", "ModelMismatchError", "ReadOnlyError", "StorageFullError",
    "TableNotFoundError", "optimize", "optimize_if_large",
]
