"""Name → class for every step and backend a manifest may use. Adding one is one line here.

Entries are import paths, so listing or validating never imports an engine's heavy packages (backend modules
import those inside `setup()`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datagen.backends.base import BaseBackend
    from datagen.steps import Step

STEPS: dict[str, str] = {
    "vision_speech": "datagen.generators.vision_speech:VisionSpeech",
    "max_wer": "filters.wer_gate:MaxWer",
    "cot": "datagen.generators.cot:ChainOfThought",
    "dpo": "datagen.generators.dpo:DpoPairs",
    "speech_qa": "datagen.generators.speech_qa:SpeechQA",
    "spoken_passage_qa": "datagen.generators.spoken_passage_qa:SpokenPassageQA",
    "audio_quality": "filters.audio_quality:AudioQuality",
    "hallucination": "filters.hallucination:Hallucination",
    "text_sanity": "filters.text_sanity:TextSanity",
    "dedup": "filters.dedup:Dedup",
    "image_check": "filters.image_check:ImageCheck",
    "qa_consistency": "filters.qa_consistency:QAConsistency",
    "trace_check": "filters.trace_check:TraceCheck",
    "min_mos": "filters.mos_gate:MinMos",
    "decontaminate": "filters.decontaminate:Decontaminate",
    "difficulty_band": "filters.difficulty_band:DifficultyBand",
    "spoken_style": "datagen.generators.spoken_style:SpokenStyle",
}

BACKENDS: dict[str, str] = {
    "piper": "datagen.backends.piper:PiperSynthesizer",
    "faster_whisper": "datagen.backends.faster_whisper:FasterWhisperTranscriber",
    "fake_tts": "datagen.backends.fake:FakeSynthesizer",
    "fake_asr": "datagen.backends.fake:FakeTranscriber",
    "phi4": "datagen.backends.phi4:Phi4Backend",
    "hf_lm": "datagen.backends.hf_lm:HFCausalLM",
    "vllm": "datagen.backends.vllm:VLLMBackend",
    "fake_llm": "datagen.backends.fake:FakeTextGenerator",
    "coqui": "datagen.backends.coqui:CoquiSynthesizer",
    "kokoro": "datagen.backends.kokoro:KokoroSynthesizer",
    "flite": "datagen.backends.flite:FliteSynthesizer",
    "espeak": "datagen.backends.espeak:EspeakSynthesizer",
}


def load_class(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def step_class(name: str) -> type[Step[Any]]:
    return load_class(STEPS[name])


def backend_class(engine: str) -> type[BaseBackend[Any]]:
    return load_class(BACKENDS[engine])
