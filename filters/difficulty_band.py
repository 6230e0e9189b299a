"""The difficulty band: keep a problem only if the sampler solved it some of the time (`meta["pass_rate"]`).

A problem every sample solves teaches nothing new; one no sample solves has no verified trace (or a lucky one).
Recipes such as open-r1 keep a pass-rate window (0.1-0.9). The rate is the one `cot` measured while sampling:
correct traces / traces drawn. With early stopping (`round_size` < `n`) it is measured on the rounds drawn, so it is
coarse (2 of 4 = 0.5); set `round_size: n` for a rate over the whole budget. Thresholding only: the score was
written by the sampler, so a new band is applied to an existing dataset with `datagen filter`, no model time.
"""

from __future__ import annotations

import math

from pydantic import Field, model_validator

from datagen.records import Sample
from datagen.steps import Filter, StepConfig, Verdict, drop, keep


class DifficultyBandConfig(StepConfig):
    min_pass_rate: float = Field(0.1, ge=0, le=1, description="lowest pass rate kept (below: too_hard)")
    max_pass_rate: float = Field(0.9, ge=0, le=1, description="highest pass rate kept (above: too_easy)")

    @model_validator(mode="after")
    def _ordered(self) -> DifficultyBandConfig:
        if self.min_pass_rate > self.max_pass_rate:
            raise ValueError(f"min_pass_rate {self.min_pass_rate} > max_pass_rate {self.max_pass_rate}: keeps nothing")
        return self


class DifficultyBand(Filter[DifficultyBandConfig]):
    name = "difficulty_band"
    reads = ("pass_rate",)

    def judge(self, sample: Sample) -> Verdict:
        rate = sample.meta.get("pass_rate")
        # A record without a measured rate (not sampled, or a dataset from elsewhere) cannot be placed in the band:
        # dropping it loudly beats keeping data of unknown difficulty.
        if rate is None or isinstance(rate, bool) or not isinstance(rate, int | float):
            return drop("missing_score", f"meta['pass_rate'] is {rate!r:.40}")
        if not math.isfinite(rate) or not 0 <= rate <= 1:
            return drop("invalid_score", f"pass_rate {rate!r} is not in [0, 1]")
        if rate < self.config.min_pass_rate:
            return drop("too_hard", f"pass_rate {rate:.4g} < {self.config.min_pass_rate}")
        if rate > self.config.max_pass_rate:
            return drop("too_easy", f"pass_rate {rate:.4g} > {self.config.max_pass_rate}")
        return keep()
