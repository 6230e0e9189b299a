"""The audit's voice-diversity section: how distinct the voices a dataset was spoken with really sound.

A few kept clips per `engine:voice` are read back, embedded with a speaker encoder (`filters.voice_diversity`)
and compared. The section lists the similarity of every pair of voices, the effective number of distinct voices,
and warns about pairs that sound like one speaker, with a 2-D map for the eye.
"""

from __future__ import annotations

import importlib.util
import io
from html import escape
from typing import Any

import numpy as np
import pandas as pd

from datagen.audit.load import DatasetFolder, read_media
from datagen.records import Audio
from filters.voice_diversity import (
    SAME_SPEAKER,
    SpeakerEncoder,
    effective_voices,
    map_2d,
    same_sounding,
    similarity_matrix,
    voice_means,
)

CLIPS_PER_VOICE = 4


def voice_diversity_section(
    folder: DatasetFolder, turns: pd.DataFrame, clips_per_voice: int = CLIPS_PER_VOICE
) -> dict[str, Any] | None:
    """None when there are no kept spoken turns with audio, the encoder is missing, or `clips_per_voice` is 0."""
    if clips_per_voice <= 0 or turns.empty or importlib.util.find_spec("resemblyzer") is None:
        return None
    spoken = turns[(turns["status"] == "kept") & turns["voice"].notna() & turns["audio"].notna()]
    if spoken.empty:
        return None
    spoken = spoken.assign(label=spoken["tts"].astype(str) + ":" + spoken["voice"].astype(str))
    picks = spoken.sort_values(["file", "row"]).groupby("label", sort=True).head(clips_per_voice)
    media = read_media(folder, [(r.file, int(r.row), int(r.audio)) for r in picks.itertuples()])
    embeddings: dict[str, list[np.ndarray]] = {}
    for r in picks.itertuples():
        blob = (media.get((r.file, int(r.row))) or {}).get("audio")
        vector = _embed(blob)
        if vector is not None:
            embeddings.setdefault(r.label, []).append(vector)
    names, means = voice_means(embeddings)
    if not names:
        return None
    similarity = similarity_matrix(means)
    return {
        "voices": names,
        "clips": {name: len(embeddings[name]) for name in names},
        "similarity": similarity.round(3).tolist(),
        "effective_voices": round(effective_voices(similarity), 2),
        "same_sounding": same_sounding(names, similarity),
        "threshold": SAME_SPEAKER,
        "map": map_2d(means).round(4).tolist(),
    }


def _embed(blob: bytes | None) -> np.ndarray | None:
    if not blob:
        return None
    try:
        audio = Audio.from_bytes(blob)
    except (RuntimeError, ValueError, OSError):  # an undecodable clip is left out of the map, never fatal
        return None
    return SpeakerEncoder.embed(audio.array, audio.sampling_rate)


def voice_map_plot(section: dict[str, Any]) -> bytes | None:
    """The voices on a plane: near points sound alike. Labels are plain text (no math parsing of data)."""
    if len(section["voices"]) < 2:
        return None
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    with rc_context({"text.parse_math": False}):
        fig = Figure(figsize=(5.2, 3.6))
        ax = fig.add_subplot()
        coords = np.asarray(section["map"])
        ax.scatter(coords[:, 0], coords[:, 1], color="#3a6ea5")
        for (x, y), name in zip(coords, section["voices"], strict=True):
            ax.annotate(name, (x, y), fontsize=8, xytext=(4, 3), textcoords="offset points")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title("speaker-embedding map of the voices (near = similar)", fontsize=9)
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def voice_diversity_html(section: dict[str, Any] | None, img: Any, table: Any, num: Any) -> str:
    """The section's body; `img`, `table`, `num` are the page's own helpers (one look across sections)."""
    if not section:
        return '<p class="note">No kept spoken turns with audio (or resemblyzer is not installed).</p>'
    names = section["voices"]
    head = (
        f"<p>{num(section['effective_voices'], 2)} effective distinct voices among {len(names)} configured "
        f"(1 = all sound alike; {len(names)} = all unrelated). Pairs at cosine ≥ {section['threshold']} "
        "sound like one speaker.</p>"
    )
    warnings = "".join(
        f'<p class="warn">⚠ {escape(p["a"])} and {escape(p["b"])} sound the same (similarity {p["similarity"]})</p>'
        for p in section["same_sounding"]
    )
    rows = [[escape(a)] + [num(v, 2) for v in section["similarity"][i]] for i, a in enumerate(names)]
    matrix = table(["voice", *[escape(n) for n in names]], rows, set(range(1, len(names) + 1)))
    return head + warnings + f'<div class="plots">{img(voice_map_plot(section), "voice map")}{matrix}</div>'
