"""Yield with and without re-synthesis: a speech manifest run twice on the same records, `attempts: 1` vs N.

    python benchmarks/speech_retries.py [manifests/demo.yaml manifests/voice_pool.yaml] [--limit 16] [--attempts 3]

The retry run keeps the manifest's own `attempts` and retry thresholds when it sets them; otherwise it uses
`--attempts` with the thresholds of the manifest's gates (`max_wer` → `retry_max_wer`, `min_mos` →
`retry_min_mos`), so a take is spoken again exactly when a gate would drop it. Prints, per manifest: kept / inputs
for both runs, the drop reasons, the records rescued by a retry, the extra takes spoken and the wall time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from datagen.manifest import load_manifest
from datagen.run import run

REPO = Path(__file__).resolve().parent.parent
SPEECH_STEPS = ("vision_speech", "speech_qa", "spoken_passage_qa")


def _variant(path: Path, limit: int, attempts: int | None) -> dict[str, Any]:
    """The manifest at `path` on its first `limit` records; `attempts` None = retries as configured (or from gates)."""
    spec = yaml.safe_load(path.read_text())
    spec["input"] = {**spec["input"], "path": str((path.parent / spec["input"]["path"]).resolve()), "limit": limit}
    gates = {s["step"]: s for s in spec["steps"]}
    for step in spec["steps"]:
        if step["step"] not in SPEECH_STEPS:
            continue
        if attempts == 1:
            step.update(attempts=1)
        elif step.get("attempts", 1) == 1:
            step["attempts"] = attempts
            if "max_wer" in gates:
                step.setdefault("retry_max_wer", gates["max_wer"]["max_wer"])
            if "min_mos" in gates:
                step.setdefault("retry_min_mos", gates["min_mos"]["min_mos"])
    return spec


def _run(spec: dict[str, Any], folder: Path) -> tuple[dict[str, Any], float]:
    spec["output"] = {**spec["output"], "path": str(folder / "out"), "exports": []}
    path = folder / "manifest.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    started = time.perf_counter()
    stats = run(load_manifest(path))
    return stats, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifests", nargs="*", type=Path,
                        default=[REPO / "manifests" / "demo.yaml", REPO / "manifests" / "voice_pool.yaml"])  # fmt: skip
    parser.add_argument("--limit", type=int, default=16, help="records per run")
    parser.add_argument("--attempts", type=int, default=3, help="takes per turn when the manifest sets none")
    args = parser.parse_args()
    for manifest in args.manifests:
        print(f"\n== {manifest.name} (first {args.limit} records)")
        for label, attempts in (("without retries", 1), ("with retries", None)):
            spec = _variant(manifest, args.limit, attempts if attempts == 1 else args.attempts)
            speech = next(s for s in spec["steps"] if s["step"] in SPEECH_STEPS)
            with tempfile.TemporaryDirectory() as tmp:
                stats, wall = _run(spec, Path(tmp))
            quality = stats.get("speech_quality", {})
            print(
                f"{label:16s} attempts {speech.get('attempts', 1)}: kept {stats['kept']}/{stats['inputs']} "
                f"(yield {stats['yield']:.0%}), rescued {quality.get('rescued', 0)}, "
                f"extra takes {quality.get('resynthesized', 0)}, DNSMOS {quality.get('mos_seconds', 0):.1f} s, "
                f"wall {wall:.1f} s"
            )
            print(f"{'':16s} dropped: {stats['dropped'] or 'none'}")


if __name__ == "__main__":
    main()
