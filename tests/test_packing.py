"""Packing short clips into Whisper windows and assigning words back: pure logic, no model."""

from __future__ import annotations

import numpy as np
import pytest

from datagen.backends.packing import TimedWord, Window, assign_words, pack_audio, plan_windows


@pytest.mark.parametrize(
    ("durations", "windows", "alone"),
    [
        ([], [], []),
        ([2.0], [], [0]),  # a single clip gains nothing from packing
        ([2.0, 2.0, 2.0], [(0, 1, 2)], []),
        ([2.0, 0.0, 2.0], [(0, 2)], [1]),  # empty audio: alone (one-by-one returns "")
        ([2.0, 15.0, 2.0], [(0, 2)], [1]),  # longer than max_clip: alone, the others still share
        ([9.0, 9.0, 9.0, 9.0], [(0, 1, 2)], [3]),  # 9+0.8+9+0.8+9 = 28.6 s fits 29 s; the fourth is left single
        ([9.0] * 6, [(0, 1, 2), (3, 4, 5)], []),
        ([-1.0, 2.0, 2.0], [(1, 2)], [0]),  # malformed duration: alone
    ],
)
def test_plan_windows_groups_in_order_within_budget(durations, windows, alone):
    got, got_alone = plan_windows(durations, budget=29.0, gap=0.8, max_clip=10.0)
    assert [w.members for w in got] == windows
    assert got_alone == alone
    for w in got:
        assert w.duration <= 29.0
        for (_, end), (start, _) in zip(w.spans, w.spans[1:], strict=False):
            assert start - end == pytest.approx(0.8)
        assert [e - s for s, e in w.spans] == pytest.approx([durations[i] for i in w.members])


def test_pack_audio_places_each_clip_at_its_span_with_silence_between():
    rate = 100
    window = Window(members=(0, 1), spans=((0.0, 0.5), (1.3, 1.6)), gap=0.8)
    waves = [np.full(50, 0.5, np.float32), np.full(30, -0.25, np.float32)]
    out = pack_audio(window, waves, rate)
    assert out.dtype == np.float32 and len(out) == 161
    assert (out[:50] == 0.5).all() and (out[50:130] == 0).all() and (out[130:160] == -0.25).all()


WINDOW = Window(members=(4, 7, 9), spans=((0.0, 2.0), (2.8, 5.0), (5.8, 7.0)), gap=0.8)


def w(start: float, end: float, text: str, probability: float = 0.95) -> TimedWord:
    return TimedWord(start, end, text, probability)


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (  # clean: each clip's words inside its span
            [
                w(0.0, 0.5, " How"),
                w(0.5, 1.9, " many?"),
                w(2.9, 4.0, " Which"),
                w(4.0, 4.9, " one?"),
                w(6.0, 6.9, " Red."),
            ],
            ["How many?", "Which one?", "Red."],
        ),
        (  # timestamps a little off (a word running into the gap) still assign by midpoint
            [w(0.1, 2.3, " Hello."), w(2.6, 4.8, " Two"), w(5.6, 7.1, " three.")],
            ["Hello.", "Two", "three."],
        ),
        (  # a word covering the whole first gap: clips 0 and 1 are ambiguous, clip 2 stands
            [w(0.0, 1.0, " A"), w(1.5, 3.2, " merged"), w(3.2, 4.5, " end"), w(6.0, 6.8, " C")],
            [None, None, "C"],
        ),
        (  # a word invented in the silence after clip 1: clip 1 is doubtful
            [w(0.0, 1.9, " A"), w(3.0, 4.9, " B"), w(5.1, 5.5, " next"), w(6.0, 6.8, " C")],
            ["A", None, "C"],
        ),
        (  # invented text after the last clip
            [w(0.0, 1.9, " A"), w(3.0, 4.9, " B"), w(6.0, 6.8, " C"), w(7.4, 8.0, " Thanks.")],
            ["A", "B", None],
        ),
        (  # invented words squeezed into the end of clip 2's span, at near-zero probability
            [
                w(0.0, 1.9, " A"),
                w(3.0, 4.9, " B"),
                w(6.0, 6.8, " C."),
                w(6.8, 6.8, " for", 0.01),
                w(6.8, 6.9, " the", 0.1),
            ],
            ["A", "B", None],
        ),
        ([w(0.0, 1.9, " A", 0.49), w(3.0, 4.9, " B", 0.5)], [None, "B", None]),  # Whisper's own doubt; no word
        ([w(0.0, 1.9, " A"), w(6.0, 6.8, " C")], ["A", None, "C"]),  # clip 1 got no word
        ([], [None, None, None]),  # Whisper returned nothing
        ([w(0.0, 1.9, " "), w(3.0, 4.9, " B"), w(6.0, 6.8, " C")], [None, "B", "C"]),  # whitespace only = no word
    ],
)
def test_assign_words_table(words, expected):
    assert assign_words(WINDOW, words) == expected


