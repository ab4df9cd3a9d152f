"""Read the bytes of one source: local files directly, s3:// through pyarrow's S3 filesystem,
http(s):// with requests under a bounded timeout.

Both runners read through `read_bytes` (the in-process indexer and the Ray decode tasks), so a
source fails with the same one-line reason whichever runs it. Never raises for a bad source.
"""

from __future__ import annotations

from pipeline.filesystems import s3_filesystem, s3_path
from pipeline.images import DecodeLimits, read_file_bytes, too_large_file_reason
from store.errors import one_line

# A whole download may take this many times the per-wait timeout: a server that trickles a byte
# every few seconds would never trip the per-read timeout alone.
HTTP_DOWNLOAD_FACTOR = 10


def _read_http(uri: str, limits: DecodeLimits) -> tuple[bytes | None, str | None]:
    import requests

    from pipeline.deadline import deadline, watched_session

    timeout = limits.http_timeout_s
    whole = timeout * HTTP_DOWNLOAD_FACTOR
    late = f"download timed out: not complete after {whole:g} s"
    # The watchdog shuts the connection down at the deadline, however slowly the headers or the
    # body trickle in; the checks below only say why the read stopped.
    with deadline(whole) as watchdog, watched_session() as session:
        try:
            # (connect, read): the read timeout bounds every wait for the next bytes, headers included.
            with session.get(uri, stream=True, timeout=(timeout, timeout)) as response:
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
                    if watchdog.expired:
                        return None, late
            return (None, late) if watchdog.expired else (b"".join(chunks), None)
        except requests.Timeout:
            return None, late if watchdog.expired else f"download timed out: no answer within {timeout:g} s"
        except requests.RequestException as error:
            return None, late if watchdog.expired else f"download failed: {one_line(error)}"
        except (ValueError, OSError) as error:  # a malformed URL or header; a socket shut by the watchdog
            return None, late if watchdog.expired else f"download failed: {one_line(error)}"


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
