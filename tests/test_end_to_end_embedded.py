"""The real thing on a few demo samples: piper speaks, Whisper tiny.en verifies, `datasets` loads the result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datagen.manifest import load_manifest
from datagen.run import run
from datagen.testing import DEMO_DATA, embedded_manifest, write_manifest

pytest.importorskip("piper")
pytest.importorskip("faster_whisper")


@pytest.mark.embedded
def test_demo_manifest_on_four_samples_gives_a_loadable_spoken_dataset(tmp_path: Path) -> None:
    from datasets import load_dataset

    out = tmp_path / "demo"
    manifest = load_manifest(write_manifest(tmp_path / "m.yaml", embedded_manifest(DEMO_DATA, out, limit=4)))
    stats = run(manifest)
    assert stats["seen"] == 4
    # tiny.en hears "which color is" as "which colors" in two of these four: a real, honest WER drop
    assert stats["kept"] >= 2, stats["dropped"]
    assert set(stats["dropped"]) <= {"max_wer:wer_above_max"}
    ds = load_dataset(str(out))["train"]
    assert len(ds) == stats["kept"]
    for row in ds:
        for speech in row["speech"]:
            assert speech["tts"] == "piper" and speech["voice"] == "joe"
            assert speech["asr"].startswith("faster_whisper")
            assert speech["wer"] <= 0.2 and speech["transcript"]
            assert 1.0 <= speech["mos"] <= 5.0 and len(speech["attempts"]) == 1  # DNSMOS on every spoken turn
            assert 0.5 < speech["duration"] < 10
        assert row["mos"] == min(speech["mos"] for speech in row["speech"])
        decoded = row["audios"][0].get_all_samples()
        assert decoded.sample_rate == 22050 and decoded.data.abs().max() > 0.05
        assert row["images"][0].size == (256, 256)
    export = [json.loads(line) for line in (out / "export" / "swift" / "train.jsonl").read_text().splitlines()]
    assert len(export) == len(ds) and all("<audio>" in r["messages"][0]["content"] for r in export)
    assert stats["backend_seconds"]["piper"]["seconds"] > 0 and stats["backend_seconds"]["whisper"]["seconds"] > 0
