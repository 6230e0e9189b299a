"""image_check: decodable, large enough, not a thin strip; corrupt and missing images are drops with reasons."""

from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage

from datagen.records import Image, Message, Sample
from filters.image_check import ImageCheck, ImageCheckConfig, image_info


def png(width: int, height: int, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", (width, height), (10, 200, 30)).save(buf, format=fmt)
    return buf.getvalue()


def sample(*images: object) -> Sample:
    return Sample(id="s", messages=(Message("user", "<image>What is it?"),), images=images)  # type: ignore[arg-type]


def judge(s: Sample, **config) -> tuple[bool, str, dict]:
    verdict = ImageCheck(ImageCheckConfig(**config)).judge(s)
    return verdict.keep, verdict.reason, verdict.scores


def test_image_info() -> None:
    assert image_info(png(64, 48)) == (64, 48) and image_info(png(40, 30, "JPEG")) == (40, 30)
    for bad in (b"", b"not an image", png(64, 64)[:60], None):
        with pytest.raises(ValueError):
            image_info(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("images", "config", "keep", "reason"),
    [
        ((png(64, 64),), {}, True, ""),  # clean
        ((png(32, 32),), {}, True, ""),  # exactly the minimum
        ((png(31, 64),), {}, False, "image_too_small"),
        ((png(64, 31),), {}, False, "image_too_small"),
        ((png(16, 16),), {"min_width": 16, "min_height": 16}, True, ""),
        ((png(320, 32),), {}, True, ""),  # 10:1, exactly the limit
        ((png(330, 32),), {}, False, "image_bad_aspect"),
        ((png(64, 64), png(8, 8)), {}, False, "image_too_small"),  # every image counts
        ((png(64, 64)[:80],), {}, False, "image_unreadable"),  # truncated
        ((b"\x89PNG garbage",), {}, False, "image_unreadable"),
        ((b"",), {}, False, "image_unreadable"),
        ((), {}, False, "image_missing"),
        ((), {"require_image": False}, True, ""),
    ],
)
def test_table(images: tuple[bytes, ...], config: dict, keep: bool, reason: str) -> None:
    assert judge(sample(*(Image(data) for data in images)), **config)[:2] == (keep, reason)


def test_malformed_image_objects_are_unreadable() -> None:
    assert judge(sample("not an image object"))[:2] == (False, "image_unreadable")
    assert judge(sample(Image(None)))[:2] == (False, "image_unreadable")  # type: ignore[arg-type]


def test_scores_for_kept_and_dropped() -> None:
    kept = ImageCheck().process([sample(Image(png(64, 40)), Image(png(100, 50)))])[0]
    assert kept.meta["image_min_side"] == 40 and kept.meta["image_max_aspect"] == 2.0
    dropped = ImageCheck().process([sample(Image(png(20, 40)))])[0]
    assert dropped.reason == "image_too_small" and dropped.sample.meta["image_min_side"] == 20
