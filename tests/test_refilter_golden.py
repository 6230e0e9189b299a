"""`datagen filter` gives the same dataset it gave before it ran on the Pipeline (issue 14): rows, rejects, stats.

The source is written by hand (no generator), so the expected output in tests/data/refilter_golden.json holds
only what the filters decide: which rows stay, every reject's reason, detail and meta, the score columns and the
stats that do not depend on time or paths. It was recorded from the pre-Pipeline `refilter.py`.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from refilter_fixtures import CURATE, summary, write_source

from datagen.refilter import load_curate_manifest, refilter

GOLDEN = Path(__file__).parent / "data" / "refilter_golden.json"


def test_filter_output_is_unchanged(tmp_path: Path) -> None:
    source = write_source(tmp_path / "source")
    curate = tmp_path / "curate.yaml"
    curate.write_text(yaml.safe_dump({"name": "curated", "steps": CURATE}))
    refilter(source, load_curate_manifest(curate), tmp_path / "out")
    expected = json.loads(GOLDEN.read_text())
    assert json.loads(json.dumps(summary(tmp_path / "out"), default=str)) == expected
