"""A finished dataset read back: `OutputDir.open` finds its layout, `DatasetSource` turns its shards into records."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from refilter_fixtures import sample, write_source

from datagen.dataset_source import DatasetSource, rejected_from_row
from datagen.records import Audio, Rejected, Sample
from datagen.shards import LayoutError, OutputDir, reject_row


@pytest.mark.parametrize(
    ("names", "split", "shards"),
    [
        (["train-00000-of-00002.parquet", "train-00001-of-00002.parquet"], "train", [(0, 2), (1, 2)]),
        (["dev-00000-of-00001.parquet"], "dev", [(0, 1)]),  # the split is what the shards are named
        (["zz-foreign.parquet", "train-0000x-of-00001.parquet", "test-00000-of-00001.parquet"], "test", [(0, 1)]),
        (["a-00000-of-00001.parquet", "b-00000-of-00001.parquet"], "a", [(0, 1)]),  # several: the first
    ],
)
def test_open_finds_the_split_and_its_shards(tmp_path: Path, names: list[str], split: str, shards: list) -> None:
    (tmp_path / "data").mkdir()
    for name in names:
        (tmp_path / "data" / name).write_bytes(b"")
    layout = OutputDir.open(tmp_path)
    assert layout.split == split and layout.shards() == shards
    assert [p.name for p in layout.data_files()] == sorted(n for n in names if n.startswith(f"{split}-0"))
    assert {p.name for p in layout.stray_files()} == set(names) - {p.name for p in layout.data_files()}


@pytest.mark.parametrize(
    "names", [[], ["train.parquet"], [".train-00000-of-00001.parquet.tmp-x"], ["-00000-of-00001.parquet"]]
)
def test_open_refuses_a_folder_without_shards(tmp_path: Path, names: list[str]) -> None:
    (tmp_path / "data").mkdir()
    for name in names:
        (tmp_path / "data" / name).write_bytes(b"")
    with pytest.raises(LayoutError, match="is this a folder datagen wrote"):
        OutputDir.open(tmp_path)


def test_a_shard_with_rejects_only_is_planned(tmp_path: Path) -> None:
    source = DatasetSource(write_source(tmp_path / "src"))
    plan = source.plan()
    assert [(s.index, s.count, s.start, s.stop) for s in plan.shards] == [(0, 3, 0, 4), (1, 3, 4, 8), (2, 3, 8, 9)]
    assert plan.total == 9 and source.carried == 3
    records = [r for shard in plan.shards for r in source.read(shard)]
    assert [(r.id, isinstance(r, Rejected)) for r in records[:2]] == [("in-0000009", True), ("row-0", False)]


def test_kept_audio_keeps_its_stored_bytes(tmp_path: Path) -> None:
    """A 24-bit stereo WAV would come back as 16-bit mono if it were decoded and encoded again."""
    buf = io.BytesIO()
    sf.write(buf, np.full((800, 2), [0.25, -0.5], np.float32), 16000, format="WAV", subtype="PCM_24")
    stored = buf.getvalue()
    record = sample(0, "Why?")
    OutputDir(tmp_path).commit(0, 1, [record.evolve(audios=(Audio.from_bytes(stored, keep=True),))], [], {}, {})
    source = DatasetSource(tmp_path)
    read = next(iter(source.read(source.plan().shards[0])))
    assert isinstance(read, Sample) and read.audios[0].to_wav_bytes() == stored
    assert Audio(read.audios[0].array, 16000).to_wav_bytes() != stored  # changed audio is a new Audio: re-encoded


@pytest.mark.parametrize(
    ("row", "meta"),
    [
        ({"id": "a", "reason": "r", "step": "s", "meta": '{"wer": 0.5}'}, {"wer": 0.5}),
        ({"id": "b", "reason": "r", "step": "s", "meta": "not json"}, {"unparsed_meta": "not json"}),
        ({"id": "c", "reason": "r", "step": "s", "meta": "[1, 2]"}, {"unparsed_meta": "[1, 2]"}),
        ({"id": "d", "reason": "r", "step": "s", "meta": None, "audios": [{"bytes": b"junk"}]}, None),
    ],
)
def test_carried_rejects_keep_reason_and_meta(row: dict, meta: dict | None) -> None:
    rejected = rejected_from_row(row)
    assert (rejected.id, rejected.reason, rejected.step) == (row["id"], "r", "s")
    assert (rejected.sample.meta if rejected.sample else None) == meta
    if meta is not None:
        assert json.loads(reject_row(rejected)["meta"]) == meta


def test_a_datagen_reject_row_is_written_back_the_same(tmp_path: Path) -> None:
    original = Rejected("row-7", "wer_above_max", "max_wer", "wer 0.5", sample=sample(7, "Why?"), raw="{}")
    row = reject_row(original)
    assert reject_row(rejected_from_row(row)) == row
