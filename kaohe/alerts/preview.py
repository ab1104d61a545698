"""What a rule would do, shown before it is saved: whom it flags today and, month by
month over the past year, the alerts it would have raised (the backtest).

Only reads: `kinds.evaluate` is pure, so neither alerts nor ledger entries are written.
"""

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

from kaohe.alerts import expressions
from kaohe.alerts.kinds import Finding, ParamError, Spec, evaluate, population
from kaohe.alerts.models import Kind
from kaohe.integrations.models import Source
from kaohe.lib.periods import Period, PeriodKind
from kaohe.org.models import Company, Employee

MONTHS = 12
# From this share of the population flagged, the preview warns: a rule that flags half
# the company is most likely a wrong threshold.
WARN_SHARE = 50


@dataclass
class Flagged:
    subject: str  # the employee number, or "source:<code>"
    name: str
    unit: str
    period: str
    figures: dict


@dataclass
class Month:
    label: str  # "2026-03"
    count: int
    employees: list[Flagged]


@dataclass
class Preview:
    today: list[Flagged] = field(default_factory=list)
    months: list[Month] = field(default_factory=list)
    population: int = 0
    warnings: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # parameter: message
    failures: int = 0  # people whose expression failed today (custom rules): not flagged


def preview(spec: Spec, now: dt.datetime) -> Preview:
    """The rule's findings at `now` and at each of the last 12 month-ends before it."""
    result = Preview()
    try:
        with expressions.collect_errors() as failures:
            result.today = _flagged(evaluate(spec, now))
        # An alert exists once per subject and period: a month counts the pairs it finds
        # that no earlier month of the backtest found (someone below target for six months
        # running is one alert per period, not six at each month-end).
        seen: set[tuple[str, str]] = set()
        for label, moment in month_ends(now, MONTHS):
            found = [f for f in evaluate(spec, moment) if (f.subject, f.period) not in seen]
            seen |= {(f.subject, f.period) for f in found}
            result.months.append(Month(label, len(found), _flagged(found)))
    except ParamError as fault:
        return Preview(errors=fault.errors)
    result.population = _population(spec)
    result.failures = len({subject for subject, _message in failures})
    result.warnings = _warnings(result, failures)
    return result


def month_ends(now: dt.datetime, count: int) -> list[tuple[str, dt.datetime]]:
    """The last `count` ends of months before `now` (the last instant of each month in the
    company's timezone), oldest first, with the month's label."""
    tz = ZoneInfo(Company.get().timezone)
    month = Period.containing(PeriodKind.MONTH, now.astimezone(tz).date())
    ends = []
    for _step in range(count):
        start = dt.datetime.combine(month.start, dt.time.min, tzinfo=tz)
        month = month.previous()
        ends.append((month.label, start - dt.timedelta(microseconds=1)))
    return ends[::-1]


def _flagged(findings: list[Finding]) -> list[Flagged]:
    ids = [f.employee_id for f in findings if f.employee_id is not None]
    people = Employee.objects.select_related("org_unit").in_bulk(ids)
    flagged = []
    for finding in findings:
        person = people.get(finding.employee_id)
        name = person.name if person else finding.subject.removeprefix("source:")
        unit = person.org_unit.name if person and person.org_unit_id else ""
        flagged.append(Flagged(finding.subject, name, unit, finding.period, finding.figures))
    return flagged


def _population(spec: Spec) -> int:
    if spec.kind == Kind.SOURCE_SILENT:
        return Source.objects.filter(active=True).count()
    return population(spec).count()


def _warnings(result: Preview, failures: list[tuple[str, str]]) -> list[str]:
    warnings = []
    if not result.population:
        warnings.append(_("No one is in the rule's scope."))
    else:
        share = len({f.subject for f in result.today}) * 100 // result.population
        if share >= WARN_SHARE:
            warnings.append(
                _("This rule would flag %(share)s%% of the %(count)s people in scope.")
                % {"share": share, "count": result.population}
            )
    if failures:
        subject, message = failures[0]
        warnings.append(
            _(
                "The expression could not be evaluated for %(count)s people, who are not "
                "flagged (for example %(subject)s: %(message)s)."
            )
            % {"count": result.failures, "subject": subject, "message": message}
        )
    return warnings
