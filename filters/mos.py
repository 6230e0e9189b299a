"""DNSMOS: a no-reference estimate of how a clip sounds (1 = bad .. 5 = excellent), from the `speechmos` wheel.

The WER gate only proves that the ASR heard the words; a clip can pass it and still be buried in noise, clipped or
garbled. DNSMOS P.835 rates speech quality (SIG), background noise (BAK) and overall quality (OVRL); P.808 is a
second overall rating. The ONNX models ship inside the wheel, so nothing is downloaded.

What the scores mean for synthetic speech: DNSMOS was trained on real recordings rated by listeners, so it rewards
clean, full-band speech and punishes noise and distortion; it does not judge prosody or naturalness well. Clean
piper speech scores OVRL ≈ 3.2 (the same clip with Gaussian noise at σ = 0.05: ≈ 2.0). Use a `min_mos` gate to
catch noisy, clipped or broken audio, calibrated on your own voices (`datagen audit` shows the yield per
`min_mos` threshold), not as a naturalness score.

DNSMOS rates 9.01-second windows. `speechmos` tiles a short clip by doubling it past that length and then averages
every 1-s hop, so a 1.7-s query cost it 4 windows and a 30-s chunk 22; `score` rates one window per 9 s instead (a
short clip tiled cyclically to exactly one window, a long one cut into consecutive windows, the last ending at the
clip's end) and averages those: within 0.03 of the hop average on piper queries, up to 8x less model time.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from datagen.records import resample

RATE = 16000  # DNSMOS's only input rate
MAX_SECONDS = 60.0  # longer clips are scored on their first minute: the score is a mean over windows anyway
WINDOW = int(9.01 * RATE)  # the models' input length (speechmos.dnsmos.INPUT_LENGTH)


@dataclass(slots=True, frozen=True)
class MosScores:
    ovrl: float
    sig: float
    bak: float
    p808: float

    def as_dict(self) -> dict[str, float]:
        return {k: round(float(v), 4) for k, v in asdict(self).items()}


def unavailable_reason() -> str | None:
    return None if importlib.util.find_spec("speechmos") else "missing Python package speechmos: pip install speechmos"


class DnsMos:
    """One loaded DNSMOS (two ONNX sessions), created on first use and shared by the threads of a process."""

    _lock = threading.Lock()
    _model: Any = None

    @classmethod
    def _loaded(cls) -> Any:
        with cls._lock:
            if cls._model is None:
                from speechmos.dnsmos import DNSMOS

                models = Path(importlib.util.find_spec("speechmos").origin).parent / "dnsmos_models"
                # its own __init__ would build two spinning sessions only to have them replaced: set its three fields
                model = DNSMOS.__new__(DNSMOS)
                model.primary_model_path = str(models / "sig_bak_ovr.onnx")
                model.onnx_sess = _session(models / "sig_bak_ovr.onnx")
                model.p808_onnx_sess = _session(models / "model_v8.onnx")
                cls._model = model
            return cls._model

    @classmethod
    def load(cls) -> None:
        """Load the models now (a step's setup), so the first scored clip does not pay for it."""
        cls._loaded()

    @classmethod
    def score(cls, array: np.ndarray, sampling_rate: int) -> MosScores | None:
        """Scores of one mono clip; None when there is nothing to rate (empty, silent or non-finite audio, or no
        positive sampling rate)."""
        if not isinstance(sampling_rate, int | np.integer) or sampling_rate <= 0:
            return None
        wave = np.asarray(array, dtype=np.float32).reshape(-1)
        if wave.size == 0 or not np.isfinite(wave).all() or not np.abs(wave).max() > 0:
            return None
        wave = wave[: int(MAX_SECONDS * sampling_rate)]  # cut before resampling: an hour-long clip costs a minute's
        if sampling_rate != RATE:
            wave = resample(wave, sampling_rate, RATE)
        wave = np.clip(wave[: int(MAX_SECONDS * RATE)], -1.0, 1.0)
        model = cls._loaded()
        found = [model(window, RATE, False) for window in _windows(wave)]
        mean = {key: float(np.mean([f[key] for f in found])) for key in ("ovrl_mos", "sig_mos", "bak_mos", "p808_mos")}
        return MosScores(mean["ovrl_mos"], mean["sig_mos"], mean["bak_mos"], mean["p808_mos"])


def _session(path: Path) -> Any:
    """speechmos's sessions, but with idle threads that sleep: DNSMOS runs beside the synthesizer and the verifier,
    and spinning threads took their cores (the demo as shipped: ~2.5 CPU-s and 1.3 s of 29 on 2 cores)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def _windows(wave: np.ndarray) -> list[np.ndarray]:
    """One model input per 9 s of audio: exactly one window each, so `speechmos` runs one hop per call."""
    if wave.size <= WINDOW:
        return [np.resize(wave, WINDOW)]  # cyclic tiling, as speechmos itself repeats a short clip
    starts = list(range(0, wave.size - WINDOW + 1, WINDOW))
    if starts[-1] + WINDOW < wave.size:
        starts.append(wave.size - WINDOW)
    return [wave[s : s + WINDOW] for s in starts]
