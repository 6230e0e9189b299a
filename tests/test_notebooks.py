"""Notebooks run top to bottom on a fresh output, so they never rot."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from datagen.manifest import load_manifest
from datagen.run import run
from datagen.testing import REPO, fake_manifest, write_manifest, write_swift_dataset


@pytest.mark.slow
def test_explore_output_notebook_executes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_swift_dataset(tmp_path / "data", n=6, extra_lines=[b"{broken"])
    out = tmp_path / "out"
    spec = fake_manifest(data, out, asr={"word_error_rate": 0.15}, max_wer=0.1)
    run(load_manifest(write_manifest(tmp_path / "m.yaml", spec)))
    monkeypatch.setenv("DATAGEN_DATASET", str(out))
    nb = nbformat.read(REPO / "notebooks" / "explore_output.ipynb", as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "7 read" in text and "kept WER" in text and "transcript:" in text


@pytest.mark.slow
def test_wer_thresholds_notebook_executes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_swift_dataset(tmp_path / "data", n=6)
    out = tmp_path / "out"
    run(load_manifest(write_manifest(tmp_path / "m.yaml", fake_manifest(data, out, asr={"word_error_rate": 0.15}))))
    monkeypatch.setenv("DATAGEN_DATASET", str(out))
    nb = nbformat.read(REPO / "notebooks" / "wer_thresholds.ipynb", as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    text = "\n".join(o.get("text", "") for o in outputs)
    assert "6 records" in text and "recommended max_wer" in text and "borderline:" in text
    assert any("audio/wav" in o.get("data", {}).get("text/html", "") for o in outputs)  # the Audio player
