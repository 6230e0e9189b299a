"""qa_consistency: the lexical QA check on the hand-labelled set (dev and holdout), each reason with its evidence,
records it cannot judge, the optional model judge (fake, tiny random Llama, embedded SmolLM2), and the
`datagen run` / `datagen filter` round trip on `manifests/qa_check.yaml`."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from datagen.backends.base import TextGenerator
from datagen.backends.fake import FakeLLMSettings, FakeTextGenerator
from datagen.cli import main
from datagen.records import Message, Rejected, Sample
from datagen.refilter import filter_names
from datagen.steps import BackendRef
from datagen.testing import write_manifest
from filters.qa_consistency import QAConsistency, QAConsistencyConfig
from filters.qa_scoring import Thresholds, check_pair, token_f1

ROOT = Path(__file__).resolve().parents[1]
LABELLED = ROOT / "tests" / "data" / "qa_labelled.jsonl"
ROWS = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines() if line.strip()]
CATEGORIES = ("answers", "in_passage", "degenerate", "echo", "contradiction")

PASSAGE = (
    "The Eiffel Tower was built for the 1889 World's Fair in Paris. Construction began in 1887 and took two years. "
    "It was designed by the company of Gustave Eiffel. The tower is 330 metres tall and made of wrought iron. "
    "It was not popular with every artist at first: many called it ugly."
)


def qa(question: Any, answer: Any = None, passage: Any = PASSAGE, sid: str = "s") -> Sample:
    messages = [Message("user", question)]
    if answer is not None:
        messages.append(Message("assistant", answer))
    meta = {"passage": passage} if passage is not None else {}
    return Sample(id=sid, messages=tuple(messages), meta=meta)


def test_the_labelled_set_is_large_varied_and_split() -> None:
    assert len(ROWS) >= 150
    assert len({r["passage_id"] for r in ROWS}) >= 10 and len({r["topic"] for r in ROWS}) >= 10
    assert len({r["id"] for r in ROWS}) == len(ROWS)
    for split in ("dev", "holdout"):
        cells = Counter((r["category"], r["label"]) for r in ROWS if r["split"] == split)
        assert all(cells[(c, label)] >= 3 for c in CATEGORIES for label in ("good", "bad")), cells
    passages = defaultdict(set)
    for r in ROWS:
        passages[r["passage_id"]].add((r["passage"], r["split"]))
    assert all(len(v) == 1 for v in passages.values())  # a passage is in one split only


@pytest.mark.parametrize("split", ["dev", "holdout"])
def test_default_check_keeps_good_pairs_and_rejects_bad_ones_in_every_category(split: str) -> None:
    step = QAConsistency()
    rows = [r for r in ROWS if r["split"] == split]
    out = step.process([qa(r["question"], r["answer"], r["passage"], r["id"]) for r in rows])
    kept = {s.id for s in out if isinstance(s, Sample)}
    tally: dict[tuple[str, str], list[str]] = defaultdict(list)
    misses = defaultdict(list)
    for r in rows:
        right = (r["id"] in kept) == (r["label"] == "good")
        tally[(r["category"], r["label"])].append(right)
        if not right:
            misses[(r["category"], r["label"])].append(r["id"])
    for (category, label), marks in tally.items():
        floor = 0.9 if label == "good" else 0.85
        assert sum(marks) / len(marks) >= floor, f"{split} {category} {label}: {sum(marks)}/{len(marks)} {misses}"


@pytest.mark.parametrize(
    ("question", "answer", "reason", "evidence"),
    [
        ("When was the Eiffel Tower built?", "For the 1889 World's Fair.", "", ""),
        ("How tall is the tower?", "330 metres.", "", ""),
        ("Who designed the tower?", "The company of Gustave Eiffel.", "", ""),
        ("Was the tower popular with every artist?", "No, many called it ugly.", "", ""),
        ("Is the tower made of wrought iron or steel?", "Wrought iron.", "", ""),  # a choice holds its answer
        ("How long did construction take?", "Two years.", "", ""),
        ("Was the tower built in Paris?", "Yes.", "degenerate_question", "bare yes"),
        ("Which company, the company of Gustave Eiffel, designed it?", "Gustave Eiffel.", "degenerate_question", ""),
        ("?!", "Paris.", "degenerate_question", "no content word"),
        ("What was the tower made of?", "The tower was made of something.", "answer_echoes_question", "something"),
        ("When did construction begin?", "Construction began early.", "answer_echoes_question", "no number"),
        ("How many visitors climb the stairs each year?", "Millions.", "question_not_in_passage", "visitors"),
        ("Who paid for the restaurant on the second floor?", "The city.", "question_not_in_passage", "restaurant"),
        ("How tall is the tower?", "324 metres.", "answer_contradicts_passage", "330"),
        ("When did construction begin?", "In 1889.", "answer_contradicts_passage", "1887"),
        ("Who designed the tower?", "The company of Alexandre Eiffel.", "answer_contradicts_passage", "Alexandre"),
        ("Was it popular with every artist?", "Yes, every artist liked it.", "answer_contradicts_passage", "negation"),
        (
            "What did many artists call the tower?",
            "They did not call it ugly.",
            "answer_contradicts_passage",
            "negates",
        ),
        ("Who built the tower?", "Nobody.", "answer_not_in_passage", "no content word"),
        ("What is the tower made of?", "Reinforced concrete.", "answer_not_in_passage", "concrete"),
        ("What is the tower made of?", "It was designed by the company of Gustave Eiffel.", "answer_off_target", ""),
    ],
)
def test_each_reason_with_its_evidence(question: str, answer: str, reason: str, evidence: str) -> None:
    verdict = QAConsistency().judge(qa(question, answer))
    assert verdict.reason == reason, verdict
    assert verdict.keep is (not reason)
    assert evidence.lower() in verdict.detail.lower()


def test_a_bare_no_to_a_claim_the_passage_states_contradicts_it() -> None:
    assert check_pair(PASSAGE, "Is the tower made of wrought iron?", "No.").reason == "answer_contradicts_passage"
    assert check_pair(PASSAGE, "Is the tower made of glass?", "No.").keep


def test_scores_land_in_meta_for_kept_and_dropped_pairs_and_thresholds_rerun() -> None:
    step = QAConsistency()
    kept, dropped = step.process([qa("How tall is the tower?", "330 metres."), qa("Who built it?", "A bridge firm.")])
    assert isinstance(kept, Sample) and isinstance(dropped, Rejected) and dropped.sample is not None
    assert kept.meta["qa_answer_alignment"] == 1.0 and kept.meta["qa_question_coverage"] == 1.0
    assert kept.meta["passage"] == PASSAGE
    assert dropped.reason == "answer_not_in_passage" and dropped.sample.meta["qa_answer_grounding"] == 0.0
    loose = QAConsistency(QAConsistencyConfig(min_answer_grounding=0.0))
    assert isinstance(loose.process([qa("Who built it?", "A bridge firm.")])[0], Sample)


@pytest.mark.parametrize(
    ("sample", "reason"),
    [
        (qa("How tall is it?", "330 metres.", passage=None), "missing_field"),
        (qa("How tall is it?", "330 metres.", passage=42), "missing_field"),
        (qa("How tall is it?", "330 metres.", passage="   "), "missing_field"),
        (qa("How tall is it?"), "missing_field"),  # no answer
        (qa("How tall is it?", "   "), "missing_field"),
        (qa("<audio><image>", "330 metres."), "missing_field"),  # only media tags: no question
        (Sample(id="s", messages=(Message("assistant", "330"),), meta={"passage": PASSAGE}), "missing_field"),
        (qa("How tall is it?", "330 metres.", passage="m" * 60_000), "text_too_long"),
        (qa("How tall is it?" * 200, "330 metres."), "text_too_long"),
    ],
)
def test_records_it_cannot_judge_are_rejected_with_a_reason(sample: Sample, reason: str) -> None:
    out = QAConsistency().process([sample])
    assert isinstance(out[0], Rejected) and out[0].reason == reason and out[0].detail


def test_media_tags_are_not_part_of_the_question_and_hostile_text_is_judged() -> None:
    spoken = QAConsistency().judge(qa("<audio><audio>How tall is the tower?", "330 metres."))
    assert spoken.keep
    huge = "m" * 49_000 + "x. " + "The tower is tall. " * 40
    verdict = QAConsistency().judge(qa("How tall is the tower?", "m" * 1_900 + " tall", passage=huge))
    assert not verdict.keep and verdict.reason == "answer_echoes_question"  # "how tall" with no number
    assert check_pair("", "What does a lighthouse warn?", "Ships.").reason == "question_not_in_passage"


def test_token_f1_and_thresholds_object() -> None:
    assert token_f1("The Angara river", "Angara") == pytest.approx(2 / 3)
    assert token_f1("1,642 metres", "1642 metres") == 1.0
    assert token_f1("", "Lava") == 0.0 and token_f1("Lava", "Magma") == 0.0
    question = "What did painters call the tower at first?"  # "painters": the passage says "artist"
    assert check_pair(PASSAGE, question, "Ugly.").keep
    assert check_pair(PASSAGE, question, "Ugly.", Thresholds(min_question_coverage=1.0)).reason == (
        "question_not_in_passage"
    )


# -- the optional model judge --------------------------------------------------------------------------------


class _RecordingLLM(FakeTextGenerator):
    def __init__(self, settings: FakeLLMSettings) -> None:
        super().__init__(settings)
        self.prompts: list[str] = []

    def generate(self, conversations: list[list[Any]], n: int = 1, sampling: Any = None) -> list[Any]:
        self.prompts += [c[-1].content for c in conversations]
        return super().generate(conversations, n, sampling)


def _judged(llm: Any, samples: list[Sample], **config: Any) -> list[Sample | Rejected]:
    step = QAConsistency(QAConsistencyConfig(judge="lm", **config))
    step.setup({"lm": llm})
    return step.process(samples)


def test_fake_judge_keeps_agreeing_pairs_and_drops_the_others() -> None:
    llm = _RecordingLLM(
        FakeLLMSettings(
            responses={"How tall": ["It is 330 metres tall."], "Who designed": ["Nobody knows."]},
            fail_on=["When did construction begin"],
        )
    )
    samples = [
        qa("How tall is the tower?", "330 metres.", sid="agree"),
        qa("Who designed the tower?", "The company of Gustave Eiffel.", sid="disagree"),
        qa("When did construction begin?", "In 1887.", sid="fails"),
        qa("Was the tower built in Paris?", "Yes.", sid="lexical"),
    ]
    out = {s.id: s for s in _judged(llm, samples)}
    assert isinstance(out["agree"], Sample) and out["agree"].meta["qa_judge_f1"] == 1.0
    assert out["agree"].meta["qa_judge_answer"] == "It is 330 metres tall."
    assert isinstance(out["disagree"], Rejected) and out["disagree"].reason == "judge_disagrees"
    assert "Nobody knows" in out["disagree"].detail
    assert isinstance(out["fails"], Rejected) and out["fails"].reason == "judge_failed"
    assert isinstance(out["lexical"], Rejected) and out["lexical"].reason == "degenerate_question"
    assert len(llm.prompts) == 3 and not any("built in Paris" in p for p in llm.prompts)  # no model time on it
    assert all(PASSAGE in p for p in llm.prompts)


def test_a_judge_needs_a_backend_and_is_no_plain_filter_without_one() -> None:
    assert "qa_consistency" in filter_names()  # the default needs no model: `datagen filter` can re-run it
    assert QAConsistency.backend_refs(QAConsistencyConfig()) == []
    assert QAConsistency.backend_refs(QAConsistencyConfig(judge="lm")) == [BackendRef("judge", "lm", TextGenerator)]
    with pytest.raises(ValueError, match="datagen filter"):
        QAConsistency(QAConsistencyConfig(judge="lm")).setup({})


def test_judge_through_a_real_transformers_model(tmp_path: Path) -> None:
    """A tiny random Llama through the real `hf_lm` loading and generation path: its answers are noise."""
    from datagen.backends.hf_lm import HFCausalLM, HFLMSettings
    from datagen.tiny_models import build_tiny_llama

    lm = HFCausalLM(HFLMSettings(model=str(build_tiny_llama(tmp_path / "llama")), batch_size=2))
    lm.setup()
    samples = [qa("How tall is the tower?", "330 metres.", sid="a"), qa("Who built it?", "Nobody.", sid="b")]
    out = {s.id: s for s in _judged(lm, samples, judge_max_new_tokens=4)}
    assert isinstance(out["b"], Rejected) and out["b"].reason == "answer_not_in_passage"  # never reached the model
    judged = out["a"]
    meta = judged.meta if isinstance(judged, Sample) else judged.sample.meta  # type: ignore[union-attr]
    if isinstance(judged, Rejected):
        assert judged.reason in {"judge_disagrees", "judge_failed"}
    else:
        assert meta["qa_judge_f1"] >= 0.5


@pytest.mark.slow
@pytest.mark.embedded
def test_embedded_smollm2_judge_agrees_with_good_pairs() -> None:
    from datagen.backends.hf_lm import HFCausalLM, HFLMSettings

    lm = HFCausalLM(HFLMSettings(max_new_tokens=24))
    lm.setup()
    samples = [
        qa("How tall is the tower?", "330 metres.", sid="good-height"),
        qa("When did construction begin?", "In 1887.", sid="good-start"),
        qa("What is the tower made of?", "Wrought iron.", sid="good-iron"),
    ]
    out = _judged(lm, samples, judge_max_new_tokens=16)
    assert all(s.meta.get("qa_judge_answer") if isinstance(s, Sample) else s.detail for s in out)
    assert sum(isinstance(s, Sample) for s in out) >= 2, [(s.id, getattr(s, "detail", "")) for s in out]


# -- the manifest a user runs ----------------------------------------------------------------------------------


def _table(folder: Path) -> list[dict[str, Any]]:
    return [row for f in sorted(folder.rglob("*.parquet")) for row in pq.read_table(f).to_pylist()]


def test_datagen_run_and_filter_on_the_shipped_qa_check_manifest(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["run", str(ROOT / "manifests" / "qa_check.yaml"), "--out", str(out)]) == 0
    kept = {r["id"]: r for r in _table(out / "data")}
    rejects = {r["id"]: r["reason"] for r in _table(out / "rejects")}
    assert set(kept) == {
        "lighthouse-1",
        "lighthouse-2",
        "lighthouse-5",
        "lighthouse-7",
        "honeybees-1",
        "honeybees-3",
        "honeybees-5",
    }
    assert rejects == {
        "lighthouse-3": "answer_echoes_question",  # "What type of lighthouse is it?" answered by a definition
        "lighthouse-4": "question_not_in_passage",  # the bicycles the passage never mentions
        "lighthouse-6": "degenerate_question",
        "honeybees-2": "answer_contradicts_passage",
        "honeybees-4": "answer_echoes_question",  # "Bees store nectar somewhere."
        "honeybees-6": "answer_not_in_passage",
        "honeybees-7": "answer_not_in_passage",
    }
    assert all(r["qa_answer_alignment"] == 1.0 and r["passage"] for r in kept.values())
    curate = write_manifest(
        tmp_path / "curate.yaml",
        {"name": "stricter", "steps": [{"step": "qa_consistency", "min_question_coverage": 1}]},
    )
    strict = tmp_path / "strict"
    assert main(["filter", str(out), "--manifest", str(curate), "--out", str(strict)]) == 0
    now_kept = {r["id"]: r for r in _table(strict / "data")}
    assert now_kept and set(now_kept) < set(kept)
    assert "lighthouse-5" not in now_kept  # coverage 0.8: "used" is not in the passage
    assert all(r["passage"] == kept[i]["passage"] for i, r in now_kept.items())  # re-checked against the same text


def test_datagen_run_on_ms_swift_records_and_records_without_a_passage(tmp_path: Path) -> None:
    records = [
        {
            "id": "swift",
            "passage": PASSAGE,
            "messages": [
                {"role": "user", "content": "How tall is the tower?"},
                {"role": "assistant", "content": "330 metres."},
            ],
        },
        {"id": "no-passage", "question": "How tall is the tower?", "answer": "330 metres."},
        {"id": "bad-passage", "passage": ["not", "text"], "question": "How tall?", "answer": "330 metres."},
        {"id": "no-answer", "passage": PASSAGE, "question": "How tall is the tower?"},
        {"id": "wrong", "passage": PASSAGE, "question": "How tall is the tower?", "answer": "About 500 metres."},
    ]
    data = tmp_path / "pairs.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    manifest = ROOT / "manifests" / "qa_check.yaml"
    assert main(["run", str(manifest), "--input", str(data), "--out", str(out)]) == 0
    assert {r["id"] for r in _table(out / "data")} == {"swift"}
    assert {r["id"]: r["reason"] for r in _table(out / "rejects")} == {
        "no-passage": "missing_field",
        "bad-passage": "malformed_record",
        "no-answer": "missing_field",
        "wrong": "answer_contradicts_passage",
    }
