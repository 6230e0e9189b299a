"""Reading a dataset folder someone else made: every value is checked for type and size before the audit uses it.

`datagen audit` is pointed at folders it did not write (downloaded datasets, other teams' runs), so side files are
size-capped before they are read, JSON and YAML that are too deep or too large are treated as absent (with a note
saying why), numbers must be finite numbers, and one huge text cell is cut: a WER alignment and the calibration's
normalization grow with its length, and the report shows a few hundred characters of it anyway.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

MAX_JSON_BYTES = 16 << 20  # stats.json / run.json of a large run are a few KB
MAX_TEXT_CHARS = 4000  # a spoken query or transcript is a few hundred characters
MAX_LABEL_CHARS = 200  # engine, voice, model, step and reason names
MAX_DETAIL_CHARS = 300  # a reject's detail names its evidence (a pair, an equation, a WER): one line of it is shown


def read_capped(path: Path, limit: int) -> str | None:
    """The file's text, or None when it is absent, unreadable or larger than `limit` bytes (checked first)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(limit + 1)
    except OSError:
        return None
    return raw.decode("utf-8", errors="replace") if len(raw) <= limit else None


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from `path`, or None when it is absent, too large, too deep, invalid or not an object."""
    text = read_capped(path, MAX_JSON_BYTES)
    try:
        value = json.loads(text) if text is not None else None
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def read_manifest(path: Path) -> tuple[str | None, dict[str, Any], str | None]:
    """(text to show, parsed mapping or {}, a note when it is missing or refused) for a folder's manifest.yaml."""
    import yaml

    from datagen.safe_yaml import MAX_YAML_BYTES, load_yaml

    if not path.exists():
        return None, {}, "manifest.yaml: no provenance (steps, engines, WER threshold)"
    text = read_capped(path, MAX_YAML_BYTES)
    if text is None:
        return None, {}, f"manifest.yaml: unreadable or larger than {MAX_YAML_BYTES} bytes, not read"
    try:
        data = load_yaml(text)
    except yaml.YAMLError as err:
        note = f"manifest.yaml: refused ({' '.join(str(err).split())[:200]}); no provenance from it"
        return text[:MAX_TEXT_CHARS], {}, note
    return text, data if isinstance(data, dict) else {}, None


def number(value: Any) -> float | None:
    """A finite number from the data, else None (a string, a bool, NaN or a 400-digit integer is no number)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        result = float(value)
    except OverflowError:
        return None
    return result if math.isfinite(result) else None


def text_cell(value: Any) -> str | None:
    """A text cell as str, cut to MAX_TEXT_CHARS (a number column is text too; anything else is no text)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    return str(value)[:MAX_TEXT_CHARS]


def label(value: Any) -> str | None:
    """A name from the data (engine, voice, model, step, reason): a short string, or None."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    return str(value)[:MAX_LABEL_CHARS]


def drop_example(rid: Any, detail: Any) -> dict[str, str]:
    """An example of a drop reason: a short id and one line of its detail (both from the data)."""
    one_line = " ".join((text_cell(detail) or "").split())
    return {"id": (text_cell(rid) or "")[:MAX_LABEL_CHARS], "detail": one_line[:MAX_DETAIL_CHARS]}


def count(value: Any) -> int | None:
    """A non-negative whole count, else None."""
    n = number(value)
    return int(n) if n is not None and n >= 0 and n == int(n) else None


def _names(value: Any, clean: Any) -> dict[str, Any]:
    """A {name: value} mapping with short string names and the values `clean` accepts (None = dropped)."""
    if not isinstance(value, dict):
        return {}
    out = {}
    for key, item in value.items():
        name, cleaned = label(key), clean(item)
        if name is not None and cleaned is not None:
            out[name] = cleaned
    return out


def _backend_seconds(value: Any) -> dict[str, float | int] | None:
    if not isinstance(value, dict):
        return None
    return {"seconds": number(value.get("seconds")) or 0.0, "calls": count(value.get("calls")) or 0}


def _settings(value: Any) -> dict[str, Any] | None:
    """A backend's settings: scalar values only (bools, finite numbers, short strings)."""
    return _names(value, _scalar) if isinstance(value, dict) else None


def _scalar(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    return label(value) if isinstance(value, str) else number(value)


def clean_stats(stats: dict[str, Any] | None) -> dict[str, Any] | None:
    """stats.json reduced to the keys and types the audit uses; a wrong-typed entry is dropped, never trusted."""
    if stats is None:
        return None
    out: dict[str, Any] = {
        "dropped": _names(stats.get("dropped"), count),
        "backend_seconds": _names(stats.get("backend_seconds"), _backend_seconds),
        "backends": _names(stats.get("backends"), _settings),
        "versions": _names(stats.get("versions"), label),
        "audio_seconds": {"total": number((stats.get("audio_seconds") or {}).get("total"))}
        if isinstance(stats.get("audio_seconds"), dict)
        else {},
    }
    for key in ("seen", "kept", "records", "shards"):
        out[key] = count(stats.get(key))
    for key in ("wall_seconds", "setup_seconds"):
        out[key] = number(stats.get(key))
    for key in ("name", "manifest_hash"):
        out[key] = label(stats.get(key))
    by_benchmark = (
        (stats.get("contamination") or {}).get("by_benchmark") if isinstance(stats.get("contamination"), dict) else None
    )
    out["contamination"] = _names(by_benchmark, count) or None
    examples = stats.get("drop_examples")
    out["drop_examples"] = _names(
        examples, lambda v: drop_example(v.get("id"), v.get("detail")) if isinstance(v, dict) else None
    )
    sampling = stats.get("rejection_sampling")
    out["rejection_sampling"] = _names(sampling, number) or None if isinstance(sampling, dict) else None
    return {k: v for k, v in out.items() if v is not None}


def clean_run(run: dict[str, Any] | None) -> dict[str, Any] | None:
    """run.json reduced to the provenance the audit shows, each value a short string or a count."""
    if run is None:
        return None
    out = {key: label(run.get(key)) for key in ("manifest_hash", "datagen")}
    fingerprint = run.get("input")
    if fingerprint is not None:
        out["input"] = fingerprint[:MAX_LABEL_CHARS] if isinstance(fingerprint, str) else json.dumps(fingerprint)[:200]
    out["shards"] = count(run.get("shards"))
    return {k: v for k, v in out.items() if v is not None}
