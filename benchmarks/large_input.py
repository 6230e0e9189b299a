"""A 1,000,000-line JSONL plan: `datagen validate` and a fake-engine `--limit 100` run, time and peak memory.

    python benchmarks/large_input.py [--lines 1000000] [--shard-size 256]

The file is generated in a temp folder (ms-swift records sharing one tiny image). Each command runs in a fresh
process, measured whole (imports included): wall time and peak RSS from `wait4`. Goal: seconds, and memory
bounded by the shard size, not the file: `validate` streams the file once; the `--limit 100` run reads only the
first 100 records. A baseline process (`import datagen.cli`) is printed for scale.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from datagen.testing import fake_manifest, swift_record, tiny_png

REPO = Path(__file__).resolve().parent.parent


def write_plan(folder: Path, lines: int) -> Path:
    (folder / "images").mkdir()
    (folder / "images" / "0.png").write_bytes(tiny_png())
    path = folder / "train.jsonl"
    head, tail = json.dumps(swift_record(0, image="images/0.png")).split('"rec-0000"')
    with path.open("w") as f:
        for start in range(0, lines, 10_000):
            f.write("".join(f'{head}"rec-{i:07d}"{tail}\n' for i in range(start, min(start + 10_000, lines))))
    return path


def measure(args: list[str], log: Path) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB, from `wait4`) and the last output line of one fresh process."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, *args], env=env, stdout=out, stderr=subprocess.STDOUT)
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    wall = time.perf_counter() - t0
    text = log.read_text(errors="replace").strip()
    if proc.returncode:
        raise SystemExit(f"{args[:4]} failed:\n{text[-2000:]}")
    return wall, usage.ru_maxrss / 1024, text.splitlines()[-1] if text else ""


def run_on(tmp: Path, lines: int, shard_size: int, limit: int) -> None:
    t0 = time.perf_counter()
    data = write_plan(tmp, lines)
    print(f"\n{lines:,} lines ({data.stat().st_size / 2**20:.1f} MiB), written in {time.perf_counter() - t0:.1f} s")
    manifest = tmp / "fake.yaml"
    manifest.write_text(yaml.safe_dump(fake_manifest(data, tmp / "out", shard_size=shard_size)))
    cli = ["-m", "datagen.cli"]
    commands = {
        "python -c 'import datagen.cli'": ["-c", "import datagen.cli"],
        "datagen validate": [*cli, "validate", str(manifest)],
        f"datagen run --limit {limit}": [*cli, "run", str(manifest), "--limit", str(limit)],
    }
    for label, command in commands.items():
        wall, peak, last = measure(command, tmp / "log.txt")
        print(f"  {label:32s} {wall:6.2f} s  peak {peak:6.0f} MiB   {last[:80]}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--shard-size", type=int, default=256)
    p.add_argument("--limit", type=int, default=100)
    args = p.parse_args()
    for lines in (1000, args.lines):  # the small file shows the fixed cost (imports, fake engines, writing)
        with tempfile.TemporaryDirectory() as tmp_name:
            run_on(Path(tmp_name), lines, args.shard_size, args.limit)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; shard size {args.shard_size}")


if __name__ == "__main__":
    main()
