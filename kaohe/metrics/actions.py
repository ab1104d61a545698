"""Every change to metric definitions and target agreements (业绩目标责任书) goes through here.

Each function checks the actor's permission and the current state, writes, and appends its
ledger entry in the same transaction. An agreement is a sequence of versions: one draft
being edited, one published version in force, the older ones superseded. Publishing fixes
the version's content as canonical JSON (RFC 8785) and records its SHA-256 in the ledger.
"""

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Max, Q, QuerySet
from django.utils.translation import gettext as _

from kaohe.lib import clock
from kaohe.lib.canonical import canonical
from kaohe.lib.periods import Period, PeriodError, PeriodKind
from kaohe.metrics.models import (
    ADDITIVE,
    METRIC_CODE_PATTERN,
    SOURCE_CODE_PATTERN,
    VALUE_PLACES,
    Acknowledgement,
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
from kaohe.org.actions import ActionError, FieldErrors
from kaohe.org.evidence import record
from kaohe.org.models import (
    ApiKey,
    Employee,
    EmploymentStatus,
    employees_visible_to_key,
    is_former_employee,
    is_hr_admin,
    reporting_subtree_sql,
)

__all__ = [
    "ActionError",
    "BulkAssignError",
    "FieldErrors",
    "ItemSpec",
    "do_bulk_assign",
    "do_discard_draft",
    "do_draft_agreement",
    "do_publish_agreement",
    "do_revise_agreement",
    "do_save_metric",
    "do_set_items",
    "do_upsert_item",
    "employees_targetable_by",
    "may_set_targets",
]

# SQLite keeps decimals as doubles (15 significant digits): 11 before the point, 4 after.
MAX_ABS_TARGET = Decimal(10) ** 11
QUANTUM = Decimal(1).scaleb(-VALUE_PLACES)
WEIGHT_QUANTUM = Decimal("0.01")
FULL_WEIGHT = Decimal(100)
TARGETS_SCOPE = "targets:write"
MAX_NOTE = 500
METRIC_FIELDS = (
    "name_zh",
    "name_en",
    "unit",
    "aggregation",
    "direction",
    "decimal_places",
    "active",
    "sources",
    "numerator",
    "denominator",
)


# --- who may set whose targets --------------------------------------------------------------


def employees_targetable_by(actor) -> QuerySet:
    """The employees whose target agreements `actor` may draft and publish.

    A user: those in the org units of their HR role (`managed_by`) and everyone in their
    reporting subtree, never their own record (nobody sets their own targets). An API key
    with the `targets:write` scope: the employees of its org units (all, if it has none).
    """
    if isinstance(actor, ApiKey):
        if TARGETS_SCOPE not in actor.scopes or actor.revoked_at is not None:
            return Employee.objects.none()
        return employees_visible_to_key(actor)
    if not getattr(actor, "is_authenticated", False) or not actor.is_active:
        return Employee.objects.none()
    condition = Q(pk__in=Employee.objects.managed_by(actor).values("pk"))
    me = getattr(actor, "employee", None)
    if me is not None and not is_former_employee(actor):
        condition |= Q(pk__in=reporting_subtree_sql(me.pk))
    people = Employee.objects.filter(condition)
    return people.exclude(pk=me.pk) if me is not None else people


def may_set_targets(user, employee: Employee) -> bool:
    return employees_targetable_by(user).filter(pk=employee.pk).exists()


def _require_target_setter(actor, employee: Employee) -> None:
    if getattr(actor, "employee", None) is not None and actor.employee.pk == employee.pk:
        raise PermissionDenied(_("Nobody may set their own targets."))
    if not may_set_targets(actor, employee):
        raise PermissionDenied(_("You may not set targets for this employee."))


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


@transaction.atomic
def do_save_metric(actor, data: Mapping, metric: Metric | None = None) -> Metric:
    """Creates a metric (`metric` None) or changes one; HR admins only.

    `data` holds the fields of METRIC_FIELDS (and `code` for a new metric); `numerator`
    and `denominator` are metric codes or metrics. A metric's code never changes, and its
    aggregation cannot change once facts of it arrived. Raises FieldErrors.
    """
    if not is_hr_admin(actor):
        raise PermissionDenied(_("Only an HR admin may do this."))
    values = _metric_values(data, metric)
    created = metric is None
    if metric is None:
        metric = Metric(code=values.pop("code"), created_at=clock.now())
    changes = {
        name: [_metric_evidence(getattr(metric, name)), _metric_evidence(value)]
        for name, value in values.items()
        if not created and getattr(metric, name) != value
    }
    for name, value in values.items():
        setattr(metric, name, value)
    metric.save()
    if created:
        definition = {name: _metric_evidence(getattr(metric, name)) for name in METRIC_FIELDS}
        record("metrics.metric.created", actor, {"definition": definition}, metric=metric.code)
    elif changes:
        record("metrics.metric.changed", actor, {"changes": changes}, metric=metric.code)
    return metric


def _metric_evidence(value):
    return value.code if isinstance(value, Metric) else value


def _metric_values(data: Mapping, metric: Metric | None) -> dict:
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
        _check_aggregation_change(metric, merged, errors)
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


def _check_aggregation_change(metric: Metric, values: dict, errors: dict) -> None:
    if values.get("aggregation", metric.aggregation) == metric.aggregation:
        return
    if Fact.objects.filter(metric=metric).exists() or Actual.objects.filter(metric=metric).exists():
        errors["aggregation"] = _(
            "Facts of this metric have arrived; its aggregation can no longer change."
        )


# --- agreements: drafts, items, publishing --------------------------------------------------


def period_of(agreement: TargetAgreement) -> Period:
    return Period(agreement.period_start, PeriodKind(agreement.period_kind))


def _draft_of(agreement: TargetAgreement) -> AgreementVersion | None:
    return agreement.versions.filter(state=AgreementState.DRAFT).first()


def _next_number(agreement: TargetAgreement) -> int:
    return (agreement.versions.aggregate(n=Max("number"))["n"] or 0) + 1


def _check_employed(employee: Employee) -> None:
    if employee.status == EmploymentStatus.TERMINATED:
        raise ActionError(_("%(employee)s has left the company.") % {"employee": employee})


def _version_subject(version: AgreementVersion) -> dict:
    return {"agreement": str(version.agreement.public_id)}


@transaction.atomic
def do_draft_agreement(actor, employee: Employee, period: Period | str) -> AgreementVersion:
    """Opens the first draft of `employee`'s agreement for `period`. An agreement already
    in force changes through `do_revise_agreement`, with a reason."""
    period = _period(period)
    _require_target_setter(actor, employee)
    _check_employed(employee)
    agreement, _created = TargetAgreement.objects.get_or_create(
        employee=employee,
        period_kind=period.kind.value,
        period_start=period.start,
        defaults={"created_at": clock.now()},
    )
    if _draft_of(agreement) is not None:
        raise ActionError(_("This agreement already has a draft; edit that one."))
    if agreement.in_force_id is not None:
        raise ActionError(
            _("This agreement is in force; to change it, start a new version with a reason.")
        )
    return _new_draft(actor, agreement, period, note="", items=[])


def _period(period: Period | str) -> Period:
    if isinstance(period, Period):
        return period
    try:
        return Period.parse(period)
    except PeriodError:
        raise ActionError(
            _("%(label)s is not a period: use 2026-01, 2026-Q1, 2026-H1 or 2026.")
            % {"label": period}
        ) from None


def _new_draft(actor, agreement, period: Period, note: str, items) -> AgreementVersion:
    version = AgreementVersion.objects.create(
        agreement=agreement,
        number=_next_number(agreement),
        note=note,
        created_by=actor if _is_user(actor) else None,
        created_at=clock.now(),
    )
    AgreementItem.objects.bulk_create(
        AgreementItem(
            version=version,
            metric_id=item.metric_id,
            target=item.target,
            weight=item.weight,
            monthly=item.monthly,
        )
        for item in items
    )
    payload = {"period": period.label, "version": version.number, "note": note}
    if items:
        payload["based_on"] = agreement.in_force.number
    record(
        "metrics.agreement.drafted", actor, payload, agreement.employee, **_version_subject(version)
    )
    return version


@transaction.atomic
def do_revise_agreement(actor, agreement: TargetAgreement, note: str) -> AgreementVersion:
    """A mid-period change: a new draft copied from the version in force. `note` says why;
    once published, the employee's acknowledgement is needed again."""
    _require_target_setter(actor, agreement.employee)
    _check_employed(agreement.employee)
    note = (note or "").strip()
    if not note:
        raise FieldErrors({"note": _("Say why the agreement changes.")})
    if len(note) > MAX_NOTE:
        raise FieldErrors(
            {"note": _("Use at most %(max_length)s characters.") % {"max_length": MAX_NOTE}}
        )
    if agreement.in_force_id is None:
        raise ActionError(_("Nothing is in force yet; edit the draft instead."))
    if _draft_of(agreement) is not None:
        raise ActionError(_("This agreement already has a draft; edit that one."))
    items = list(agreement.in_force.items.all())
    return _new_draft(actor, agreement, period_of(agreement), note, items)


@transaction.atomic
def do_discard_draft(actor, version: AgreementVersion) -> None:
    """Throws a draft away; what is in force (if anything) stays."""
    agreement = version.agreement
    _require_target_setter(actor, agreement.employee)
    _require_draft(version)
    number = version.number
    version.delete()
    if not agreement.versions.exists():
        agreement.delete()
    payload = {"period": period_of(agreement).label, "version": number}
    record(
        "metrics.agreement.draft_discarded",
        actor,
        payload,
        agreement.employee,
        agreement=str(agreement.public_id),
    )


def _require_draft(version: AgreementVersion) -> None:
    current = AgreementVersion.objects.filter(pk=version.pk).values_list("state", flat=True)
    if current.first() != AgreementState.DRAFT:
        raise ActionError(_("Only a draft can change; this version is no longer a draft."))


@dataclass
class ItemSpec:
    """One weighted metric of a draft, as a page or the API sends it (still unchecked)."""

    metric: Metric
    target: object
    weight: object = Decimal(0)
    monthly: Mapping | None = None


@dataclass
class _Checked:
    metric: Metric
    target: Decimal
    weight: Decimal
    monthly: dict[str, str] = field(default_factory=dict)


@transaction.atomic
def do_set_items(actor, version: AgreementVersion, items: Iterable[ItemSpec]) -> None:
    """Replaces the items of a draft. Raises FieldErrors keyed "items.<n>.<field>"."""
    agreement = version.agreement
    _require_target_setter(actor, agreement.employee)
    _require_draft(version)
    checked = _check_items(list(items), period_of(agreement))
    version.items.all().delete()
    AgreementItem.objects.bulk_create(
        AgreementItem(
            version=version,
            metric=item.metric,
            target=item.target,
            weight=item.weight,
            monthly=item.monthly,
        )
        for item in checked
    )


def _check_items(items: list[ItemSpec], period: Period) -> list[_Checked]:
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


def check_item(spec: ItemSpec, period: Period) -> _Checked:
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
    return _Checked(spec.metric, target, weight, monthly)


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


@transaction.atomic
def do_upsert_item(actor, version: AgreementVersion, spec: ItemSpec, *, keep_weight: bool) -> bool:
    """Sets one metric's target in a draft, adding the item if needed. With `keep_weight`
    an existing item keeps its weight (a new one gets `spec.weight`). An existing monthly
    split stays while the target stays; a new target drops it (it would no longer add up).
    Returns whether anything changed; raises FieldErrors keyed by field."""
    agreement = version.agreement
    _require_target_setter(actor, agreement.employee)
    _require_draft(version)
    existing = version.items.filter(metric=spec.metric).first()
    checked = check_item(spec, period_of(agreement))
    if existing is None:
        AgreementItem.objects.create(
            version=version,
            metric=checked.metric,
            target=checked.target,
            weight=checked.weight,
            monthly=checked.monthly,
        )
        return True
    weight = existing.weight if keep_weight else checked.weight
    monthly = checked.monthly
    if spec.monthly is None and existing.target == checked.target:
        monthly = existing.monthly
    new = (checked.target, weight, monthly)
    if (existing.target, existing.weight, existing.monthly) == new:
        return False
    existing.target, existing.weight, existing.monthly = new
    existing.save(update_fields=["target", "weight", "monthly"])
    return True


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


@transaction.atomic
def do_publish_agreement(actor, version: AgreementVersion) -> AgreementVersion:
    """Puts a draft in force: the previous version becomes superseded, the employee's
    acknowledgement becomes pending, and the ledger records the content and its SHA-256."""
    agreement = TargetAgreement.objects.select_related("employee").get(pk=version.agreement_id)
    version.agreement = agreement
    _require_target_setter(actor, agreement.employee)
    _check_employed(agreement.employee)
    _require_draft(version)
    _check_publishable(version)
    content = agreement_content(version)
    digest = hashlib.sha256(canonical(content)).hexdigest()
    previous = agreement.in_force
    if previous is not None:
        previous.state = AgreementState.SUPERSEDED
        previous.save(update_fields=["state"])
    version.state = AgreementState.PUBLISHED
    version.published_by = actor if _is_user(actor) else None
    version.published_at = clock.now()
    version.content_sha256 = digest
    version.acknowledgement = Acknowledgement.PENDING
    version.save(
        update_fields=["state", "published_by", "published_at", "content_sha256", "acknowledgement"]
    )
    agreement.in_force = version
    agreement.save(update_fields=["in_force"])
    payload = {
        "content": content,
        "content_sha256": digest,
        "supersedes": previous.number if previous else None,
    }
    record(
        "metrics.agreement.published",
        actor,
        payload,
        agreement.employee,
        **_version_subject(version),
    )
    return version


def _is_user(actor) -> bool:
    return getattr(actor, "pk", None) is not None and not isinstance(actor, ApiKey)


def _check_publishable(version: AgreementVersion) -> None:
    weights = list(version.items.values_list("weight", flat=True))
    if not weights:
        raise ActionError(_("Add at least one metric before publishing."))
    total = sum(weights, Decimal(0))
    if total != FULL_WEIGHT:
        raise ActionError(
            _("The weights add up to %(total)s; they must add up to 100.")
            % {"total": decimal_text(total)}
        )


# --- many employees at once -----------------------------------------------------------------


class BulkAssignError(ActionError):
    """Nothing was assigned; `reasons` maps each refused employee number to why."""

    def __init__(self, reasons: dict[str, str]) -> None:
        super().__init__(
            _("Nothing was assigned: %(count)s employees were refused.") % {"count": len(reasons)}
        )
        self.reasons = reasons


@transaction.atomic
def do_bulk_assign(
    actor,
    employees: Iterable[Employee],
    period: Period | str,
    items: list[ItemSpec],
    *,
    publish: bool = False,
    note: str = "",
) -> list[AgreementVersion]:
    """Gives each employee the same items for `period` (their draft's items are replaced;
    an agreement in force gets a new version, which needs `note`), all or nothing: one
    refusal raises BulkAssignError naming every refused employee, and nothing is written."""
    period = _period(period)
    people = list(employees)
    if not people:
        raise ActionError(_("Choose at least one employee."))
    _check_items(items, period)  # the same items for all: faults are nobody's in particular
    reasons: dict[str, str] = {}
    versions = []
    for employee in people:
        try:
            with transaction.atomic():
                versions.append(_assign_one(actor, employee, period, items, publish, note))
        except (ActionError, PermissionDenied) as exc:
            reasons[employee.employee_no] = _reason(exc)
    if reasons:
        raise BulkAssignError(reasons)
    payload = {
        "period": period.label,
        "employees": [e.employee_no for e in people],
        "metrics": [item.metric.code for item in items],
        "published": publish,
    }
    record("metrics.agreement.bulk_assigned", actor, payload)
    return versions


def _reason(exc: Exception) -> str:
    if isinstance(exc, FieldErrors):
        return " ".join(exc.errors.values())
    return str(exc) or _("You may not set targets for this employee.")


def _assign_one(actor, employee, period, items, publish: bool, note: str) -> AgreementVersion:
    agreement = TargetAgreement.objects.filter(
        employee=employee, period_kind=period.kind.value, period_start=period.start
    ).first()
    version = _draft_of(agreement) if agreement else None
    if version is None and agreement is not None and agreement.in_force_id:
        version = do_revise_agreement(actor, agreement, note)
    elif version is None:
        version = do_draft_agreement(actor, employee, period)
    do_set_items(actor, version, items)
    if publish:
        do_publish_agreement(actor, version)
    return version
