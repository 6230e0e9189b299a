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
            assert speech["mos"] is None and len(speech["attempts"]) == 1  # DNSMOS only when asked (`mos: true`)
            assert 0.5 < speech["duration"] < 10
        assert row["mos"] is None
        decoded = row["audios"][0].get_all_samples()
        assert decoded.sample_rate == 22050 and decoded.data.abs().max() > 0.05
        assert row["images"][0].size == (256, 256)
    export = [json.loads(line) for line in (out / "export" / "swift" / "train.jsonl").read_text().splitlines()]
    assert len(export) == len(ds) and all("<audio>" in r["messages"][0]["content"] for r in export)
    assert stats["backend_seconds"]["piper"]["seconds"] > 0 and stats["backend_seconds"]["whisper"]["seconds"] > 0


@pytest.mark.embedded
def test_a_min_mos_gate_rates_the_stored_audio_of_an_unscored_dataset(tmp_path: Path) -> None:
    """`mos: false` (the default) and `datagen filter` with `min_mos` later: the gate rates each kept row's stored
    (encoded, decoded again) audio, as DNSMOS rates it in memory, and keeps the score."""
    pytest.importorskip("speechmos")
    from datasets import load_dataset

    from datagen.refilter import load_curate_manifest, refilter
    from filters.mos import DnsMos

    out = tmp_path / "demo"
    run(load_manifest(write_manifest(tmp_path / "m.yaml", embedded_manifest(DEMO_DATA, out, limit=3))))
    source = load_dataset(str(out))["train"]
    expected = {}
    for row in source:
        decoded = row["audios"][0].get_all_samples()
        expected[row["id"]] = round(DnsMos.score(decoded.data.numpy()[0], decoded.sample_rate).ovrl, 4)
    threshold = sorted(expected.values())[len(expected) // 2]  # keeps the better half, drops the rest
    curate = write_manifest(
        tmp_path / "curate.yaml", {"name": "rated", "steps": [{"step": "min_mos", "min_mos": threshold}]}
    )
    stats = refilter(out, load_curate_manifest(curate), tmp_path / "rated")
    kept = {row["id"]: row["mos"] for row in load_dataset(str(tmp_path / "rated"))["train"]}
    assert kept == {rid: mos for rid, mos in expected.items() if mos >= threshold} and kept
    assert stats["dropped"].get("min_mos:mos_below_min", 0) == len(expected) - len(kept)
    assert stats["min_mos"]["rated"] == len(expected)
