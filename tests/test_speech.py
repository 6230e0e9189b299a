"""The shared speak → verify → score path: reasons for every failure, provenance, noise, shared voices."""

from __future__ import annotations

import numpy as np
import pytest

from datagen.backends.fake import FakeASRSettings, FakeSynthesizer, FakeTranscriber, FakeTTSSettings
from datagen.ledger import Ledger
from datagen.speakable import voice_problem
from datagen.speech import Speaker, SpeechConfig
from datagen.voices import VoiceChoice


def _speaker(
    *, tts_fail: list[str] = (), asr_fail: list[str] = (), noise: tuple | None = None, slow: bool = False, **cfg
) -> Speaker:
    tts = FakeTTSSettings(fail_on=list(tts_fail), seconds_per_char=0.05 if slow else 0.01)
    backends = {
        "tts": FakeSynthesizer(tts, name="tts"),
        "asr": FakeTranscriber(FakeASRSettings(fail_on=list(asr_fail)), name="asr"),
    }
    pool = [VoiceChoice(tts="tts", speed=(0.9, 1.1), noise_snr_db=noise)]
    cfg.setdefault("mos", False)
    return Speaker(SpeechConfig(voices=pool, asr="asr", **cfg), backends, seed=5, ledger=Ledger())


def _failures(sp: Speaker) -> dict:
    return {owner: (f.reason, f.detail) for owner, f in sp.ledger.failures.items()}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("How tall is a giraffe?", None),
        ("Café au lait, s'il vous plaît.", None),  # Latin letters with accents
        ("42", None),
        ("", "empty_text"),
        ("🙂🎉🙂", "not_speakable"),
        ("Привет, как дела?", "not_speakable"),
        ("你好，世界", "not_speakable"),
        ("Hello 你好世界你好世界", "not_speakable"),  # mostly not Latin
        ("The word 猫 means cat in Japanese.", None),  # mostly Latin
        ("Le phare se dresse sur un rocher battu par les vagues depuis deux siècles.", "not_speakable"),
        ("Wie viele rote Kreise sind auf dem Bild zu sehen, ohne die blauen?", "not_speakable"),
        ("A lighthouse stands on a rock that the waves have beaten for two centuries.", None),
        ("Count red circles, blue squares, green triangles, yellow stars, purple hearts.", None),  # no function words
        ("El faro está sobre una roca y las olas lo golpean con fuerza.", "not_speakable"),
    ],
)
def test_voice_problem(text: str, reason: str | None) -> None:
    problem = voice_problem(text)
    assert (problem[0] if problem else None) == reason


def test_speaks_verifies_and_records_provenance() -> None:
    sp = _speaker()
    a = sp.plan(0, "s0", 0, "Dr. Smith asks: what is 2 + 2?")
    b = sp.plan(1, "s1", 2, "Second sample.")
    sp.run([a, b])
    assert _failures(sp) == {}
    prov = sp.provenance(a)
    assert prov["text"] == "Dr. Smith asks: what is 2 + 2?"
    assert prov["spoken_text"] == "Doctor Smith asks: what is 2 plus 2?"
    assert prov["transcript"] == prov["spoken_text"]  # the fake ASR hears exactly what was said
    assert prov["wer"] == 0.0  # scored against what was spoken
    assert prov["attempts"] == [
        {"tts": "fake_tts", "voice": "alpha", "speed": prov["speed"], "voice_seed": prov["voice_seed"],
         "snr_db": None, "wer": 0.0, "mos": None, "problem": None}
    ]  # fmt: skip
    assert prov["mos"] is None and prov["packed"] is False  # mos: false scores nothing
    assert prov["tts"] == "fake_tts" and prov["voice"] == "alpha" and prov["asr"] == "fake_asr"
    assert 0.9 <= prov["speed"] <= 1.1 and prov["snr_db"] is None and prov["duration"] > 0
    assert sp.provenance(b)["turn"] == 2 and sp.provenance(b)["wer"] == 0.0


