"""SQA: a spoken passage, a question about it, and the answer — one record per question/answer pair.

Reads `passage` (passage records; a record's own `question`/`answer` is used as its pair, skipping generation).
The passage is cut into chunks under `max_audio_seconds` (`datagen.chunking`), each spoken by one voice of the
pool and verified by the ASR (meta `wer` = worst chunk, `speech` per chunk). A generator then writes
`pairs_per_passage` pairs per reply (`samples` replies) grounded in the passage (template `sqa_pairs`), parsed
and filtered by `filters.qa_pairs`, then by `filters.qa_scoring.check_pair` (`pair_check`: does the answer answer
the question from the passage; scores in `qa_*` meta) before any audio or verifier time is spent on them, and
optionally judged by a verifier prompt, `sqa_verify`. Each kept pair is
`{passage_id}#q{k}`: audios = the passage chunks (+ the spoken question with `spoken_question`), the user turn =
one `<audio>` tag per chunk + the question, the assistant turn = the answer.

Drops of a passage: `missing_field`, `empty_text`, `passage_too_long`, `not_speakable`, `tts_failed`,
`audio_too_long`, `asr_failed`, `wer_above_max` (only with this step's own `max_wer`: spares generation),
`generation_failed`, `no_valid_pairs` (no pair in the model's reply). Drops of one pair (`{id}#q{k}`):
`empty_pair`, `overlong_pair`, `malformed_pair`, `duplicate_pair`, `not_grounded`, the `check_pair` reasons
(`degenerate_question`, `answer_echoes_question`, `question_not_in_passage`, `answer_contradicts_passage`,
`answer_not_in_passage`, `answer_off_target`), and the speech reasons of its spoken question. A passage whose
pairs all fail leaves as those pair rejects, so stats count what each check removed. A record's own pair is not
checked (run the `qa_consistency` step for that).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, model_validator

from datagen.backends.base import Sampling, TextGenerator, model_name
from datagen.chunking import budget_chars, chunk_text
from datagen.ledger import Ledger
from datagen.prompts import load_prompt
from datagen.records import Message, Rejected, Sample
from datagen.speakable import speaking_problem
from datagen.speech import (
    Speaker,
    SpeechConfig,
    SpeechStep,
    Utterance,
    speech_schema,
    speech_summary,
)
from datagen.steps import BackendRef
from filters.qa_consistency import QA_SCHEMA, qa_meta
from filters.qa_pairs import PairVerdict, QAPair, judge_pairs, parse_pairs, parse_verdict
from filters.qa_scoring import Thresholds, check_pair

_QUESTION_VOICE = 1000  # voice-draw key of the spoken questions (the passage reader is key 0)


class SpokenPassageQAConfig(SpeechConfig):
    chars_per_second: float = Field(12.0, gt=0, description="conservative speaking rate that sizes the chunks")
    max_passage_chars: int = Field(20_000, ge=1, description="longer passages are dropped (passage_too_long)")
    generator: str | None = Field(None, description="text generator that writes the pairs; None = pairs from data")
    pairs_per_passage: int = Field(3, ge=1, le=20, description="pairs asked for in each reply")
    samples: int = Field(1, ge=1, le=20, description="replies per passage (sampled: set temperature > 0)")
    prompt: str = Field("sqa_pairs", description="pair-writing prompt template (shipped name or .yaml path)")
    temperature: float = Field(0.0, ge=0)
    max_new_tokens: int = Field(384, ge=1)
    grounding: Literal["lexical", "verifier", "both", "none"] = Field(
        "lexical", description="how a generated answer must be supported by the passage"
    )
    min_grounding: float = Field(0.6, ge=0, le=1, description="lexical: share of answer words found in the passage")
    pair_check: Thresholds | None = Field(
        Thresholds(), description="check_pair thresholds for generated pairs (filters.qa_scoring); null = off"
    )
    verifier: str | None = Field(None, description="text generator that judges pairs (default: generator)")
    verify_prompt: str = Field("sqa_verify", description="verifier prompt template")
    max_question_chars: int = Field(300, ge=1)
    max_answer_chars: int = Field(400, ge=1)
    spoken_question: bool = Field(False, description="also speak the question (its audio follows the passage's)")
    max_wer: float | None = Field(None, ge=0, description="drop passages above this WER before generating pairs")

    @model_validator(mode="after")
    def _verifier_backend(self) -> SpokenPassageQAConfig:
        if self.grounding in ("verifier", "both") and not (self.verifier or self.generator):
            raise ValueError(f"grounding: {self.grounding} needs `verifier` or `generator` (a text generator)")
        return self


@dataclass(slots=True)
class _Passage:
    """One passage's way through the step."""

    index: int
    text: str
    chunks: list[Utterance] = field(default_factory=list)
    pairs: list[QAPair] = field(default_factory=list)
    source: str = "generated"  # or "data"
    verdicts: list[PairVerdict] = field(default_factory=list)
    questions: dict[int, Utterance] = field(default_factory=dict)  # pair index -> spoken question


