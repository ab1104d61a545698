"""The targets API: `PUT /api/v1/targets`, `GET /api/v1/employees/{no}/attainment`,
`GET /api/v1/metrics`.

A target batch is checked in two steps. Its shape (an object with `items`, each an object
of the documented fields and types) is the request's: a malformed one is a 422 naming each
fault. What the items say is each item's own: an unknown employee, metric or period, a bad
number, a change the caller may not make is a rejection with the item's index, field and
reason, and every other item still applies.
"""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from ninja import Path, Query, Router, Schema
from pydantic import (
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    WithJsonSchema,
)

from kaohe.lib.periods import Period, PeriodError
from kaohe.lib.problem import Problem, ProblemError
from kaohe.metrics import attainment
from kaohe.metrics.actions import (
    TARGETS_SCOPE,
    ActionError,
    FieldErrors,
    ItemSpec,
    check_item,
    do_draft_agreement,
    do_publish_agreement,
    do_revise_agreement,
    do_upsert_item,
    employees_targetable_by,
    parse_decimal,
)
from kaohe.metrics.models import AgreementState, AgreementVersion, Metric, TargetAgreement
from kaohe.org.actions import company_today
from kaohe.org.api import ApiKeyAuth, Caller, SessionAuth, auth_for
from kaohe.org.models import Employee
from kaohe.org.validators import EMPLOYEE_NO_PATTERN

MAX_TARGETS = 5000
PERIOD_PATTERN = r"^(20[0-9]{2}|2100)(-(0[1-9]|1[0-2]|Q[1-4]|H[12]))?$"

router = Router(tags=["targets"])


class TargetsSessionAuth(SessionAuth):
    """A signed-in user: HR for their units, a manager for their reporting subtree."""

    def authenticate(self, request, key: str | None) -> Caller | None:
        if key is None:
            return None
        return Caller(user=request.user)


# --- what goes in and out ---------------------------------------------------------------

Text = Annotated[str, StringConstraints(strict=True, max_length=50)]
Number = Annotated[str, StringConstraints(strict=True, max_length=40)] | StrictInt | StrictFloat


class TargetIn(Schema):
    model_config = ConfigDict(extra="forbid")

    employee: Text = Field(description="The employee number.")
    metric: Text = Field(description="The metric's code.")
    period: Text = Field(description='"2026-01", "2026-Q1", "2026-H1" or "2026".')
    value: Number = Field(description='The target, best as a decimal string ("300000.00").')
    weight: Number | None = Field(
        None,
        description="Percent of the agreement's score, 0 to 100. Left out: an existing item "
        "keeps its weight and a new one gets 0.",
    )


class TargetBatch(Schema):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {"employee": "E0042", "metric": "sales_amount", "period": "2026-Q1",
                         "value": "300000.00", "weight": "70"},
                        {"employee": "E0042", "metric": "deals_signed", "period": "2026-Q1",
                         "value": "12", "weight": "30"},
                    ],
                    "publish": True,
                }
            ]
        },
    )  # fmt: skip

    items: list[TargetIn] = Field(max_length=MAX_TARGETS, description="Up to 5,000 targets.")
    publish: StrictBool = Field(
        False, description="Publish each touched agreement once its items are set."
    )
    note: Annotated[str, StringConstraints(strict=True, max_length=500)] = Field(
        "", description="Why an agreement in force changes; required for such a change."
    )


class RejectionOut(Schema):
    index: int = Field(description="The position of the item in `items`, from 0.")
    field: str = Field(description='The field at fault, e.g. "metric"; "" for the item.')
    code: str = Field(description='A stable reason, e.g. "unknown", "duplicate".')
    message: str = Field(description="What is wrong, in the request's language.")


class AgreementOut(Schema):
    employee: str
    period: str
    version: int = Field(description="The number of the version the items went into.")
    state: str = Field(description='"draft", or "published" once in force.')
    problem: str | None = Field(
        description="Why the version was not published, when `publish` asked for it."
    )


class TargetCounts(Schema):
    set: int = Field(description="Targets added or changed.")
    unchanged: int = Field(description="Targets sent as they already were.")
    rejected: int = Field(description="Items not applied; see `rejected`.")


class TargetsResult(Schema):
    counts: TargetCounts
    agreements: list[AgreementOut] = Field(description="Every agreement the batch touched.")
    rejected: list[RejectionOut]


class MonthOut(Schema):
    period: str
    target: str | None
    actual: str | None
    attainment: str | None


