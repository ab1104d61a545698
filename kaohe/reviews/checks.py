"""What a template's input must look like, and the template as the ledger records it."""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from kaohe.metrics.models import Metric
from kaohe.org.actions import FieldErrors
from kaohe.reviews import scoring
from kaohe.reviews.models import ItemKind, Template

FULL_WEIGHT = Decimal(100)
MAX_ITEMS = 30


@dataclass
class ItemInput:
    name: str
    kind: str
    weight: Decimal | str
    metric: Metric | None = None
    description: str = ""


def check_items(items: Sequence[ItemInput]) -> list[ItemInput]:
    if not items:
        raise FieldErrors({"items": _("Add at least one item.")})
    if len(items) > MAX_ITEMS:
        raise FieldErrors({"items": _("A template has at most 30 items.")})
    checked = []
    for item in items:
        weight = read_decimal(item.weight, "items")
        if not item.name.strip() or not Decimal(0) < weight <= FULL_WEIGHT:
            raise FieldErrors({"items": _("Each item needs a name and a weight above 0.")})
        if (item.kind == ItemKind.QUANTITATIVE) != (item.metric is not None):
            raise FieldErrors(
                {"items": _("A quantitative item needs a metric; a qualitative one has none.")}
            )
        if item.kind not in ItemKind.values:
            raise FieldErrors({"items": _("Unknown item kind.")})
        checked.append(ItemInput(item.name.strip()[:100], item.kind, weight, item.metric,
                                 item.description.strip()[:500]))  # fmt: skip
    total = sum((i.weight for i in checked), Decimal(0))
    if total != FULL_WEIGHT:
        raise FieldErrors(
            {
                "items": _("The weights add up to %(total)s; they must add up to 100.")
                % {"total": scoring.text(total)}
            }
        )
    return checked


def read_decimal(raw, field: str) -> Decimal:
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        raise FieldErrors({field: _("Enter a number.")})
    return value


def template_content(template: Template) -> dict:
    """The template as recorded in the ledger (strings only)."""
    return {
        "name": template.name,
        "scale": template.scale,
        "cap_percent": template.cap_percent,
        "items": [
            {"name": i.name, "kind": i.kind, "weight": scoring.text(i.weight),
             "metric": i.metric.code if i.metric_id else None}
            for i in template.items.select_related("metric")
        ],
    }  # fmt: skip
