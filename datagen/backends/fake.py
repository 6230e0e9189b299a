"""Deterministic fake backends: they drive unit tests (and show how a backend is built) with no model time.

FakeSynthesizer encodes each text into a tone sequence whose length follows the text; FakeTranscriber decodes
it back exactly, optionally corrupting words at a set rate, so tests control WER precisely.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from datagen.backends.base import BaseBackend, Completion, Sampling, Voice
from datagen.records import Audio

_SR = 16000
_TEXT_TAG = b"DGTX"


class FakeTTSSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sampling_rate: int = _SR
    seconds_per_char: float = Field(0.01, gt=0)
    fail_on: list[str] = Field(default_factory=list, description="texts containing any of these fail (None)")
    delay_seconds: float = Field(0.0, ge=0, description="sleep per text: lets tests kill a run mid-way")


class FakeSynthesizer(BaseBackend[FakeTTSSettings]):
    """Audio whose samples carry the text (so FakeTranscriber can read it back) padded to a text-based length."""

    engine = "fake_tts"

    def voices(self) -> list[str]:
        return ["alpha", "beta", "gamma"]

    def synthesize(self, texts: list[str], voices: list[Voice]) -> list[Audio | None]:
        s = self.settings
        out: list[Audio | None] = []
        for text, voice in zip(texts, voices, strict=True):
            time.sleep(s.delay_seconds)
            if any(bad in text for bad in s.fail_on):
                out.append(None)
                continue
            payload = _TEXT_TAG + text.encode("utf-8")
            n = max(len(payload) + 8, int(len(text) * s.seconds_per_char * s.sampling_rate / voice.speed))
            wave = np.zeros(n, dtype=np.float32)
            # bytes as small levels in the first samples: exact after 16-bit PCM (k/256 is representable)
            wave[: len(payload)] = np.frombuffer(payload, dtype=np.uint8).astype(np.float32) / 256.0
            wave[len(payload)] = -1.0  # end marker
            out.append(Audio(array=wave, sampling_rate=s.sampling_rate))
        return out


class FakeASRSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    word_error_rate: float = Field(
        0.0, ge=0, le=1, description="chance that each word is replaced (decided by a hash: deterministic)"
    )
    fail_on: list[str] = Field(default_factory=list)


class FakeTranscriber(BaseBackend[FakeASRSettings]):
    engine = "fake_asr"

    def transcribe(self, audios: list[Audio]) -> list[str | None]:
        return [self._one(a) for a in audios]

    def _one(self, audio: Audio) -> str | None:
        wave = audio.array
        ends = np.flatnonzero(wave < -0.5)
        if not len(ends):
            return None
        data = np.round(wave[: ends[0]] * 256.0).astype(np.uint8).tobytes()
        if not data.startswith(_TEXT_TAG):
            return None
        text = data[len(_TEXT_TAG) :].decode("utf-8", errors="replace")
        if any(bad in text for bad in self.settings.fail_on):
            return None
        return _corrupt(text, self.settings.word_error_rate)


def _corrupt(text: str, rate: float) -> str:
    """Replace each word with probability `rate`, decided by a hash of (text, position): same text, same errors."""
    words = text.split()
    for i, word in enumerate(words):
        digest = hashlib.sha256(f"{i}\x1f{text}".encode()).digest()
        if int.from_bytes(digest[:4], "big") / 2**32 < rate:
            words[i] = "zzz" if word != "zzz" else "yyy"
    return " ".join(words)


class FakeLLMSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    responses: dict[str, list[str]] = Field(
        default_factory=dict,
        description="replies by a substring of the last user turn; '{prompt}' in a reply is that turn's text",
    )
    default: list[str] = Field(default_factory=lambda: ["I don't know."], min_length=1)
    fail_on: list[str] = Field(default_factory=list, description="prompts containing any of these fail (None)")
    cut_at_max_new_tokens: bool = Field(
        False,
        description="count words as tokens: a reply longer than max_new_tokens is cut there (finish reason 'length')",
    )


class FakeTextGenerator(BaseBackend[FakeLLMSettings]):
    """Scripted replies: tests decide exactly what "the model" says, so generators' logic is checked precisely.

    Greedy (temperature 0) always gives a prompt's first reply; sampling picks among its replies by a hash of
    (seed, prompt, sample index), so more rounds with new seeds see other replies, as a real sampler would.
    Replies are `Completion`s: "stop", or "length" when `cut_at_max_new_tokens` cut one (words count as tokens).
    """

    engine = "fake_llm"

    def generate(self, conversations: list[list[Any]], n: int = 1, sampling: Sampling | None = None) -> list[Any]:
        sampling = sampling or Sampling()
        return [self._one(conv, n, sampling) for conv in conversations]

    def _one(self, conversation: list[Any], n: int, sampling: Sampling) -> list[Completion] | None:
        prompt = next((t.content for t in reversed(conversation) if t.role == "user"), "")
        if any(bad in prompt for bad in self.settings.fail_on):
            return None
        replies = next((r for key, r in self.settings.responses.items() if key in prompt), self.settings.default)
        out = []
        for j in range(n):
            if sampling.temperature <= 0:
                pick = 0
            else:
                digest = hashlib.sha256(f"{sampling.seed}\x1f{j}\x1f{prompt}".encode()).digest()
                pick = int.from_bytes(digest[:4], "big") % len(replies)
            out.append(self._finished(replies[pick].replace("{prompt}", prompt), sampling.max_new_tokens))
        return out

    def _finished(self, reply: str, max_new_tokens: int) -> Completion:
        words = reply.split()
        if self.settings.cut_at_max_new_tokens and len(words) > max_new_tokens:
            return Completion(" ".join(words[:max_new_tokens]), "length")
        return Completion(reply, "stop")