class FigureOut(Schema):
    metric: str
    name_zh: str
    name_en: str
    unit: str
    direction: str
    weight: str | None = Field(description="Null for a metric outside the agreement.")
    target: str | None
    actual: str | None = Field(
        description="A sum or count is 0 once the period has begun, even if nothing arrived; "
        "null for a period ahead, and for an average, latest value or ratio without data."
    )
    attainment: str | None = Field(description="Percent; may exceed 100 or be negative.")
    months: list[MonthOut] = Field(description="Month by month, for a longer period.")


class AgreementRef(Schema):
    id: str
    period: str
    version: int
    published_at: dt.datetime | None
    acknowledgement: str
    content_sha256: str


class AttainmentOut(Schema):
    employee: str
    period: str
    agreement: AgreementRef | None = Field(description="The agreement whose targets apply.")
    score: str | None = Field(
        description="Σ weight × attainment / 100 over the agreement's items with figures "
        "(their weights scaled up to 100 while others have none); null without any."
    )
    covered_weight: str = Field(description="How much of the weight the score covers.")
    items: list[FigureOut]


class MetricOut(Schema):
    code: str
    name_zh: str
    name_en: str
    unit: str
    aggregation: str
    direction: str
    numerator: str | None
    denominator: str | None
    sources: list[str]
    decimal_places: int
    active: bool


class MetricList(Schema):
    items: list[MetricOut]


# --- PUT /targets -----------------------------------------------------------------------

PUT_DESCRIPTION = f"""Sets targets in employees' target agreements (业绩目标责任书).

Each item names an employee, a metric, a period and the target `value` (and optionally
its `weight`). The items of one employee and period go into the draft version of that
agreement, which is created when there is none; an agreement already in force gets a new
version copied from it, which needs `note` (the reason for the change). With
`"publish": true` each touched draft is then published: it goes into force and the
employee's acknowledgement becomes pending; publishing needs weights adding up to 100,
and an agreement that cannot be published says why in `problem` (its draft is kept).
Sending the same targets again changes nothing.

Item faults are reported in `rejected` with index, field, code and reason, and the other
items apply: an employee outside the caller's reach (answered like an unknown one), an
unknown or inactive metric, a bad period, value or weight, the same employee, metric and
period twice. A malformed body (wrong types, unknown fields, more than {MAX_TARGETS:,}
items) is a 422 naming every fault.

Scope: `targets:write` (the key's org units apply). A signed-in HR partner or manager may
set targets of the people in their reach, never their own.
"""


@dataclass
class _Target:
    index: int
    employee: Employee
    metric: Metric
    period: Period
    value: Decimal
    weight: Decimal | None


