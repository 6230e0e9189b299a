"""Vision→speech SFT: speak each user query with TTS, transcribe it back with the verifier ASR, score the WER.

Reads `messages`; writes `audios` (one per spoken turn, linked from the turn's `audio` index) and the meta keys
below. The keep/drop on WER is the `max_wer` filter's job, so thresholds can be re-run without re-synthesizing.
Drops here: `empty_text` (nothing left to say), `tts_failed`, `audio_too_long`, `asr_failed`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal

from pydantic import Field

from datagen.records import Rejected, Sample
from datagen.speakable import speakable, strip_tags
from datagen.steps import Step, StepConfig
from datagen.voices import VoiceChoice, draw_voice
from filters.wer import wer

# Generous upper bound on characters per second of speech: longer texts cannot fit and are not synthesized.
_MAX_CHARS_PER_SECOND = 40


class VisionSpeechConfig(StepConfig):
    voices: list[VoiceChoice] = Field(min_length=1, description="the voice pool; each names a synthesizer backend")
    asr: str = Field(description="name of the transcriber backend that verifies the speech")
    turns: Literal["all", "first"] = Field("all", description="which user turns become speech")
    max_audio_seconds: float = Field(30.0, gt=0, description="longer spoken queries are dropped (audio_too_long)")


def _speech_feature() -> Any:
    from datasets import List, Value

    return List(
        {
            "turn": Value("int32"),
            "text": Value("string"),
            "spoken_text": Value("string"),
            "transcript": Value("string"),
            "wer": Value("float64"),
            "duration": Value("float64"),
            "tts": Value("string"),
            "voice": Value("string"),
            "speed": Value("float64"),
            "voice_seed": Value("int64"),
            "asr": Value("string"),
        }
    )


class VisionSpeech(Step):
    name = "vision_speech"
    Config = VisionSpeechConfig
    reads = ("messages",)
    writes = ("wer", "speech")
    config: VisionSpeechConfig

    @classmethod
    def features(cls) -> dict[str, Any]:
        from datasets import Value

        return {"wer": Value("float64"), "speech": _speech_feature()}

    @classmethod
    def backend_refs(cls, config: Any) -> list[tuple[str, str, str]]:
        refs = [(f"voices.{i}.tts", v.tts, "synthesize") for i, v in enumerate(config.voices)]
        return [*refs, ("asr", config.asr, "transcribe")]

    def process(self, batch: Sequence[Sample]) -> list[Sample | Rejected]:
        cfg = self.config
        engine_of = {v.tts: self.backends[v.tts].engine for v in cfg.voices}
        asr = self.backends[cfg.asr]
        results: dict[int, Sample | Rejected] = {}
        jobs: list[dict[str, Any]] = []  # one per spoken turn
        for i, sample in enumerate(batch):
            turns = sample.user_turns()[: 1 if cfg.turns == "first" else None]
            planned = []
            for turn in turns:
                text = strip_tags(sample.messages[turn].content)
                spoken = speakable(text)
                if not spoken:
                    results[i] = self.reject(sample, "empty_text", f"turn {turn} has nothing to say")
                    break
                if len(spoken) > cfg.max_audio_seconds * _MAX_CHARS_PER_SECOND:
                    results[i] = self.reject(sample, "audio_too_long", f"turn {turn}: {len(spoken)} characters")
                    break
                voice = draw_voice(cfg.voices, self.seed, sample.id, turn, engine_of)
                if not voice.name:  # record the voice actually heard, not "default"
                    voice = replace(voice, name=self._default_voice(voice.backend))
                planned.append({"sample": i, "turn": turn, "text": text, "spoken": spoken, "voice": voice})
            if i not in results:
                jobs.extend(planned)

        by_backend: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for job in jobs:
            by_backend[job["voice"].backend].append(job)
        for backend, group in by_backend.items():
            audios = self.backends[backend].synthesize([j["spoken"] for j in group], [j["voice"] for j in group])
            for job, audio in zip(group, audios, strict=True):
                job["audio"] = audio

        live = [j for j in jobs if self._ok(j, batch, results)]
        transcripts = asr.transcribe([j["audio"] for j in live]) if live else []
        asr_name = _model_name(asr)
        for job, transcript in zip(live, transcripts, strict=True):
            job["transcript"] = transcript
            if transcript is None and job["sample"] not in results:
                results[job["sample"]] = self.reject(batch[job["sample"]], "asr_failed", f"turn {job['turn']}")

        per_sample: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for job in live:
            per_sample[job["sample"]].append(job)
        for i, sample in enumerate(batch):
            if i not in results:
                results[i] = self._assemble(sample, per_sample[i], asr_name)
        return [results[i] for i in range(len(batch))]

    def setup(self, backends: Any) -> None:
        super().setup(backends)
        wer("warm up", "warm up")  # the normalizer's first call imports its number tables: pay it at setup

    def _default_voice(self, backend: str) -> str:
        names = self.backends[backend].voices()
        return names[0] if names else ""

    def _ok(self, job: dict[str, Any], batch: Sequence[Sample], results: dict[int, Sample | Rejected]) -> bool:
        i = job["sample"]
        if i in results:
            return False
        audio = job["audio"]
        if audio is None or len(audio.array) == 0:
            results[i] = self.reject(batch[i], "tts_failed", f"turn {job['turn']}, voice {job['voice'].name}")
            return False
        if audio.duration > self.config.max_audio_seconds:
            results[i] = self.reject(batch[i], "audio_too_long", f"turn {job['turn']}: {audio.duration:.1f} s")
            return False
        return True

    def _assemble(self, sample: Sample, jobs: list[dict[str, Any]], asr_name: str) -> Sample:
        messages = list(sample.messages)
        audios = list(sample.audios)
        speech = []
        for job in jobs:
            turn = job["turn"]
            messages[turn] = type(messages[turn])(messages[turn].role, messages[turn].content, audio=len(audios))
            audios.append(job["audio"])
            voice = job["voice"]
            speech.append(
                {
                    "turn": turn,
                    "text": job["text"],
                    "spoken_text": job["spoken"],
                    "transcript": job["transcript"],
                    "wer": wer(job["text"], job["transcript"]),
                    "duration": round(job["audio"].duration, 3),
                    "tts": voice.engine,
                    "voice": voice.name,
                    "speed": voice.speed,
                    "voice_seed": voice.seed,
                    "asr": asr_name,
                }
            )
        worst = max(s["wer"] for s in speech)
        return sample.evolve(messages=tuple(messages), audios=tuple(audios), meta={"wer": worst, "speech": speech})


def _model_name(backend: Any) -> str:
    info = backend.describe()
    return f"{info.get('engine')}:{info.get('model') or info.get('model_path') or ''}".rstrip(":")
