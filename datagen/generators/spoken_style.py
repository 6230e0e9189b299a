"""Spoken-style queries: an LLM rewrites the first user turn as a person would say it aloud, before TTS speaks it.

Written queries ("**Describe** the image in 2 sentences; use bullet points") sound read-out, not asked; speech
instruction data (LLaMA-Omni's InstructS2S) rewrites them first. Placed before a speech generator, this step asks
`generator` (one call per batch, prompt template `spoken_style`) for the spoken form of the first user turn's text;
media tags before and after the text are cut off and put back unchanged, and the assistant turn is never touched.

A rewrite is used only if `filters.rewrite_faithfulness` finds every number, name and quoted string of the
original in it, most of its meaning words, and no runaway length. Otherwise the original turn is kept and
`spoken_style.status` says `kept_original` with the reason; `on_unfaithful: reject` drops such records instead
(`rewrite_unfaithful`, or `generation_failed` when the model gave nothing). Turns that are not this step's to judge
(no user turn, no text, unspeakable, media tags inside the text, too long) pass through unchanged, with the reason;
the speech step rejects what cannot be spoken. Meta: `written_query` (the turn as written), `spoken_style`
(status, reason, prompt ref, model, content recall).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field

from datagen.backends.base import Sampling, model_name
from datagen.ledger import Ledger
from datagen.prompts import load_prompt
from datagen.records import MEDIA_TAG, Message, Rejected, Sample
from datagen.speakable import unspeakable_reason
from datagen.steps import Step, StepConfig
from filters.rewrite_faithfulness import RewriteScore, score_rewrite, unfaithful_reason

_LEADING_TAG = re.compile(r"\s*<(?:image|audio|video)>")
_TAGS = ("<image>", "<audio>", "<video>")
_MARKDOWN = re.compile(r"[*_`#|~]+|^\s*(?:[-•]|\d{1,2}[.)])\s+", re.MULTILINE)
_LABEL = re.compile(r"^\s*(?:spoken(?:\s+version)?|rewritten(?:\s+version)?|rewrite|output)\s*:\s*", re.IGNORECASE)
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,!?;:])")
_PREAMBLE = re.compile(r"^[^\n]{0,120}:\s*\n")  # "Here is the spoken version:\n"

Plan = tuple[int, str, str, str]  # (user turn, media tags before, text to rewrite, media tags after)
Result = tuple[str, str, "RewriteScore | None"]  # (rewrite to use or "", why it is not used or "", its score)


class SpokenStyleConfig(StepConfig):
    generator: str = Field(description="text generator backend that writes the spoken form")
    prompt: str = Field("spoken_style", description="prompt template (shipped name or a .yaml path)")
    temperature: float = Field(0.0, ge=0)
    max_new_tokens: int = Field(96, ge=1)
    min_content_recall: float = Field(0.6, ge=0, le=1, description="share of the query's meaning words to keep")
    max_length_ratio: float = Field(2.5, gt=0, description="longest rewrite, in words, relative to the query")
    max_chars: int = Field(600, ge=1, description="longer queries are kept as written (not rewritten)")
    on_unfaithful: Literal["keep", "reject"] = Field(
        "keep", description="an unfaithful or failed rewrite: keep the written turn, or reject the record"
    )


def clean_reply(text: str) -> str:
    """A model's reply as one plain line: no preamble line, no "Spoken:" label, no markdown, no wrapping quotes."""
    text = _PREAMBLE.sub("", text.strip(), count=1)
    text = " ".join(_LABEL.sub("", _MARKDOWN.sub(" ", text)).split())
    return _SPACE_BEFORE_PUNCT.sub(r"\1", text).strip("\"'“” ")


def split_frame(content: str) -> tuple[str, str, str]:
    """(media tags before, text, media tags after), whitespace kept with the tags: the text is what a rewrite may
    change, and prefix + text + suffix is the content again. Linear: no backtracking over untrusted text."""
    start = 0
    while match := _LEADING_TAG.match(content, start):
        start = match.end()
    end = len(content)
    while tag := next((t for t in _TAGS if content[start:end].rstrip().endswith(t)), None):
        end = len(content[:end].rstrip()) - len(tag)
    middle = content[start:end]
    lead, trail = len(middle) - len(middle.lstrip()), len(middle) - len(middle.rstrip())
    if not middle.strip():
        return content[:start], "", content[start:]
    return content[: start + lead], middle.strip(), content[end - trail :]


