"""The failure ledger every generator uses: first failure per owner wins, any hashable owner, one emit loop."""

from __future__ import annotations

from collections.abc import Hashable

import pytest

from datagen.ledger import Ledger
from datagen.records import Rejected, Sample
from datagen.steps import Step


class _Gen(Step):
    name = "gen"


@pytest.mark.parametrize(
    ("fails", "owner", "expected"),
    [
        ([(0, "tts_failed", "turn 1")], 0, ("tts_failed", "turn 1")),
        ([(0, "tts_failed", "a"), (0, "asr_failed", "b")], 0, ("tts_failed", "a")),  # the first reason wins
        ([((2, 1), "not_grounded", "pair 1"), (2, "no_valid_pairs", "")], (2, 1), ("not_grounded", "pair 1")),
        ([((2, 1), "not_grounded", "pair 1")], 2, None),  # a pair failing does not fail its passage
        ([], 0, None),
    ],
)
def test_first_failure_per_owner(fails: list, owner: Hashable, expected: tuple | None) -> None:
    ledger = Ledger()
    for key, reason, detail in fails:
        ledger.fail(key, reason, detail)
    got = (ledger[owner].reason, ledger[owner].detail) if owner in ledger else None
    assert got == expected


def test_live_keeps_order_and_skips_failed_owners() -> None:
    ledger = Ledger()
    ledger.fail(1, "empty_text")
    ledger.fail((0, 2), "malformed_pair")
    assert ledger.live([3, 1, 0, 2]) == [3, 0, 2]
    assert ledger.live([(0, 1), (0, 2), (0, 3)]) == [(0, 1), (0, 3)]


def test_emit_rejects_failed_records_and_assembles_the_rest_in_batch_order() -> None:
    batch = [Sample(id=f"s{i}", meta={"n": i}) for i in range(4)]
    ledger = Ledger()
    ledger.fail(1, "missing_field", "no passage", partial=0.5)
    ledger.fail(3, "asr_failed", "chunk 0")

    def assemble(i: int, sample: Sample) -> Sample | list[Sample | Rejected]:
        if i == 2:  # fan-out, with one derived record rejected
            return [sample.evolve(id="s2#q0"), Rejected("s2#q1", "duplicate_pair", "gen")]
        return sample.evolve(meta={"done": True})

    out = ledger.emit(_Gen(), batch, assemble, reject_meta=lambda i: {"heard": i == 3})
    assert [(r.id, getattr(r, "reason", "kept")) for r in out] == [
        ("s0", "kept"), ("s1", "missing_field"), ("s2#q0", "kept"), ("s2#q1", "duplicate_pair"), ("s3", "asr_failed"),
    ]  # fmt: skip
    assert out[0].meta == {"n": 0, "done": True}
    assert out[1].step == "gen" and out[1].detail == "no passage"
    assert out[1].sample.meta == {"n": 1, "partial": 0.5, "heard": False}
    assert out[4].sample.meta == {"n": 3, "heard": True}
