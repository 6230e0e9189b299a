"""Text from untrusted records made safe to carry: ids and Unicode.

Ids end up in file names, logs, reject rows and every derived record's id; text ends up in parquet, which
cannot store an unpaired surrogate (JSON can: `"\\ud800"`). Either problem found late would fail a whole shard's
write, so it is found while reading, where it rejects just its record.
"""

from __future__ import annotations

from typing import Any

from datagen.media import RecordError
from datagen.records import Sample

MAX_ID_CHARS = 512


def record_id(record: dict[str, Any]) -> str:
    """The record's own id as text, or "" when it has none usable (then the id derives from its place)."""
    value = record.get("id")
    if isinstance(value, bool) or not isinstance(value, str | int):
        return ""
    if isinstance(value, int) and value.bit_length() > 3 * MAX_ID_CHARS:  # str() of a huge int is slow
        return ""
    text = str(value)
    return text if len(text) <= MAX_ID_CHARS and "\0" not in text and is_unicode(text) else ""


def checked_id(record: dict[str, Any], fallback: str) -> str:
    """Ids end up in file names, logs and derived ids: one too long, with a NUL or not Unicode is a reject."""
    own = record_id(record)
    value = record.get("id")
    if own or value is None or value == "" or isinstance(value, bool) or not isinstance(value, str | int):
        return own or fallback
    raise RecordError(
        "malformed_record", f"id {str(value)[:40]!r}... is over {MAX_ID_CHARS} characters, has a NUL or is not Unicode"
    )


def is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # an unpaired surrogate (JSON allows "\ud800"): parquet cannot store it
        return False
    return True


def clean_text(text: str) -> str:
    return text if is_unicode(text) else text.encode("utf-8", "replace").decode("utf-8")


def valid_text(sample: Sample) -> Sample:
    texts = [m.content for m in sample.messages] + [v for v in sample.meta.values() if isinstance(v, str)]
    if not all(is_unicode(t) for t in texts):
        raise RecordError("malformed_record", "text holds an unpaired surrogate (not valid Unicode)")
    return sample