class _Batch:
    def __init__(self, caller: Caller, batch: TargetBatch) -> None:
        self.actor = caller.key or caller.user
        self.batch = batch
        self.rejected: list[dict] = []
        self.agreements: list[dict] = []
        self.set = self.unchanged = 0

    def reject(self, index: int, field: str, code: str, message: str) -> None:
        self.rejected.append(
            {"index": index, "field": field, "code": code, "message": str(message)}
        )

    def read(self) -> list[_Target]:
        items = self.batch.items
        # A NUL cannot be in any number or code, and PostgreSQL refuses it even in a query.
        numbers = {item.employee for item in items if "\x00" not in item.employee}
        codes = {item.metric for item in items if "\x00" not in item.metric}
        people = employees_targetable_by(self.actor).filter(employee_no__in=numbers)
        employees = {e.employee_no: e for e in people}
        metrics = {
            m.code: m
            for m in Metric.objects.filter(code__in=codes, active=True).select_related(
                "numerator", "denominator"
            )
        }
        targets = []
        for index, item in enumerate(items):
            target = self._read(index, item, employees, metrics)
            if target is not None:
                targets.append(target)
        return self._without_duplicates(targets)

    def _read(self, index, item: TargetIn, employees, metrics) -> _Target | None:
        employee = employees.get(item.employee)
        if employee is None:
            self.reject(index, "employee", "unknown", _("There is no such employee."))
            return None
        metric = metrics.get(item.metric)
        if metric is None:
            self.reject(index, "metric", "unknown", _("There is no such metric."))
            return None
        try:
            period = Period.parse(item.period)
        except PeriodError:
            message = _("Use a period such as 2026-01, 2026-Q1, 2026-H1 or 2026.")
            self.reject(index, "period", "invalid", message)
            return None
        numbers: dict[str, Decimal | None] = {}
        for name in ("value", "weight"):
            raw = getattr(item, name)
            if raw is None:
                numbers[name] = None
                continue
            try:
                numbers[name] = parse_decimal(raw, places=4 if name == "value" else 2)
            except ValueError as exc:
                self.reject(index, name, "invalid", str(exc))
                return None
        value, weight = numbers["value"], numbers["weight"]
        assert value is not None  # the schema requires it
        spec = ItemSpec(metric, value, weight or Decimal(0))
        try:
            check_item(spec, period)
        except FieldErrors as exc:
            name, message = next(iter(exc.errors.items()))
            self.reject(index, "value" if name == "target" else name, "invalid", message)
            return None
        return _Target(index, employee, metric, period, value, weight)

    def _without_duplicates(self, targets: list[_Target]) -> list[_Target]:
        seen: dict[tuple, list[_Target]] = defaultdict(list)
        for target in targets:
            seen[(target.employee.pk, target.metric.pk, target.period)].append(target)
        kept = []
        for group in seen.values():
            if len(group) == 1:
                kept.append(group[0])
                continue
            for target in group:
                others = ", ".join(str(t.index) for t in group if t is not target)
                message = _(
                    "The same employee, metric and period appear more than once in this "
                    "batch (also at %(others)s)."
                ) % {"others": others}
                self.reject(target.index, "metric", "duplicate", message)
        return sorted(kept, key=lambda t: t.index)

    def apply(self, targets: list[_Target]) -> None:
        groups: dict[tuple, list[_Target]] = defaultdict(list)
        for target in targets:
            groups[(target.employee.pk, target.period)].append(target)
        for group in groups.values():
            try:
                with transaction.atomic():
                    self._apply_group(group)
            except (ActionError, PermissionDenied) as exc:
                for target in group:
                    field = "note" if isinstance(exc, FieldErrors) else ""
                    self.reject(target.index, field, "refused", _message(exc))
            except IntegrityError:
                message = _("Another request changed this agreement at the same moment; try again.")
                for target in group:
                    self.reject(target.index, "", "conflict", message)

    def _apply_group(self, group: list[_Target]) -> None:
        employee, period = group[0].employee, group[0].period
        agreement = TargetAgreement.objects.filter(
            employee=employee, period_kind=period.kind.value, period_start=period.start
        ).first()
        draft = _draft(agreement)
        base = _items(draft or _in_force(agreement))
        changing = [t for t in group if _changes(t, base.get(t.metric.pk))]
        self.unchanged += len(group) - len(changing)
        if not changing and draft is None:
            if agreement is not None and agreement.in_force_id:
                self._report(agreement.in_force, employee, period, None)
            return
        if draft is None:
            draft = self._open_draft(agreement, employee, period)
        for target in changing:
            self._set(draft, target)
        problem = self._publish(draft) if self.batch.publish else None
        self._report(draft, employee, period, problem)

    def _open_draft(self, agreement, employee, period) -> AgreementVersion:
        if agreement is not None and agreement.in_force_id:
            return do_revise_agreement(self.actor, agreement, self.batch.note)
        return do_draft_agreement(self.actor, employee, period)

    def _set(self, draft: AgreementVersion, target: _Target) -> None:
        spec = ItemSpec(target.metric, target.value, target.weight or Decimal(0))
        try:
            with transaction.atomic():
                changed = do_upsert_item(self.actor, draft, spec, keep_weight=target.weight is None)
        except FieldErrors as exc:
            name, message = next(iter(exc.errors.items()))
            self.reject(target.index, "value" if name == "target" else name, "invalid", message)
            return
        if changed:
            self.set += 1
        else:
            self.unchanged += 1

    def _publish(self, draft: AgreementVersion) -> str | None:
        try:
            with transaction.atomic():
                do_publish_agreement(self.actor, draft)
        except ActionError as exc:
            return _message(exc)
        return None

    def _report(self, version, employee, period, problem) -> None:
        self.agreements.append(
            {"employee": employee.employee_no, "period": period.label,
             "version": version.number, "state": version.state, "problem": problem}
        )  # fmt: skip


def _draft(agreement: TargetAgreement | None) -> AgreementVersion | None:
    if agreement is None:
        return None
    return agreement.versions.filter(state=AgreementState.DRAFT).first()


def _in_force(agreement: TargetAgreement | None) -> AgreementVersion | None:
    return agreement.in_force if agreement is not None and agreement.in_force_id else None


def _items(version: AgreementVersion | None) -> dict:
    return {item.metric_id: item for item in version.items.all()} if version else {}


def _changes(target: _Target, item) -> bool:
    if item is None or item.target != target.value:
        return True
    return target.weight is not None and item.weight != target.weight


def _message(exc: Exception) -> str:
    if isinstance(exc, FieldErrors):
        return " ".join(exc.errors.values())
    return str(exc) or _("You may not set targets for this employee.")


