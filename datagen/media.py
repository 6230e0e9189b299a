"""Media references from untrusted records turned into checked, in-memory images.

A record names its media as a path (relative to the media root, the data file's folder unless
`input.media_root` / `--media-root` says otherwise), a `data:` URI, or a `{bytes, path}` struct. Everything
about them is hostile: paths may escape the root or hold NULs, files may be 64 GiB sparse holes, payloads may be
decompression bombs or PostScript that PIL would hand to Ghostscript. So sizes are capped before anything is
read or decoded, only an allow-list of raster formats ever reaches a PIL decoder, and every failure is a
`RecordError` with a stable reason, never an exception that ends the run. Remote media are refused: datagen does
not fetch.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import re
import stat
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datagen.records import Image

DEFAULT_MAX_MEDIA_BYTES = 64 * 2**20
DEFAULT_MAX_IMAGE_PIXELS = 89_478_485  # PIL's own default (a 0.25 GB 24-bit image)
ALLOWED_IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
ROOT_OPTION = "--media-root or input.media_root"
_NAME_MAX = 255  # bytes per path component on every common file system
_PATH_MAX = 4096
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_DATA_URI = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?((?:;[\w.+-]+=[\w.+-]+)*)(;base64)?,", re.ASCII)


class RecordError(ValueError):
    """One record is bad; `reason` is the stable snake_case drop reason."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(slots=True, frozen=True)
class MediaPolicy:
    """Where relative media paths resolve, and how much of any one medium may be read and decoded."""

    root: Path
    allow_outside_paths: bool = False
    max_bytes: int = DEFAULT_MAX_MEDIA_BYTES
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS


def load_image(ref: Any, policy: MediaPolicy) -> Image:
    """An image reference from a record (path, data URI or `{bytes, path}`) as checked encoded bytes."""
    if isinstance(ref, dict):
        payload = ref.get("bytes")
        if payload is not None and payload != b"" and payload != "":
            name = ref.get("path")
            return checked_image(inline_bytes(payload, policy.max_bytes), _display_name(name), policy.max_pixels)
        ref = ref.get("path")
    if not isinstance(ref, str) or not ref:
        raise RecordError("malformed_record", f"image reference must be a path, data URI or bytes, got {ref!r:.80}")
    if ref.startswith("data:"):
        return checked_image(decode_data_uri(ref, policy.max_bytes), "", policy.max_pixels)
    path = resolve_media(ref, policy)
    return checked_image(read_media(path, ref, policy), path.name, policy.max_pixels)


def _display_name(name: Any) -> str:
    """The file name a `{bytes, path}` struct carries: a label only, never opened, so just made harmless."""
    if not isinstance(name, str):
        return ""
    return Path(name.replace("\x00", "")).name[:_NAME_MAX]


def inline_bytes(payload: Any, max_bytes: int) -> bytes:
    """`bytes` of a struct: raw bytes (parquet / datasets) or a base64 string (JSON cannot hold bytes)."""
    if isinstance(payload, bytes | bytearray | memoryview):
        if len(payload) > max_bytes:
            raise RecordError("media_too_large", f"{len(payload)} inline bytes > input.max_media_bytes={max_bytes}")
        return bytes(payload)
    if isinstance(payload, str):
        return _b64decode(payload, max_bytes, "image bytes")
    raise RecordError("malformed_record", f"image bytes must be bytes or a base64 string, got {payload!r:.40}")


def decode_data_uri(uri: str, max_bytes: int) -> bytes:
    """`data:image/png;base64,...` decoded in memory; the length is checked before decoding."""
    match = _DATA_URI.match(uri)
    if not match or not match.group(3):
        raise RecordError("malformed_record", f"{uri!r:.60} is not a base64 data URI (data:image/png;base64,...)")
    mime = match.group(1) or ""
    if mime and not mime.lower().startswith("image/"):
        raise RecordError("image_unreadable", f"data URI holds {mime}, not an image")
    return _b64decode(uri[match.end() :], max_bytes, "data URI")


def _b64decode(text: str, max_bytes: int, what: str) -> bytes:
    if len(text) // 4 * 3 > max_bytes:
        raise RecordError(
            "media_too_large", f"{what} of ~{len(text) // 4 * 3} bytes > input.max_media_bytes={max_bytes}"
        )
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as err:
        raise RecordError("malformed_record", f"{what} is not valid base64: {err}") from None


