"""Audio quality: duration, clipping, silence, level and an SNR estimate per clip, then thresholds on them.

`audio_stats(array, sampling_rate)` is a plain function (notebooks and audits call it on any waveform); the
`audio_quality` step scores every clip of a sample (or only the spoken queries), writes the per-clip scores to
`meta["audio_quality"]` and the worst values as scalars (`snr_db`, `clipping`, `silence`, `rms_dbfs`) so
`stats.json` summarizes them, and drops on the first failed bound. Thresholds never need the audio re-made.

SNR is estimated without a reference: frame energies (RMS of 25 ms frames every 10 ms) are sorted, the quiet end
(10th percentile) stands for the noise floor and the loud end (90th) for speech, which holds for a clip with pauses
in it (a spoken query). Digital silence has no noise floor at all, so levels are floored at `FLOOR_DB` and the SNR
is capped there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field

from datagen.records import Audio, Sample
from datagen.steps import Filter, StepConfig, Verdict, drop, keep

FLOOR_DB = -100.0  # dBFS of a frame with no energy; keeps logs finite and makes the SNR cap 100 dB
_FRAME_SECONDS = 0.025
_HOP_SECONDS = 0.010


@dataclass(slots=True, frozen=True)
class AudioStats:
    duration: float  # seconds
    clipping: float  # share of samples at full scale
    silence: float  # share of frames below the silence level
    leading_silence: float  # seconds before the first non-silent frame
    trailing_silence: float  # seconds after the last non-silent frame
    rms_dbfs: float  # level of the whole clip
    snr_db: float  # loud-frame vs quiet-frame energy (see the module docstring)


def _db(values: np.ndarray) -> np.ndarray:
    return np.maximum(20.0 * np.log10(np.maximum(values, 1e-12)), FLOOR_DB)


def audio_stats(
    array: Any, sampling_rate: int, *, silence_dbfs: float = -45.0, clip_level: float = 0.999
) -> AudioStats:
    """Scores of one mono waveform in [-1, 1]. Raises ValueError on what is not a finite, non-empty waveform."""
    wave = np.asarray(array, dtype=np.float32).reshape(-1) if np.ndim(array) <= 1 else None
    if wave is None:
        raise ValueError(f"expected a mono waveform, got shape {np.shape(array)}")
    if not isinstance(sampling_rate, int | np.integer) or sampling_rate <= 0:
        raise ValueError(f"sampling rate must be a positive integer, got {sampling_rate!r}")
    if wave.size == 0:
        raise ValueError("no samples")
    if not np.isfinite(wave).all():
        raise ValueError("waveform holds NaN or infinite samples")
    frame = max(1, round(_FRAME_SECONDS * sampling_rate))
    hop = max(1, round(_HOP_SECONDS * sampling_rate))
    # What librosa.feature.rms computes, without its ~3 s numba import; a clip shorter than a frame is one frame.
    frames = np.lib.stride_tricks.sliding_window_view(wave, frame)[::hop] if wave.size >= frame else wave[None, :]
    rms = np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1))
    frame_db = _db(rms)
    voiced = np.flatnonzero(frame_db >= silence_dbfs)
    duration = wave.size / sampling_rate
    if voiced.size:
        leading = min(duration, voiced[0] * hop / sampling_rate)
        trailing = max(0.0, duration - (voiced[-1] * hop + frame) / sampling_rate)
    else:
        leading = trailing = duration
    noise, speech = np.percentile(frame_db, [10, 90])
    level = float(_db(np.sqrt(np.mean(np.square(wave, dtype=np.float64))).reshape(1))[0])
    return AudioStats(
        duration=round(duration, 4),
        clipping=round(float(np.mean(np.abs(wave) >= clip_level)), 6),
        silence=round(float(1.0 - voiced.size / frame_db.size), 4),
        leading_silence=round(float(leading), 4),
        trailing_silence=round(float(trailing), 4),
        rms_dbfs=round(level, 2),
        snr_db=round(float(speech - noise), 2),
    )


class AudioQualityConfig(StepConfig):
    audios: Literal["all", "spoken"] = Field(
        "all", description="score every clip, or only those a user turn links to (the spoken queries)"
    )
    require_audio: bool = Field(True, description="drop samples with no clip to score (audio_missing)")
    min_seconds: float = Field(0.3, ge=0, description="shorter clips are dropped: audio_too_short")
    max_seconds: float = Field(30.0, gt=0, description="longer clips are dropped: audio_too_long")
    max_clipping: float = Field(0.001, ge=0, le=1, description="highest share of full-scale samples: audio_clipped")
    silence_dbfs: float = Field(-45.0, le=0, description="frames quieter than this count as silence")
    max_silence: float = Field(0.8, ge=0, le=1, description="highest share of silent frames: audio_silent")
    max_edge_silence: float = Field(
        3.0, ge=0, description="longest leading or trailing silence in seconds: audio_silent"
    )
    min_rms_dbfs: float = Field(-50.0, le=0, description="quieter clips are dropped: audio_silent")
    min_snr_db: float = Field(10.0, description="lower SNR estimates are dropped: audio_low_snr")


class AudioQuality(Filter[AudioQualityConfig]):
    """Reads `audios` (and `messages` for `audios: spoken`); writes `audio_quality` (per clip) and worst values."""

    name = "audio_quality"
    reads = ("audios",)
    schema = {
        "audio_quality": [{"audio": "int32", **{k: "float64" for k in AudioStats.__slots__}}],
        **{k: "float64" for k in ("snr_db", "clipping", "silence", "rms_dbfs")},
    }

    def judge(self, sample: Sample) -> Verdict:
        cfg = self.config
        indices = _clip_indices(sample, cfg.audios)
        if not indices:
            return drop("audio_missing", f"no {cfg.audios} audio") if cfg.require_audio else keep()
        per_clip: list[dict[str, Any]] = []
        for k in indices:
            audio = sample.audios[k] if 0 <= k < len(sample.audios) else None
            if not isinstance(audio, Audio):
                return drop("audio_missing", f"audio {k} does not exist")
            if len(audio.array) == 0:
                return drop("audio_too_short", f"audio {k}: no samples")
            try:
                stats = audio_stats(audio.array, audio.sampling_rate, silence_dbfs=cfg.silence_dbfs)
            except (ValueError, TypeError) as err:
                return drop("audio_invalid", f"audio {k}: {err}")
            per_clip.append({"audio": k, **asdict(stats)})
        scores = {
            "audio_quality": per_clip,
            "snr_db": min(c["snr_db"] for c in per_clip),
            "clipping": max(c["clipping"] for c in per_clip),
            "silence": max(c["silence"] for c in per_clip),
            "rms_dbfs": min(c["rms_dbfs"] for c in per_clip),
        }
        for clip in per_clip:
            problem = self._problem(clip)
            if problem:
                return drop(problem[0], f"audio {clip['audio']}: {problem[1]}", **scores)
        return keep(**scores)

    def _problem(self, c: dict[str, Any]) -> tuple[str, str] | None:
        """The first bound a clip fails, as (reason, detail); bounds are inclusive (a value at the limit passes)."""
        cfg = self.config
        checks = (
            (c["duration"] < cfg.min_seconds, "audio_too_short", f"{c['duration']:.2f} s < {cfg.min_seconds}"),
            (c["duration"] > cfg.max_seconds, "audio_too_long", f"{c['duration']:.2f} s > {cfg.max_seconds}"),
            (c["clipping"] > cfg.max_clipping, "audio_clipped", f"clipping {c['clipping']:.4f} > {cfg.max_clipping}"),
            (c["rms_dbfs"] < cfg.min_rms_dbfs, "audio_silent", f"level {c['rms_dbfs']} dBFS < {cfg.min_rms_dbfs}"),
            (c["silence"] > cfg.max_silence, "audio_silent", f"silence {c['silence']:.2f} > {cfg.max_silence}"),
            (
                max(c["leading_silence"], c["trailing_silence"]) > cfg.max_edge_silence,
                "audio_silent",
                f"edge silence {c['leading_silence']:.2f}/{c['trailing_silence']:.2f} s > {cfg.max_edge_silence}",
            ),
            (c["snr_db"] < cfg.min_snr_db, "audio_low_snr", f"SNR {c['snr_db']} dB < {cfg.min_snr_db}"),
        )
        for failed, reason, detail in checks:
            if failed:
                return reason, detail
        return None


def _clip_indices(sample: Sample, which: str) -> list[int]:
    if which == "all":
        return list(range(len(sample.audios)))
    return sorted({m.audio for m in sample.messages if m.role == "user" and isinstance(m.audio, int)})
