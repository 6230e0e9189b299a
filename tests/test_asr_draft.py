"""Drafts (`Drafter`): a word-perfect draft is kept, every other clip is transcribed in full, and nothing is lost.

Unit tests drive the speech path with fake engines whose drafts are scripted; the embedded tests run Whisper
tiny.en's short-window draft on real piper speech through the same path.
"""

from __future__ import annotations

import numpy as np
import pytest

from datagen.backends.base import Drafter, lacks
from datagen.backends.fake import FakeASRSettings, FakeSynthesizer, FakeTranscriber, FakeTTSSettings
from datagen.ledger import Ledger
from datagen.records import Audio
from datagen.speech import Speaker, SpeechConfig
from datagen.voices import VoiceChoice


class _DraftingASR(FakeTranscriber):
    """Hears exactly (the fake), drafts with scripted slips: "slip" texts get a wrong word, "blank" ones None."""

    engine = "drafting_asr"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.drafted: list[str | None] = []
        self.transcribed: list[str | None] = []
        self.last_packed: list[bool] = []
        self._ear = FakeTranscriber(FakeASRSettings(), name="ear")  # drafts ignore `fail_on`: only `transcribe` fails

    def draft(self, audios: list[Audio]) -> list[str | None]:
        heard = [self._ear._one(a) for a in audios]
        out = [None if h and "blank" in h else (h.replace("slip", "slap") if h else h) for h in heard]
        self.drafted += heard
        return out

    def transcribe(self, audios: list[Audio]) -> list[str | None]:
        out = super().transcribe(audios)
        self.transcribed += out
        self.last_packed = ["pack me" in (t or "") for t in out]  # the full pass says which clips it packed
        return out


def _speaker(asr: FakeTranscriber, **cfg) -> Speaker:
    backends = {"tts": FakeSynthesizer(FakeTTSSettings(), name="tts"), "asr": asr}
    config = SpeechConfig(voices=[VoiceChoice(tts="tts")], asr="asr", mos=False, **cfg)
    return Speaker(config, backends, seed=3, ledger=Ledger())


TEXTS = ["the draft is right", "a slip in the draft", "a blank draft", "pack me with the others", "also right"]


def _run(asr: FakeTranscriber, **cfg) -> tuple[Speaker, list]:
    sp = _speaker(asr, **cfg)
    planned = [sp.plan(i, f"s{i}", 0, text) for i, text in enumerate(TEXTS)]
    sp.run(planned)
    return sp, planned


def test_a_word_perfect_draft_is_kept_and_the_rest_transcribed_in_full() -> None:
    asr = _DraftingASR(FakeASRSettings(), name="asr")
    assert lacks(asr, Drafter) == []
    sp, planned = _run(asr)
    assert sp.ledger.failures == {}
    assert asr.drafted == TEXTS  # every clip drafted once, in order
    # only the slipped and the missing drafts go in full
    assert asr.transcribed == ["a slip in the draft", "a blank draft"]
    provs = [sp.provenance(u) for u in planned]
    assert [p["drafted"] for p in provs] == [True, False, False, True, True]
    assert [p["transcript"] for p in provs] == TEXTS  # the full pass corrected the slip and filled the blank
    assert all(p["wer"] == 0.0 for p in provs)


def test_packed_flags_follow_the_clips_the_full_pass_transcribed() -> None:
    class _SlipsOnPack(_DraftingASR):
        def draft(self, audios: list[Audio]) -> list[str | None]:
            return [None if "pack" in (t or "") else t for t in super().draft(audios)]

    asr = _SlipsOnPack(FakeASRSettings(), name="asr")
    sp, planned = _run(asr)
    assert asr.transcribed == ["a slip in the draft", "a blank draft", "pack me with the others"]
    provs = [sp.provenance(u) for u in planned]
    assert [p["packed"] for p in provs] == [False, False, False, True, False]
    assert [p["drafted"] for p in provs] == [True, False, False, False, True]


def test_asr_draft_false_transcribes_everything_in_full() -> None:
    asr = _DraftingASR(FakeASRSettings(), name="asr")
    sp, planned = _run(asr, asr_draft=False)
    assert asr.drafted == [] and asr.transcribed == TEXTS
    assert not any(sp.provenance(u)["drafted"] for u in planned)


