"""The MOS gate: keep a sample only if its audio sounds good enough (`meta["mos"]` ≥ `min_mos`).

Reads `mos`, the lowest DNSMOS OVRL over the sample's spoken turns (see `filters.mos` for what the score means on
synthetic speech). A speech generator writes it with `mos: true`; a sample that has none (a run with `mos: false`,
the default, or any dataset with audio) is rated here, on the audio it carries, and gets the lowest OVRL over its
clips as `mos`. DNSMOS costs about as much as the rest of a CPU run, so rating only the samples that reach the gate
(after `max_wer`) spends it where it decides something. Scores stay in the output, so a new `min_mos` applies to a
finished dataset with `datagen filter` without rating anything again.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field

from datagen.records import Audio, Sample
from datagen.steps import Filter, StepConfig, Verdict, drop, keep
from filters.mos import DnsMos, unavailable_reason


class MinMosConfig(StepConfig):
    min_mos: float = Field(2.5, ge=1, le=5, description="lowest DNSMOS overall score kept (1 = bad .. 5 = excellent)")


class MinMos(Filter[MinMosConfig]):
    name = "min_mos"
    reads = ("audios",)
    schema = {"mos": "float64"}

    def judge(self, sample: Sample) -> Verdict:
        value = sample.meta.get("mos")
        if _is_score(value):
            if value < self.config.min_mos:
                return drop("mos_below_min", f"{value:g} < {self.config.min_mos}")
            return keep()
        rated = self._rate(sample)
        if isinstance(rated, str):
            return drop("mos_missing", rated)
        self.tally["rated"] += 1
        if rated < self.config.min_mos:
            return drop("mos_below_min", f"{rated:g} < {self.config.min_mos} (rated here)", mos=rated)
        return keep(mos=rated)

    def _rate(self, sample: Sample) -> float | str:
        """The lowest DNSMOS OVRL over the sample's clips, or why there is none."""
        if not sample.audios:
            return "no score and no audio to rate"
        if reason := unavailable_reason():
            return f"no score, and rating its audio needs DNSMOS: {reason}"
        lowest = math.inf
        for k, audio in enumerate(sample.audios):
            try:
                scores = DnsMos.score(audio.array, audio.sampling_rate) if isinstance(audio, Audio) else None
            except (ValueError, TypeError) as err:  # an array numpy cannot read as samples
                return f"audio {k}: cannot rate it: {err}"
            if scores is None:
                return f"audio {k}: nothing to rate (empty, silent or not a waveform)"
            lowest = min(lowest, round(scores.ovrl, 4))
        return lowest

    @classmethod
    def stats_for_run(cls, totals: dict[str, Any]) -> dict[str, Any]:
        """`min_mos.rated`: samples that reached the gate unscored and were rated here (DNSMOS time is spent there)."""
        return {"min_mos": {"rated": int(totals.get("rated", 0))}}


def _is_score(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)
