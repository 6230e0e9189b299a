"""Shared plumbing for TTS engines that run as a command-line program (flite, espeak-ng).

The text goes through a temp file and the program gets an argument list (never a shell), so no text can be read
as an option or a shell command; each call has a timeout, so a hung program fails one item, not the run.
"""

from __future__ import annotations

import itertools
import math
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datagen.backends.base import BackendError, ItemSynthesizer, T, Voice
from datagen.records import Audio


def find_program(name: str) -> str | None:
    return shutil.which(name)


def run_program(args: list[str], timeout: float, *, check: bool = True) -> str:
    """Run a short program and return its stdout; a failure (or, with `check`, an exit code) is a BackendError."""
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackendError(f"{args[0]} failed: {exc}") from exc
    if check and done.returncode != 0:
        raise BackendError(f"{args[0]} exited with {done.returncode}: {done.stderr.strip()[:300]}")
    return done.stdout


@dataclass(frozen=True, slots=True)
class Program:
    """What a command-line engine's program is: its name, how to install it, the flags that name the voice and the
    output wav, and how to read its version (from the program's path)."""

    name: str
    install_hint: str
    voice_flag: str
    output_flag: str
    version: Callable[[str], str]


class CommandSynthesizer(ItemSynthesizer[T]):
    """Subclasses describe their `program`, list its voices in `_voices_of`, and give the engine's own flags (speed,
    pitch) in `_options`. Every engine here reads its text with `-f FILE`; the voice is `voice.name`, else the
    `voice` setting.
    """

    program: Program

    def program_path(self) -> str:
        return find_program(self.program.name) or self.program.name

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "version": self.program.version(self.program_path())}

    def voices(self) -> list[str]:
        self.setup()
        return self._voices_of(self.program_path())

    def _voices_of(self, program: str) -> list[str]:
        raise NotImplementedError

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if find_program(cls.program.name) is None:
            return f"the {cls.program.name} program is not installed ({cls.program.install_hint})"
        return None

    def _load(self) -> None:
        reason = self.unavailable_reason()
        if reason:
            raise BackendError(reason)

    def _options(self, voice: Voice) -> list[str]:
        raise NotImplementedError

    def _command(self, text_file: Path, wav_file: Path, voice: Voice) -> list[str]:
        """The argument list (never a shell): program, voice, the engine's options, text file, output wav."""
        name = voice.name or self.settings.voice  # type: ignore[attr-defined]
        flags = self.program
        return [self.program_path(), flags.voice_flag, name, *self._options(voice), "-f", str(text_file),
                flags.output_flag, str(wav_file)]  # fmt: skip

    def _check_voice(self, voice: Voice) -> None:
        """Raise ValueError for a voice this engine cannot speak (fails that item only)."""
        if voice.speed <= 0 or not math.isfinite(voice.speed):
            raise ValueError(f"speed must be > 0, got {voice.speed}")
        self.check_voice_options(voice)
        if voice.name and voice.name not in self.voices():
            raise ValueError(f"unknown {self.engine} voice {voice.name!r}")

    def synthesize(self, texts: list[str], voices: list[Voice]) -> list[Audio | None]:
        self.setup()
        names = itertools.count()  # a fresh file name per item inside the batch's temporary folder
        with tempfile.TemporaryDirectory(prefix=f"datagen-{self.engine}-") as tmp:
            return self.synthesize_each(
                texts,
                voices,
                lambda text, voice: self._synthesize_one(text, voice, Path(tmp), next(names)),
                (ValueError, RuntimeError, OSError, BackendError),  # run_program: BackendError for one item
            )

    def _synthesize_one(self, text: str, voice: Voice, tmp: Path, i: int) -> Audio:
        self._check_voice(voice)
        if not text.strip():
            raise ValueError("no speakable content (empty text)")
        text_file, wav_file = tmp / f"{i}.txt", tmp / f"{i}.wav"
        text_file.write_text(text.strip() + "\n", encoding="utf-8")
        run_program(self._command(text_file, wav_file, voice), self.settings.timeout_seconds)
        audio = Audio.from_bytes(wav_file.read_bytes())
        return self.peak_normalized(audio.array, audio.sampling_rate, floor=1e-4)
