"""Packed Whisper transcription against one-by-one transcription on the WER gate's decisions (real engines).

The clips are the demo's and the voice pool's (noise included), spoken as a run speaks them; both ways
transcribe them in the step's batches of 8. `benchmarks/packed_asr.py` prints the same comparison at full size.

Measured there (288 clips): about 96 % of decisions agree, short of the 99 % that `pack` needs to be on by
default, and about as often as one-by-one agrees with itself when each clip starts 0.1 s later; packed mean WER
is lower. The test holds those properties loosely (24 clips per set), and that a clip left alone is transcribed
exactly as one by one.
"""

from __future__ import annotations

import pytest

from datagen.backends.faster_whisper import FasterWhisperSettings, FasterWhisperTranscriber
from datagen.registry import backend_class
from datagen.testing import REPO, spoken_clips
from filters.wer import wer

pytestmark = [pytest.mark.embedded, pytest.mark.slow]

MAX_WER = 0.2
BATCH = 8


@pytest.fixture(scope="module")
def whisper():
    pytest.importorskip("faster_whisper")
    asr = FasterWhisperTranscriber(FasterWhisperSettings(pack=False))
    asr.setup()
    return asr


def _both_ways(whisper, audios):
    packed_asr = FasterWhisperTranscriber(FasterWhisperSettings(pack=True))
    packed_asr._model, packed_asr._ready = whisper._model, True  # the same loaded weights
    alone, packed, was_packed = [], [], []
    for i in range(0, len(audios), BATCH):
        alone += whisper.transcribe(audios[i : i + BATCH])
        packed += packed_asr.transcribe(audios[i : i + BATCH])
        was_packed += packed_asr.last_packed
    return alone, packed, was_packed


@pytest.mark.parametrize(
    ("manifest", "engines"),
    [("demo.yaml", ["piper"]), ("voice_pool.yaml", ["piper", "kokoro", "flite", "espeak"])],
)
def test_packed_transcription_agrees_with_one_by_one(whisper, manifest, engines):
    missing = [e for e in engines if backend_class(e).unavailable_reason()]
    if missing:
        pytest.skip(f"engines not available here: {missing}")
    clips = spoken_clips(REPO / "manifests" / manifest, limit=24)
    texts, audios = [t for t, _ in clips], [a for _, a in clips]
    alone, packed, was_packed = _both_ways(whisper, audios)
    assert len(clips) >= 24 and None not in alone and None not in packed
    errors = [(wer(t, a), wer(t, p)) for t, a, p in zip(texts, alone, packed, strict=True)]
    flips = [
        (t, a, p, e)
        for t, a, p, e in zip(texts, alone, packed, errors, strict=True)
        if (e[0] <= MAX_WER) != (e[1] <= MAX_WER)
    ]
    assert len(flips) / len(clips) <= 0.15, flips
    mean_alone, mean_packed = (sum(e[k] for e in errors) / len(errors) for k in (0, 1))
    assert mean_packed <= mean_alone + 0.02, (mean_alone, mean_packed)  # packing hears no worse on the whole
    assert sum(was_packed) >= len(clips) // 2  # packing actually happened on most clips
    for a, p, k in zip(alone, packed, was_packed, strict=True):
        if not k:
            assert p == a  # a clip left alone is transcribed exactly as one by one
