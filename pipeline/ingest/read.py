"""Read the bytes of one source: local files directly, s3:// through pyarrow's S3 filesystem,
http(s):// with requests under a bounded timeout.

Both runners read through `read_bytes` (the in-process indexer and the Ray decode tasks), so a
source fails with the same one-line reason whichever runs it. Never raises for a bad source.
"""

from __future__ import annotations

import time

from pipeline.filesystems import s3_filesystem, s3_path
from pipeline.images import DecodeLimits, read_file_bytes, too_large_file_reason
from store.errors import one_line

# A whole download may take this many times the per-wait timeout: a server that trickles a byte
# every few seconds would never trip the per-read timeout alone.
HTTP_DOWNLOAD_FACTOR = 10


def _read_http(uri: str, limits: DecodeLimits) -> tuple[bytes | None, str | None]:
    import requests

    timeout = limits.http_timeout_s
    deadline = time.monotonic() + timeout * HTTP_DOWNLOAD_FACTOR
    try:
        # (connect, read): the read timeout bounds every wait for the next bytes, headers included.
        with requests.get(uri, stream=True, timeout=(timeout, timeout)) as response:
            if response.status_code != 200:
                return None, f"HTTP {response.status_code} {response.reason}".strip()
            declared = int(response.headers.get("Content-Length") or 0)
            if declared > limits.max_file_bytes:
                return None, too_large_file_reason(declared, limits)
            chunks, total = [], 0
            for chunk in response.iter_content(1 << 16):
                chunks.append(chunk)
                total += len(chunk)
                if total > limits.max_file_bytes:  # no or lying Content-Length
                    return None, too_large_file_reason(total, limits)
                if time.monotonic() > deadline:
                    return None, f"download timed out: not complete after {timeout * HTTP_DOWNLOAD_FACTOR:g} s"
            return b"".join(chunks), None
    except requests.Timeout:
        return None, f"download timed out: no answer within {timeout:g} s"
    except requests.RequestException as error:
        return None, f"download failed: {one_line(error)}"
    except ValueError as error:  # a malformed URL or header
        return None, f"download failed: {one_line(error)}"


def _read_s3(uri: str, limits: DecodeLimits, s3_options: dict | None) -> tuple[bytes | None, str | None]:
    from pyarrow import fs

    try:
        s3 = s3_filesystem(s3_options or {})
        path = s3_path(uri)
        info = s3.get_file_info(path)
        if info.type == fs.FileType.NotFound:
            return None, "file not found"
        if info.type == fs.FileType.Directory:
            return None, "is a directory, not a file"
        if info.size is not None and info.size > limits.max_file_bytes:
            return None, too_large_file_reason(info.size, limits)
        with s3.open_input_stream(path) as stream:
            data = stream.read(limits.max_file_bytes + 1)  # the object may have grown since the listing
        return data, None
    except PermissionError:
        return None, "permission denied"
    except OSError as error:
        return None, f"cannot read from s3: {one_line(error)}"


def read_bytes(uri: str, limits: DecodeLimits, s3_options: dict | None = None) -> tuple[bytes | None, str | None]:
    """(bytes, None) or (None, one-line reason)."""
    if uri.startswith(("http://", "https://")):
        return _read_http(uri, limits)
    if uri.startswith("s3://"):
        return _read_s3(uri, limits, s3_options)
    data, error, _ = read_file_bytes(uri.removeprefix("file://"), limits)
    return data, error
