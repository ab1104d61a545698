"""Every change to metric definitions and target agreements (业绩目标责任书) goes through here.

Each `do_` function checks the actor's permission and the current state, writes, and
appends its ledger entry in the same transaction (what the input must look like is in
`checks`). An agreement is a sequence of versions: one draft being edited, one published
version in force, the older ones superseded. Publishing fixes the version's content as
canonical JSON (RFC 8785) and records its SHA-256 in the ledger.
"""

import hashlib
from collections.abc import Iterable, Mapping
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Max, Q, QuerySet
from django.utils.translation import gettext as _

from kaohe.lib import clock
from kaohe.lib.canonical import canonical
from kaohe.lib.periods import Period, PeriodError
from kaohe.metrics.checks import (
    FULL_WEIGHT,
    METRIC_FIELDS,
    Checked,
    ItemSpec,
    agreement_content,
    check_item,
    check_items,
    decimal_text,
    metric_values,
    parse_decimal,
    period_of,
)
from kaohe.metrics.models import (
    Acknowledgement,
    AgreementItem,
    AgreementState,
    AgreementVersion,
    Metric,
    TargetAgreement,
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
    "check_item",
    "decimal_text",
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
    "parse_decimal",
]

TARGETS_SCOPE = "targets:write"
MAX_NOTE = 500


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


def _require_target_setter(actor, employee: Employee, reach: set[int] | None = None) -> None:
    """Refuses unless `actor` may set `employee`'s targets; `reach`, when given, holds the
    ids of `employees_targetable_by(actor)` already read (a bulk action asks once)."""
    if _is_own_record(actor, employee):
        raise PermissionDenied(_("Nobody may set their own targets."))
    allowed = employee.pk in reach if reach is not None else may_set_targets(actor, employee)
    if not allowed:
        raise PermissionDenied(_("You may not set targets for this employee."))


def _is_own_record(actor, employee: Employee) -> bool:
    me = getattr(actor, "employee", None) if not isinstance(actor, ApiKey) else None
    return me is not None and me.pk == employee.pk


def _is_user(actor) -> bool:
    return getattr(actor, "pk", None) is not None and not isinstance(actor, ApiKey)


@transaction.atomic
def do_save_metric(actor, data: Mapping, metric: Metric | None = None) -> Metric:
    """Creates a metric (`metric` None) or changes one; HR admins only.

    `data` holds the fields of METRIC_FIELDS (and `code` for a new metric); `numerator`
    and `denominator` are metric codes or metrics. A metric's code never changes; what it
    measures (unit, aggregation, direction, parts) is fixed once it is in a published
    agreement or its data arrived, and it stays in use while an agreement in force names it
    (see `checks`). Raises FieldErrors.
    """
    if not is_hr_admin(actor):
        raise PermissionDenied(_("Only an HR admin may do this."))
    values = metric_values(data, metric)
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


# --- agreements -----------------------------------------------------------------------------
#
# Each do_ function checks the actor, then calls the unchecked step below it, which locks
# the agreement and checks the state under that lock; a bulk assignment checks the actor's
# reach once and calls the steps.


def _draft_of(agreement: TargetAgreement) -> AgreementVersion | None:
    return agreement.versions.filter(state=AgreementState.DRAFT).first()


def _next_number(agreement: TargetAgreement) -> int:
    return (agreement.versions.aggregate(n=Max("number"))["n"] or 0) + 1


def _check_employed(employee: Employee) -> None:
    if employee.status == EmploymentStatus.TERMINATED:
        raise ActionError(_("%(employee)s has left the company.") % {"employee": employee})


def _lock(agreement_id: int) -> TargetAgreement | None:
    """The agreement read afresh, its row locked until the transaction ends: whatever
    changes its versions (opening, editing, publishing or discarding a draft) takes this
    lock first, so one change waits for the other and then sees what it did. PostgreSQL
    locks the row (FOR UPDATE); on SQLite select_for_update does nothing, but every
    transaction is IMMEDIATE (settings), holding the database's write lock from its start.
    The statement joins nothing: a waiting FOR UPDATE re-reads only the locked row."""
    return TargetAgreement.objects.select_for_update().filter(pk=agreement_id).first()


def _lock_draft(version: AgreementVersion) -> TargetAgreement:
    """Locks the version's agreement, then re-reads whether the version is still a draft
    (it may have been published or discarded meanwhile); returns the locked agreement."""
    agreement = _lock(version.agreement_id)
    current = AgreementVersion.objects.filter(pk=version.pk).values_list("state", flat=True)
    if agreement is None or current.first() != AgreementState.DRAFT:
        raise ActionError(_("Only a draft can change; this version is no longer a draft."))
    version.agreement = agreement
    return agreement


def _version_subject(version: AgreementVersion) -> dict:
    return {"agreement": str(version.agreement.public_id)}


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


@transaction.atomic
def do_draft_agreement(actor, employee: Employee, period: Period | str) -> AgreementVersion:
    """Opens the first draft of `employee`'s agreement for `period`. An agreement already
    in force changes through `do_revise_agreement`, with a reason."""
    period = _period(period)
    _require_target_setter(actor, employee)
    return _open_draft(actor, employee, period)


