"""Split a passage into chunks a TTS voice can read within the audio limit, at the most natural cut available.

Cuts go at sentence ends first; a sentence longer than the budget is cut at clause marks (, ; :), then
between words, and a single "word" longer than the budget (a URL, a run of CJK text) is cut by characters, so
every chunk fits whatever the input. Adjacent pieces are packed greedily up to the budget, which keeps the number
of audio clips (and of `<audio>` tags in the prompt) small.
"""

from __future__ import annotations

import re

# a sentence ends at . ! ? … (or their CJK forms), optionally followed by closing quotes/brackets, then space
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)|[。！？]+")
_CLAUSE_END = re.compile(r"(?<=[,;:，；：])\s+")


def budget_chars(max_audio_seconds: float, chars_per_second: float) -> int:
    """Characters that fit in `max_audio_seconds` at a conservative speaking rate."""
    return max(1, int(max_audio_seconds * chars_per_second))


def split_sentences(text: str) -> list[str]:
    sentences, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        sentences.append(text[start : m.end()])
        start = m.end()
    sentences.append(text[start:])
    return [s.strip() for s in sentences if s.strip()]


def chunk_text(text: str, max_chars: int) -> list[str]:
    """`text` as chunks of at most `max_chars` characters each, cut at sentence, clause, then word boundaries."""
    if max_chars < 1:
        raise ValueError(f"max_chars must be positive, got {max_chars}")
    pieces = [p for sentence in split_sentences(" ".join(text.split())) for p in _fit(sentence, max_chars)]
    return _pack(pieces, max_chars)


def _fit(sentence: str, max_chars: int) -> list[str]:
    """A sentence as pieces under the budget: whole, else its clauses, else its words, else character runs."""
    if len(sentence) <= max_chars:
        return [sentence]
    clauses = [c for c in _CLAUSE_END.split(sentence) if c]
    if len(clauses) > 1:
        return _pack([p for c in clauses for p in _fit(c, max_chars)], max_chars)
    words = sentence.split(" ")
    if len(words) > 1:
        return _pack([p for w in words for p in _fit(w, max_chars)], max_chars)
    return [sentence[i : i + max_chars] for i in range(0, len(sentence), max_chars)]


def _pack(pieces: list[str], max_chars: int) -> list[str]:
    chunks: list[str] = []
    for piece in pieces:
        if chunks and len(chunks[-1]) + 1 + len(piece) <= max_chars:
            chunks[-1] = f"{chunks[-1]} {piece}"
        else:
            chunks.append(piece)
    return chunks
