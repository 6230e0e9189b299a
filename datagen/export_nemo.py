"""NeMo export: a JSON-lines manifest, one line per spoken turn, as NeMo's speech and speech-LLM datasets read it.

Each line has NeMo's keys `audio_filepath` (relative to the manifest, which NeMo resolves against the manifest's
folder), `duration` (seconds) and `text` (what the audio says), plus `answer` (the reply that follows the turn,
the target of a speech-LLM `context`/`answer` pair), `question` (the turn as written), `images` (the record's
images, written under `images/`, for vision+speech data) and provenance: the record's
`id`, `source_file`, `source_index`, scores such as `wer`, and the turn's `tts`, `voice`, `asr`, `wer`.
Rows without audio are not in a NeMo manifest (it is a list of audio files).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import soundfile as sf

from datagen.export_media import (
    dataset_rows,
    media_name,
    provenance_fields,
    spoken_turns,
    write_jsonl,
    write_media,
    write_row_images,
)

_SPEECH_FIELDS = ("tts", "voice", "speed", "asr", "transcript", "wer", "snr_db")


def nemo_lines(root: Path, split: str, target: Path) -> Iterator[dict[str, Any]]:
    for position, row in dataset_rows(root, split):
        turns = list(spoken_turns(row))
        images = write_row_images(target, position, row) if turns else []
        for turn in turns:
            name = write_media(target, media_name("audios", position, row["id"], turn["audio"], ".wav"), turn["bytes"])
            speech = turn["speech"]
            yield {
                "audio_filepath": name,
                "duration": round(sf.info(io.BytesIO(turn["bytes"])).duration, 4),
                "text": turn["text"],
                "question": turn["written"],
                "answer": turn["answer"],
                **({"images": images} if images else {}),
                **provenance_fields(row),
                **{f"speech_{k}": speech[k] for k in _SPEECH_FIELDS if speech.get(k) is not None},
            }


def write_nemo(root: Path, split: str, target: Path) -> tuple[Path, int]:
    manifest = target / f"{split}_manifest.json"
    return manifest, write_jsonl(manifest, nemo_lines(root, split, target))