def _open_draft(actor, employee: Employee, period: Period) -> AgreementVersion:
    _check_employed(employee)
    found, _created = TargetAgreement.objects.get_or_create(
        employee=employee,
        period_kind=period.kind.value,
        period_start=period.start,
        defaults={"created_at": clock.now()},
    )
    agreement = _lock(found.pk)
    if agreement is None:  # its only draft was discarded between the two statements
        raise ActionError(
            _("Another request changed this agreement at the same moment; try again.")
        )
    if _draft_of(agreement) is not None:
        raise ActionError(_("This agreement already has a draft; edit that one."))
    if agreement.in_force_id is not None:
        raise ActionError(
            _("This agreement is in force; to change it, start a new version with a reason.")
        )
    return _new_draft(actor, agreement, period, note="", items=[])


def _new_draft(actor, agreement, period: Period, note: str, items) -> AgreementVersion:
    version = AgreementVersion.objects.create(
        agreement=agreement,
        number=_next_number(agreement),
        note=note,
        created_by=actor if _is_user(actor) else None,
        created_at=clock.now(),
    )
    _write_items(version, items)
    payload = {"period": period.label, "version": version.number, "note": note}
    if items:
        payload["based_on"] = agreement.in_force.number
    record(
        "metrics.agreement.drafted", actor, payload, agreement.employee, **_version_subject(version)
    )
    return version


def _write_items(version: AgreementVersion, items) -> None:
    """Items of another version or checked items (both have metric, target, weight, monthly)."""
    AgreementItem.objects.bulk_create(
        AgreementItem(
            version=version,
            metric=item.metric,
            target=item.target,
            weight=item.weight,
            monthly=item.monthly,
        )
        for item in items
    )


@transaction.atomic
def do_revise_agreement(actor, agreement: TargetAgreement, note: str) -> AgreementVersion:
    """A mid-period change: a new draft copied from the version in force. `note` says why;
    once published, the employee's acknowledgement is needed again."""
    _require_target_setter(actor, agreement.employee)
    return _revise(actor, agreement, note)


def _revise(actor, agreement: TargetAgreement, note: str) -> AgreementVersion:
    locked = _lock(agreement.pk)
    if locked is None:
        raise ActionError(_("Nothing is in force yet; edit the draft instead."))
    agreement = locked
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
    items = list(agreement.in_force.items.select_related("metric"))
    return _new_draft(actor, agreement, period_of(agreement), note, items)


@transaction.atomic
def do_discard_draft(actor, version: AgreementVersion) -> None:
    """Throws a draft away; what is in force (if anything) stays."""
    _require_target_setter(actor, version.agreement.employee)
    agreement = _lock_draft(version)
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


@transaction.atomic
def do_set_items(actor, version: AgreementVersion, items: Iterable[ItemSpec]) -> None:
    """Replaces the items of a draft. Raises FieldErrors keyed "items.<n>.<field>"."""
    agreement = version.agreement
    _require_target_setter(actor, agreement.employee)
    _replace_items(version, check_items(list(items), period_of(agreement)))


def _replace_items(version: AgreementVersion, checked: list[Checked]) -> None:
    _lock_draft(version)
    version.items.all().delete()
    _write_items(version, checked)


@transaction.atomic
def do_upsert_item(actor, version: AgreementVersion, spec: ItemSpec, *, keep_weight: bool) -> bool:
    """Sets one metric's target in a draft, adding the item if needed. With `keep_weight`
    an existing item keeps its weight (a new one gets `spec.weight`). An existing monthly
    split stays while the target stays; a new target drops it (it would no longer add up).
    Returns whether anything changed; raises FieldErrors keyed by field."""
    _require_target_setter(actor, version.agreement.employee)
    agreement = _lock_draft(version)
    existing = version.items.filter(metric=spec.metric).first()
    checked = check_item(spec, period_of(agreement))
    if existing is None:
        _write_items(version, [checked])
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


@transaction.atomic
def do_publish_agreement(actor, version: AgreementVersion) -> AgreementVersion:
    """Puts a draft in force: the previous version becomes superseded, the employee's
    acknowledgement becomes pending, and the ledger records the content and its SHA-256."""
    _require_target_setter(actor, version.agreement.employee)
    return _publish(actor, version)


def _publish(actor, version: AgreementVersion) -> AgreementVersion:
    """Puts a draft in force. Under the agreement's lock, so the items it checks and hashes
    are the ones saved: no edit of the draft can run between this and the commit."""
    agreement = _lock_draft(version)
    _check_employed(agreement.employee)
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
    checked = check_items(items, period)  # the same for all: faults are nobody's in particular
    reach = set(
        employees_targetable_by(actor)
        .filter(pk__in=[e.pk for e in people])
        .values_list("pk", flat=True)
    )
    reasons: dict[str, str] = {}
    versions = []
    for employee in people:
        try:
            with transaction.atomic():
                _require_target_setter(actor, employee, reach)
                versions.append(_assign_one(actor, employee, period, checked, publish, note))
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


def _assign_one(actor, employee, period, checked, publish: bool, note: str) -> AgreementVersion:
    agreement = (
        TargetAgreement.objects.select_for_update()
        .filter(employee=employee, period_kind=period.kind.value, period_start=period.start)
        .first()
    )
    version = _draft_of(agreement) if agreement else None
    if version is None and agreement is not None and agreement.in_force_id:
        version = _revise(actor, agreement, note)
    elif version is None:
        version = _open_draft(actor, employee, period)
    _replace_items(version, checked)
    if publish:
        _publish(actor, version)
    return version
