"""How busy a speech step keeps its verifier: real piper synthesis feeding a stand-in accelerator.

    python benchmarks/occupancy.py [--limit 40] [--batch-latency 0.45] [--clip-latency 0.02] [--asr-batch 8]
                                   [--workers N] [--no-fit] [--mos]

The verifier is a stand-in for Phi-4 on a GPU: a `Transcriber` that sleeps (no CPU) `--batch-latency` seconds per
call plus `--clip-latency` per clip, and answers the text that was spoken (so records are kept and scored). The
defaults are what Phi-4-multimodal (5.6 B, bf16) plausibly takes on one A100-class GPU for a batch of 8 spoken
queries of ~2 s: ~15 decoded tokens at ~30 ms per step for the batch (0.45 s), plus ~20 ms of audio encoding and
prefill per clip; that is ~13 clips/s.

The `vision_speech` step runs the demo records (one batch, as a shard would) twice: the serial design
(`pipeline: false`: synthesize a chunk, then verify it) and the pipelined one (`tts_workers: N` processes, or the
background thread for N = 1), with N sized to the machine: one piper process's clips/s is measured, N =
ceil(stand-in clips/s / piper clips/s), at most the cores this process may use. Printed per design: records/s and
the stand-in's busy fraction (time inside its `transcribe` / wall time of the step). What the N processes
synthesize together is measured too (on a machine shared with other work it is less than N times one). When that
is less than the GPU-like stand-in asks for, the machine cannot feed it, and it is run again slowed down (both
latencies times one factor) to 75 % of that measured supply, which shows what the design does when the cores
suffice (`--no-fit` skips that). The last line is `verifier busy: NN%` of the pipelined design on the last stand-in
run. Goal: >= 85 % whenever the cores can feed it.

`--mos` runs the step with `mos: true` (off by default): every clip is also rated by DNSMOS on the CPU (~0.2 s of model
time each), which the pipelined design does one chunk ahead on a thread, the serial one between verifier calls.
The cores then have to synthesize and rate: the supply is piper's and DNSMOS's rates combined on the same cores.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections import deque
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "manifests" / "data" / "shapes" / "train.jsonl"
FIT_SHARE = 0.75  # a fitted stand-in asks for this share of what the machine's cores synthesize


class StandInVerifier:
    """Sleeps like an accelerator (fixed latency per call and per clip) and returns the queued spoken texts."""

    engine = "stand_in"
    name = "asr"

    def __init__(self, batch_latency: float, clip_latency: float, spoken: list[str]) -> None:
        self.batch_latency, self.clip_latency = batch_latency, clip_latency
        self.queue = deque(spoken)  # a run transcribes its takes in plan order: the same order as the records
        self.busy = 0.0
        self.clips = 0

    def describe(self) -> dict[str, Any]:
        return {"engine": self.engine, "model": f"sleep {self.batch_latency}+{self.clip_latency}/clip"}

    def transcribe(self, audios: list[Any]) -> list[str | None]:
        started = time.perf_counter()
        time.sleep(self.batch_latency + self.clip_latency * len(audios))
        out = [self.queue.popleft() if self.queue else "" for _ in audios]
        self.busy += time.perf_counter() - started
        self.clips += len(audios)
        return out

    def clips_per_second(self, batch: int) -> float:
        return batch / (self.batch_latency + self.clip_latency * batch)


def demo_samples(limit: int) -> list[Any]:
    from datagen.manifest import InputConfig
    from datagen.readers import open_input
    from datagen.records import Sample

    source = open_input(InputConfig(path=DEMO, limit=limit))
    plan = source.plan(10_000, limit)
    return [s for shard in plan.shards for s in source.read(shard) if isinstance(s, Sample)]


def spoken_texts(samples: list[Any]) -> list[str]:
    from datagen.speakable import speakable, strip_tags

    return [speakable(strip_tags(s.messages[t].content)) for s in samples for t in s.user_turns()]


def piper_clips_per_second(piper: Any, texts: list[str]) -> float:
    """One piper process (this one), warm, on the first 8 queries."""
    from datagen.backends.base import Voice

    voices = [Voice("piper", "joe", seed=i) for i in range(8)]
    piper.synthesize(texts[:1], voices[:1])
    started = time.perf_counter()
    piper.synthesize(texts[:8], voices[: len(texts[:8])])
    return len(texts[:8]) / (time.perf_counter() - started)


def pool_clips_per_second(workers: int, texts: list[str]) -> float:
    """What `workers` piper processes (the background thread for 1) synthesize together now, warm."""
    from datagen.backends.base import Voice
    from datagen.backends.piper import PiperSynthesizer
    from datagen.synthesis import SynthesisPool

    n = min(len(texts), 4 * workers)
    voices = [Voice("piper", "joe", seed=i) for i in range(n)]
    pool = SynthesisPool.start({"piper": PiperSynthesizer(name="piper")}, workers if workers > 1 else 0, label="bench")
    try:
        pool.submit("piper", texts[:workers], voices[:workers]).result()  # one warm-up call per process
        started = time.perf_counter()
        pool.submit("piper", texts[:n], voices).result()
        return n / (time.perf_counter() - started)
    finally:
        pool.close()


def mos_clips_per_second(samples: list[Any]) -> float:
    """DNSMOS clips/s in this process, warm, on 8 piper clips."""
    from datagen.backends.base import Voice
    from datagen.backends.piper import PiperSynthesizer
    from filters.mos import DnsMos

    texts = spoken_texts(samples)[:8]
    piper = PiperSynthesizer(name="piper")
    clips = [a for a in piper.synthesize(texts, [Voice("piper", "joe", seed=i) for i in range(len(texts))]) if a]
    DnsMos.score(clips[0].array, clips[0].sampling_rate)
    started = time.perf_counter()
    for clip in clips:
        DnsMos.score(clip.array, clip.sampling_rate)
    return len(clips) / (time.perf_counter() - started)


def run_design(samples: list[Any], args: argparse.Namespace, latency: tuple[float, float], **options: Any) -> dict:
    """The step over all samples in one batch; wall time, records/s and the stand-in's busy fraction."""
    from datagen.backends.piper import PiperSynthesizer
    from datagen.generators.vision_speech import VisionSpeech, VisionSpeechConfig
    from datagen.records import Sample
    from datagen.voices import VoiceChoice

    voices = [VoiceChoice(tts="piper", speed=(0.85, 1.15))]
    config = VisionSpeechConfig(
        voices=voices, asr="asr", mos=args.mos, batch_size=len(samples), asr_batch=args.asr_batch, **options
    )
    asr = StandInVerifier(*latency, spoken_texts(samples))
    piper = PiperSynthesizer(name="piper")
    piper.setup()
    step = VisionSpeech(config, seed=1234)
    step.setup({"piper": piper, "asr": asr})  # tts_workers processes start and load piper here
    try:
        started = time.perf_counter()
        out = step.process(samples)
        wall = time.perf_counter() - started
    finally:
        step.teardown()
    kept = [s for s in out if isinstance(s, Sample)]
    exact = sum(sp["wer"] == 0.0 for s in kept for sp in s.meta["speech"])
    return {"wall": wall, "records": len(kept), "busy": asr.busy / wall, "exact": exact, "clips": asr.clips}


