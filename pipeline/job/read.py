"""Read the bytes of one source: local files and s3:// through pyarrow filesystems, http(s):// with requests.

Runs inside the CPU decode tasks. Never raises for a bad source: returns (None, reason).
"""

from __future__ import annotations

import os

from pipeline.filesystems import s3_filesystem, s3_path
from pipeline.images import DecodeLimits

HTTP_TIMEOUT_S = 30


def _too_large(size: int, limits: DecodeLimits) -> str:
    return f"file too large: {size / 2**20:.1f} MB (limit {limits.max_file_bytes / 2**20:.0f} MB)"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:300] if text else type(error).__name__


def _read_http(uri: str, limits: DecodeLimits) -> tuple[bytes | None, str | None]:
    import requests

    try:
        with requests.get(uri, stream=True, timeout=HTTP_TIMEOUT_S) as response:
            if response.status_code != 200:
                return None, f"HTTP {response.status_code} {response.reason}"
            declared = int(response.headers.get("Content-Length") or 0)
            if declared > limits.max_file_bytes:
                return None, _too_large(declared, limits)
            chunks, total = [], 0
            for chunk in response.iter_content(1 << 16):
                chunks.append(chunk)
                total += len(chunk)
                if total > limits.max_file_bytes:  # no or lying Content-Length
                    return None, _too_large(total, limits)
            return b"".join(chunks), None
    except requests.RequestException as error:
        return None, f"download failed: {_first_line(error)}"


def _read_arrow(filesystem, path: str, limits: DecodeLimits) -> tuple[bytes | None, str | None]:
    from pyarrow import fs

    try:
        info = filesystem.get_file_info(path)
        if info.type == fs.FileType.NotFound:
            return None, "file not found"
        if info.type == fs.FileType.Directory:
            return None, "is a directory, not a file"
        if info.size is not None and info.size > limits.max_file_bytes:
            return None, _too_large(info.size, limits)
        with filesystem.open_input_stream(path) as stream:
            data = stream.read(limits.max_file_bytes + 1)  # the file may have grown since the listing
        return data, None
    except PermissionError:
        return None, "permission denied"
    except OSError as error:
        return None, _first_line(error)


_LOCAL = None


def read_bytes(uri: str, limits: DecodeLimits, s3_options: dict | None = None) -> tuple[bytes | None, str | None]:
    """(bytes, None) or (None, one-line reason)."""
    global _LOCAL
    if uri.startswith(("http://", "https://")):
        return _read_http(uri, limits)
    if uri.startswith("s3://"):
        try:
            s3 = s3_filesystem(s3_options or {})
        except OSError as error:
            return None, f"cannot reach s3: {_first_line(error)}"
        return _read_arrow(s3, s3_path(uri), limits)
    if _LOCAL is None:
        from pyarrow import fs

        _LOCAL = fs.LocalFileSystem()
    path = uri[len("file://"):] if uri.startswith("file://") else uri
    if os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path):
        return None, "not a regular file"  # a FIFO or device would block or never end
    return _read_arrow(_LOCAL, os.path.abspath(path), limits)
