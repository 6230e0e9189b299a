"""SQQA: a text question/answer pair becomes a spoken question with a text answer.

Reads `messages` (plain QA records arrive as user/assistant turns): the first user turn is made speakable,
spoken by the voice pool and transcribed by the verifier (meta `wer`, `speech`; the `max_wer` step gates). With
`answer_style: spoken` a generator rewrites the answer as a short spoken-style reply (prompt template
`sqqa_spoken_answer`); the written answer stays in `answer_original`, the template ref in `prompts` and the
model in `generator`; a rewrite whose words are mostly not in the question + written answer is dropped
(`answer_unfaithful`, score in `answer_grounding`). A record with a source passage (meta `passage`) also has its
rewrite judged by `filters.qa_scoring.check_pair` against it (`pair_check`; scores in `qa_*` meta; a failing
rewrite is dropped with the check's reason). Drops: `empty_text`, `not_speakable`, `missing_answer`, `tts_failed`,
`audio_too_long`, `asr_failed`, `generation_failed`, `answer_unfaithful`, and the `check_pair` reasons.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field, model_validator

from datagen.backends.base import Sampling, TextGenerator, model_name
from datagen.ledger import Ledger
from datagen.prompts import load_prompt
from datagen.records import Message, Rejected, Sample
from datagen.speakable import strip_tags
from datagen.speech import Speaker, SpeechConfig, SpeechStep, Utterance, speech_schema, speech_summary
from datagen.steps import BackendRef
from filters.qa_consistency import QA_SCHEMA, qa_meta
from filters.qa_pairs import grounding
from filters.qa_scoring import PairCheck, Thresholds, check_pair

_MARKDOWN = re.compile(r"[*_`#>|~]+|^\s*[-•]\s+", re.MULTILINE)
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,!?;:])")
_LEAD_LABEL = re.compile(r"^\s*(?:spoken\s+)?(?:answer|reply|response)\s*:\s*", re.IGNORECASE)


class SpeechQAConfig(SpeechConfig):
    answer_style: Literal["keep", "spoken"] = Field(
        "keep", description="keep the data's answer, or have `generator` rewrite it as a short spoken reply"
    )
    generator: str | None = Field(None, description="text generator backend (needed by answer_style: spoken)")
    prompt: str = Field("sqqa_spoken_answer", description="prompt template (shipped name or a .yaml path)")
    temperature: float = Field(0.0, ge=0)
    max_new_tokens: int = Field(96, ge=1)
    min_answer_grounding: float = Field(
        0.5, ge=0, le=1, description="share of the rewritten answer's words found in the question + written answer"
    )
    pair_check: Thresholds | None = Field(
        Thresholds(),
        description="check_pair thresholds for rewritten answers of records with a `passage`; null = off",
    )

    @model_validator(mode="after")
    def _generator_when_spoken(self) -> SpeechQAConfig:
        if self.answer_style == "spoken" and not self.generator:
            raise ValueError("answer_style: spoken needs `generator` (a text generator backend)")
        return self


def spoken_reply(text: str) -> str:
    """A model's reply as plain speakable text: no markdown, no "Answer:" label, no wrapping quotes."""
    text = " ".join(_LEAD_LABEL.sub("", _MARKDOWN.sub(" ", text)).split())
    return _SPACE_BEFORE_PUNCT.sub(r"\1", text).strip("\"'“” ")