def resolve_media(ref: str, policy: MediaPolicy) -> Path:
    """A media path from data: refused if remote, malformed or leaving the media root (unless allowed)."""
    if _SCHEME.match(ref):
        raise RecordError("remote_media", f"{ref!r:.200} is a URL: download the media first; datagen does not fetch")
    if "\x00" in ref:
        raise RecordError("media_path_invalid", f"{ref!r:.200} contains a NUL byte")
    parts = Path(ref).parts
    if len(ref.encode("utf-8", "surrogatepass")) > _PATH_MAX or any(
        len(p.encode("utf-8", "surrogatepass")) > _NAME_MAX for p in parts
    ):
        raise RecordError(
            "media_path_invalid",
            f"{ref!r:.80} has a name longer than {_NAME_MAX} bytes (inline images go in a data:image/...;base64, URI)",
        )
    root = policy.root.resolve()
    path = Path(ref)
    try:
        resolved = (root / path).resolve()
    except (OSError, RuntimeError, ValueError) as err:  # symlink loop: RuntimeError before Python 3.13
        raise RecordError("media_path_invalid", f"{ref!r:.200}: {err}") from None
    if not policy.allow_outside_paths and (path.is_absolute() or not resolved.is_relative_to(root)):
        raise RecordError(
            "media_path_outside", f"{ref!r:.200} leaves the media folder {root} (input.allow_outside_paths)"
        )
    return resolved


def read_media(path: Path, ref: str, policy: MediaPolicy) -> bytes:
    """The file's bytes, its size checked on the opened descriptor before anything is read.

    Opened non-blocking, so a FIFO swapped in for the file cannot hang the run; only regular files are read,
    and at most `max_bytes` + 1 of them (a file that grows after the check is still caught).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        where = policy.root.resolve()
        raise RecordError(
            "image_missing", f"{ref!r:.200} not found in {where} (set the folder with {ROOT_OPTION})"
        ) from None
    except (OSError, ValueError) as err:  # ValueError: a name the file system cannot encode
        raise RecordError("image_unreadable", f"{ref!r:.200}: {getattr(err, 'strerror', None) or err}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise RecordError("image_missing", f"{ref!r:.200} is not a regular file")
        if info.st_size > policy.max_bytes:
            raise RecordError(
                "media_too_large", f"{ref!r:.200}: {info.st_size} bytes > input.max_media_bytes={policy.max_bytes}"
            )
        data = _read_up_to(fd, policy.max_bytes + 1)
    except OSError as err:
        raise RecordError("image_unreadable", f"{ref!r:.200}: {err.strerror or err}") from None
    finally:
        os.close(fd)
    if len(data) > policy.max_bytes:
        raise RecordError("media_too_large", f"{ref!r:.200}: more than input.max_media_bytes={policy.max_bytes} bytes")
    return data


def _read_up_to(fd: int, limit: int) -> bytes:
    chunks = []
    while limit > 0 and (chunk := os.read(fd, min(limit, 1 << 20))):
        chunks.append(chunk)
        limit -= len(chunk)
    return b"".join(chunks)


def checked_image(data: bytes, filename: str, max_pixels: int) -> Image:
    """Decode once now, so a bad image is a reject here rather than a crash in a model or a trainer.

    Only allow-listed formats are ever handed to a PIL plugin (`formats=`): PostScript (EPS) would make PIL
    launch Ghostscript on untrusted input. The pixel cap is checked from the header, before pixels are decoded.
    """
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    label = filename or "inline image"
    if not data:
        raise RecordError("image_unreadable", f"{label}: empty")
    if max_pixels > (PILImage.MAX_IMAGE_PIXELS or 0):  # the manifest asked for more than PIL's default guard
        PILImage.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            with PILImage.open(io.BytesIO(data), formats=ALLOWED_IMAGE_FORMATS) as img:
                if img.width * img.height > max_pixels:
                    raise RecordError(
                        "image_too_large", f"{label}: {img.width}x{img.height} > input.max_image_pixels={max_pixels}"
                    )
                img.load()
    except RecordError:
        raise
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as err:
        raise RecordError("image_too_large", f"{label}: {err}") from None
    except UnidentifiedImageError:
        other = sniff_format(data)
        if other and other not in ALLOWED_IMAGE_FORMATS:
            allowed = ", ".join(ALLOWED_IMAGE_FORMATS)
            raise RecordError("image_format_not_allowed", f"{label}: {other} is not one of {allowed}") from None
        raise RecordError("image_unreadable", f"{label}: {f'corrupt {other}' if other else 'not an image'}") from None
    except (OSError, ValueError, SyntaxError, EOFError) as err:
        raise RecordError("image_unreadable", f"{label}: {err}") from None
    return Image(data=data, filename=filename)


def sniff_format(data: bytes) -> str:
    """The format PIL would take `data` for, from its plugins' header tests only: nothing is decoded."""
    from PIL import Image as PILImage

    PILImage.init()
    head = data[:64]
    for name in PILImage.ID:
        accept = PILImage.OPEN[name][1]
        try:
            if accept and accept(head):
                return name
        except (ValueError, IndexError, TypeError, struct.error):  # a plugin's header test on odd bytes
            continue
    return ""
