"""Factories shared by tests and benchmarks: tiny images, tiny datasets, manifests on fake or embedded engines."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import yaml

from datagen.tiny_models import build_tiny_llama as build_tiny_llama  # tiny random models (re-exported)
from datagen.tiny_models import build_tiny_phi4 as build_tiny_phi4

REPO = Path(__file__).resolve().parent.parent  # the checkout (tests, benchmarks); not part of an installed package
DEMO_DATA = REPO / "manifests" / "data" / "shapes" / "train.jsonl"  # checkout only


def tiny_png(color: tuple[int, int, int] = (200, 30, 30), size: int = 16) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buf, format="PNG")
    return buf.getvalue()


def swift_record(i: int, question: str | None = None, image: str | None = None, **extra: Any) -> dict[str, Any]:
    q = question if question is not None else f"How many red circles are in picture number {i}?"
    record: dict[str, Any] = {
        "id": f"rec-{i:04d}",
        "messages": [{"role": "user", "content": f"<image>{q}"}, {"role": "assistant", "content": f"Answer {i}."}],
        "images": [image or f"images/{i}.png"],
    }
    record.update(extra)
    return record


def write_swift_dataset(folder: Path, n: int = 6, *, extra_lines: list[bytes] | None = None) -> Path:
    """n good ms-swift records with their images, then `extra_lines` verbatim (bad records for tests)."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        (folder / "images" / f"{i}.png").write_bytes(tiny_png((i * 40 % 256, 80, 160)))
        lines.append(json.dumps(swift_record(i)).encode())
    path = folder / "train.jsonl"
    path.write_bytes(b"\n".join(lines + (extra_lines or [])) + b"\n")
    return path


def fake_manifest(
    input_path: Path,
    out: Path,
    *,
    shard_size: int = 4,
    max_wer: float = 0.2,
    tts: dict[str, Any] | None = None,
    asr: dict[str, Any] | None = None,
    mos: bool = False,
    **top: Any,
) -> dict[str, Any]:
    """A vision→speech manifest on the deterministic fake engines (no model time; DNSMOS only with `mos`)."""
    return {
        "name": "test-run",
        "seed": 7,
        "input": {"path": str(input_path)},
        "output": {"path": str(out), "shard_size": shard_size},
        "backends": {"tts": {"engine": "fake_tts", **(tts or {})}, "asr": {"engine": "fake_asr", **(asr or {})}},
        "steps": [
            {
                "step": "vision_speech",
                "voices": [{"tts": "tts", "voice": "alpha", "speed": [0.9, 1.1]}],
                "asr": "asr",
                "mos": mos,
            },
            {"step": "max_wer", "max_wer": max_wer},
        ],
        **top,
    }


def embedded_manifest(input_path: Path, out: Path, *, shard_size: int = 4, limit: int | None = None) -> dict[str, Any]:
    """The demo's manifest (manifests/demo.yaml: piper + Whisper tiny.en) pointed at other data.

    Built here rather than read from the checkout, so it works from an installed package; a test keeps the two equal.
    """
    return {
        "name": "shapes-spoken-demo",
        "description": "Spoken-query version of the shipped shapes VQA demo set (piper TTS, Whisper tiny.en verifier).",
        "seed": 1234,
        "input": {"path": str(input_path), **({"limit": limit} if limit else {})},
        "output": {"path": str(out), "shard_size": shard_size, "exports": ["swift"]},
        "backends": {"piper": {"engine": "piper"}, "whisper": {"engine": "faster_whisper", "model": "tiny.en"}},
        "steps": [
            {
                "step": "vision_speech",
                "voices": [{"tts": "piper", "speed": [0.85, 1.15]}],
                "asr": "whisper",
                "max_audio_seconds": 30,
                "batch_size": 8,
            },
            {"step": "max_wer", "max_wer": 0.2},
        ],
    }


def write_manifest(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def write_jsonl(path: Path, records: list[Any]) -> Path:
    """Records one per line; a `str` item is written verbatim (a broken line for tests)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def fake_speech_step_manifest(
    step: dict[str, Any],
    input_path: Path,
    out: Path,
    *,
    llm: dict[str, Any] | None = None,
    max_wer: float = 0.2,
    shard_size: int = 4,
    asr: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A manifest running one speech generator `step` (+ the max_wer gate) on fake TTS/ASR/LLM, exported to swift.

    `step` holds the step's own options; its voice pool and ASR default to the fake engines, DNSMOS to off.
    """
    return {
        "name": "test-speech-qa",
        "seed": 3,
        "input": {"path": str(input_path)},
        "output": {"path": str(out), "shard_size": shard_size, "exports": ["swift"]},
        "backends": {
            "tts": {"engine": "fake_tts"},
            "asr": {"engine": "fake_asr", **(asr or {})},
            "llm": {"engine": "fake_llm", **(llm or {})},
        },
        "steps": [
            {"voices": [{"tts": "tts", "voice": "beta", "speed": [0.9, 1.1]}], "asr": "asr", "mos": False, **step},
            {"step": "max_wer", "max_wer": max_wer},
        ],
    }


def spoken_clips(manifest_path: Path, *, limit: int | None = None, seed: int | None = None) -> list[tuple[str, Any]]:
    """(spoken text, Audio) for each user turn of a speech manifest's input, spoken as its first speech step would.

    Same voice draws, speeds and noise as a run (seeded by the manifest, or `seed`); no transcription. Used to
    compare ways of transcribing the very clips a run verifies. The text is the speakable form ("vs." spoken as
    "versus"): what the voice said, and what a run scores the transcript against.
    """
    from datagen.ledger import Ledger
    from datagen.manifest import load_manifest
    from datagen.readers import open_input
    from datagen.records import Sample
    from datagen.registry import backend_class
    from datagen.speakable import strip_tags
    from datagen.speech import Speaker

    manifest = load_manifest(manifest_path, {"input.limit": limit} if limit else None)
    config = next(c for c in manifest.steps if hasattr(c, "voices"))
    # the first take only, unscored: the clips a run's first pass transcribes
    config = config.model_copy(update={"attempts": 1, "mos": False, "retry_max_wer": None, "retry_min_mos": None})
    names = {v.tts for v in config.voices}
    backends: dict[str, Any] = {
        n: backend_class(manifest.backends[n].engine)(manifest.backends[n], name=n) for n in names
    }
    backends[config.asr] = _NoTranscriber()
    ledger = Ledger()
    speaker = Speaker(config, backends, manifest.seed if seed is None else seed, ledger)
    source = open_input(manifest.input)
    planned = []
    for shard in source.plan(manifest.output.shard_size, manifest.input.limit).shards:
        for sample in source.read(shard):
            if isinstance(sample, Sample):
                for turn in sample.user_turns():
                    u = speaker.plan(len(planned), sample.id, turn, strip_tags(sample.messages[turn].content))
                    planned.extend([u] if u else [])
    speaker.run(planned)
    return [(u.spoken, u.audio) for u in planned if u.audio is not None and u.owner not in ledger]


class _NoTranscriber:
    engine = "none"

    def describe(self) -> dict[str, Any]:
        return {"engine": self.engine}

    def transcribe(self, audios: list[Any]) -> list[str | None]:
        return [""] * len(audios)
