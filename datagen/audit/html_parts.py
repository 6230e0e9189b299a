"""The audit page's building blocks: style, number formats, tables, inline plots, audio and image tags.

Every section module renders with these, so the page looks one way throughout; every value from the data is
escaped here or by the caller (texts and transcripts are untrusted).
"""

from __future__ import annotations

import base64
import io
from html import escape
from typing import Any

MAX_AUDIO_BYTES = 2_000_000  # a longer clip is not embedded (the page stays small enough to open anywhere)
THUMBNAIL = 200
# Images from the dataset are decoded only from these formats (an EPS cell would make Pillow run Ghostscript on
# untrusted PostScript) and only up to this size (a small file can declare a huge canvas).
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
MAX_IMAGE_PIXELS = 40_000_000

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;background:#f4f5f7;margin:0}
main{max-width:1120px;margin:0 auto;padding:0 24px 48px}
header{background:#1d2330;color:#fff;padding:18px 24px 10px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 8px;color:#c5cad3}
nav a{color:#9fc2ee;margin-right:14px;font-size:14px;text-decoration:none}
section{background:#fff;border-radius:8px;padding:14px 20px;margin:18px 0;box-shadow:0 1px 2px #0001}
h2{font-size:18px;margin:4px 0 10px} h3{font-size:15px;margin:12px 0 6px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{flex:1 1 150px;background:#f4f5f7;border-radius:6px;padding:10px 14px}
.card b{display:block;font-size:24px} .card span{color:#5b6270;font-size:13px}
.plots{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start} .plots img{max-width:100%;height:auto}
table{border-collapse:collapse;font-size:13.5px;margin:6px 0} th,td{padding:4px 10px;text-align:left;vertical-align:top}
th{background:#e8eaee} tr:nth-child(even) td{background:#f7f8fa}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.missing{color:#8a5a00;background:#fff6e0;border-radius:4px;padding:6px 10px}
.kept{color:#2f7d4f;font-weight:600} .dropped{color:#c8553d;font-weight:600}
.note{color:#5b6270;font-size:13.5px}
.warn{color:#a4462f;font-weight:600} pre{background:#f4f5f7;padding:10px;overflow:auto;font-size:12.5px}
audio{width:220px;height:32px} .worst img{max-width:120px;max-height:120px}
.rec{font-size:16px;background:#e9f3ec;border-radius:6px;padding:8px 12px}
"""


def _img(png: bytes | None, alt: str) -> str:
    if not png:
        return ""
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}".rstrip("0").rstrip(".") if value != int(value) or digits == 0 else f"{value:g}"
    return escape(str(value))


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _table(headers: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )  # fmt: skip
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _plots(*figures: str, beside: str = "") -> str:
    """Figures in one wrapping row; `beside` (a table) sits in that row next to them."""
    return f'<div class="plots">{"".join(figures)}{beside}</div>'


def _note(*parts: str) -> str:
    """A grey paragraph explaining the numbers above it; the caller escapes what came from the data."""
    return f'<p class="note">{"".join(parts)}</p>'


def _missing(text: str) -> str:
    return f'<p class="missing">{escape(text)}</p>'


def _audio_mime(blob: bytes) -> str | None:
    if blob[:4] == b"RIFF":
        return "audio/wav"
    if blob[:4] == b"fLaC":
        return "audio/flac"
    if blob[:4] == b"OggS":
        return "audio/ogg"
    if blob[:3] == b"ID3" or blob[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio/mpeg"
    return None


def audio_tag(blob: bytes | None) -> str:
    if not blob or not isinstance(blob, bytes):
        return '<span class="note">no audio stored</span>'
    mime = _audio_mime(blob)
    if mime is None:
        return '<span class="note">unknown audio format</span>'
    if len(blob) > MAX_AUDIO_BYTES:
        return f'<span class="note">audio too large to embed ({len(blob) // 1000} kB)</span>'
    return f'<audio controls preload="none" src="data:{mime};base64,{base64.b64encode(blob).decode()}"></audio>'


def image_tag(blob: bytes | None) -> str:
    if not blob or not isinstance(blob, bytes):
        return '<span class="note">—</span>'
    from PIL import Image

    try:
        with Image.open(io.BytesIO(blob), formats=IMAGE_FORMATS) as im:
            if im.width * im.height > MAX_IMAGE_PIXELS:
                return f'<span class="note">image too large to show ({im.width}×{im.height})</span>'
            im = im.convert("RGB")
            im.thumbnail((THUMBNAIL, THUMBNAIL))
            buf = io.BytesIO()
            im.save(buf, format="PNG")
    except Exception:  # an undecodable image is shown as such, the report goes on
        return '<span class="note">unreadable image</span>'
    return f'<img alt="sample image" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _section(sid: str, title: str, inner: str) -> str:
    return f'<section id="{sid}"><h2>{escape(title)}</h2>{inner}</section>'
