"""What each kind of rule looks at, and whom it finds as of a moment.

`evaluate(spec, now, employee_ids)` returns the findings of a rule: one per subject
(employee or source) and period for which its condition holds at `now`. It reads, never
writes, so the preview and the backtest use it as it is; the sweep turns findings into
alerts (`sweep.py`).

A period counts once it is over in the company's timezone: the month running at `now`
is shown on the pages but never makes a "consecutive periods" rule fire.
"""

import datetime as dt
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.db.models import Q
from django.utils.translation import gettext as _

from kaohe.alerts.models import Kind
from kaohe.integrations.health import silent_since
from kaohe.integrations.models import Source
from kaohe.lib.periods import PeriodKind
from kaohe.lib.workdays import CALENDAR, WORKING
from kaohe.metrics.attainment import agreement_period
from kaohe.metrics.models import Metric
from kaohe.metrics.series import attainment_series, complete_periods
from kaohe.org.models import Company, Employee, EmploymentStatus, OrgUnit
from kaohe.org.workdays import company_calendar
from kaohe.pips.models import Plan, PlanStatus, Task
from kaohe.signing.agreements import awaiting_without_document
from kaohe.signing.models import CHASED_KINDS, Document, DocumentState

MAX_PERIODS = 12


class ParamError(ValueError):
    """Parameters a rule cannot run with: {parameter: message}."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass
class Spec:
    """A rule's condition and scope: a saved Rule's or a form's not yet saved."""

    kind: str
    params: dict
    unit_ids: list[int] = field(default_factory=list)
    positions: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, rule) -> "Spec":
        return cls(
            rule.kind,
            rule.params,
            [unit.pk for unit in rule.scope_units.all()],
            list(rule.scope_positions),
        )


@dataclass
class Finding:
    employee_id: int | None
    subject: str  # the employee number, or "source:<code>"
    period: str
    figures: dict


# --- parameters ----------------------------------------------------------------------


def _integer(params: dict, name: str, default: int, low: int, high: int, errors) -> int:
    value = params.get(name, default)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        errors[name] = _("Enter a whole number from %(low)s to %(high)s.") % {
            "low": low,
            "high": high,
        }
        return default
    return value


def _percent(params: dict, name: str, default: str, errors) -> str:
    value = str(params.get(name, default)).strip()
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite() or not Decimal(0) < number <= Decimal(1000):
        errors[name] = _("Enter a percentage above 0 and at most 1000.")
        return default
    return str(number)


def _day_kind(params: dict, errors) -> str:
    value = params.get("day_kind", WORKING)
    if value not in (CALENDAR, WORKING):
        errors["day_kind"] = _("Choose calendar days or working days.")
        return WORKING
    return value


def check_params(kind: str, params: dict) -> dict:
    """The kind's parameters, completed with defaults and normalised; raises ParamError
    naming each faulty one."""
    errors: dict[str, str] = {}
    params = dict(params or {})
    if kind == Kind.ATTAINMENT:
        code = str(params.get("metric") or "").strip()
        if code and not Metric.objects.filter(code=code).exists():
            errors["metric"] = _("There is no such metric.")
        period_kind = params.get("period_kind", PeriodKind.MONTH)
        if period_kind not in (PeriodKind.MONTH, PeriodKind.QUARTER):
            errors["period_kind"] = _("Choose months or quarters.")
            period_kind = PeriodKind.MONTH
        cleaned = {
            "metric": code,
            "threshold": _percent(params, "threshold", "80", errors),
            "periods": _integer(params, "periods", 2, 1, MAX_PERIODS, errors),
            "period_kind": str(period_kind),
        }
    elif kind in (Kind.UNCONFIRMED, Kind.PIP_OVERDUE):
        default = 3 if kind == Kind.UNCONFIRMED else 10
        cleaned = {
            "days": _integer(params, "days", default, 1, 365, errors),
            "day_kind": _day_kind(params, errors),
        }
    elif kind == Kind.SOURCE_SILENT:
        cleaned = {"hours": _integer(params, "hours", 24, 1, 24 * 90, errors)}
    elif kind == Kind.CUSTOM:
        from kaohe.alerts import expressions

        expression = str(params.get("expression") or "")
        try:
            expressions.check(expression)
        except expressions.ExpressionError as fault:
            errors["expression"] = str(fault)
        cleaned = {"expression": expression}
    else:
        raise ParamError({"kind": _("There is no such kind of rule.")})
    if errors:
        raise ParamError(errors)
    return cleaned