class SpeechQA(SpeechStep[SpeechQAConfig]):
    name = "speech_qa"
    reads = ("messages",)
    schema = {
        "wer": "float64",
        "mos": "float64",
        "speech": speech_schema(),
        "answer_original": "string",
        "answer_grounding": "float64",
        "prompts": ["string"],
        "generator": "string",
        **QA_SCHEMA,
    }

    @classmethod
    def backend_refs(cls, config: SpeechQAConfig) -> list[BackendRef]:
        refs = super().backend_refs(config)
        return [*refs, BackendRef("generator", config.generator, TextGenerator)] if config.generator else refs

    def setup(self, backends: Any) -> None:
        super().setup(backends)
        if self.config.answer_style == "spoken":
            load_prompt(self.config.prompt)  # a missing template fails at setup, before any model time

    def process(self, batch: Sequence[Sample]) -> list[Sample | Rejected]:
        ledger = Ledger()
        speaker = Speaker(self.config, self.backends, self.seed, ledger, self.tally)
        planned = self._plan(batch, speaker)
        speaker.run([u for u, _ in planned.values()])
        answers = self._answers(batch, planned, ledger)
        return ledger.emit(self, batch, lambda i, s: self._assemble(s, *planned[i], answers.get(i), speaker))

    def first_utterances(self, batch: Sequence[Sample], speaker: Speaker) -> list[Utterance]:
        return [u for u, _ in self._plan(batch, speaker).values()]

    def _plan(self, batch: Sequence[Sample], speaker: Speaker) -> dict[int, tuple[Utterance, int]]:
        """Batch index -> (question utterance, answer turn); a record without both is in the speaker's ledger."""
        planned: dict[int, tuple[Utterance, int]] = {}
        for i, sample in enumerate(batch):
            users = sample.user_turns()
            if not users:
                speaker.ledger.fail(i, "empty_text", "no user turn (question)")
                continue
            q = users[0]
            after = range(q + 1, len(sample.messages))
            answer = next((t for t in after if sample.messages[t].role == "assistant"), None)
            if answer is None or not sample.messages[answer].content.strip():
                speaker.ledger.fail(i, "missing_answer", "no assistant turn after the question")
                continue
            u = speaker.plan(i, sample.id, q, strip_tags(sample.messages[q].content), check_language=True)
            if u is not None:
                planned[i] = (u, answer)
        return planned

    def _answers(
        self, batch: Sequence[Sample], planned: dict[int, tuple[Utterance, int]], ledger: Ledger
    ) -> dict[int, tuple[str, float, PairCheck | None]]:
        """Spoken-style answers (with their grounding) for the samples still alive (model time only for those)."""
        if self.config.answer_style != "spoken":
            return {}
        live = ledger.live(planned)
        if not live:
            return {}
        prompt = load_prompt(self.config.prompt)
        conversations = [
            prompt.render(
                question=strip_tags(batch[i].messages[planned[i][0].turn].content),
                answer=batch[i].messages[planned[i][1]].content,
            )
            for i in live
        ]
        sampling = Sampling(self.config.temperature, max_new_tokens=self.config.max_new_tokens, seed=self.seed)
        replies = self.backends[self.config.generator].generate(conversations, 1, sampling)
        out = {}
        for i, reply in zip(live, replies, strict=True):
            text = spoken_reply(reply[0]) if reply else ""
            if not text:
                ledger.fail(i, "generation_failed", "no spoken answer" if reply is None else "empty spoken answer")
                continue
            source = " ".join(m.content for m in batch[i].messages[: planned[i][1] + 1])
            score = round(grounding(text, source), 4)
            if score < self.config.min_answer_grounding:  # a rewrite must not invent what the answer never said
                ledger.fail(
                    i, "answer_unfaithful", f"grounding {score} < {self.config.min_answer_grounding}: {text[:200]!r}"
                )
                continue
            check = self._passage_check(batch[i], batch[i].messages[planned[i][0].turn].content, text)
            if check is not None and not check.keep:
                ledger.fail(i, check.reason, f"{text[:120]!r}: {check.detail}", **qa_meta(check))
            else:
                out[i] = (text, score, check)
        return out

    def _passage_check(self, sample: Sample, question: str, answer: str) -> PairCheck | None:
        """Does the rewrite still answer the question from the record's source passage? None: no passage."""
        passage = sample.meta.get("passage")
        if self.config.pair_check is None or not isinstance(passage, str) or not passage.strip():
            return None
        return check_pair(passage, strip_tags(question), answer, self.config.pair_check)

    def _assemble(
        self,
        sample: Sample,
        u: Utterance,
        answer_turn: int,
        new_answer: tuple[str, float, PairCheck | None] | None,
        speaker: Speaker,
    ) -> Sample:
        messages = list(sample.messages)
        audios = list(sample.audios)
        messages[u.turn] = Message(messages[u.turn].role, messages[u.turn].content, audio=len(audios))
        audios.append(u.audio)
        meta: dict[str, Any] = {"answer_original": None, "answer_grounding": None, "prompts": [], "generator": None}
        meta.update(qa_meta(new_answer[2] if new_answer else None))
        if new_answer is not None:
            meta["answer_original"] = messages[answer_turn].content
            meta["answer_grounding"] = new_answer[1]
            messages[answer_turn] = Message("assistant", new_answer[0])
            meta["prompts"] = [load_prompt(self.config.prompt).ref]
            meta["generator"] = model_name(self.backends[self.config.generator])
        speech = [speaker.provenance(u)]
        meta.update(speech_summary(speech), speech=speech)
        return sample.evolve(messages=tuple(messages), audios=tuple(audios), meta=meta)
