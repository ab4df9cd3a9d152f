"""Committing to a LanceDB table that others write too: conflicts retried, a full disk and an
unreachable object store said in one line."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

from store.errors import LibraryError, StorageFullError
from store.redact import redact_uri

T = TypeVar("T")

_UNREACHABLE = ("connection refused", "connect error", "dns error", "timed out", "failed to connect",
                "failed to resolve region")


def raise_if_unreachable(db_uri: str, error: Exception) -> None:
    """Object-store connection failures arrive as pages of Rust debug output: say it in one line."""
    text = str(error).lower()
    if any(sign in text for sign in _UNREACHABLE):
        reasons = ("connection refused", "dns error", "timed out", "failed to resolve region")
        reason = next((s for s in reasons if s in text), "connection failed")
        if reason == "failed to resolve region":
            reason = "cannot find the bucket's region (set AWS_REGION, or the bucket does not exist)"
        raise LibraryError(
            f"cannot reach the database at {redact_uri(db_uri)}: {reason} "
            "(check the URI, AWS_ENDPOINT_URL and the network)"
        ) from None


def is_retryable_conflict(error: Exception) -> bool:
    text = str(error).lower()
    return "conflict" in text or "retryable" in text or "concurrent" in text


def retry_on_conflict(operation: Callable[[], T], attempts: int = 8) -> T:
    """Concurrent writers (dashboard users, a bulk job) can race on a commit: retry with backoff.
    A full disk becomes a StorageFullError; the table stays at its last committed version."""
    for attempt in range(attempts):
        try:
            return operation()
        except Exception as error:  # lancedb raises plain RuntimeError/OSError for conflicts
            if "no space left on device" in str(error).lower():
                raise StorageFullError(
                    "no space left on device: nothing was written, the table is still at its last "
                    "good version; free some space and run the same command again"
                ) from None
            if attempt == attempts - 1 or not is_retryable_conflict(error):
                raise
            time.sleep(min(0.05 * 2**attempt, 1.0))
    raise AssertionError("unreachable")
