"""A run killed with SIGKILL at any moment and started again gives exactly the records of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from datagen.testing import fake_manifest, write_manifest, write_swift_dataset


def _records(out: Path, kind: str) -> list[tuple]:
    rows = []
    for path in sorted((out / kind).glob("*.parquet")):
        for row in pq.read_table(path).to_pylist():
            rows.append(tuple(sorted((k, repr(v)) for k, v in row.items())))
    return sorted(rows)


def _run(manifest: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "datagen.cli", "run", str(manifest), "--no-progress"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ})


@pytest.mark.slow
def test_sigkill_at_many_points_then_resume_matches_clean_run(tmp_path: Path) -> None:
    bad = [b"{not json", b"\xff\xfe\x00", b'{"messages": []}']
    data = write_swift_dataset(tmp_path / "data", n=24, extra_lines=bad)
    # wer 0.15 on fake ASR: some samples pass the gate and some not, so both data and rejects are compared
    common = {"shard_size": 3, "tts": {"delay_seconds": 0.05}, "asr": {"word_error_rate": 0.15}, "max_wer": 0.1}
    clean_manifest = write_manifest(tmp_path / "clean.yaml", fake_manifest(data, tmp_path / "clean", **common))
    killed_manifest = write_manifest(tmp_path / "killed.yaml", fake_manifest(data, tmp_path / "killed", **common))

    clean = _run(clean_manifest)
    assert clean.wait(timeout=120) == 0, clean.stderr.read().decode()

    kills = 0
    # kill after varied delays: during start-up, during a shard, around shard commits
    for delay in (0.3, 1.1, 1.45, 1.7, 1.9, 2.2, 2.6, 3.0, 3.4, 3.9):
        proc = _run(killed_manifest)
        time.sleep(delay)
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
    final = _run(killed_manifest)
    assert final.wait(timeout=120) == 0, final.stderr.read().decode()
    assert kills >= 3, "the run finished before it could be killed mid-way: make the fake TTS slower"

    killed_out, clean_out = tmp_path / "killed", tmp_path / "clean"
    assert _records(killed_out, "data") == _records(clean_out, "data")
    assert _records(killed_out, "rejects") == _records(clean_out, "rejects")
    kept = pq.read_table(list((clean_out / "data").glob("*.parquet"))).num_rows
    assert 0 < kept < 24  # the gate really split the data
    assert not list(killed_out.rglob(".*.tmp-*")), "temporary files left behind"
