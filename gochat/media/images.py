"""Images: decoded under a pixel limit, re-encoded without metadata (EXIF, GPS, comments, and
whatever a polyglot carried after the image data), turned upright, and thumbnailed.

Everything here blocks (Pillow): services/files.py runs it in a bounded thread pool. The pixel
count is checked from the header, before a single pixel is decoded, so a decompression bomb is
refused without the memory it asks for.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ValidationFailed

FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
THUMBNAIL_TYPE = "image/webp"


@dataclass(frozen=True, slots=True)
class ProcessedImage:
    path: Path  # the cleaned image to store
    content_type: str
    width: int
    height: int
    animated: bool
    thumbnail: Path
    thumbnail_width: int
    thumbnail_height: int


def _refuse(message: str, code: str) -> ValidationFailed:
    return ValidationFailed(message, code=code, details={"file": [message]})


def process_image(src: Path, workdir: Path, *, max_pixels: int, thumbnail_px: int) -> ProcessedImage:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(src) as im:
                return _process(im, workdir, max_pixels=max_pixels, thumbnail_px=thumbnail_px)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _refuse("the image has too many pixels", "image_too_large") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise _refuse("the file is not a valid image", "invalid_image") from None


def _process(im: Image.Image, workdir: Path, *, max_pixels: int, thumbnail_px: int) -> ProcessedImage:
    fmt = im.format or ""
    if fmt not in FORMATS:
        raise _refuse("unsupported image format", "invalid_image")
    width, height = im.size
    frames = int(getattr(im, "n_frames", 1))
    # An animation decodes every frame: the limit counts them all.
    if width * height * max(frames, 1) > max_pixels:
        raise _refuse(f"the image has more than {max_pixels} pixels", "image_too_large")
    animated = frames > 1
    out = workdir / f"clean.{fmt.lower()}"
    if animated:
        # No EXIF in GIF/WebP animations worth keeping; re-encoding drops comments and trailers.
        params: dict[str, object] = {"save_all": True, "loop": im.info.get("loop", 0)}
        if "duration" in im.info:
            params["duration"] = im.info["duration"]
        if fmt == "WEBP":
            params["quality"] = 90
        im.save(out, format=fmt, **params)
        first = _first_frame(im)
    else:
        icc = im.info.get("icc_profile")
        # In place: a 40 Mpx picture is decoded once, not copied (memory is the limit here).
        ImageOps.exif_transpose(im, in_place=True)
        im.load()
        width, height = im.size
        # Nothing of the original's metadata may reach the encoder (EXIF, XMP, comments, text
        # chunks); a palette's transparent index is part of the picture.
        im.info = {k: v for k, v in im.info.items() if k == "transparency"}
        params = {}
        if fmt in ("JPEG", "WEBP"):
            params["quality"] = 90
        if icc:
            params["icc_profile"] = icc  # colours, not metadata about the picture
        clean = im.convert("RGB") if fmt == "JPEG" and im.mode not in ("RGB", "L", "CMYK") else im
        clean.save(out, format=fmt, **params)
        first = clean
    thumb, tw, th = _thumbnail(first, workdir, thumbnail_px)
    return ProcessedImage(out, FORMATS[fmt], width, height, animated, thumb, tw, th)


def _first_frame(im: Image.Image) -> Image.Image:
    im.seek(0)
    return im.copy()


def _thumbnail(im: Image.Image, workdir: Path, size: int) -> tuple[Path, int, int]:
    """A still (an animation's first frame), at most `size` px a side, as WebP. Resized before any
    mode conversion where the mode allows, so no full-size copy is made of a large picture."""
    has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
    frame = im if im.mode in ("RGB", "RGBA", "L", "LA") else im.convert("RGBA" if has_alpha else "RGB")
    scale = min(1.0, size / max(frame.size))
    target = (max(1, round(frame.width * scale)), max(1, round(frame.height * scale)))
    small = frame.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
    path = workdir / "thumbnail.webp"
    small.save(path, format="WEBP", quality=80)
    return path, small.width, small.height
