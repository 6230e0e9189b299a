"""The MOS gate: keep a sample only if its spoken turns sound good enough (`meta["mos"]` ≥ `min_mos`).

Reads `mos` (the lowest DNSMOS OVRL over the sample's spoken turns, written by the speech generators; see
`filters.mos` for what the score means on synthetic speech). Scoring is separate from this threshold, so a new
`min_mos` applies to a finished dataset with `datagen filter`, without synthesizing anything again.
"""

from __future__ import annotations

import math

from pydantic import Field

from datagen.records import Sample
from datagen.steps import Filter, StepConfig, Verdict, drop, keep


class MinMosConfig(StepConfig):
    min_mos: float = Field(2.5, ge=1, le=5, description="lowest DNSMOS overall score kept (1 = bad .. 5 = excellent)")


class MinMos(Filter[MinMosConfig]):
    name = "min_mos"
    reads = ("mos",)

    def judge(self, sample: Sample) -> Verdict:
        value = sample.meta.get("mos")
        if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
            return drop("mos_missing", f"meta['mos'] is {value!r}; score with a speech generator's `mos: true`")
        if value < self.config.min_mos:
            return drop("mos_below_min", f"{value:.2f} < {self.config.min_mos}")
        return keep()
