"""Table tests for `datagen.media`: formats allow-list, caps checked before reading or decoding, references."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage

from datagen.media import (
    ALLOWED_IMAGE_FORMATS,
    MediaPolicy,
    RecordError,
    checked_image,
    decode_data_uri,
    inline_bytes,
    load_image,
    resolve_media,
)


def encoded(fmt: str, size: tuple[int, int] = (8, 6)) -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", size, (10, 120, 240)).save(buf, format=fmt)
    return buf.getvalue()


def reason_of(call: Any, *args: Any) -> str:
    with pytest.raises(RecordError) as err:
        call(*args)
    assert err.value.detail
    return err.value.reason


@pytest.mark.parametrize("fmt", ALLOWED_IMAGE_FORMATS)
def test_allowed_formats_decode(fmt: str) -> None:
    data = encoded(fmt)
    image = checked_image(data, "x", 10_000)
    assert image.data == data and image.to_pil().size == (8, 6)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (encoded("PPM"), "image_format_not_allowed"),  # PIL decodes it, the allow-list does not
        (encoded("ICO", (16, 16)), "image_format_not_allowed"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 1 1\n", "image_format_not_allowed"),
        (b"", "image_unreadable"),
        (b"plain text", "image_unreadable"),
        (encoded("PNG")[:40], "image_unreadable"),
        (encoded("PNG", (101, 100)), "image_too_large"),  # 10,100 pixels > the 10,000 cap below
    ],
    ids=["ppm", "ico", "eps", "empty", "text", "truncated_png", "over_pixel_cap"],
)
def test_checked_image_rejects(data: bytes, reason: str) -> None:
    assert reason_of(checked_image, data, "x", 10_000) == reason


def test_base64_length_is_checked_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decode(*args: Any, **kwargs: Any) -> bytes:
        raise AssertionError("decoded an oversized payload")

    monkeypatch.setattr(base64, "b64decode", no_decode)
    payload = "A" * 4000  # ~3000 bytes once decoded
    assert reason_of(decode_data_uri, f"data:image/png;base64,{payload}", 1000) == "media_too_large"
    assert reason_of(inline_bytes, payload, 1000) == "media_too_large"


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("data:image/png,notbase64", "malformed_record"),
        ("data:image/png;base64,***", "malformed_record"),
        ("data:text/plain;base64,aGk=", "image_unreadable"),
        ("data:", "malformed_record"),
    ],
)
def test_bad_data_uris(uri: str, reason: str) -> None:
    assert reason_of(decode_data_uri, uri, 1000) == reason


def test_data_uri_round_trip_with_parameters() -> None:
    png = encoded("PNG")
    uri = "data:image/png;name=a.png;base64," + base64.b64encode(png).decode()
    assert decode_data_uri(uri, 10_000) == png


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ("http://example.com/a.png", "remote_media"),
        ("HTTPS://example.com/a.png", "remote_media"),
        ("ftp://host/a.png", "remote_media"),
        ("a\x00.png", "media_path_invalid"),
        ("x" * 256 + ".png", "media_path_invalid"),
        ("d/" * 2100 + "a.png", "media_path_invalid"),
        ("../a.png", "media_path_outside"),
        ("/etc/hostname", "media_path_outside"),
    ],
    ids=["http", "https_upper", "ftp", "nul", "long_name", "long_path", "dotdot", "absolute"],
)
def test_resolve_media_refuses(tmp_path: Path, ref: str, reason: str) -> None:
    assert reason_of(resolve_media, ref, MediaPolicy(tmp_path)) == reason


def test_symlink_loop_is_a_reject(tmp_path: Path) -> None:
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    assert reason_of(load_image, "loop.png", MediaPolicy(tmp_path)) in ("media_path_invalid", "image_unreadable")


def test_struct_path_is_a_label_only(tmp_path: Path) -> None:
    """`{bytes, path}`: the bytes are the image; the path is never opened, only kept as a harmless name."""
    png = encoded("PNG")
    image = load_image({"bytes": png, "path": "../../etc/\x00passwd.png"}, MediaPolicy(tmp_path))
    assert image.data == png and image.filename == "passwd.png"
