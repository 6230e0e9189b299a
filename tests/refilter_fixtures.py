"""A small finished dataset written by hand (no generator): what `datagen filter` tests read back."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import yaml

from datagen.records import Audio, Image, Message, Rejected, Sample
from datagen.shards import OutputDir, write_json
from datagen.steps import to_feature
from datagen.testing import tiny_png

QUESTIONS = [
    "How many red circles are in this picture of the garden?",
    "What colour is the large square on the left side?",
    "Wie viele rote Kreise sind auf dem Bild zu sehen?",  # not English
    "Why?",  # too short
    "How many red circles are in this picture of the garden?",  # a duplicate of shard 0's first row
    "Which shape is closest to the top edge of the image?",
]
CURATE = [{"step": "text_sanity", "min_query_words": 3}, {"step": "dedup"}]
_TIMING = {"wall_seconds", "setup_seconds", "step_seconds"}


def sample(i: int, question: str) -> Sample:
    shape = QUESTIONS.index(question)  # the same question comes with the same image and answer
    t = np.arange(1600, dtype=np.float32) / 16000
    wave = (0.3 * np.sin(2 * np.pi * (200 + 40 * i) * t)).astype(np.float32)
    return Sample(
        id=f"row-{i}",
        messages=(Message("user", "<image>" + question, audio=0), Message("assistant", f"It is shape {shape}.")),
        images=(Image(tiny_png(size=16 + shape), f"{i}.png"),),
        audios=(Audio(wave, 16000),),
        meta={"source_file": "in.jsonl", "source_index": i, "wer": 0.05 * i, "voice": f"v{i % 2}"},
    )


def write_source(root: Path) -> Path:
    """Three shards: 3 rows + a read reject, 3 rows + a max_wer reject with audio, and rejects only."""
    out = OutputDir(root)
    features = {"wer": "float64", "voice": "string"}
    features = {k: to_feature(v) for k, v in features.items()}
    samples = [sample(i, q) for i, q in enumerate(QUESTIONS)]
    read_reject = Rejected("in-0000009", "invalid_json", "read", "Expecting value", raw="{broken")
    wer_reject = Rejected("row-7", "wer_above_max", "max_wer", "wer 0.5 > 0.2", sample=sample(7, QUESTIONS[0]))
    shards = [(samples[:3], [read_reject]), (samples[3:], [wer_reject]), ([], [Rejected("x", "empty", "read")])]
    for index, (kept, rejected) in enumerate(shards):
        out.commit(index, 3, kept, rejected, features, {})
    (root / "data" / "train-00002-of-00003.parquet").unlink()  # a shard whose rows were all dropped
    write_json(root / "stats.json", {"records": 9, "kept": 6, "backend_seconds": {"tts": {"seconds": 2.0, "calls": 6}}})
    (root / "manifest.yaml").write_text(yaml.safe_dump({"name": "src", "steps": [{"step": "max_wer"}]}))
    return root


def _digest(media: list[dict[str, Any]] | None) -> list[list[str]]:
    return [[hashlib.sha256(m["bytes"]).hexdigest()[:16], m["path"]] for m in media or []]


def summary(out: Path) -> dict[str, Any]:
    """The output without media bytes (hashed), timings and paths: what must not change."""
    files = {}
    for kind in ("data", "rejects"):
        for path in sorted((out / kind).glob("*.parquet")):
            rows = pq.read_table(path).to_pylist()
            for row in rows:
                row["images"], row["audios"] = _digest(row.get("images")), _digest(row.get("audios"))
            files[f"{kind}/{path.name}"] = sorted(rows, key=lambda r: (r["id"], r.get("reason") or ""))
    stats = json.loads((out / "stats.json").read_text())
    stats = {k: v for k, v in stats.items() if k not in _TIMING and k != "manifest_hash"}
    stats["filtered_from"].pop("dataset")
    return {"files": files, "stats": stats}