@pytest.mark.parametrize(
    ("kwargs", "text", "reason", "detail"),
    [
        ({}, "   ", "empty_text", "x has nothing to say"),
        ({"max_audio_seconds": 1.0}, "word " * 20, "audio_too_long", "x: 99 characters"),  # over 40 chars/s
        ({"max_audio_seconds": 1.0, "slow": True}, "word " * 7, "audio_too_long", "x: 1.7 s"),  # estimate ok, audio not
        ({"tts_fail": ["boom"]}, "boom goes the voice", "tts_failed", "x, voice alpha"),
        ({"asr_fail": ["boom"]}, "boom goes the verifier", "asr_failed", "x"),
    ],
)
def test_failures_have_reasons(kwargs: dict, text: str, reason: str, detail: str) -> None:
    sp = _speaker(**kwargs)
    u = sp.plan(0, "s0", 0, text, label="x")
    ok = sp.plan(1, "s1", 0, "short")
    sp.run([x for x in (u, ok) if x is not None])
    assert _failures(sp) == {0: (reason, detail)}
    assert ok.transcript == "short"  # the other owner is untouched


def test_language_check_only_when_asked() -> None:
    sp = _speaker()
    assert sp.plan(0, "s", 0, "Привет мир") is not None  # vision_speech behaviour: synthesize whatever is there
    assert sp.plan(1, "s", 0, "Привет мир", check_language=True) is None
    assert sp.ledger[1].reason == "not_speakable"


def test_a_failed_owner_is_not_transcribed() -> None:
    sp = _speaker(tts_fail=["bad"])
    good, bad = sp.plan(0, "s", 0, "good words"), sp.plan(0, "s", 1, "bad words")
    sp.run([good, bad])
    assert _failures(sp) == {0: ("tts_failed", "turn 1, voice alpha")}
    assert good.transcript is None  # no ASR time for a sample that is already lost


def test_voice_key_shares_a_speaker_and_noise_is_applied_and_recorded() -> None:
    clean, noisy = _speaker(), _speaker(noise=(20.0, 20.0))
    u = [clean.plan(0, "s", c, f"chunk {c} text", voice_key=0) for c in range(3)]
    assert len({(x.voice.speed, x.voice.seed) for x in u}) == 1
    v = noisy.plan(0, "s", 0, "Some longer text to carry noise.")
    w = clean.plan(0, "s", 0, "Some longer text to carry noise.")
    noisy.run([v])
    clean.run([w])
    assert v.voice.options["snr_db"] == 20.0
    residual = v.audio.array - w.audio.array
    snr = 10 * np.log10(np.mean(w.audio.array**2) / np.mean(residual**2))
    assert 15 < snr < 25
    # the fake ASR reads a bit pattern the noise destroys: a real verifier failing on noise is a reject, not a crash
    assert _failures(noisy) == {0: ("asr_failed", "turn 0")}
    assert clean.provenance(w)["snr_db"] is None


def test_vision_speech_rejects_a_sample_without_a_user_turn() -> None:
    from datagen.generators.vision_speech import VisionSpeech, VisionSpeechConfig
    from datagen.records import Message, Rejected, Sample

    step = VisionSpeech(VisionSpeechConfig(voices=[VoiceChoice(tts="tts")], asr="asr", mos=False), seed=1)
    step.setup({"tts": FakeSynthesizer(name="tts"), "asr": FakeTranscriber(name="asr")})
    passage_only = Sample(id="p", meta={"passage": "Just a passage."})
    ok = Sample(id="q", messages=(Message("user", "<image>What is this?"), Message("assistant", "A cat.")))
    rejected, kept = step.process([passage_only, ok])
    assert isinstance(rejected, Rejected) and (rejected.reason, rejected.detail) == (
        "empty_text",
        "no user turn to speak",
    )
    assert kept.messages[0].audio == 0 and kept.meta["speech"][0]["transcript"] == "What is this?"