@router.put(
    "/targets",
    auth=[ApiKeyAuth(TARGETS_SCOPE), TargetsSessionAuth()],
    response={200: TargetsResult, 400: Problem, 401: Problem, 403: Problem, 422: Problem},
    summary="Set targets",
    description=PUT_DESCRIPTION,
)
def put_targets(request, batch: TargetBatch):
    work = _Batch(request.auth, batch)
    targets = work.read()
    with transaction.atomic():
        work.apply(targets)
    work.rejected.sort(key=lambda rejection: rejection["index"])
    counts = {"set": work.set, "unchanged": work.unchanged, "rejected": len(work.rejected)}
    return {"counts": counts, "agreements": work.agreements, "rejected": work.rejected}


# --- GET /employees/{no}/attainment -----------------------------------------------------


class AttainmentQuery(Schema):
    period: Annotated[
        Annotated[str, StringConstraints(max_length=7, pattern=PERIOD_PATTERN)] | None,
        WithJsonSchema({"type": "string", "maxLength": 7, "pattern": PERIOD_PATTERN}),
    ] = Field(
        None,
        description='"2026-01", "2026-Q1", "2026-H1" or "2026"; the current quarter when left out.',
    )


def _text(value: Decimal | None, places: int) -> str | None:
    rounded = attainment.rounded(value, places)
    return None if rounded is None else format(rounded, "f")


def _figure_out(figure: attainment.Figure) -> dict:
    metric, places = figure.metric, figure.metric.decimal_places
    return {
        "metric": metric.code,
        "name_zh": metric.name_zh,
        "name_en": metric.name_en,
        "unit": metric.unit,
        "direction": metric.direction,
        "weight": _text(figure.weight, 2),
        "target": _text(figure.target, places),
        "actual": _text(figure.actual, places),
        "attainment": _text(figure.attainment, 2),
        "months": [
            {"period": month.month.label, "target": _text(month.target, places),
             "actual": _text(month.actual, places),
             "attainment": _text(month.attainment, 2)}
            for month in figure.months
        ],
    }  # fmt: skip


def attainment_out(card: attainment.Scorecard) -> dict:
    agreement, version = card.agreement, card.version
    return {
        "employee": card.employee.employee_no,
        "period": card.period.label,
        "agreement": None
        if agreement is None
        else {
            "id": str(agreement.public_id),
            "period": attainment.agreement_period(agreement).label,
            "version": version.number,
            "published_at": version.published_at,
            "acknowledgement": version.acknowledgement,
            "content_sha256": version.content_sha256,
        },
        "score": _text(card.score, 2),
        "covered_weight": _text(card.covered, 2),
        "items": [_figure_out(figure) for figure in card.figures],
    }


@router.get(
    "/employees/{employee_no}/attainment",
    auth=auth_for("employees:read"),
    response={200: AttainmentOut, 401: Problem, 403: Problem, 404: Problem, 422: Problem},
    summary="An employee's targets, actuals and attainment",
)
def get_attainment(
    request,
    filters: Query[AttainmentQuery],
    employee_no: str = Path(..., max_length=32, pattern=EMPLOYEE_NO_PATTERN, example="E0042"),
):
    """Per metric of the agreement in force for the period (the smallest one covering it):
    target, actual and attainment, month by month for a longer period, and the weighted
    score; metrics with data but no target follow with a null weight. Read from monthly
    actuals kept current as facts arrive.

    Scope: `employees:read` (the key's org units apply), or a signed-in user who may see
    the employee. Anyone else gets 404, as for an unknown number.
    """
    employee = request.auth.employees().filter(employee_no=employee_no).first()
    if employee is None:
        detail = _("There is no employee %(number)s within your reach.")
        raise ProblemError(404, detail % {"number": employee_no})
    period = (
        Period.parse(filters.period)
        if filters.period
        else Period.containing("quarter", company_today())
    )
    return attainment_out(attainment.scorecard(employee, period))


# --- GET /metrics -----------------------------------------------------------------------


@router.get(
    "/metrics",
    response={200: MetricList, 401: Problem},
    summary="List metric definitions",
)
def list_metrics(request):
    """Every metric: its code, names, unit, aggregation, direction, the parts of a ratio
    and the sources that may send its facts. Any API key or signed-in user."""
    metrics = Metric.objects.select_related("numerator", "denominator").order_by("code")
    return {
        "items": [
            {
                "code": m.code,
                "name_zh": m.name_zh,
                "name_en": m.name_en,
                "unit": m.unit,
                "aggregation": m.aggregation,
                "direction": m.direction,
                "numerator": m.numerator.code if m.numerator_id else None,
                "denominator": m.denominator.code if m.denominator_id else None,
                "sources": list(m.sources),
                "decimal_places": m.decimal_places,
                "active": m.active,
            }
            for m in metrics
        ]
    }
