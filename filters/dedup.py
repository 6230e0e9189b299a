"""Deduplication: exact (normalized text hash, audio PCM hash) and near (MinHash LSH over word shingles).

Text is compared in `normalize_text` form, so "What's 3+4?" and "what is three plus four" are one text. In VQA data
one question is asked of many images, so by default the images' content hash is part of the key: the same text
about different images is not a duplicate (`with_images: false` compares text alone). Near duplicates are found
with `datasketch`'s MinHash LSH over word n-gram shingles and confirmed by the estimated Jaccard similarity.

Dedup is stateful: the first sample seen with a key wins and later ones are dropped with a detail naming the id
they duplicate. Inside a run the index lives in the step object, so it spans all shards one process handles, but
with Dask workers (or a resumed run, which skips finished shards) each process only knows its own shards: such a
run deduplicates per process. `datagen filter` reads a whole dataset in (shard, row) order in one process, which
makes it the deterministic, global dedup: the first occurrence in that order is kept.

The index holds one MinHash per kept sample (`num_perm` × 8 bytes: 1 KB at 128), fine for millions of samples.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import Field

from datagen.records import Sample
from datagen.steps import Filter, StepConfig, Verdict, drop, keep
from filters.normalize import normalize_text


def text_hash(normalized: str) -> str:
    return hashlib.sha1(normalized.encode("utf-8")).hexdigest()


def audio_hash(array: Any, sampling_rate: int) -> str:
    """Hash of the clip as 16-bit PCM at its rate: the stored form, so a decoded WAV hashes like its source."""
    wave = np.nan_to_num(np.asarray(array, dtype=np.float64).reshape(-1), nan=0.0, posinf=1.0, neginf=-1.0)
    pcm = np.clip(np.round(wave * 32768.0), -32768, 32767).astype("<i2")
    return hashlib.sha1(str(int(sampling_rate)).encode() + b":" + pcm.tobytes()).hexdigest()


def shingles(normalized: str, n: int = 3) -> set[str]:
    """Word n-grams of a normalized text; a text shorter than n words is one shingle."""
    tokens = normalized.split()
    if len(tokens) <= n:
        return {" ".join(tokens)}
    return {" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def minhash(items: Iterable[str], num_perm: int = 128) -> Any:
    from datasketch import MinHash

    m = MinHash(num_perm=num_perm, seed=1)
    m.update_batch([s.encode("utf-8") for s in items])
    return m


@dataclass(slots=True)
class DedupIndex:
    """First-seen index of exact keys and MinHashes; `check` then `add` (the same id never duplicates itself)."""

    near_threshold: float = 0.9
    num_perm: int = 128
    texts: dict[str, str] = field(default_factory=dict)  # key -> id
    audios: dict[str, str] = field(default_factory=dict)
    hashes: dict[str, tuple[Any, str, int]] = field(default_factory=dict)  # id -> (minhash, group, order)
    lsh: Any = None

    def __post_init__(self) -> None:
        from datasketch import MinHashLSH

        # The LSH only proposes candidates (and cannot band for a threshold near 1); `check` confirms by Jaccard.
        self.lsh = MinHashLSH(threshold=min(self.near_threshold, 0.9), num_perm=self.num_perm)

    def check(
        self, sample_id: str, text_key: str | None, audio_keys: list[str], near: Any = None, group: str = ""
    ) -> tuple[str, str, float] | None:
        """(reason, duplicated id, similarity) for the first match, or None if the sample is new."""
        first = self.texts.get(text_key) if text_key is not None else None
        if first is not None and first != sample_id:
            return "duplicate_text", first, 1.0
        for key in audio_keys:
            first = self.audios.get(key)
            if first is not None and first != sample_id:
                return "duplicate_audio", first, 1.0
        if near is not None:
            matches = []
            for other in self.lsh.query(near):
                other_hash, other_group, order = self.hashes[other]
                similarity = float(near.jaccard(other_hash))
                if other != sample_id and other_group == group and similarity >= self.near_threshold:
                    matches.append((-similarity, order, other))
            if matches:  # the most similar, then the earliest indexed: independent of the LSH's set order
                similarity, _, other = min(matches)
                return "near_duplicate", other, round(-similarity, 4)
        return None

    def add(
        self, sample_id: str, text_key: str | None, audio_keys: list[str], near: Any = None, group: str = ""
    ) -> None:
        if text_key is not None:
            self.texts.setdefault(text_key, sample_id)
        for key in audio_keys:
            self.audios.setdefault(key, sample_id)
        if near is not None and sample_id not in self.hashes:
            self.hashes[sample_id] = (near, group, len(self.hashes))
            self.lsh.insert(sample_id, near)


class DedupConfig(StepConfig):
    text: Literal["conversation", "query", "answer"] = Field(
        "conversation", description="which turns form the text key: all, user turns only, or assistant turns only"
    )
    with_images: bool = Field(True, description="the images' content is part of the key (same text, other image: kept)")
    exact_text: bool = Field(True, description="drop repeats of a normalized text: duplicate_text")
    exact_audio: bool = Field(True, description="drop repeats of a clip's PCM samples: duplicate_audio")
    near: bool = Field(True, description="drop texts close to an earlier one: near_duplicate")
    near_threshold: float = Field(0.8, gt=0, le=1, description="estimated Jaccard similarity counted as near")
    shingle: int = Field(3, ge=1, description="words per shingle")
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations (more: slower, more exact)")


_ROLES = {"conversation": ("system", "user", "assistant"), "query": ("user",), "answer": ("assistant",)}


class Dedup(Filter[DedupConfig]):
    """Reads `messages`, `images`, `audios`; writes `text_hash` and `audio_hashes`."""

    name = "dedup"
    reads = ("messages",)
    schema = {"text_hash": "string", "audio_hashes": ["string"]}

    def __init__(self, config: StepConfig | None = None, *, seed: int = 0) -> None:
        super().__init__(config, seed=seed)
        self.index = DedupIndex(self.config.near_threshold, self.config.num_perm)

    def judge(self, sample: Sample) -> Verdict:
        cfg = self.config
        texts = []
        for k, message in enumerate(sample.messages):
            if not isinstance(message.content, str):
                return drop("no_text", f"turn {k}: content is {type(message.content).__name__}, not text")
            if message.role in _ROLES[cfg.text]:
                texts.append(normalize_text(message.content))
        normalized = " | ".join(texts)
        group = ""
        if cfg.with_images:
            group = "+".join(hashlib.sha1(bytes(im.data)).hexdigest()[:16] for im in sample.images)
        key = text_hash(f"{group}\n{normalized}")
        audio_keys = [audio_hash(a.array, a.sampling_rate) for a in sample.audios if a is not None and len(a.array) > 0]
        scores = {"text_hash": key, "audio_hashes": audio_keys}
        near = minhash(shingles(normalized, cfg.shingle), cfg.num_perm) if cfg.near and normalized else None
        found = self.index.check(
            sample.id, key if cfg.exact_text else None, audio_keys if cfg.exact_audio else [], near, group
        )
        if found is not None:
            reason, first, similarity = found
            detail = f"duplicates {first}" + (f" (Jaccard ~{similarity})" if reason == "near_duplicate" else "")
            return drop(reason, detail, **scores)
        self.index.add(sample.id, key, audio_keys, near, group)
        return keep(**scores)
