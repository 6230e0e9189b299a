"""The WER gate: keep a sample only if its spoken queries were understood (`meta["wer"]` ≤ `max_wer`).

Reads `wer` (written by a speech generator); thresholding is separate from scoring so a new `max_wer` can be
applied to an existing dataset without any model time.
"""

from __future__ import annotations

import math

from pydantic import Field

from datagen.records import Sample
from datagen.steps import Filter, StepConfig, Verdict, drop, keep


class MaxWerConfig(StepConfig):
    max_wer: float = Field(0.2, ge=0, description="highest word error rate kept (0.2 = one word in five wrong)")


class MaxWer(Filter[MaxWerConfig]):
    name = "max_wer"
    reads = ("wer",)

    def judge(self, sample: Sample) -> Verdict:
        value = sample.meta.get("wer")
        if not isinstance(value, int | float) or math.isnan(value):
            return drop("wer_missing", f"meta['wer'] is {value!r}")
        if value > self.config.max_wer:
            return drop("wer_above_max", f"{value:.3f} > {self.config.max_wer}")
        return keep()
