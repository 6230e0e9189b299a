"""Packed and drafted vs one-by-one Whisper transcription of the clips a run verifies: agreement, WER, speed-up.

    python benchmarks/packed_asr.py [--manifest manifests/demo.yaml --manifest manifests/voice_pool.yaml]
                                    [--limit 40] [--seeds 1] [--max-wer 0.2] [--draft-margin 8]

For each manifest the user turns of its input are spoken exactly as a run speaks them (voice draws, speeds,
noise), then transcribed by Whisper tiny.en twice, in batches of the step's `batch_size`: one clip at a time,
and packed (`pack: true`). Prints how often the WER gate (`--max-wer`) decides the same, the WER differences,
how many clips were packed, and the ASR wall times. Goal for `pack` on by default: agreement >= 99 %.
Then the default way, `asr_draft`: each clip drafted in a short window, word-perfect drafts kept and every
other clip transcribed one by one; its agreement with one-by-one, how many went in full, and its ASR time.
For scale it also prints the noise floor: how often one-by-one agrees with itself when every clip merely starts
0.1 s later (silence in front), i.e. how stable the reference decision is.
`--seeds N` speaks the input N times with other seeds (other voices, speeds, noise) for more clips.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from datagen.backends.faster_whisper import FasterWhisperSettings, FasterWhisperTranscriber
from datagen.manifest import load_manifest
from datagen.records import Audio
from datagen.speech import trusted_draft
from datagen.testing import spoken_clips
from filters.wer import wer

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MANIFESTS = [REPO / "manifests" / "demo.yaml", REPO / "manifests" / "voice_pool.yaml"]


def transcribe_batched(asr: FasterWhisperTranscriber, audios: list, batch: int) -> tuple[list, list[bool], float]:
    texts: list = []
    packed: list[bool] = []
    t0 = time.perf_counter()
    for i in range(0, len(audios), batch):
        texts += asr.transcribe(audios[i : i + batch])
        packed += asr.last_packed
    return texts, packed, time.perf_counter() - t0


def shifted(audio: Audio, seconds: float = 0.1) -> Audio:
    """The clip starting `seconds` later: the same speech, silence in front."""
    wave = np.asarray(audio.array, dtype=np.float32)
    return Audio(np.concatenate([np.zeros(int(seconds * audio.sampling_rate), np.float32), wave]), audio.sampling_rate)


def compare(
    manifest: Path, limit: int | None, seeds: int, max_wer: float, draft_margin: float
) -> tuple[int, int, int, float, float, int, float]:
    loaded = load_manifest(manifest)
    batch = next(c for c in loaded.steps if hasattr(c, "voices")).batch_size
    clips = []
    for k in range(seeds):
        clips += spoken_clips(manifest, limit=limit, seed=loaded.seed + k)
    texts = [t for t, _ in clips]
    audios = [a for _, a in clips]
    alone_asr = FasterWhisperTranscriber(FasterWhisperSettings(pack=False, draft_margin_seconds=draft_margin))
    packed_asr = FasterWhisperTranscriber(FasterWhisperSettings(pack=True))
    alone_asr.setup()
    packed_asr._model = alone_asr._model  # one model for both: the same weights, one load
    packed_asr._ready = True
    alone, _, t_alone = transcribe_batched(alone_asr, audios, batch)
    packed, was_packed, t_packed = transcribe_batched(packed_asr, audios, batch)
    later, _, _ = transcribe_batched(alone_asr, [shifted(a) for a in audios], batch)
    steady = sum(
        (wer(t, a or "") <= max_wer) == (wer(t, b or "") <= max_wer)
        for t, a, b in zip(texts, alone, later, strict=True)
    )
    agree, diffs, kept_more, dropped_more = 0, [], 0, 0
    for text, a, p in zip(texts, alone, packed, strict=True):
        wa, wp = wer(text, a or ""), wer(text, p or "")
        agree += (wa <= max_wer) == (wp <= max_wer)
        kept_more += wp <= max_wer < wa
        dropped_more += wa <= max_wer < wp
        diffs.append((abs(wp - wa), text, a, p, wa, wp))
    n = len(clips)
    seconds = sum(a.duration for a in audios)
    print(f"\n{manifest.name}: {n} clips ({seconds:.0f} s of speech), batch {batch}, {sum(was_packed)} packed")
    print(f"  decisions agree (max_wer {max_wer})  {agree}/{n} = {agree / n:.1%}   (goal >= 99 %)")
    print(f"  noise floor: one-by-one agrees with itself 0.1 s later  {steady}/{n} = {steady / n:.1%}")
    packed_drops = sum(d[5] > max_wer for d in diffs)
    print(f"  flips: packed keeps {kept_more} clip(s) one-by-one drops, and drops {dropped_more} it keeps")
    print(f"  packed, its drops checked again alone: agrees on {(n - kept_more) / n:.1%}, "
          f"for {packed_drops} more one-by-one transcription(s)")  # fmt: skip
    changed = [d for d in diffs if d[0] > 0]
    better = sum(d[5] < d[4] for d in changed)
    print(
        f"  WER differs on {len(changed)} clip(s) (packed lower on {better}, higher on {len(changed) - better}); "
        f"mean |dWER| {sum(d[0] for d in diffs) / n:.4f}"
    )
    print(f"  mean WER  alone {sum(d[4] for d in diffs) / n:.4f}   packed {sum(d[5] for d in diffs) / n:.4f}")
    for d, text, a, p, wa, wp in sorted(changed, reverse=True)[:8]:
        print(f"    dWER {d:.2f}  ref {text!r}\n      alone  {wa:.2f} {a!r}\n      packed {wp:.2f} {p!r}")
    print(f"  ASR wall time  alone {t_alone:6.2f} s   packed {t_packed:6.2f} s   speed-up {t_alone / t_packed:.2f}x")
    # what a run does by default (`asr_draft: true`): short-window drafts, word-perfect ones kept, the rest in full
    t0 = time.perf_counter()
    drafts = [d for i in range(0, n, batch) for d in alone_asr.draft(audios[i : i + batch])]
    perfect = [trusted_draft(t, d) for t, d in zip(texts, drafts, strict=True)]
    rest = [i for i in range(n) if not perfect[i]]
    confirmed, _, _ = transcribe_batched(alone_asr, [audios[i] for i in rest], batch)
    t_draft = time.perf_counter() - t0
    final = dict(zip(rest, confirmed, strict=True))
    drafted = [drafts[i] if perfect[i] else final[i] for i in range(n)]
    draft_agree = sum((wer(t, a or "") <= max_wer) == (wer(t, d or "") <= max_wer)
                      for t, a, d in zip(texts, alone, drafted, strict=True))  # fmt: skip
    print(
        f"  drafts (asr_draft): agree {draft_agree}/{n} = {draft_agree / n:.1%}; {n - len(rest)} word-perfect "
        f"drafts kept, {len(rest)} transcribed in full; ASR {t_draft:6.2f} s, speed-up {t_alone / t_draft:.2f}x"
    )
    for i in range(n):
        if (wer(texts[i], alone[i] or "") <= max_wer) != (wer(texts[i], drafted[i] or "") <= max_wer):
            print(f"    ref {texts[i]!r}\n      alone {alone[i]!r}\n      draft {drafted[i]!r}")
    return agree, steady, n, t_alone, t_packed, draft_agree, t_draft


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manifest", action="append", type=Path, help="repeatable; default: demo + voice_pool")
    p.add_argument("--limit", type=int, default=40, help="records per manifest and seed")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--max-wer", type=float, default=0.2)
    margin = FasterWhisperSettings().draft_margin_seconds
    p.add_argument("--draft-margin", type=float, default=margin, help="the backend's draft_margin_seconds")
    args = p.parse_args()
    manifests = args.manifest or DEFAULT_MANIFESTS
    totals = [compare(m, args.limit, args.seeds, args.max_wer, args.draft_margin) for m in manifests]
    agree, steady, n = (sum(t[k] for t in totals) for k in range(3))
    alone, packed = sum(t[3] for t in totals), sum(t[4] for t in totals)
    print(f"\nall: decisions agree {agree}/{n} = {agree / n:.1%} (one-by-one with itself 0.1 s later: "
          f"{steady / n:.1%}); ASR {alone:.2f} s -> {packed:.2f} s ({alone / packed:.2f}x); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip
    draft_agree, drafted = sum(t[5] for t in totals), sum(t[6] for t in totals)
    print(f"all, drafts: decisions agree {draft_agree}/{n} = {draft_agree / n:.1%}; "
          f"ASR {alone:.2f} s -> {drafted:.2f} s ({alone / drafted:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
