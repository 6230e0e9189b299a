"""How many distinct voices a dataset really has, from speaker embeddings (resemblyzer's encoder, in its wheel).

A voice pool of ten names can hold three speakers: the same piper voice at two speeds, or two espeak variants,
sound like one person to a listener and to a model. Each voice is represented by the mean of its clips' unit
speaker embeddings; two voices whose means have cosine similarity at or above `SAME_SPEAKER` are reported as
sounding the same. Measured here (mean of 3 clips): piper joe at speed 1.0 vs 1.3: 0.99, espeak en-us vs en-gb
0.96, vs en-us+m3 0.93; different speakers (piper vs flite voices, flite voices among themselves) 0.43-0.76.

The effective number of distinct voices is the participation ratio of the similarity matrix's eigenvalues,
(Σλ)² / Σλ²: n identical voices give 1, n unrelated (orthogonal) voices give n. Speaker embeddings of different
people are never orthogonal (cosine ≈ 0.5 is typical), so the figure is best read against the number of voices
configured, and compared between pools, not as a head count.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

SAME_SPEAKER = 0.88
MAX_CLIP_SECONDS = 20.0  # an utterance embedding is an average over windows: a longer clip adds nothing


class SpeakerEncoder:
    """resemblyzer's VoiceEncoder, loaded once per process on first use (17 MB of weights in the wheel)."""

    _lock = threading.Lock()
    _encoder: Any = None

    @classmethod
    def embed(cls, array: np.ndarray, sampling_rate: int) -> np.ndarray | None:
        """A 256-d unit vector for one clip; None when there is no speech to embed."""
        from resemblyzer import VoiceEncoder, preprocess_wav

        wave = np.asarray(array, dtype=np.float32).reshape(-1)[: int(MAX_CLIP_SECONDS * sampling_rate)]
        if wave.size == 0 or not np.isfinite(wave).all() or not np.abs(wave).max() > 0:
            return None
        wave = preprocess_wav(wave, source_sr=sampling_rate)
        if wave.size < 1600:  # under 0.1 s of speech left after trimming silence
            return None
        with cls._lock:
            if cls._encoder is None:
                cls._encoder = VoiceEncoder("cpu", verbose=False)
            return np.asarray(cls._encoder.embed_utterance(wave), dtype=np.float64)


def voice_means(embeddings: Mapping[str, Sequence[np.ndarray]]) -> tuple[list[str], np.ndarray]:
    """(voice names, one unit vector per voice): the normalized mean of each voice's clip embeddings."""
    names = sorted(name for name, rows in embeddings.items() if len(rows))
    means = np.stack([np.mean(np.stack(embeddings[name]), axis=0) for name in names]) if names else np.zeros((0, 1))
    norms = np.linalg.norm(means, axis=1, keepdims=True)
    return names, means / np.where(norms > 0, norms, 1.0)


def similarity_matrix(means: np.ndarray) -> np.ndarray:
    return np.clip(means @ means.T, -1.0, 1.0)


def effective_voices(similarity: np.ndarray) -> float:
    """Participation ratio of the eigenvalues: 1 for identical voices, n for n unrelated ones."""
    if similarity.size == 0:
        return 0.0
    eigenvalues = np.clip(np.linalg.eigvalsh(similarity), 0.0, None)
    total = float(eigenvalues.sum())
    return total**2 / float((eigenvalues**2).sum()) if total > 0 else 0.0


def same_sounding(names: Sequence[str], similarity: np.ndarray, threshold: float = SAME_SPEAKER) -> list[dict]:
    """Pairs of configured voices that sound like one speaker, most similar first."""
    pairs = [
        {"a": names[i], "b": names[j], "similarity": round(float(similarity[i, j]), 3)}
        for i in range(len(names))
        for j in range(i + 1, len(names))
        if similarity[i, j] >= threshold
    ]
    return sorted(pairs, key=lambda p: -p["similarity"])


def map_2d(means: np.ndarray) -> np.ndarray:
    """Voices placed on a plane by their two main directions of difference (PCA of the mean embeddings)."""
    if len(means) < 2:
        return np.zeros((len(means), 2))
    centered = means - means.mean(axis=0)
    _, _, vt = np.linalg.svd(centered, full_matrices=False)
    coords = centered @ vt[:2].T
    return coords if coords.shape[1] == 2 else np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
