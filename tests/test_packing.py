"""Packing short clips into Whisper windows and reading each clip's own decode: pure logic and a fake model."""

from __future__ import annotations

import numpy as np
import pytest

from datagen.backends.packing import (
    SpecialTokens,
    Window,
    clip_limits,
    length_groups,
    pack_audio,
    plan_windows,
    read_clip,
)


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
SPECIAL = SpecialTokens(eot=1000, timestamp_begin=1001)


def ts(seconds: float) -> int:
    return SPECIAL.timestamp(seconds)


def test_clip_limits_reach_the_next_clip_and_one_gap_past_the_last():
    assert clip_limits(WINDOW) == [(0.0, 2.8), (2.8, 5.8), (5.8, 7.8)]


@pytest.mark.parametrize(
    ("tokens", "expected"),
    [
        ([ts(2.8), 5, 6, ts(5.0)], [5, 6]),  # prompt echoed, text, closed at the clip's end
        ([5, 6, ts(5.8)], [5, 6]),  # closed where the next clip starts: Whisper's habit
        ([5, 6, ts(6.04), ts(6.04), 7, 8], [5, 6]),  # closed within the slack; what follows is not read
        ([5, 6, ts(6.1)], None),  # closed past the next clip's start + slack: heard the neighbour
        ([5, 6, 7, 8], None),  # runs on to the length cap without closing
        ([5, 6, 1000], None),  # end of text without a closing timestamp: no proof of where it ended
        ([ts(2.8), ts(4.0)], None),  # nothing said
        ([], None),
        ([5, ts(2.8)], None),  # closed at its own start: nonsense
    ],
)
def test_read_clip_table(tokens, expected):
    start, until = clip_limits(WINDOW)[1]
    assert read_clip(tokens, start, until, SPECIAL) == expected


class _Seg:
    def __init__(self, text: str) -> None:
        self.text = text


class _AmplitudeWhisper:
    """Stands in for WhisperModel one by one: "hears" each run of equal non-zero samples as the word
    `w<amplitude*100>`."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def transcribe(self, wave, **_options):
        self.calls.append("alone")
        return [_Seg(" ".join(f"w{level}" for level, _start, _end in _runs(wave)))], None


def _runs(wave) -> list[tuple[int, float, float]]:
    """(level, start s, end s) of each run of equal non-zero samples."""
    runs, start = [], None
    for i, x in enumerate([*np.asarray(wave).tolist(), 0.0]):
        if x and start is None:
            start = i
        elif not x and start is not None:
            runs.append((round(float(wave[start]) * 100), start / 16000, i / 16000))
            start = None
    return runs


class _Tokenizer:
    eot, timestamp_begin = SPECIAL.eot, SPECIAL.timestamp_begin

    def decode(self, tokens):
        return " ".join(f"w{t}" for t in tokens)


def _packing_whisper(model, *, fail_windows=False, run_on=None, **settings):
    """The transcriber with `model` one by one and a fake batched decoder for windows: each clip's decode is the
    level of the run at its start, closed at the next run's start (`run_on`: that level's clip never closes)."""
    from datagen.backends.faster_whisper import FasterWhisperSettings, FasterWhisperTranscriber

    class Packing(FasterWhisperTranscriber):
        def _window_tokenizer(self):
            return _Tokenizer()

        def _decode_clips(self, window, wave, tok, special):
            model.calls.append("window")
            if fail_windows:
                raise RuntimeError("decoder blew up")
            runs = _runs(wave)
            out = []
            for start, _end in window.spans:
                k = next(i for i, r in enumerate(runs) if abs(r[1] - start) < 0.01)
                close = runs[k + 1][1] if k + 1 < len(runs) else runs[k][2] + 0.5
                out.append([runs[k][0]] if runs[k][0] == run_on else [runs[k][0], special.timestamp(close)])
            return out

    asr = Packing(FasterWhisperSettings(pack=True, **settings))
    asr._model, asr._ready = model, True
    return asr


def _clip(level: float, seconds: float = 1.0):
    from datagen.records import Audio

    return Audio(np.full(int(seconds * 16000), level, np.float32), 16000)


@pytest.mark.parametrize(
    ("options", "clips", "texts", "packed", "calls"),
    [
        ({}, [0.1, 0.2, 0.3], ["w10", "w20", "w30"], [True] * 3, ["window"]),
        ({"fail_windows": True}, [0.1, 0.2], ["w10", "w20"], [False] * 2, ["window", "alone", "alone"]),
        ({"run_on": 20}, [0.1, 0.2, 0.3], ["w10", "w20", "w30"], [True, False, True], ["window", "alone"]),
        ({}, [0.1, float("nan"), 0.3], ["w10", None, "w30"], [True, False, True], ["window"]),
        ({}, [0.1], ["w10"], [False], ["alone"]),
    ],
    ids=["clean", "window_fails", "clip_runs_on", "non_finite_clip", "single"],
)
def test_faster_whisper_packs_then_falls_back_per_clip(options, clips, texts, packed, calls):
    model = _AmplitudeWhisper()
    asr = _packing_whisper(model, **options)
    assert asr.transcribe([_clip(level) for level in clips]) == texts
    assert asr.last_packed == packed
    assert model.calls == calls


def test_faster_whisper_without_pack_transcribes_one_by_one():
    model = _AmplitudeWhisper()
    asr = _packing_whisper(model)
    asr.settings = asr.settings.model_copy(update={"pack": False})
    assert asr.transcribe([_clip(0.1), _clip(0.2), _clip(0.0, 0.0)]) == ["w10", "w20", ""]
    assert asr.last_packed == [False] * 3 and model.calls == ["alone", "alone"]


@pytest.mark.parametrize(
    ("lengths", "spread", "groups"),
    [
        ({}, 200, []),
        ({0: 300}, 200, [[0]]),
        ({0: 350, 1: 100, 2: 250, 3: 900}, 200, [[1, 2], [0], [3]]),  # shortest first; 350 is 250 past 100
        ({0: 100, 1: 300, 2: 100}, 200, [[0, 2, 1]]),  # ties in key order; 300 - 100 is within the spread
        ({0: 100, 1: 301}, 200, [[0], [1]]),
        ({0: 5, 1: 5}, 0, [[0, 1]]),
    ],
)
def test_length_groups(lengths: dict, spread: int, groups: list) -> None:
    assert length_groups(lengths, spread=spread) == groups
