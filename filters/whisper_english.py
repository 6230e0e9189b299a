"""Whisper's English text normalizer, as transformers ships it, loaded without importing transformers.

The module is plain Python (stdlib and `regex`), but `import transformers.models.whisper.english_normalizer` first
runs transformers' package import: about 1.3 s and 50 MiB on every run that computes a WER, for a few regexes and
number tables. Loading the one file by its path gives the same code for a fraction of that. If a transformers
release ever makes that file need its package (a relative import), the normal import is used instead.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from types import ModuleType

__all__ = ["english_normalizer"]

_RELATIVE_PATH = Path("models", "whisper", "english_normalizer.py")


@functools.cache
def english_normalizer() -> ModuleType:
    """transformers' `models/whisper/english_normalizer.py` (`EnglishNumberNormalizer`, ...), loaded once."""
    package = importlib.util.find_spec("transformers")
    if package is not None and package.origin is not None:
        path = Path(package.origin).parent / _RELATIVE_PATH
        spec = importlib.util.spec_from_file_location("datagen_whisper_english_normalizer", path)
        if spec is not None and spec.loader is not None and path.is_file():
            module = importlib.util.module_from_spec(spec)
            try:
                spec.loader.exec_module(module)
                return module
            except ImportError:  # the file now needs its package: fall back to the package import below
                pass
    import transformers.models.whisper.english_normalizer as module

    return module
