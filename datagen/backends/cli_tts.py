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
from pathlib import Path

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


class CommandSynthesizer(ItemSynthesizer[T]):
    """Subclasses set `program` and `install_hint`, and build the argument list in `_command`."""

    program: str = ""
    install_hint: str = ""

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if find_program(cls.program) is None:
            return f"the {cls.program} program is not installed ({cls.install_hint})"
        return None

    def _load(self) -> None:
        reason = self.unavailable_reason()
        if reason:
            raise BackendError(reason)

    def _command(self, text_file: Path, wav_file: Path, voice: Voice) -> list[str]:
        raise NotImplementedError

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
