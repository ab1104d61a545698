"""Item scores, totals and grades."""

from decimal import Decimal

import pytest

from kaohe.reviews.scoring import ScaleError, check_scale, grade, item_score, scale_rows, total

SCALE = check_scale([("S", "95"), ("A", "85"), ("B", "70"), ("C", "60"), ("D", "")])


@pytest.mark.parametrize(
    ("value", "expected"),
    [("100", "S"), ("95", "S"), ("94.99", "A"), ("85", "A"), ("70", "B"), ("60", "C"),
     ("59.99", "D"), ("0", "D")],
)  # fmt: skip
def test_a_total_falls_in_the_first_band_it_reaches(value, expected):
    assert grade(Decimal(value), SCALE) == expected


def test_a_pass_fail_scale_works_too():
    scale = check_scale([("合格", "60"), ("不合格", "")])
    assert grade(Decimal("60"), scale) == "合格" and grade(Decimal("59.5"), scale) == "不合格"
    assert scale_rows(scale) == [["合格", "≥ 60.00"], ["不合格", "< 60.00"]]


def test_no_total_no_grade():
    assert grade(None, SCALE) == ""


@pytest.mark.parametrize(
    "bands",
    [[("A", "60")], [("A", "60"), ("A", "")], [("A", "60"), ("B", "70"), ("C", "")],
     [("A", "x"), ("B", "")], [("A", "300"), ("B", "")], [("A", "NaN"), ("B", "")]],
)  # fmt: skip
def test_bad_scales_are_refused(bands):
    with pytest.raises(ScaleError):
        check_scale(bands)


def test_attainment_is_capped_and_never_negative():
    assert item_score(Decimal("150"), 120) == Decimal("120.00")
    assert item_score(Decimal("-20"), 120) == Decimal("0.00")
    assert item_score(Decimal("87.456"), 120) == Decimal("87.46")
    assert item_score(None, 120) is None


def test_the_total_is_weighted_and_waits_for_every_score():
    assert total([(Decimal(60), Decimal(90)), (Decimal(40), Decimal(80))]) == Decimal("86.00")
    assert total([(Decimal(60), Decimal(90)), (Decimal(40), None)]) is None
