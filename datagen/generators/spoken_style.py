"""Spoken-style queries: an LLM rewrites the first user turn as a person would say it aloud, before TTS speaks it.

Written queries ("**Describe** the image in 2 sentences") sound read out, not asked; speech instruction data
(LLaMA-Omni's InstructS2S) rewrites them first. Placed before a speech generator, this step asks `generator` (one
call per batch, prompt template `spoken_style`) for the spoken form of the first user turn's text; media tags
before and after the text are cut off and put back as they were, and the assistant turn is never touched.

The reply's first line is the rewrite. It is used only if `filters.rewrite_faithfulness` finds every number, name
and quoted string of the original in it, none added, most of its meaning words, no runaway length, and it does not
repeat the prompt's own instructions. Otherwise the original turn is kept (`spoken_style.status: kept_original`,
with the reason), or with `on_unfaithful: reject` the record is dropped (`rewrite_unfaithful`, or
`generation_failed` when the model gave nothing). A reply equal to the query is `unchanged`. Turns that are not
this step's to judge (no user turn, no text, unspeakable, media tags inside the text, too long) are `skipped`, with
the reason: the speech step rejects what cannot be spoken. Meta: `written_query` (the turn as written),
`spoken_style` (status, reason, prompt ref, model, content recall, the model's attempt); stats.json:
`spoken_style` counts per status.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field

from datagen.backends.base import Sampling, TextGenerator, model_name
from datagen.ledger import Ledger
from datagen.prompts import Prompt, load_prompt
from datagen.records import MEDIA_TAG, Message, Rejected, Sample
from datagen.speakable import unspeakable_reason
from datagen.steps import BackendRef, Step, StepConfig
from filters.rewrite_faithfulness import RewriteScore, score_rewrite, unfaithful_reason

_LEADING_TAG = re.compile(r"\s*<(?:image|audio|video)>")
_TAGS = ("<image>", "<audio>", "<video>")
_MARKDOWN = re.compile(r"[*_`#|~]+|^\s*(?:[-•]|\d{1,2}[.)])\s+", re.MULTILINE)
_LABEL = re.compile(r"^\s*(?:spoken(?:\s+version)?|rewritten(?:\s+version)?|rewrite|output)\s*:\s*", re.IGNORECASE)
_WORDS = re.compile(r"[a-z0-9']+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,!?;:])")
_PREAMBLE = re.compile(r"^[^\n]{0,120}:\s*\n")  # "Here is the spoken version:\n"

Plan = tuple[int, str, str, str]  # (user turn, media tags before, text to rewrite, media tags after)
Result = tuple[str, str, str, "RewriteScore | None"]  # (status, the model's rewrite, why it is not used, score)
_UNCHANGED = "unchanged"


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
    text = next((line for line in text.splitlines() if line.strip()), "")  # a spoken query is one line; small
    # models go on with a second "Written: ..." or an answer
    text = " ".join(_LABEL.sub("", _MARKDOWN.sub(" ", text)).split())
    return _SPACE_BEFORE_PUNCT.sub(r"\1", text).strip("\"'“” ")


def split_frame(content: str) -> tuple[str, str, str]:
    """(media tags before, text, media tags after), whitespace kept with the tags: the text is what a rewrite may
    change, and prefix + text + suffix is the content again. Linear: no backtracking over untrusted text."""
    start = 0
    while match := _LEADING_TAG.match(content, start):
        start = match.end()
    end = len(content)
    while True:  # trailing tags, scanning back: each character is looked at once
        stop = end
        while stop > start and content[stop - 1].isspace():
            stop -= 1
        tag = next((t for t in _TAGS if stop - len(t) >= start and content.startswith(t, stop - len(t))), None)
        if tag is None:
            break
        end = stop - len(tag)
    middle = content[start:end]
    lead, trail = len(middle) - len(middle.lstrip()), len(middle) - len(middle.rstrip())
    if not middle.strip():
        return content[:start], "", content[start:]
    return content[: start + lead], middle.strip(), content[end - trail :]


def echoed(prompt: Prompt, original: str, rewrite: str) -> str:
    """A run of 4 words the rewrite took from the prompt's instructions, not from the query ("" if none).

    Small models often repeat the instruction ("Rewrite written requests into spoken language") rather than
    follow it; such a reply can still hold every word of the query and pass the faithfulness check."""
    instructions = _ngrams(prompt.system + " " + prompt.user.replace("{text}", " "))
    taken = _ngrams(rewrite) & instructions - _ngrams(original)
    return " ".join(min(taken)) if taken else ""


def _ngrams(text: str, n: int = 4) -> set[tuple[str, ...]]:
    words = _WORDS.findall(text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


class SpokenStyle(Step[SpokenStyleConfig]):
    name = "spoken_style"
    reads = ("messages",)
    schema = {
        "written_query": "string",
        "spoken_style": {
            "status": "string",
            "reason": "string",
            "prompt": "string",
            "generator": "string",
            "content_recall": "float64",
            "attempt": "string",
        },
    }

    @classmethod
    def backend_refs(cls, config: SpokenStyleConfig) -> list[BackendRef]:
        return [BackendRef("generator", config.generator, TextGenerator)]

    @classmethod
    def stats_for_run(cls, totals: dict[str, Any]) -> dict[str, Any]:
        """stats.json `spoken_style`: turns per status; the share of those sent to the model that it rewrote."""
        counts = {key: totals.get(key, 0) for key in ("rewritten", "unchanged", "kept_original", "rejected", "skipped")}
        asked = sum(counts.values()) - counts["skipped"]
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
            rewrite = clean_reply(reply[0]) if reply else ""
            why, reason = self._judge(prompt, plans[i][2], rewrite, reply is None)
            score = score_rewrite(plans[i][2], rewrite) if rewrite else None
            if why == _UNCHANGED:
                status = "unchanged"
            elif why and self.config.on_unfaithful == "reject":
                status = "rejected"
                written = "".join(plans[i][1:])
                ledger.fail(i, reason, f"{why}: {rewrite[:200]!r}", **self._meta(written, status, why, score, rewrite))
            else:
                status = "kept_original" if why else "rewritten"
            self.tally[status] += 1
            out[i] = (status, rewrite, "" if status == "unchanged" else why, score)
        return out

    def _judge(self, prompt: Prompt, original: str, rewrite: str, no_reply: bool) -> tuple[str, str]:
        """(why the rewrite is not used, the reject reason) or ("", "") for a faithful one."""
        if not rewrite:
            return ("no reply" if no_reply else "empty reply"), "generation_failed"
        if MEDIA_TAG.search(rewrite):
            return "the rewrite holds a media tag", "rewrite_unfaithful"
        if echo := echoed(prompt, original, rewrite):
            return f"the reply echoes the prompt ({echo!r})", "rewrite_unfaithful"
        if " ".join(rewrite.split()) == " ".join(original.split()):
            return _UNCHANGED, ""
        why = unfaithful_reason(
            score_rewrite(original, rewrite),
            min_content_recall=self.config.min_content_recall,
            max_length_ratio=self.config.max_length_ratio,
        )
        return why, "rewrite_unfaithful" if why else ""

    def _meta(
        self, written: str | None, status: str, reason: str, score: RewriteScore | None, attempt: str | None = None
    ) -> dict[str, Any]:
        asked = status != "skipped"  # a skipped turn never reached the model
        return {
            "written_query": written,
            "spoken_style": {
                "status": status,
                "reason": reason,
                "prompt": load_prompt(self.config.prompt).ref if asked else None,
                "generator": model_name(self.backends[self.config.generator]) if asked else None,
                "content_recall": score.content_recall if score else None,
                "attempt": attempt,  # what the model wrote (cleaned), used or not: the audit reads why
            },
        }

    def _assemble(self, sample: Sample, plan: Plan | None, result: Result | None, skipped: str) -> Sample:
        users = sample.user_turns()
        written = sample.messages[users[0]].content if users else None
        if plan is None or result is None:
            self.tally["skipped"] += 1
            return sample.evolve(meta=self._meta(written, "skipped", skipped, None))
        status, rewrite, why, score = result
        if status != "rewritten":
            return sample.evolve(meta=self._meta(written, status, why, score, rewrite))
        turn, prefix, _, suffix = plan
        messages = list(sample.messages)
        messages[turn] = Message(messages[turn].role, prefix + rewrite + suffix, audio=messages[turn].audio)
        return sample.evolve(messages=tuple(messages), meta=self._meta(written, "rewritten", "", score, rewrite))
