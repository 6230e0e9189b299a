"""Image checks: every image decodes, is large enough for a vision encoder, and is not a thin strip.

Readers already refuse images that do not decode, but a dataset read back from parquet (or made by another tool)
has not been through them, and "too small" depends on the model being trained. `image_info(data)` is a plain
function; the `image_check` step writes the smallest side and the widest aspect ratio over a sample's images.
"""

from __future__ import annotations

import io

from pydantic import Field

from datagen.records import Sample
from datagen.steps import Filter, StepConfig, Verdict, drop, keep


def image_info(data: bytes) -> tuple[int, int]:
    """(width, height) of encoded image bytes after a full decode. Raises ValueError if they do not decode."""
    from PIL import Image, UnidentifiedImageError

    if not isinstance(data, bytes | bytearray | memoryview) or not data:
        raise ValueError("no image bytes")
    try:
        with Image.open(io.BytesIO(bytes(data))) as img:
            img.load()  # a truncated file only fails here, not at open()
            return img.size
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as err:
        raise ValueError(f"{type(err).__name__}: {err}") from err


class ImageCheckConfig(StepConfig):
    require_image: bool = Field(True, description="drop samples with no image: image_missing")
    min_width: int = Field(32, ge=1, description="narrower images are dropped: image_too_small")
    min_height: int = Field(32, ge=1, description="lower images are dropped: image_too_small")
    max_aspect_ratio: float = Field(10.0, ge=1, description="long side / short side above this: image_bad_aspect")


class ImageCheck(Filter[ImageCheckConfig]):
    """Reads `images`; writes `image_min_side` and `image_max_aspect` (over the sample's images)."""

    name = "image_check"
    reads = ("images",)
    schema = {"image_min_side": "int64", "image_max_aspect": "float64"}

    def judge(self, sample: Sample) -> Verdict:
        cfg = self.config
        if not sample.images:
            return drop("image_missing", "no image") if cfg.require_image else keep()
        sizes = []
        for k, image in enumerate(sample.images):
            try:
                sizes.append(image_info(getattr(image, "data", None)))
            except ValueError as err:
                return drop("image_unreadable", f"image {k}: {err}"[:500])
        scores = {
            "image_min_side": min(min(w, h) for w, h in sizes),
            "image_max_aspect": round(max(max(w, h) / max(min(w, h), 1) for w, h in sizes), 4),
        }
        for k, (w, h) in enumerate(sizes):
            if w < cfg.min_width or h < cfg.min_height:
                return drop("image_too_small", f"image {k}: {w}x{h} < {cfg.min_width}x{cfg.min_height}", **scores)
            if max(w, h) / max(min(w, h), 1) > cfg.max_aspect_ratio:
                return drop("image_bad_aspect", f"image {k}: {w}x{h} > {cfg.max_aspect_ratio}:1", **scores)
        return keep(**scores)
