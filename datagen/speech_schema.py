"""The schema of the per-turn `speech` list every speech generator writes (see `datagen.speech.Speaker.provenance`).

Its own module so the shape of the data stays readable apart from the code that fills it; `datagen.speech`
re-exports `speech_schema`.
"""

from __future__ import annotations

from typing import Any

_TAKE_FIELDS = {
    "tts": "string",
    "voice": "string",
    "speed": "float64",
    "voice_seed": "int64",
    "snr_db": "float64",
    "wer": "float64",
    "mos": "float64",
    "problem": "string",
}


def speech_schema(**extra: Any) -> list[dict[str, Any]]:
    """The schema of a `speech` list (see `datagen.steps.to_feature`); `extra` adds fields (e.g. a passage chunk)."""
    fields = {
        "turn": "int32",
        "text": "string",
        "spoken_text": "string",
        "transcript": "string",
        "wer": "float64",
        "mos": "float64",
        "mos_sig": "float64",
        "mos_bak": "float64",
        "mos_p808": "float64",
        "duration": "float64",
        "tts": "string",
        "voice": "string",
        "speed": "float64",
        "voice_seed": "int64",
        "asr": "string",
        "packed": "bool",
        "drafted": "bool",
        "snr_db": "float64",
        "attempts": [_TAKE_FIELDS],
    }
    return [{**fields, **extra}]