class SpokenStyle(Step[SpokenStyleConfig]):
    name = "spoken_style"
    reads = ("messages",)
    uses = {"generator": "generate"}
    schema = {
        "written_query": "string",
        "spoken_style": {
            "status": "string",
            "reason": "string",
            "prompt": "string",
            "generator": "string",
            "content_recall": "float64",
        },
    }

    @classmethod
    def stats_for_run(cls, totals: dict[str, Any]) -> dict[str, Any]:
        """stats.json `spoken_style`: turns rewritten, kept as written, rejected, skipped; share of asked rewritten."""
        counts = {key: totals.get(key, 0) for key in ("rewritten", "kept_original", "rejected", "skipped")}
        asked = counts["rewritten"] + counts["kept_original"] + counts["rejected"]
        return {"spoken_style": {**counts, "rewrite_rate": round(counts["rewritten"] / asked, 4) if asked else None}}

    def setup(self, backends: Any) -> None:
        super().setup(backends)
        load_prompt(self.config.prompt)  # a missing template fails at setup, before any model time

    def process(self, batch: Sequence[Sample]) -> list[Sample | Rejected]:
        ledger = Ledger()
        plans: dict[int, Plan] = {}
        skipped: dict[int, str] = {}  # index -> why the turn is not rewritten
        for i, sample in enumerate(batch):
            plan = self._plan(sample)
            if isinstance(plan, str):
                skipped[i] = plan
            else:
                plans[i] = plan
        rewrites = self._rewrite(plans, ledger)
        return ledger.emit(
            self, batch, lambda i, s: self._assemble(s, plans.get(i), rewrites.get(i), skipped.get(i, ""))
        )

    def _plan(self, sample: Sample) -> Plan | str:
        """What of the first user turn to rewrite, or why it stays as written."""
        users = sample.user_turns()
        if not users:
            return "no user turn"
        content = sample.messages[users[0]].content
        prefix, text, suffix = split_frame(content)
        if not text.strip():
            return "no text to rewrite"
        if MEDIA_TAG.search(text):
            return "media tags inside the text"
        if len(text) > self.config.max_chars:
            return f"{len(text)} characters (> max_chars {self.config.max_chars})"
        if why := unspeakable_reason(text):
            return f"not speakable: {why}"
        return users[0], prefix, text, suffix

    def _rewrite(self, plans: dict[int, Plan], ledger: Ledger) -> dict[int, Result]:
        """Each planned turn's rewrite, judged: one generator call for the whole batch."""
        if not plans:
            return {}
        prompt = load_prompt(self.config.prompt)
        sampling = Sampling(self.config.temperature, max_new_tokens=self.config.max_new_tokens, seed=self.seed)
        replies = self.backends[self.config.generator].generate(
            [prompt.render(text=text) for _, _, text, _ in plans.values()], 1, sampling
        )
        out: dict[int, Result] = {}
        for i, reply in zip(plans, replies, strict=True):
            original = plans[i][2]
            rewrite = clean_reply(reply[0]) if reply else ""
            score = score_rewrite(original, rewrite) if rewrite else None
            if not rewrite:
                why, reason = ("no reply" if reply is None else "empty reply"), "generation_failed"
            elif MEDIA_TAG.search(rewrite):
                why, reason = "the rewrite holds a media tag", "rewrite_unfaithful"
            else:
                why = unfaithful_reason(
                    score,
                    min_content_recall=self.config.min_content_recall,
                    max_length_ratio=self.config.max_length_ratio,
                )
                reason = "rewrite_unfaithful"
            rejecting = bool(why) and self.config.on_unfaithful == "reject"
            self.tally["rejected" if rejecting else "kept_original" if why else "rewritten"] += 1
            if rejecting:
                written = plans[i][1] + plans[i][2] + plans[i][3]
                ledger.fail(i, reason, f"{why}: {rewrite[:200]!r}", **self._meta(written, "rejected", why, score))
            out[i] = ("" if why else rewrite, why, score)
        return out

    def _meta(self, written: str | None, status: str, reason: str, score: RewriteScore | None) -> dict[str, Any]:
        asked = status != "skipped"  # a skipped turn never reached the model
        return {
            "written_query": written,
            "spoken_style": {
                "status": status,
                "reason": reason,
                "prompt": load_prompt(self.config.prompt).ref if asked else None,
                "generator": model_name(self.backends[self.config.generator]) if asked else None,
                "content_recall": score.content_recall if score else None,
            },
        }

    def _assemble(self, sample: Sample, plan: Plan | None, result: Result | None, skipped: str) -> Sample:
        users = sample.user_turns()
        written = sample.messages[users[0]].content if users else None
        if plan is None or result is None:
            self.tally["skipped"] += 1
            return sample.evolve(meta=self._meta(written, "skipped", skipped, None))
        rewrite, why, score = result
        if why:
            return sample.evolve(meta=self._meta(written, "kept_original", why, score))
        turn, prefix, _, suffix = plan
        messages = list(sample.messages)
        messages[turn] = Message(messages[turn].role, prefix + rewrite + suffix, audio=messages[turn].audio)
        return sample.evolve(messages=tuple(messages), meta=self._meta(written, "rewritten", "", score))
