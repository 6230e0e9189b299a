"""Vision→speech SFT: speak each user query with TTS, transcribe it back with the verifier ASR, score the WER.

Reads `messages`; writes `audios` (one per spoken turn, linked from the turn's `audio` index) and the meta keys
below (`wer`: worst turn, `mos`: lowest DNSMOS). The keep/drop on WER and MOS is the `max_wer` and `min_mos`
filters' job, so thresholds can be re-run without re-synthesizing.
Drops here: `empty_text` (nothing left to say, or no user turn), `not_speakable`, `tts_failed`, `audio_too_long`,
`asr_failed`.
The speaking itself is `datagen.speech`, shared with the spoken-QA generators.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from datagen.ledger import Ledger
from datagen.records import Message, Rejected, Sample
from datagen.speakable import strip_tags
from datagen.speech import Speaker, SpeechConfig, SpeechStep, Utterance, speech_schema, speech_summary


class VisionSpeechConfig(SpeechConfig):
    turns: Literal["all", "first"] = Field("all", description="which user turns become speech")


class VisionSpeech(SpeechStep[VisionSpeechConfig]):
    name = "vision_speech"
    reads = ("messages",)
    schema = {"wer": "float64", "mos": "float64", "speech": speech_schema()}

    def process(self, batch: Sequence[Sample]) -> list[Sample | Rejected]:
        ledger = Ledger()
        speaker = Speaker(self.config, self.backends, self.seed, ledger, self.tally)
        planned = self._plan(batch, speaker)
        speaker.run([u for mine in planned.values() for u in mine])
        return ledger.emit(self, batch, lambda i, sample: self._assemble(sample, planned[i], speaker))

    def first_utterances(self, batch: Sequence[Sample], speaker: Speaker) -> list[Utterance]:
        return [u for mine in self._plan(batch, speaker).values() for u in mine]

    def _plan(self, batch: Sequence[Sample], speaker: Speaker) -> dict[int, list[Utterance]]:
        """The turns to speak, by batch index; a record with nothing speakable is in the speaker's ledger."""
        planned: dict[int, list[Utterance]] = {}
        for i, sample in enumerate(batch):
            turns = sample.user_turns()[: 1 if self.config.turns == "first" else None]
            if not turns:
                speaker.ledger.fail(i, "empty_text", "no user turn to speak")
            mine: list[Utterance] = []
            for turn in turns:
                u = speaker.plan(i, sample.id, turn, strip_tags(sample.messages[turn].content))
                if u is None:
                    break
                mine.append(u)
            if i not in speaker.ledger:
                planned[i] = mine
        return planned

    def _assemble(self, sample: Sample, utterances: list[Utterance], speaker: Speaker) -> Sample:
        messages = list(sample.messages)
        audios = list(sample.audios)
        speech = []
        for u in utterances:
            messages[u.turn] = Message(messages[u.turn].role, messages[u.turn].content, audio=len(audios))
            audios.append(u.audio)
            speech.append(speaker.provenance(u))
        meta = {**speech_summary(speech), "speech": speech}
        return sample.evolve(messages=tuple(messages), audios=tuple(audios), meta=meta)
