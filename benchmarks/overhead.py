"""Pipeline overhead: wall time of a run vs the time spent inside TTS + ASR calls on the same samples.

    python benchmarks/overhead.py [--limit 40] [--manifest manifests/demo.yaml]

Goal: overhead ≤ 5 % (reading, images, WER, parquet writing, stats — everything that is not model time).
Model loading (step and backend setup, once per worker) is reported, not counted as overhead.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from datagen.manifest import load_manifest
from datagen.run import run

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manifest", default=str(REPO / "manifests" / "demo.yaml"))
    p.add_argument("--limit", type=int, default=40)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        manifest = load_manifest(args.manifest, {"output.path": tmp + "/out", "input.limit": args.limit})
        t0 = time.perf_counter()
        stats = run(manifest)
        wall = time.perf_counter() - t0
    model = sum(b["seconds"] for b in stats["backend_seconds"].values())
    load = stats["setup_seconds"]
    work = wall - load  # loading models once per worker is not per-sample pipeline overhead
    overhead = (work - model) / work
    print(f"samples               {stats['seen']} ({stats['kept']} kept)")
    print(f"run wall time         {wall:8.2f} s  (of which model loading ≈ {load:.2f} s)")
    for name, b in stats["backend_seconds"].items():
        print(f"  inside {name:14s} {b['seconds']:8.2f} s  ({b['calls']} calls)")
    print(f"pipeline overhead     {work - model:8.2f} s  = {overhead:.1%} of the run  (goal ≤ 5 %)")


if __name__ == "__main__":
    main()