# --- whom a rule watches ---------------------------------------------------------------


def population(spec: Spec, employee_ids: Collection[int] | None = None):
    """The employed people in the rule's scope (of `employee_ids`, when given)."""
    people = Employee.objects.filter(status__in=EmploymentStatus.employed())
    if spec.unit_ids:
        condition = Q(pk__in=[])
        for unit in OrgUnit.objects.filter(pk__in=spec.unit_ids):
            condition |= unit.descendants_q("org_unit__")
        people = people.filter(condition)
    if spec.positions:
        people = people.filter(position__in=spec.positions)
    if employee_ids is not None:
        people = people.filter(pk__in=list(employee_ids))
    return people


# --- the kinds ---------------------------------------------------------------------------


def evaluate(
    spec: Spec, now: dt.datetime, employee_ids: Collection[int] | None = None
) -> list[Finding]:
    """The rule's findings at `now` (for `employee_ids` only, when given)."""
    params = check_params(spec.kind, spec.params)
    tz = ZoneInfo(Company.get().timezone)
    return EVALUATORS[spec.kind](spec, params, now, tz, employee_ids)


def _attainment(spec, params, now, tz, employee_ids) -> list[Finding]:
    today = now.astimezone(tz).date()
    periods = complete_periods(params["period_kind"], today, params["periods"])
    metric = Metric.objects.filter(code=params["metric"]).first() if params["metric"] else None
    threshold = Decimal(params["threshold"])
    people = dict(population(spec, employee_ids).values_list("pk", "employee_no"))
    # Latest period first: only those below in it are read for the one before, and so on.
    below: dict[int, list[Decimal]] = {pk: [] for pk in people}
    for period in reversed(periods):
        found = attainment_series(below, [period], metric, today)
        below = {
            s.employee_id: [value, *below[s.employee_id]]
            for s in found
            if (value := s.values[0]) is not None and value < threshold
        }
    return [
        Finding(
            employee_id,
            people[employee_id],
            periods[-1].label,
            {
                "metric": params["metric"],
                "threshold": params["threshold"],
                "periods": [p.label for p in periods],
                "attainment": [str(v.quantize(Decimal("0.01"))) for v in values],
            },
        )
        for employee_id, values in sorted(below.items())
    ]


def _unconfirmed(spec, params, now, tz, employee_ids) -> list[Finding]:
    """Documents put before the employee (results, target agreements, plans) still neither
    signed nor disputed after the deadline; and published target agreements that were never
    issued as a document for signing (agreements published before signing existed)."""
    cutoff = company_calendar().overdue_cutoff(now, params["days"], params["day_kind"], tz)
    people = population(spec, employee_ids)
    documents = (
        Document.objects.filter(
            state=DocumentState.PENDING,
            kind__in=CHASED_KINDS,
            issued_at__lt=cutoff,
            employee__in=people,
        )
        .select_related("employee")
        .order_by("pk")
    )
    findings = [
        Finding(
            document.employee_id,
            document.employee.employee_no,
            f"document:{document.pk}",
            {
                "document": document.kind,
                "document_id": str(document.public_id),
                "title": document.title,
                "delivered_at": (document.delivered_at or document.issued_at).isoformat(),
                "days": params["days"],
                "day_kind": params["day_kind"],
            },
        )
        for document in documents
    ]
    versions = (
        awaiting_without_document()
        .filter(published_at__lt=cutoff, agreement__employee__in=people)
        .select_related("agreement__employee")
        .order_by("pk")
    )
    for version in versions:
        agreement = version.agreement
        findings.append(
            Finding(
                agreement.employee_id,
                agreement.employee.employee_no,
                f"agreement:{version.pk}",
                {
                    "document": "target_agreement",
                    "agreement": str(agreement.public_id),
                    "period": agreement_period(agreement).label,
                    "version": version.number,
                    "delivered_at": version.published_at.isoformat(),
                    "days": params["days"],
                    "day_kind": params["day_kind"],
                },
            )
        )
    return findings


