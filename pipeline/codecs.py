"""Decoders beyond Pillow's own: HEIF/HEIC through pillow-heif's Pillow opener, camera RAW through rawpy.

Both are optional at run time: without them the file fails alone with a one-line reason naming
the package to install (pipeline/formats.py still lists the extensions, so such files are reported,
not silently skipped by the folder walk).
"""

from __future__ import annotations

import io

from PIL import Image

HEIF_PACKAGE = "pillow-heif==1.8.1"
RAW_PACKAGE = "rawpy==0.28.0"
# A RAW's embedded preview smaller than this (the 160x120 IFD0 thumbnail of older cameras) is too
# small for the model's 224 px input: demosaic instead.
MIN_PREVIEW_SIDE = 224
# libraw's `flip` -> the Pillow transpose that shows the picture upright.
_FLIPS = {3: Image.Transpose.ROTATE_180, 5: Image.Transpose.ROTATE_90, 6: Image.Transpose.ROTATE_270}


def register_heif_opener() -> bool:
    """Register pillow-heif as Pillow's HEIF opener (idempotent); False when it is not installed."""
    try:
        import pillow_heif
    except ImportError:
        return False
    if "HEIF" not in Image.OPEN:
        # Orientation stays with Pillow's EXIF handling in images.py: pillow-heif already applies the
        # HEIF container's rotation and resets the EXIF orientation to 1, so nothing turns twice.
        pillow_heif.register_heif_opener()
    return True


HEIF_AVAILABLE = register_heif_opener()


def heif_missing_reason() -> str:
    return f"HEIC/HEIF needs the optional pillow-heif package (pip install {HEIF_PACKAGE})"


def decode_raw(data: bytes, format_name: str, max_pixels: int) -> tuple[Image.Image | None, Image.Exif | Image.Image | None, str | None]:
    """(picture, EXIF source, None) or (None, None, one-line reason) for the bytes of a camera RAW file.

    The picture is the embedded JPEG preview (what the camera showed; decoded later by Pillow with
    the usual limits) when it is big enough, else a half-size demosaic (4x fewer pixels to
    interpolate, still larger than any model input). The EXIF source is the RAW file itself read as a
    TIFF (DNG, CR2, NEF, ARW, PEF and SRW are TIFF containers), else the preview. The picture's
    `info["raw_size"]` is the sensor's full (width, height), upright.
    """
    try:
        import rawpy
    except ImportError:
        return None, None, f"camera RAW ({format_name}) needs the optional rawpy package (pip install {RAW_PACKAGE})"
    try:
        with rawpy.imread(io.BytesIO(data)) as raw:
            sizes = raw.sizes
            if sizes.width * sizes.height > max_pixels:
                return None, None, (f"image too large: {sizes.width}x{sizes.height} = "
                                    f"{sizes.width * sizes.height / 1e6:.1f} MP > {max_pixels / 1e6:.1f} MP limit")
            picture = _preview(raw, rawpy, sizes.flip)
            if picture is None:
                import numpy as np

                rgb = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)
                picture = Image.fromarray(np.ascontiguousarray(rgb), "RGB")  # libraw applied the flip
            full = (sizes.height, sizes.width) if sizes.flip in (5, 6) else (sizes.width, sizes.height)
            picture.info["raw_size"] = full
    except MemoryError:
        return None, None, "not enough memory to decode the image"
    except Exception as exc:  # noqa: BLE001 - rawpy's LibRawError family and OSError for damaged files
        reason = str(exc).strip() or type(exc).__name__
        return None, None, f"unsupported or corrupt {format_name} RAW data: {reason}"
    return picture, tiff_exif_source(data) or picture, None


def _preview(raw, rawpy, flip: int) -> Image.Image | None:
    try:
        thumb = raw.extract_thumb()
    except Exception:  # noqa: BLE001 - LibRawNoThumbnailError / unsupported thumbnail: demosaic instead
        return None
    if thumb.format == rawpy.ThumbFormat.JPEG:
        picture = Image.open(io.BytesIO(thumb.data), formats=["JPEG"])
    elif thumb.format == rawpy.ThumbFormat.BITMAP:
        picture = Image.fromarray(thumb.data)
    else:
        return None
    if min(picture.size) < MIN_PREVIEW_SIDE:
        return None
    if flip in _FLIPS:  # the preview is stored as the sensor saw it; the RAW says how it was held
        picture = picture.transpose(_FLIPS[flip])
        # libraw may write the orientation into the preview's own EXIF, and transpose() copies `info`:
        # drop it so images.py does not turn the picture a second time.
        picture.info.pop("exif", None)
    return picture


def tiff_exif_source(data: bytes) -> Image.Exif | None:
    """The IFD0 tags of a TIFF-container RAW (Pillow cannot open a Bayer mosaic, but reads its tags)."""
    if not data.startswith((b"II*\x00", b"MM\x00*")):
        return None  # CR3, RAF, RW2, ORF are not TIFF containers: the preview's EXIF is used
    try:
        exif = Image.Exif()
        exif.load(data)
        return exif
    except Exception:  # noqa: BLE001 - damaged header: no metadata, the picture may still decode
        return None