class _Seg:
    def __init__(self, text: str, words: list | None = None) -> None:
        self.text, self.words = text, words


class _Word:
    def __init__(self, start: float, end: float, word: str, probability: float = 0.9) -> None:
        self.start, self.end, self.word, self.probability = start, end, word, probability


class _AmplitudeWhisper:
    """Stands in for WhisperModel: "hears" each run of equal non-zero samples as the word `w<amplitude*100>`."""

    def __init__(self, *, fail_windows: bool = False, doubt: int | None = None) -> None:
        self.fail_windows, self.doubt, self.calls = fail_windows, doubt, []

    def transcribe(self, wave, *, word_timestamps: bool, **_options):
        self.calls.append("window" if word_timestamps else "alone")
        if word_timestamps and self.fail_windows:
            raise RuntimeError("decoder blew up")
        words, start = [], None
        for i, x in enumerate([*wave.tolist(), 0.0]):
            if x and start is None:
                start = i
            elif not x and start is not None:
                level = round(float(wave[start]) * 100)
                words.append(_Word(start / 16000, i / 16000, f" w{level}", 0.1 if level == self.doubt else 0.9))
                start = None
        return [_Seg("".join(w.word for w in words), words if word_timestamps else None)], None


def _whisper(model, **settings):
    from datagen.backends.faster_whisper import FasterWhisperSettings, FasterWhisperTranscriber

    asr = FasterWhisperTranscriber(FasterWhisperSettings(pack=True, **settings))
    asr._model, asr._ready = model, True
    return asr


def _clip(level: float, seconds: float = 1.0):
    from datagen.records import Audio

    return Audio(np.full(int(seconds * 16000), level, np.float32), 16000)


@pytest.mark.parametrize(
    ("model", "clips", "texts", "packed", "calls"),
    [
        (_AmplitudeWhisper(), [0.1, 0.2, 0.3], ["w10", "w20", "w30"], [True] * 3, ["window"]),
        (_AmplitudeWhisper(fail_windows=True), [0.1, 0.2], ["w10", "w20"], [False] * 2, ["window", "alone", "alone"]),
        (_AmplitudeWhisper(doubt=20), [0.1, 0.2, 0.3], ["w10", "w20", "w30"], [True, False, True], ["window", "alone"]),
        (_AmplitudeWhisper(), [0.1, float("nan"), 0.3], ["w10", None, "w30"], [True, False, True], ["window"]),
        (_AmplitudeWhisper(), [0.1], ["w10"], [False], ["alone"]),
    ],
    ids=["clean", "window_fails", "doubtful_word", "non_finite_clip", "single"],
)
def test_faster_whisper_packs_then_falls_back_per_clip(model, clips, texts, packed, calls):
    asr = _whisper(model)
    assert asr.transcribe([_clip(level) for level in clips]) == texts
    assert asr.last_packed == packed
    assert model.calls == calls


def test_faster_whisper_without_pack_transcribes_one_by_one():
    model = _AmplitudeWhisper()
    asr = _whisper(model)
    asr.settings = asr.settings.model_copy(update={"pack": False})
    assert asr.transcribe([_clip(0.1), _clip(0.2), _clip(0.0, 0.0)]) == ["w10", "w20", ""]
    assert asr.last_packed == [False] * 3 and model.calls == ["alone", "alone"]