def _pip_overdue(spec, params, now, tz, employee_ids) -> list[Finding]:
    """Open plans and unfinished tasks more than `days` days past their due day."""
    today = now.astimezone(tz).date()
    calendar = company_calendar()
    if params["day_kind"] == CALENDAR:
        latest_due = today - dt.timedelta(days=params["days"])
    else:
        # Overdue by N working days: N working days lie in (due day, today], whatever kind
        # of day the due day or today is (a holiday, a weekend, a make-up working day).
        day = dt.timedelta(days=1)
        latest_due = calendar.add_working_days(today + day, -params["days"]) - day
    people = population(spec, employee_ids)
    findings = []
    # As things stood at `now` (a backtest or `kaohe sweep --as-of` looks back): a plan
    # opened by then and not closed before, a task not done before.
    still_open = Q(status=PlanStatus.OPEN) | Q(closed_at__gt=now)
    plans = Plan.objects.filter(
        still_open, created_at__lte=now, due_on__lte=latest_due, employee__in=people
    ).select_related("employee")

    def overdue(employee, period: str, due_on: dt.date, **what) -> Finding:
        days = {"days": params["days"], "day_kind": params["day_kind"]}
        figures = {**what, "due_on": due_on.isoformat(), **days}
        return Finding(employee.pk, employee.employee_no, period, figures)

    for plan in plans.order_by("pk"):
        findings.append(overdue(plan.employee, f"pip:{plan.pk}", plan.due_on, plan=plan.title))
    tasks = Task.objects.filter(
        Q(done_at__isnull=True) | Q(done_at__gt=now),
        Q(plan__status=PlanStatus.OPEN) | Q(plan__closed_at__gt=now),
        plan__created_at__lte=now,
        due_on__lte=latest_due,
        plan__employee__in=people,
    ).select_related("plan__employee")
    for task in tasks.order_by("pk"):
        what = {"plan": task.plan.title, "task": task.title}
        findings.append(overdue(task.plan.employee, f"pip-task:{task.pk}", task.due_on, **what))
    return findings


def _source_silent(spec, params, now, tz, employee_ids) -> list[Finding]:
    """Active sources that accepted nothing for `hours` hours; one finding per silence
    (the period is when it began), so a source that stays silent is reported once."""
    if employee_ids is not None:
        return []  # not about employees: only the sweep looks
    limit = dt.timedelta(hours=params["hours"])
    findings = []
    for source in Source.objects.filter(active=True).order_by("code"):
        since = silent_since(source)
        if now - since > limit:
            findings.append(
                Finding(
                    None,
                    f"source:{source.code}",
                    f"since:{since.isoformat()}",
                    {"source": source.code, "since": since.isoformat(), "hours": params["hours"]},
                )
            )
    return findings


def _custom(spec, params, now, tz, employee_ids) -> list[Finding]:
    from kaohe.alerts import expressions

    return expressions.evaluate_rule(spec, params, now, tz, population(spec, employee_ids))


EVALUATORS: dict[str, Callable[..., list[Finding]]] = {
    Kind.ATTAINMENT: _attainment,
    Kind.UNCONFIRMED: _unconfirmed,
    Kind.PIP_OVERDUE: _pip_overdue,
    Kind.SOURCE_SILENT: _source_silent,
    Kind.CUSTOM: _custom,
}

# Kinds whose findings change when facts arrive: re-evaluated for the employees of a batch.
EVENT_KINDS = (Kind.ATTAINMENT, Kind.CUSTOM)
