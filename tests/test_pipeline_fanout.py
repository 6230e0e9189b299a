"""A step may emit several records per input (`{id}#k`) but may never lose or invent one."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from datagen.pipeline import _check_accounted
from datagen.records import Rejected, Sample
from datagen.steps import ContractError


def _s(i: str) -> Sample:
    return Sample(id=i)


@pytest.mark.parametrize(
    ("inputs", "outputs"),
    [
        (["a", "b"], ["a", "b"]),
        (["a", "b"], ["a#0", "a#1", "b"]),
        (["a", "b"], ["a#0", "b#x#y"]),
        (["a#1", "b"], ["a#1", "b"]),  # an input id holding '#' is itself
        (["a#1", "b"], ["a#1#0", "b#0"]),
    ],
)
def test_fan_out_accounted(inputs: Sequence[str], outputs: Sequence[str]) -> None:
    _check_accounted("fan", [_s(i) for i in inputs], [_s(o) for o in outputs])


@pytest.mark.parametrize(
    ("inputs", "outputs", "message"),
    [
        (["a", "b"], ["a"], "lost 1 record"),
        (["a", "b"], ["a", "b", "c"], "derives from no input"),
        (["a"], ["ab#0"], "derives from no input"),
        (["a", "b"], ["a#0", "a#1"], "lost 1 record"),
    ],
)
def test_lost_or_invented_records_raise(inputs: Sequence[str], outputs: Sequence[str], message: str) -> None:
    with pytest.raises(ContractError, match=message):
        _check_accounted("fan", [_s(i) for i in inputs], [_s(o) for o in outputs])


def test_a_reject_accounts_for_its_input() -> None:
    _check_accounted("fan", [_s("a"), _s("b")], [_s("a#0"), Rejected(id="b", reason="x", step="fan")])
