"""Name → class for every step and backend a manifest may use. Adding one is one line here.

Entries are import paths, so listing or validating never imports an engine's heavy packages (backend modules
import those inside `setup()`).
"""

from __future__ import annotations

import importlib
from typing import Any

STEPS: dict[str, str] = {
    "vision_speech": "datagen.generators.vision_speech:VisionSpeech",
    "max_wer": "filters.wer_gate:MaxWer",
}

BACKENDS: dict[str, str] = {
    "piper": "datagen.backends.piper:PiperSynthesizer",
    "faster_whisper": "datagen.backends.faster_whisper:FasterWhisperTranscriber",
    "fake_tts": "datagen.backends.fake:FakeSynthesizer",
    "fake_asr": "datagen.backends.fake:FakeTranscriber",
    "fake_llm": "datagen.backends.fake:FakeTextGenerator",
}


def load_class(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def step_class(name: str) -> Any:
    return load_class(STEPS[name])


def backend_class(engine: str) -> Any:
    return load_class(BACKENDS[engine])
