"""How a result is scored: item scores, the weighted total and the grade.

- A quantitative item's score is the metric's attainment (kaohe.metrics decides it) capped
  at the template's cap (default 120) and never below 0; without attainment it has no score.
- A qualitative item's score is the manager's, 0 to 100.
- The total is Σ weight × score / 100 over all items, rounded to 2 places; while an item has
  no score the total is None and the result cannot be published.
- The grade is the first band (best first) whose minimum the total reaches; the last band
  has no minimum and takes every total below.
"""

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.utils.translation import gettext as _

HUNDRED = Decimal(100)
CENT = Decimal("0.01")
MAX_BANDS = 10


class ScaleError(ValueError):
    """A grading scale that cannot be used; the message is for the user."""


def cents(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(CENT, rounding=ROUND_HALF_UP)


def text(value: Decimal | None, places: int = 2) -> str:
    """A decimal as shown and as recorded: "85.20"; "" for None."""
    if value is None:
        return ""
    return str(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def item_score(attainment: Decimal | None, cap_percent: int) -> Decimal | None:
    if attainment is None:
        return None
    return cents(max(Decimal(0), min(Decimal(cap_percent), attainment)))


def total(pairs: Iterable[tuple[Decimal, Decimal | None]]) -> Decimal | None:
    """Σ weight × score / 100 from (weight, score) pairs; None while a score is missing."""
    pairs = list(pairs)
    if not pairs or any(score is None for _w, score in pairs):
        return None
    return cents(sum((w * s for w, s in pairs), Decimal(0)) / HUNDRED)


def grade(value: Decimal | None, scale: list[dict]) -> str:
    if value is None:
        return ""
    for band in scale:
        if band.get("min") is None or value >= Decimal(band["min"]):
            return band["grade"]
    return ""


def check_scale(bands: list[tuple[str, str]]) -> list[dict]:
    """The scale from (grade, minimum) rows, best first; the last row's minimum is ignored.
    Raises ScaleError when a grade is blank or repeated or the minimums do not fall."""
    bands = [(g.strip(), (m or "").strip()) for g, m in bands if (g or "").strip()]
    if len(bands) < 2:
        raise ScaleError(_("A grading scale needs at least two grades."))
    if len(bands) > MAX_BANDS:
        raise ScaleError(_("A grading scale has at most ten grades."))
    if len({g for g, _m in bands}) != len(bands):
        raise ScaleError(_("Each grade may appear only once."))
    scale, previous = [], None
    for grade_label, minimum in bands[:-1]:
        value = _minimum(grade_label, minimum)
        if previous is not None and value >= previous:
            raise ScaleError(_("Each grade's minimum must be lower than the one above it."))
        scale.append({"grade": grade_label[:20], "min": text(value)})
        previous = value
    scale.append({"grade": bands[-1][0][:20], "min": None})
    return scale


def _minimum(label: str, raw: str) -> Decimal:
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or not Decimal(0) <= value <= Decimal(200):
        raise ScaleError(
            _("The minimum of grade %(grade)s must be a number from 0 to 200.") % {"grade": label}
        )
    return value


def scale_rows(scale: list[dict]) -> list[list[str]]:
    """The scale as document rows: [grade, "≥ 95.00"], ..., [grade, "< 60.00"]."""
    rows = []
    for index, band in enumerate(scale):
        if band.get("min") is not None:
            rows.append([band["grade"], f"≥ {band['min']}"])
        else:
            above = scale[index - 1]["min"] if index else "0"
            rows.append([band["grade"], f"< {above}"])
    return rows
