"""Whisper's English normalizer is loaded by file, so a WER never pays for importing transformers."""

from __future__ import annotations

from pathlib import Path

import pytest

from filters import whisper_english

PHRASES = [
    "one hundred and five",
    "twenty one point five percent",
    "three thirds of a dollar and fifty cents",
    "the nineteen eighties",
    "minus seven thousand two hundred",
    "first second and twenty third",
]


def test_the_file_loaded_module_is_transformers_code() -> None:
    from transformers.models.whisper import english_normalizer as packaged

    loaded = whisper_english.english_normalizer()
    assert loaded is not packaged
    assert Path(loaded.__file__).resolve() == Path(packaged.__file__).resolve()
    ours, theirs = loaded.EnglishNumberNormalizer(), packaged.EnglishNumberNormalizer()
    for phrase in PHRASES:
        assert ours(phrase) == theirs(phrase)
    text = "café, naïve!"
    assert loaded.remove_symbols_and_diacritics(text) == packaged.remove_symbols_and_diacritics(text)


def test_a_file_that_needs_its_package_falls_back_to_the_package_import(monkeypatch: pytest.MonkeyPatch) -> None:
    # tokenization_whisper.py has relative imports: loaded by file alone, it raises ImportError
    monkeypatch.setattr(whisper_english, "_RELATIVE_PATH", Path("models", "whisper", "tokenization_whisper.py"))
    whisper_english.english_normalizer.cache_clear()
    try:
        import transformers.models.whisper.english_normalizer as packaged

        assert whisper_english.english_normalizer() is packaged
    finally:
        whisper_english.english_normalizer.cache_clear()
