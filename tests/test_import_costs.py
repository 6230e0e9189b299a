"""What a run needs must not drag in heavy packages it does not use (each costs every process seconds and MiB)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

CASES = {
    # Whisper's English normalizer is loaded by file: 1.3 s and 49 MiB of transformers' package import
    "transformers": "from filters.wer import wer; assert wer('one hundred and five shapes', '105 shapes') == 0.0",
    # soxr directly, as librosa.resample calls it: 0.9 s and 90 MiB of scipy and numba
    "librosa": (
        "import numpy as np; from datagen.records import Audio; "
        "a = Audio(np.zeros(22050, np.float32), 22050).resampled(16000); assert a.array.size == 16000"
    ),
}


@pytest.mark.parametrize("module", sorted(CASES))
def test_work_that_does_not_need_a_package_does_not_import_it(module: str) -> None:
    code = f"import sys; {CASES[module]}; print({module!r} in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