def test_a_verifier_that_cannot_draft_transcribes_everything() -> None:
    asr = FakeTranscriber(FakeASRSettings(word_error_rate=0.0), name="asr")
    assert lacks(asr, Drafter) == ["draft"]
    sp, planned = _run(asr)
    assert [sp.provenance(u)["transcript"] for u in planned] == TEXTS
    assert not any(sp.provenance(u)["drafted"] for u in planned)


def test_a_draft_that_is_wrong_is_never_kept_even_if_the_full_pass_fails() -> None:
    """A slipped draft and a failed full transcription: asr_failed, not the draft's words."""
    asr = _DraftingASR(FakeASRSettings(fail_on=["slip"]), name="asr")
    sp, planned = _run(asr)
    failed = {owner: f.reason for owner, f in sp.ledger.failures.items()}
    assert failed == {1: "asr_failed"}
    assert sp.provenance(planned[0])["drafted"] is True


# --- the real engine: Whisper tiny.en's short-window draft on piper speech --------------------------------------


@pytest.fixture(scope="module")
def whisper():
    pytest.importorskip("faster_whisper")
    from datagen.backends.faster_whisper import FasterWhisperSettings, FasterWhisperTranscriber

    asr = FasterWhisperTranscriber(FasterWhisperSettings())
    if reason := asr.unavailable_reason():
        pytest.skip(reason)
    asr.setup()
    return asr


@pytest.mark.embedded
@pytest.mark.slow
def test_whisper_drafts_hear_the_demo_queries_and_confirmation_matches_full_transcription(whisper) -> None:
    from datagen.testing import REPO, spoken_clips
    from filters.wer import wer

    clips = spoken_clips(REPO / "manifests" / "demo.yaml", limit=16)
    texts, audios = [t for t, _ in clips], [a for _, a in clips]
    drafts, full = whisper.draft(audios), whisper.transcribe(audios)
    assert len(clips) >= 16 and None not in full
    perfect_full = [i for i, t in enumerate(full) if wer(texts[i], t) == 0]
    perfect_draft = [i for i, d in enumerate(drafts) if d is not None and wer(texts[i], d) == 0]
    # the draft earns its keep: it hears most of what the full window hears word for word
    assert len(set(perfect_draft) & set(perfect_full)) >= 0.75 * len(perfect_full) > 0
    # draft + confirmation, as the speech step does: decisions stay those of full transcription, bar a slip or two
    confirmed = [d if i in perfect_draft else f for i, (d, f) in enumerate(zip(drafts, full, strict=True))]
    moved = [i for i in range(len(texts)) if (wer(texts[i], confirmed[i]) <= 0.2) != (wer(texts[i], full[i]) <= 0.2)]
    assert len(moved) <= 2, [(texts[i], full[i], confirmed[i]) for i in moved]


@pytest.mark.embedded
@pytest.mark.slow
def test_whisper_drafts_only_clips_of_similar_length_together(whisper) -> None:
    """A clip's draft does not change when a much longer clip is drafted in the same call (another window)."""
    from datagen.testing import REPO, spoken_clips

    clips = [a for _, a in spoken_clips(REPO / "manifests" / "demo.yaml", limit=4)]
    joined = Audio(np.concatenate([c.resampled(16000).array for c in clips[:4]]), 16000)
    assert joined.duration > clips[0].duration + 4
    alone = whisper.draft([clips[0]])
    assert alone[0] and whisper.draft([joined, clips[0]])[1] == alone[0]


@pytest.mark.embedded
def test_whisper_draft_declines_clips_too_long_to_save_anything(whisper) -> None:
    """A clip whose draft window would be 30 s or more is not drafted (None): the full pass takes it."""
    margin = whisper.settings.draft_margin_seconds
    long = Audio(np.zeros(int((30.0 - margin + 0.5) * 16000), np.float32), 16000)
    short = Audio(np.zeros(16000, np.float32), 16000)
    drafts = whisper.draft([long, short])
    assert drafts[0] is None and isinstance(drafts[1], str)


def test_draft_provenance_is_in_the_speech_schema() -> None:
    from datagen.speech_schema import speech_schema

    assert speech_schema()[0]["drafted"] == "bool"


@pytest.mark.embedded
def test_a_packing_whisper_does_not_draft(whisper) -> None:
    from datagen.backends.faster_whisper import FasterWhisperSettings, FasterWhisperTranscriber

    packing = FasterWhisperTranscriber(FasterWhisperSettings(pack=True))
    clip = Audio(np.zeros(16000, np.float32), 16000)
    assert packing.draft([clip, clip]) == [None, None]
    assert whisper.draft([clip]) != [None]  # the same clip is drafted without `pack`