def compare(samples: list[Any], args: argparse.Namespace, latency: tuple[float, float], workers: int) -> float:
    pipelined = {"tts_workers": workers} if workers > 1 else {}
    name = f"pipelined (tts_workers: {workers})" if workers > 1 else "pipelined (background thread)"
    print(f"  {'design':34} {'records/s':>9} {'verifier busy':>14} {'wall s':>7}  transcripts exact")
    busy = 0.0
    for label, options in (("serial (pipeline: false)", {"pipeline": False}), (name, pipelined)):
        r = run_design(samples, args, latency, **options)
        busy = r["busy"]
        print(f"  {label:34} {r['records'] / r['wall']:9.2f} {busy:14.0%} {r['wall']:7.1f}  {r['exact']}/{r['clips']}")
    return busy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=40, help="demo records (one batch)")
    parser.add_argument("--batch-latency", type=float, default=0.45, help="stand-in seconds per call")
    parser.add_argument("--clip-latency", type=float, default=0.02, help="stand-in seconds per clip")
    parser.add_argument("--asr-batch", type=int, default=8, help="takes per verifier call (asr_batch)")
    parser.add_argument("--workers", type=int, default=0, help="tts_workers (default: sized to the machine)")
    parser.add_argument("--no-fit", action="store_true", help="no second run on a stand-in the cores can feed")
    parser.add_argument("--mos", action="store_true", help="score every clip with DNSMOS (mos: true; off by default)")
    args = parser.parse_args()

    from datagen.backends.piper import PiperSynthesizer
    from datagen.synthesis import usable_cores

    samples = demo_samples(args.limit)
    texts = spoken_texts(samples)
    cores = usable_cores()
    piper = PiperSynthesizer(name="piper")
    piper.setup()
    per_process = piper_clips_per_second(piper, texts)
    latency = (args.batch_latency, args.clip_latency)
    verifier = StandInVerifier(*latency, []).clips_per_second(args.asr_batch)
    needed = math.ceil(verifier / per_process)
    workers = args.workers or max(1, min(needed, cores))
    supply = pool_clips_per_second(workers, texts)
    print(f"{len(samples)} demo records, {len(texts)} clips; {cores} cores; load average {os.getloadavg()[0]:.1f}")
    print(f"piper, one process: {per_process:.2f} clips/s; {workers} together: {supply:.2f} clips/s")
    if args.mos:  # the same cores synthesize and rate each clip
        rating = mos_clips_per_second(samples)
        supply = 1 / (1 / supply + 1 / rating)
        print(f"DNSMOS: {rating:.2f} clips/s; synthesized and rated on the same cores: {supply:.2f} clips/s")
    print(f"stand-in verifier ({latency[0]} s/call + {latency[1]} s/clip, {args.asr_batch} per call): {verifier:.1f} "
          f"clips/s -> tts_workers needed: {needed}, used: {workers}")  # fmt: skip
    busy = compare(samples, args, latency, workers)
    if supply < verifier and not args.no_fit:
        factor = verifier / (FIT_SHARE * supply)
        fitted = (latency[0] * factor, latency[1] * factor)
        print(f"this machine cannot feed it; the stand-in slowed x{factor:.1f} to {fitted[0]:.2f} s/call + "
              f"{fitted[1]:.3f} s/clip: {verifier / factor:.1f} clips/s, {FIT_SHARE:.0%} of what {workers} piper "
              "processes synthesize:")  # fmt: skip
        busy = compare(samples, args, fitted, workers)
    print(f"verifier busy: {busy:.0%}")


if __name__ == "__main__":  # tts_workers processes are spawned: they import this file without running it
    main()