class SpokenPassageQA(SpeechStep[SpokenPassageQAConfig]):
    name = "spoken_passage_qa"
    reads = ("passage",)
    schema = {
        "passage": "string",
        "wer": "float64",
        "mos": "float64",
        "speech": speech_schema(part="string", chunk="int32"),
        "prompts": ["string"],
        "generator": "string",
        "pair_source": "string",
        "pair_index": "int32",
        "grounding": "float64",
        "verified": "bool",
        **QA_SCHEMA,
    }

    @classmethod
    def backend_refs(cls, config: SpokenPassageQAConfig) -> list[BackendRef]:
        refs = super().backend_refs(config)
        if config.generator:
            refs.append(BackendRef("generator", config.generator, TextGenerator))
        if config.verifier and config.grounding in ("verifier", "both"):
            refs.append(BackendRef("verifier", config.verifier, TextGenerator))
        return refs

    def setup(self, backends: Any) -> None:
        super().setup(backends)
        if self.config.generator:
            load_prompt(self.config.prompt)  # a missing template fails at setup, before any model time
        if self._verifying:
            load_prompt(self.config.verify_prompt)

    @property
    def _verifying(self) -> bool:
        return self.config.grounding in ("verifier", "both")

    def process(self, batch: Sequence[Sample]) -> list[Sample | Rejected]:
        """Owners in the ledger: `i` for passage `i` of the batch, `(i, k)` for its k-th question/answer pair."""
        ledger = Ledger()
        speaker = Speaker(self.config, self.backends, self.seed, ledger, self.tally)
        passages = self._passages(batch, speaker)
        speaker.run([u for p in passages.values() for u in p.chunks])
        if self.config.max_wer is not None:
            for i in ledger.live(passages):
                worst = max(speaker.provenance(u)["wer"] for u in passages[i].chunks)
                if worst > self.config.max_wer:
                    ledger.fail(i, "wer_above_max", f"passage WER {worst:.3f} > {self.config.max_wer}")
        self._generate([passages[i] for i in ledger.live(passages) if passages[i].source == "generated"], ledger)
        live = [passages[i] for i in ledger.live(passages)]
        for p in live:
            self._judge(p, ledger)
        self._verify([p for p in live if p.source == "generated"], ledger)
        if self.config.spoken_question:
            self._speak_questions([passages[i] for i in ledger.live(passages)], batch, speaker)

        def heard(i: int) -> dict[str, Any]:
            p = passages.get(i)
            spoken = p is not None and p.chunks and all(u.transcript is not None for u in p.chunks)
            return self._speech_meta(p, speaker) if spoken else {}

        return ledger.emit(self, batch, lambda i, sample: self._emit(sample, passages[i], speaker), heard)

    # -- stages ---------------------------------------------------------------------------------------------

    def first_utterances(self, batch: Sequence[Sample], speaker: Speaker) -> list[Utterance]:
        return [u for p in self._passages(batch, speaker).values() for u in p.chunks]

    def _passages(self, batch: Sequence[Sample], speaker: Speaker) -> dict[int, _Passage]:
        return {i: p for i, s in enumerate(batch) if (p := self._plan(i, s, speaker))}

    def _plan(self, i: int, sample: Sample, speaker: Speaker) -> _Passage | None:
        cfg = self.config
        ledger = speaker.ledger
        text = sample.meta.get("passage")
        if not isinstance(text, str):
            ledger.fail(i, "missing_field", "no passage")
            return None
        if len(text) > cfg.max_passage_chars:
            ledger.fail(i, "passage_too_long", f"{len(text)} characters > {cfg.max_passage_chars}")
            return None
        problem = speaking_problem(text)
        if problem:
            ledger.fail(i, problem[0], f"passage: {problem[1]}")
            return None
        p = _Passage(i, text)
        for c, chunk in enumerate(chunk_text(text, budget_chars(cfg.max_audio_seconds, cfg.chars_per_second))):
            extra = {"part": "passage", "chunk": c}
            u = speaker.plan(i, sample.id, 0, chunk, voice_key=0, label=f"chunk {c}", extra=extra)
            if u is None:
                return None
            p.chunks.append(u)
        users = sample.user_turns()
        if users:  # the record brings its own question (and answer)
            answer = next((m.content for m in sample.messages[users[0] + 1 :] if m.role == "assistant"), "")
            p.pairs, p.source = [QAPair(sample.messages[users[0]].content.strip(), answer.strip())], "data"
        elif not cfg.generator:
            ledger.fail(i, "missing_field", "no question in the record and no generator to write one")
            return None
        return p

    def _generate(self, passages: list[_Passage], ledger: Ledger) -> None:
        if not passages:
            return
        cfg = self.config
        prompt = load_prompt(cfg.prompt)
        conversations = [prompt.render(passage=p.text, k=cfg.pairs_per_passage) for p in passages]
        sampling = Sampling(cfg.temperature, max_new_tokens=cfg.max_new_tokens, seed=self.seed)
        replies = self.backends[cfg.generator].generate(conversations, cfg.samples, sampling)
        for p, reply in zip(passages, replies, strict=True):
            if not reply:
                ledger.fail(p.index, "generation_failed", "the generator returned nothing")
                continue
            p.pairs = [pair for text in reply for pair in parse_pairs(text)[: cfg.pairs_per_passage]]
            if not p.pairs:
                ledger.fail(p.index, "no_valid_pairs", f"no question/answer pairs in the reply: {reply[0][:200]!r}")

    def _judge(self, p: _Passage, ledger: Ledger) -> None:
        cfg = self.config
        p.verdicts = judge_pairs(
            p.pairs,
            p.text,
            min_grounding=cfg.min_grounding,
            max_question_chars=cfg.max_question_chars,
            max_answer_chars=cfg.max_answer_chars,
            check_grounding=p.source == "generated" and cfg.grounding in ("lexical", "both"),
        )
        if p.source == "generated" and cfg.pair_check is not None:
            p.verdicts = [_checked(v, p.text, cfg.pair_check) if v.keep else v for v in p.verdicts]
        for k, v in enumerate(p.verdicts):
            if not v.keep:
                ledger.fail((p.index, k), v.reason, _pair_detail(v))

    def _verify(self, passages: list[_Passage], ledger: Ledger) -> None:
        """Ask the verifier about every pair still kept; anything but a clear "yes" is `not_grounded`."""
        if not self._verifying:
            return
        cfg = self.config
        prompt = load_prompt(cfg.verify_prompt)
        todo = [(p, k) for p in passages for k, v in enumerate(p.verdicts) if v.keep]
        if not todo:
            return
        conversations = [
            prompt.render(passage=p.text, question=p.verdicts[k].pair.question, answer=p.verdicts[k].pair.answer)
            for p, k in todo
        ]
        replies = self.backends[cfg.verifier or cfg.generator].generate(conversations, 1, Sampling(seed=self.seed))
        for (p, k), reply in zip(todo, replies, strict=True):
            old = p.verdicts[k]
            verified = parse_verdict(reply[0]) if reply else None
            scores = {**old.scores, "verified": verified}
            p.verdicts[k] = PairVerdict(old.pair, verified is True, "" if verified else "not_grounded", scores)
            if not verified:
                ledger.fail((p.index, k), "not_grounded", _pair_detail(p.verdicts[k]))

    def _speak_questions(self, passages: list[_Passage], batch: Sequence[Sample], speaker: Speaker) -> None:
        planned = []
        for p in passages:
            for k, v in enumerate(p.verdicts):
                if not v.keep:
                    continue
                extra = {"part": "question", "chunk": None}
                u = speaker.plan(
                    (p.index, k),
                    batch[p.index].id,
                    0,
                    v.pair.question,
                    voice_key=_QUESTION_VOICE + k,
                    check_language=True,
                    label=f"question {k}",
                    extra=extra,
                )
                if u is not None:
                    p.questions[k] = u
                    planned.append(u)
        speaker.run(planned)

    # -- output ---------------------------------------------------------------------------------------------

    def _speech_meta(self, p: _Passage, speaker: Speaker) -> dict[str, Any]:
        speech = [speaker.provenance(u) for u in p.chunks]
        return {**speech_summary(speech), "speech": speech}

    def _emit(self, sample: Sample, p: _Passage, speaker: Speaker) -> list[Sample | Rejected]:
        cfg = self.config
        base = self._speech_meta(p, speaker)
        generated = p.source == "generated"
        prompts = [load_prompt(cfg.prompt).ref] if generated else []
        if generated and self._verifying:
            prompts.append(load_prompt(cfg.verify_prompt).ref)
        generator = model_name(self.backends[cfg.generator]) if generated else None
        out: list[Sample | Rejected] = []
        for k, v in enumerate(p.verdicts):
            meta = {
                **base,
                "prompts": prompts,
                "generator": generator,
                "pair_source": p.source,
                "pair_index": k,
                "grounding": v.scores.get("grounding"),
                "verified": v.scores.get("verified"),
                **{key: v.scores.get(key) for key in QA_SCHEMA},
            }
            tags = "<audio>" * len(p.chunks)
            messages = (Message("user", f"{tags}{v.pair.question}"), Message("assistant", v.pair.answer))
            pair = Sample(id=f"{sample.id}#q{k}", messages=messages, images=sample.images, meta={**sample.meta, **meta})
            if (p.index, k) in speaker.ledger:
                failure = speaker.ledger[(p.index, k)]
                out.append(Rejected(pair.id, failure.reason, self.name, failure.detail or _pair_detail(v), pair))
                continue
            audios = [u.audio for u in p.chunks]
            if k in p.questions:
                u = p.questions[k]
                messages = (Message("user", f"{tags}{v.pair.question}", audio=len(audios)), messages[1])
                audios.append(u.audio)
                spoken = speaker.provenance(u)
                meta["speech"] = [*base["speech"], spoken]
                meta.update(speech_summary(meta["speech"]))
            out.append(pair.evolve(messages=messages, audios=tuple(audios), meta=meta))
        return out


def _checked(v: PairVerdict, passage: str, thresholds: Thresholds) -> PairVerdict:
    """`v` judged by `check_pair` too: its `qa_*` scores added, its reason and evidence if the check fails."""
    check = check_pair(passage, v.pair.question, v.pair.answer, thresholds)
    scores = {**v.scores, **qa_meta(check), "qa_detail": check.detail}
    return PairVerdict(v.pair, check.keep, check.reason, scores)


def _pair_detail(v: PairVerdict) -> str:
    q = v.pair.question[:80]
    if v.reason == "not_grounded":
        return f"{q!r}: grounding {v.scores.get('grounding')}, verified {v.scores.get('verified')}"
    if v.scores.get("qa_detail"):
        return f"{q!r} -> {v.pair.answer[:80]!r}: {v.scores['qa_detail']}"
    return repr(q)
