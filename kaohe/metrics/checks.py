"""What the metric and agreement actions check before they write: metric definitions,
target numbers, the items of an agreement and their monthly splits, and the canonical
content a published version fixes. Nothing here writes or decides permissions.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db.models import Q
from django.utils.translation import gettext as _

from kaohe.lib.periods import Period, PeriodKind, add_months
from kaohe.metrics.models import (
    ADDITIVE,
    METRIC_CODE_PATTERN,
    SOURCE_CODE_PATTERN,
    VALUE_PLACES,
    Actual,
    Aggregation,
    AgreementItem,
    AgreementState,
    AgreementVersion,
    Direction,
    Fact,
    Metric,
    TargetAgreement,
    Unit,
)
from kaohe.org.actions import FieldErrors, company_today

# SQLite keeps decimals as doubles (15 significant digits): 11 before the point, 4 after.
MAX_ABS_TARGET = Decimal(10) ** 11
FULL_WEIGHT = Decimal(100)
METRIC_FIELDS = ("name_zh", "name_en", "unit", "aggregation", "direction", "decimal_places",
                 "active", "sources", "numerator", "denominator")  # fmt: skip
# What a metric measures; fixed once targets of it are agreed or its data arrived.
MEANING_FIELDS = ("unit", "aggregation", "direction", "numerator", "denominator")


def period_of(agreement: TargetAgreement) -> Period:
    return Period(agreement.period_start, PeriodKind(agreement.period_kind))


# --- numbers --------------------------------------------------------------------------------


def parse_decimal(value, *, places: int = VALUE_PLACES, limit: Decimal = MAX_ABS_TARGET) -> Decimal:
    """A decimal from a string, an integer or a Decimal (a float through its shortest
    text); raises ValueError with a message for the user."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError(_("Send a number."))
    try:
        number = Decimal(value.strip() if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise ValueError(_("This is not a number.")) from None
    if not number.is_finite():
        raise ValueError(_("This is not a number."))
    if abs(number) >= limit:
        raise ValueError(_("The number is too large."))
    quantum = Decimal(1).scaleb(-places)
    if number != number.quantize(quantum):
        raise ValueError(_("Use at most %(places)s decimal places.") % {"places": places})
    return number.quantize(quantum)


def decimal_text(value: Decimal) -> str:
    """A decimal as plain text without trailing zeros ("300000", "0.5"): canonical form."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


# --- metric definitions ---------------------------------------------------------------------


def metric_values(data: Mapping, metric: Metric | None) -> dict:
    """The checked values of a new or changed metric; raises FieldErrors naming each field."""
    errors: dict[str, str] = {}
    values = {name: data[name] for name in METRIC_FIELDS if name in data}
    if metric is None:
        values["code"] = _check_code(data.get("code"), errors)
        for name in ("name_zh", "name_en", "unit", "aggregation"):
            if not data.get(name):
                errors[name] = _("This field is required.")
    merged = {name: getattr(metric, name) for name in METRIC_FIELDS} if metric else {}
    merged |= values
    _check_names(merged, errors)
    _check_choices(merged, errors)
    _check_parts(merged, metric, errors)
    values["sources"] = _check_sources(merged.get("sources") or [], merged, errors)
    _check_places(merged, errors)
    if metric is not None:
        _check_definition_change(metric, merged, errors)
        _check_retirement(metric, merged, errors)
    if errors:
        raise FieldErrors(errors)
    for name in ("numerator", "denominator"):
        values[name] = merged.get(name)
    return values


def _check_code(code, errors: dict) -> str:
    if not isinstance(code, str) or not re.fullmatch(METRIC_CODE_PATTERN, code):
        errors["code"] = _(
            "Use 2 to 50 lowercase letters, digits and underscores, starting with a letter."
        )
        return ""
    if Metric.objects.filter(code=code).exists():
        errors["code"] = _("Metric code %(code)s is already in use.") % {"code": code}
    return code


def _check_names(values: dict, errors: dict) -> None:
    for name in ("name_zh", "name_en"):
        text = values.get(name)
        if text is not None and (not isinstance(text, str) or not text.strip()):
            errors[name] = _("This field is required.")
        elif isinstance(text, str) and len(text) > 100:
            errors[name] = _("Use at most %(max_length)s characters.") % {"max_length": 100}


def _check_choices(values: dict, errors: dict) -> None:
    for name, choices in (("unit", Unit), ("aggregation", Aggregation), ("direction", Direction)):
        if name in values and values[name] not in choices.values:
            errors[name] = _("Choose one of %(expected)s.") % {
                "expected": ", ".join(choices.values)
            }


def _check_parts(values: dict, metric: Metric | None, errors: dict) -> None:
    """A ratio names two existing metrics that are not ratios themselves; others name none."""
    is_ratio = values.get("aggregation") == Aggregation.RATIO
    for name in ("numerator", "denominator"):
        part = values.get(name)
        if not is_ratio:
            if part:
                errors[name] = _("Only a ratio has a numerator and a denominator.")
            values[name] = None
            continue
        if isinstance(part, str):
            part = Metric.objects.filter(code=part).first()
        if part is None:
            errors[name] = _("Name an existing metric.")
        elif part.aggregation == Aggregation.RATIO:
            errors[name] = _("A ratio cannot be made of another ratio.")
        elif metric is not None and part.pk == metric.pk:
            errors[name] = _("A ratio cannot be made of itself.")
        values[name] = part
    if is_ratio and metric is not None and _is_part_of_a_ratio(metric):
        errors["aggregation"] = _("This metric is part of a ratio, so it cannot be a ratio.")


def _is_part_of_a_ratio(metric: Metric) -> bool:
    return Metric.objects.filter(Q(numerator=metric) | Q(denominator=metric)).exists()


def _check_sources(sources, values: dict, errors: dict) -> list[str]:
    if not isinstance(sources, list | tuple) or not all(isinstance(s, str) for s in sources):
        errors["sources"] = _("Send a list of source codes.")
        return []
    codes = sorted({s.strip() for s in sources if s.strip()})
    bad = [code for code in codes if not re.fullmatch(SOURCE_CODE_PATTERN, code)]
    if bad:
        errors["sources"] = _(
            "%(codes)s: a source code has 2 to 40 lowercase letters, digits, - and _, "
            "starting with a letter."
        ) % {"codes": ", ".join(bad)}
    elif codes and values.get("aggregation") == Aggregation.RATIO:
        errors["sources"] = _("A ratio has no facts of its own, so no sources.")
    return codes


def _check_places(values: dict, errors: dict) -> None:
    places = values.get("decimal_places", 2)
    if isinstance(places, bool) or not isinstance(places, int) or not 0 <= places <= VALUE_PLACES:
        errors["decimal_places"] = _("Choose between 0 and %(max)s decimal places.") % {
            "max": VALUE_PLACES
        }


def _check_definition_change(metric: Metric, values: dict, errors: dict) -> None:
    """What a metric measures is fixed once an agreement fixed a target of it (or of a ratio
    made of it) or once its data arrived: changing it would change attainment under signed
    targets and figures already shown. Names and sources may still change."""
    changed = [name for name in MEANING_FIELDS if _differs(values.get(name), getattr(metric, name))]
    places = values.get("decimal_places")
    fewer_places = isinstance(places, int) and places < metric.decimal_places
    if not changed and not fewer_places:
        return
    if _is_agreed(metric):
        agreed = _(
            "This metric is in a published target agreement, so this can no longer change. "
            "Define a new metric with a new code instead."
        )
        _refuse(errors, changed, agreed)
        if fewer_places:
            rounded = _(
                "This metric is in a published target agreement: it may show more decimal "
                "places, not fewer, so that no agreed target is shown rounded."
            )
            errors.setdefault("decimal_places", rounded)
    elif changed and _has_data(metric):
        arrived = _(
            "Data of this metric has arrived, so this can no longer change. Define a new metric "
            "with a new code instead."
        )
        _refuse(errors, changed, arrived)


def _refuse(errors: dict, names: list[str], message: str) -> None:
    for name in names:
        errors.setdefault(name, message)


def _differs(new, old) -> bool:
    def key(value):
        return value.pk if isinstance(value, Metric) else value

    return key(new) != key(old)


def _uses_of(metric: Metric) -> Q:
    """Agreement items whose figure depends on `metric`: its own, and those of its ratios."""
    return Q(metric=metric) | Q(metric__numerator=metric) | Q(metric__denominator=metric)


def _is_agreed(metric: Metric) -> bool:
    agreed = (AgreementState.PUBLISHED, AgreementState.SUPERSEDED)
    return AgreementItem.objects.filter(_uses_of(metric), version__state__in=agreed).exists()


def _has_data(metric: Metric) -> bool:
    """Facts of the metric arrived (for a ratio: facts of its parts)."""
    ids = [metric.pk, metric.numerator_id, metric.denominator_id]
    ids = [pk for pk in ids if pk is not None]
    return (
        Fact.objects.filter(metric__in=ids).exists()
        or Actual.objects.filter(metric__in=ids).exists()
    )


def _check_retirement(metric: Metric, values: dict, errors: dict) -> None:
    """A metric in a version in force (or a part of a ratio that is) stays in use until the
    period of that version has ended: facts of an inactive metric are refused."""
    if not metric.active or values.get("active", True):
        return
    today = company_today()
    earliest = add_months(today, -12)  # no period is longer than a year
    periods = (
        AgreementItem.objects.filter(
            _uses_of(metric),
            version__state=AgreementState.PUBLISHED,
            version__agreement__period_start__gt=earliest,
        )
        .values_list("version__agreement__period_start", "version__agreement__period_kind")
        .distinct()
    )
    if any(Period(start, PeriodKind(kind)).end > today for start, kind in periods):
        errors["active"] = _(
            "This metric is in a target agreement in force; it can be taken out of use once "
            "the period of that agreement has ended."
        )


# --- agreement items ------------------------------------------------------------------------


@dataclass
class ItemSpec:
    """One weighted metric of a draft, as a page or the API sends it (still unchecked)."""

    metric: Metric
    target: object
    weight: object = Decimal(0)
    monthly: Mapping | None = None


@dataclass
class Checked:
    metric: Metric
    target: Decimal
    weight: Decimal
    monthly: dict[str, str] = field(default_factory=dict)


def check_items(items: list[ItemSpec], period: Period) -> list[Checked]:
    errors: dict[str, str] = {}
    checked, seen = [], set()
    for n, spec in enumerate(items):
        if spec.metric.pk in seen:
            errors[f"items.{n}.metric"] = _("Each metric appears once.")
            continue
        seen.add(spec.metric.pk)
        try:
            checked.append(check_item(spec, period))
        except FieldErrors as exc:
            errors |= {f"items.{n}.{name}": message for name, message in exc.errors.items()}
    if errors:
        raise FieldErrors(errors)
    return checked


def check_item(spec: ItemSpec, period: Period) -> Checked:
    """One item against its period; raises FieldErrors keyed by field."""
    errors: dict[str, str] = {}
    if not spec.metric.active:
        errors["metric"] = _("This metric is no longer in use.")
    target = _field(errors, "target", spec.target)
    if target is not None and target < 0:
        errors["target"] = _("A target cannot be negative.")
    weight = _field(errors, "weight", spec.weight, places=2, limit=Decimal(1000))
    if weight is not None and not 0 <= weight <= FULL_WEIGHT:
        errors["weight"] = _("A weight lies between 0 and 100.")
    monthly = {}
    if spec.monthly and target is not None:
        monthly = _check_monthly(spec.metric, spec.monthly, period, target, errors)
    if errors:
        raise FieldErrors(errors)
    assert target is not None and weight is not None
    return Checked(spec.metric, target, weight, monthly)


def _field(errors: dict, name: str, value, **limits) -> Decimal | None:
    try:
        return parse_decimal(value, **limits)
    except ValueError as exc:
        errors[name] = str(exc)
        return None


def _check_monthly(metric, monthly: Mapping, period: Period, target, errors) -> dict[str, str]:
    """A split of the period's target into months: additive metrics only, months inside
    the period (a month left out has a target of 0), adding up to the target exactly."""
    if metric.aggregation not in ADDITIVE:
        errors["monthly"] = _("Only a sum or a count can be split into months.")
        return {}
    if period.kind == PeriodKind.MONTH:
        errors["monthly"] = _("A monthly target cannot be split further.")
        return {}
    labels = {month.strftime("%Y-%m") for month in period.months}
    split: dict[str, str] = {}
    total = Decimal(0)
    for label, value in sorted(monthly.items()):
        if label not in labels:
            errors["monthly"] = _("%(month)s is not a month of %(period)s.") % {
                "month": label,
                "period": period.label,
            }
            return {}
        try:
            amount = parse_decimal(value)
        except ValueError as exc:
            errors["monthly"] = f"{label}: {exc}"
            return {}
        if amount < 0:
            errors["monthly"] = _("A target cannot be negative.")
            return {}
        split[label], total = decimal_text(amount), total + amount
    if split and total != target:
        errors["monthly"] = _("The months add up to %(total)s, not to the target %(target)s.") % {
            "total": decimal_text(total),
            "target": decimal_text(target),
        }
    return split


def agreement_content(version: AgreementVersion) -> dict:
    """What the employee agrees to, as canonical JSON: the ledger entry names its SHA-256."""
    agreement = version.agreement
    employee = agreement.employee
    items = version.items.select_related("metric").order_by("metric__code")
    return {
        "agreement": str(agreement.public_id),
        "employee": {"employee_no": employee.employee_no, "name": employee.name},
        "period": period_of(agreement).label,
        "version": version.number,
        "note": version.note,
        "items": [
            {
                "metric": item.metric.code,
                "name_zh": item.metric.name_zh,
                "name_en": item.metric.name_en,
                "unit": item.metric.unit,
                "aggregation": item.metric.aggregation,
                "direction": item.metric.direction,
                "target": decimal_text(item.target),
                "weight": decimal_text(item.weight),
                "monthly": dict(item.monthly),
            }
            for item in items
        ],
    }
