"""lhotse export: a `CutSet` manifest (`{split}_cuts.jsonl.gz`) with the audio written beside it (`audios/`).

One cut per spoken turn: its recording is the turn's WAV, its one supervision carries the text the audio says
(`text`) with the turn as written, the reply that follows it and the speech provenance (tts, voice, asr, wer)
as custom fields; the cut's custom fields hold the record's id, source, scores and `images` (paths relative to the
export folder, for vision+speech data). Recording paths are absolute,
as lhotse's own recipes write them, so `lhotse.CutSet.from_file(path)` loads audio from any working directory
(after moving the folder: `cuts.with_recording_path_prefix(new_folder)` on relative copies, or re-export).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from datagen.export_media import (
    dataset_rows,
    media_name,
    provenance_fields,
    spoken_turns,
    write_media,
    write_row_images,
)

_SPEECH_FIELDS = ("tts", "voice", "speed", "asr", "transcript", "wer", "snr_db")


def _cuts(root: Path, split: str, target: Path) -> Iterator[Any]:
    from lhotse import MonoCut, Recording, SupervisionSegment

    for position, row in dataset_rows(root, split):
        turns = list(spoken_turns(row))
        images = write_row_images(target, position, row) if turns else []
        for turn in turns:
            name = write_media(target, media_name("audios", position, row["id"], turn["audio"], ".wav"), turn["bytes"])
            cut_id = Path(name).stem  # position + id hash + audio index: unique, whatever the ids are
            recording = Recording.from_file((target / name).resolve(), recording_id=cut_id)
            speech = turn["speech"]
            supervision = SupervisionSegment(
                id=cut_id,
                recording_id=cut_id,
                start=0.0,
                duration=recording.duration,
                channel=0,
                text=turn["text"],
                custom={
                    "question": turn["written"],
                    "answer": turn["answer"],
                    **{k: speech[k] for k in _SPEECH_FIELDS if speech.get(k) is not None},
                },
            )
            yield MonoCut(
                id=cut_id,
                start=0.0,
                duration=recording.duration,
                channel=0,
                recording=recording,
                supervisions=[supervision],
                custom={**provenance_fields(row), **({"images": images} if images else {})},
            )


def write_lhotse(root: Path, split: str, target: Path) -> tuple[Path, int]:
    from lhotse import CutSet

    cuts = CutSet.from_cuts(list(_cuts(root, split, target)))
    path = target / f"{split}_cuts.jsonl.gz"
    tmp = target / f".{split}_cuts.tmp.jsonl.gz"
    cuts.to_file(tmp)
    tmp.replace(path)
    return path, len(cuts)
