"""Chain-of-thought by rejection sampling: sample reasoning traces, keep those whose final answer verifies.

Reads `messages` (the question is the first user turn, the reference the first assistant turn after it; images
and audios ride along to the model). Per problem it draws traces in rounds of `round_size` and stops as soon as it
has `k` distinct verified traces or has drawn `n`: an easy problem costs one round, a hard one the full budget.
Each round is one batched generator call over the still-active problems, seeded from (manifest seed, round,
active ids), so local, Dask and resumed runs draw the same traces.

A trace is correct when its answer verifies AND, with `trace_check` on (the default), it passes `trace_check` (it
ends, states one final answer, its equations hold, it does not loop); a trace cut at `max_new_tokens` is never kept.
A problem without a reference is labelled by majority vote when `min_agreement` is set (`label_source: majority`,
`label_votes`, `label_agreement`; it draws its whole budget), else dropped `missing_reference`.

Writes one record per kept trace, `{id}#t{j}` (user question + assistant trace), with meta `pass_rate`,
`samples_drawn`, `correct`, `trace_index`, `verification`, `finish_reason`, `generation` (provenance),
`label_source`, and `traces`: the verdicts of every trace drawn for the problem (verified, method, finish reason,
trace_check reason). Per-problem counts (problems, solved, samples drawn of the budget, traces removed per
trace_check reason, vote outcomes) are tallied and reported in stats.json `rejection_sampling`.
Drops: `missing_question`, `missing_reference`, `generation_failed` (every model call failed), `no_consensus` (no
majority label), `no_correct_trace` (none correct; the detail names what trace_check removed; the pass-rate meta
and the verdicts are kept, a difficulty signal for the audit).

The sampling itself (`Sampler`, `SamplingStep`) lives in `datagen.generators.sampling`, shared with `dpo`.
"""

from __future__ import annotations

from pydantic import Field

from datagen.generators import sampling, trace_verdicts
from datagen.generators.sampling import Problem, Sampler, SamplingConfig, SamplingStep
from datagen.records import Rejected, Sample


class CotConfig(SamplingConfig):
    k: int = Field(2, ge=1, description="keep at most this many distinct verified traces per problem")


class ChainOfThought(SamplingStep[CotConfig]):
    name = "cot"
    record_index, counted_as = "trace_index", "kept_traces"
    schema = {
        **sampling.PROBLEM_SCHEMA,
        "trace_index": "int32",
        "verification": trace_verdicts.VERIFICATION_SCHEMA,
        "finish_reason": "string",
    }

    def enough(self, problem: Problem) -> bool:
        return len(sampling.distinct(problem.correct, self.config.dedup_distance, self.config.k)) >= self.config.k

    def records(self, sampler: Sampler, problem: Problem) -> list[Sample | Rejected]:
        """One record per kept trace (`{id}#t{j}`), or the problem's reject."""
        cfg = self.config
        kept = sampling.distinct(problem.correct, cfg.dedup_distance, cfg.k)
        if not kept:
            return [self.unsolved(sampler, problem)]
        records: list[Sample | Rejected] = []
        for j, trace in enumerate(kept):
            meta = {
                "trace_index": j,
                "verification": trace_verdicts.verification_meta(trace.verification),
                "finish_reason": trace.finish_reason,
            }
            records.append(self.answered(sampler, problem, f"t{j}", trace, meta))
        return records
