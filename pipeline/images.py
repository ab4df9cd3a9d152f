"""Safe decoding of untrusted image files into RGB images, thumbnails and metadata.

Every bulk-indexing worker and the dashboard's upload go through `decode_image`, so it must
never raise for bad input: one broken file out of 10^8 becomes a `DecodedImage` with a one-line
`error`, and the job moves on. Only genuine programming errors propagate.

No torch, ray or lancedb here: this module is plain Pillow + numpy so it runs on any CPU worker.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import struct
import warnings
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pipeline.codecs import HEIF_AVAILABLE, decode_raw, heif_missing_reason
from pipeline.errors import BadInputError
from pipeline.formats import PILLOW_FORMAT_NAMES, raw_format_of
from pipeline.photo_metadata import empty_metadata, photo_metadata

# Decoders we let near untrusted bytes (pipeline/formats.py is the one list; RAW goes to rawpy).
# Only those this install has: Image.open refuses a list naming an unregistered format (HEIF
# without pillow-heif), and one missing optional package must not stop every other format.
Image.init()
ALLOWED_FORMATS = tuple(name for name in PILLOW_FORMAT_NAMES if name in Image.OPEN)
# What Pillow raises on hostile or damaged bytes (Image.open itself treats the last three as "not this format").
_HEADER_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)
_PIXEL_ERRORS = _HEADER_ERRORS + (IndexError, TypeError, KeyError, ZeroDivisionError)
_WHITE = (255, 255, 255)
_ROTATED_ORIENTATIONS = (5, 6, 7, 8)  # EXIF orientations that swap width and height
_MB = 1024 * 1024


@dataclass(frozen=True)
class DecodeLimits:
    max_file_bytes: int = 50 * _MB
    max_pixels: int = 100_000_000  # width*height, checked from the header before any pixel is decoded
    thumbnail_size: int = 256  # longest side of the stored JPEG thumbnail
    # Seconds an http(s) source may take to connect or to send its next bytes; a whole download
    # gets HTTP_DOWNLOAD_FACTOR times this. A server that never answers costs one file, not the job.
    http_timeout_s: float = 30.0
    # False (index --no-location, IMAGESEARCH_NO_LOCATION=1): GPS and place names are never read.
    location: bool = True

    def __post_init__(self) -> None:
        for name in ("max_file_bytes", "max_pixels", "thumbnail_size", "http_timeout_s"):
            if getattr(self, name) <= 0:
                raise BadInputError(f"DecodeLimits.{name} must be positive, got {getattr(self, name)!r}")


@dataclass
class DecodedImage:
    """The outcome of decoding one file.

    `width`/`height` are the original full-resolution size after EXIF orientation. When a
    `draft_size` was requested for a JPEG, `image` may be smaller than `width` x `height`
    (JPEG DCT scaling), but its shorter side is still >= draft_size unless the original is smaller.
    """

    uri: str
    image: Image.Image | None  # RGB, EXIF orientation applied; None on failure
    id: str = ""  # sha256 hex of the raw file bytes; "" if the bytes could not be read
    file_name: str = ""
    width: int = 0
    height: int = 0
    format: str = ""
    file_size: int = 0
    thumbnail: bytes = b""  # JPEG, longest side <= limits.thumbnail_size
    error: str | None = None  # one line, human readable
    # Photo columns from EXIF (pipeline/photo_metadata.py; store.schema.PHOTO_COLUMNS), all nullable.
    metadata: dict = field(default_factory=empty_metadata)

    @property
    def ok(self) -> bool:
        return self.error is None and self.image is not None


def content_id(data: bytes) -> str:
    """The row id: sha256 of the file bytes, so re-indexing the same file is idempotent."""
    return hashlib.sha256(data).hexdigest()


def file_name_of(uri: str) -> str:
    """Last path component of a local path or an http(s)/s3/file URI (query and fragment dropped)."""
    parts = urlsplit(uri)
    path = unquote(parts.path) if len(parts.scheme) > 1 else uri  # 1-letter scheme = Windows drive
    return path.replace(os.sep, "/").rstrip("/").rsplit("/", 1)[-1]


def read_image_file(
    path: str | os.PathLike, limits: DecodeLimits = DecodeLimits(), draft_size: int | None = None
) -> DecodedImage:
    """Read and decode a local file; the size is checked with os.stat before any byte is read."""
    uri = os.fspath(path)
    data, error, size = read_file_bytes(uri, limits)
    if data is None:
        return _fail(DecodedImage(uri=uri, image=None, file_name=file_name_of(uri), file_size=size), error)
    return decode_image(data, uri, limits, draft_size)


def read_file_bytes(path: str | os.PathLike, limits: DecodeLimits = DecodeLimits()) -> tuple[bytes | None, str | None, int]:
    """(bytes, None, size) or (None, one-line reason, size or 0) for a local path; never raises.

    Only regular files are opened (a FIFO or device would block or never end), and only after
    os.stat says they fit the size limit. Both runners read local files through here."""
    size = 0
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            return None, "is a directory, not a file", size
        if not stat.S_ISREG(info.st_mode):
            return None, "not a regular file", size
        if _on_kernel_filesystem(path):
            return None, "not a regular file (a kernel file under /proc or /sys)", size
        size = info.st_size
        if size > limits.max_file_bytes:
            return None, too_large_file_reason(size, limits), size
        if size == 0:  # nothing to read, and kernel files that block report size 0
            return b"", None, 0
        # O_NONBLOCK: a file that would block (a device behind a regular-looking name) fails at
        # once with EAGAIN instead of hanging the job; ordinary files ignore the flag.
        with os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as f:
            data = f.read(limits.max_file_bytes + 1)  # the file may have grown since stat
    except OSError as exc:
        return None, _os_error_reason(exc), size
    except ValueError as exc:  # e.g. an embedded NUL in a path from a list file
        return None, f"cannot read file: {exc}", size
    return data, None, size


_KERNEL_FILESYSTEMS = ("/proc/", "/sys/")  # (devices under /dev are not regular files; /dev/shm is plain tmpfs)


def _on_kernel_filesystem(path: str | os.PathLike) -> bool:
    """/proc/kmsg is a "regular file" that blocks forever; nothing under these holds images."""
    real = os.path.realpath(path)
    return real.startswith(_KERNEL_FILESYSTEMS)


def decode_image(
    data: bytes, uri: str, limits: DecodeLimits = DecodeLimits(), draft_size: int | None = None
) -> DecodedImage:
    """Decode raw file bytes into an RGB image, metadata and thumbnail; never raises for bad bytes.

    `draft_size` is a speed hint for JPEG: the decoder may produce a reduced image whose shorter
    side is still >= 2 x draft_size, while width/height keep reporting the original size. Indexing
    passes the model's input side (224 for ViT-B/32): a 4000x3000 photo then decodes at 1000x750.
    Twice, not once: DCT scaling right down to the model input changed the vectors (cosine to full
    decoding as low as 0.974, retrieval precision@10 -0.010 in benchmarks/quality_bench.py); from
    twice the input side the final resize gives the same vectors (cosine >= 0.9999). The thumbnail
    (longest side <= 256) comes from the same reduced image.
    """
    data = data if isinstance(data, bytes) else bytes(data)  # bytearray, memoryview
    result = DecodedImage(uri=uri, image=None, file_name=file_name_of(uri), file_size=len(data))
    if not data:
        return _fail(result, "empty file (0 bytes)")
    result.id = content_id(data)
    if len(data) > limits.max_file_bytes:
        return _fail(result, too_large_file_reason(len(data), limits))

    raw_format = raw_format_of(uri)
    if raw_format:
        picture, exif_source, error = decode_raw(data, raw_format, limits.max_pixels)
        if picture is None:
            return _fail(result, error)
        raw_size = picture.info.get("raw_size")
        decoded = _decode_opened(picture, result, limits, draft_size, exif_source)
        decoded.format = raw_format
        if decoded.ok and raw_size:  # width/height report the sensor's size, as for a JPEG's DCT draft
            decoded.width, decoded.height = raw_size
        return decoded

    # Our max_pixels check is the authority, so Pillow's process-wide bomb *warning* is silenced
    # locally, as are its warnings about corrupt metadata (we handle those outcomes ourselves).
    # Pillow's hard DecompressionBombError (above 2 x Image.MAX_IMAGE_PIXELS, ~179 MP by default)
    # still fires first for bigger images; an application wanting more raises that global itself.
    # (catch_warnings is process-wide before Python 3.14: fine for Ray's one-task-per-process workers.)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        try:
            img = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
        except UnidentifiedImageError:
            return _fail(result, _why_not_an_image(data))
        except Image.DecompressionBombError as exc:
            return _fail(result, _pillow_bomb_reason(data, exc, result, limits))
        except _HEADER_ERRORS as exc:
            return _fail(result, f"truncated or corrupt image data: {exc}")
        return _decode_opened(img, result, limits, draft_size)


def _decode_opened(img: Image.Image, result: DecodedImage, limits: DecodeLimits, draft_size: int | None,
                   exif_source: Image.Exif | None = None):
    result.format = "JPEG" if img.format == "MPO" else (img.format or "")
    width, height = img.size
    orientation = _exif_orientation(img)
    if orientation in _ROTATED_ORIENTATIONS:
        width, height = height, width
    result.width, result.height = width, height
    if width <= 0 or height <= 0:
        return _fail(result, f"truncated or corrupt image data: invalid size {width}x{height}")
    if width * height > limits.max_pixels:
        return _fail(result, _too_many_pixels(width, height, limits))
    try:
        if draft_size and result.format == "JPEG":
            img.draft("RGB", (2 * draft_size, 2 * draft_size))  # see decode_image
        img.load()  # first frame only for GIF/WEBP/TIFF; truncated data raises here
    except Image.DecompressionBombError as exc:  # TIFF tiles and GIF frames are checked again at load
        return _fail(result, f"image too large: {exc}")
    except _PIXEL_ERRORS as exc:
        return _fail(result, f"truncated or corrupt image data: {exc}")
    except MemoryError:
        return _fail(result, "not enough memory to decode the image")
    # Read before exif_transpose, which drops the orientation; the thumbnail below never gets EXIF.
    result.metadata = photo_metadata(exif_source or img, location=limits.location)
    if orientation in range(2, 9):
        try:
            img = ImageOps.exif_transpose(img)
        except Exception:  # noqa: BLE001 - a corrupt EXIF block must not cost us the picture
            if orientation in _ROTATED_ORIENTATIONS:  # left unrotated, so report the unrotated size
                result.width, result.height = result.height, result.width
    if (img.width - img.height) * (result.width - result.height) < 0:
        # Pillow's TIFF loader turns the picture itself (and drops the tag): report what was decoded
        result.width, result.height = result.height, result.width
    try:
        rgb = to_rgb(img)
    except Exception as exc:  # noqa: BLE001 - exotic TIFF modes
        return _fail(result, f"unsupported colour mode {img.mode}: {exc}")
    result.thumbnail = make_thumbnail(rgb, limits.thumbnail_size)
    result.image = crop_extreme_aspect(rgb)
    return result


# Longest side over shortest side that the encoder is handed. The model resizes the short side to
# its input (224) and then crops the centre square, so a 1x20000 strip would first be stretched to
# 224x4,480,000 (10 GB); the centre of the strip is all the model ever sees, so cropping the long
# side to this ratio first changes nothing it sees and bounds the resize at 224x3584.
MAX_ASPECT_RATIO = 16


def crop_extreme_aspect(rgb: Image.Image, max_ratio: int = MAX_ASPECT_RATIO) -> Image.Image:
    """The centre of `rgb`, cut so its long side is at most `max_ratio` times its short side."""
    width, height = rgb.size
    short = max(1, min(width, height))
    longest = short * max_ratio
    if max(width, height) <= longest:
        return rgb
    if width > height:
        left = (width - longest) // 2
        return rgb.crop((left, 0, left + longest, height))
    top = (height - longest) // 2
    return rgb.crop((0, top, width, top + longest))


def _exif_orientation(img: Image.Image) -> int:
    try:
        value = img.getexif().get(0x0112, 1)
        return int(value) if value in range(1, 9) else 1
    except Exception:  # noqa: BLE001 - corrupt EXIF: treat as unrotated
        return 1


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB: transparency on white, high bit depths rescaled, not clipped."""
    if img.mode == "RGB" and "transparency" not in img.info:
        return img
    if img.mode.startswith(("I", "F")):  # before alpha: Pillow's own I;16 -> RGBA conversion clips
        return Image.fromarray(_to_uint8(img), "L").convert("RGB")
    if img.mode in ("RGBA", "LA", "La", "RGBa", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")  # honours P/L/RGB transparency keys and premultiplied modes
        background = Image.new("RGB", rgba.size, _WHITE)
        background.paste(rgba.convert("RGB"), mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")  # L, 1, P, CMYK (JPEG Adobe inversion is handled by the decoder), YCbCr...


def _to_uint8(img: Image.Image) -> np.ndarray:
    """Map 16-bit, 32-bit integer and float grayscale onto 0..255 without clipping to white."""
    arr = np.nan_to_num(np.asarray(img, dtype=np.float64))
    lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
    if img.mode.startswith("I;16"):
        scaled = arr / 257.0
    elif img.mode.startswith("F") and lo >= 0 and hi <= 1:
        scaled = arr * 255.0
    elif lo >= 0 and hi <= 255:
        scaled = arr  # 8-bit data stored in a wide mode
    elif img.mode.startswith("I") and lo >= 0 and hi <= 65535:
        scaled = arr / 257.0  # 16-bit data in a 32-bit mode (older Pillow PNGs)
    else:
        scaled = (arr - lo) * (255.0 / (hi - lo))  # arbitrary range: stretch
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def make_thumbnail(rgb: Image.Image, size: int, quality: int = 85) -> bytes:
    """JPEG bytes whose longest side is <= size; aspect ratio kept, never upscaled."""
    scale = min(1.0, size / max(rgb.size))
    target = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
    thumb = rgb if target == rgb.size else rgb.resize(target, Image.Resampling.BICUBIC, reducing_gap=3.0)
    buf = io.BytesIO()
    thumb.save(buf, "JPEG", quality=quality, exif=b"")  # never the original's EXIF: GPS must not leak
    return buf.getvalue()


def _why_not_an_image(data: bytes) -> str:
    head = data[:16]
    Image.init()
    for fmt in Image.ID:
        accept = Image.OPEN[fmt][1]
        try:
            recognised = accept is not None and accept(head)
        except Exception:  # noqa: BLE001 - a sniffer choking on odd bytes just means "not this format"
            recognised = False
        if recognised:
            if fmt in ALLOWED_FORMATS:
                return f"truncated or corrupt image data: unreadable {fmt} header"
            return f"unsupported format {fmt}"
    text = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"<svg" in text:
        return "unsupported format SVG"
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"hevc"):
        return "unsupported format HEIC" if HEIF_AVAILABLE else heif_missing_reason()
    if data.startswith(b"%PDF"):
        return "unsupported format PDF"
    if text.startswith((b"<!doctype html", b"<html")) or b"<html" in text[:512]:
        return "not an image (looks like HTML)"
    sample = data[:2048]
    if b"\x00" not in sample and sample.decode("utf-8", "replace").count("\ufffd") <= 2:
        return "not an image (looks like text)"
    return "not an image (unrecognised format)"


def too_large_file_reason(size: int, limits: DecodeLimits) -> str:
    return f"file too large: {size / _MB:.1f} MB > {limits.max_file_bytes / _MB:.1f} MB limit"


def _too_many_pixels(width: int, height: int, limits: DecodeLimits) -> str:
    pixels = width * height
    return f"image too large: {width}x{height} = {_megapixels(pixels)} > {_megapixels(limits.max_pixels)} limit"


def _pillow_bomb_reason(data: bytes, exc: Exception, result: DecodedImage, limits: DecodeLimits) -> str:
    """Say which size tripped Pillow's guard: re-read just the header with the matching plugin."""
    for fmt in ALLOWED_FORMATS:
        factory, accept = Image.OPEN.get(fmt, (None, None))
        try:
            if factory is None or not (accept is None or accept(data[:16]) is True):
                continue
            header = factory(io.BytesIO(data), "")  # plugin constructors skip Image.open's bomb check
        except Exception:  # noqa: BLE001 - not this format, or the plugin checks again itself
            continue
        result.width, result.height = header.size
        result.format = "JPEG" if header.format == "MPO" else header.format or ""
        if header.size[0] * header.size[1] > limits.max_pixels:
            return _too_many_pixels(*header.size, limits)
        break
    return f"image too large for Pillow's decompression-bomb guard (raise PIL.Image.MAX_IMAGE_PIXELS): {exc}"


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.1f} MP" if pixels >= 100_000 else f"{pixels} pixels"


def _os_error_reason(exc: OSError) -> str:
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        return "file not found"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, BlockingIOError):
        return "not a regular file (reading it would block)"
    return f"cannot read file: {exc.strerror or exc}"


def _fail(result: DecodedImage, reason: str) -> DecodedImage:
    result.image = None
    result.error = " ".join(str(reason).split())[:300] or "unknown error"
    return result
