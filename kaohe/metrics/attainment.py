"""Actuals, targets and attainment per employee, metric and period, read from monthly
Actual rows (never from facts): an employee's year is at most twelve rows per metric and
org unit, so one query serves a whole page.

The rules, in one place:

- A period's actual comes from its months: a sum adds the totals, a count adds the counts,
  an average is Σtotal / Σcount, a latest value is the one with the greatest `latest_at`,
  and a ratio is the numerator's actual over the denominator's for the whole period (times
  100 when the ratio's unit is percent). A month split by a transfer has one row per org
  unit; the employee's figure adds them.
- Without rows, a sum or a count is 0 once the period has begun (closing no deal is a
  result, and the warnings must see it), and None while it lies wholly ahead. An average,
  a latest value or a ratio has no value without data: None, never 0.
- The target for a period comes from the smallest agreement in force whose period contains
  it. For the agreement's own period it is the item's target; for a shorter period inside
  it, a sum or count takes its months' share (the monthly split when there is one, a month
  left out of the split being 0; otherwise the target divided evenly over the months) and
  an average, ratio or latest value keeps the same target.
- Attainment is a percent, unrounded until shown and never capped: it may exceed 100 and
  is negative when the actual is (refunds). Higher is better: actual / target × 100.
  Lower is better: (2 − actual / target) × 100, so the target itself is 100, half of it
  150, nothing at all 200, and twice the target 0. A target of 0 is met (100) or missed (0):
  met when the actual is at least 0 (higher) or at most 0 (lower).
- The weighted score is Σ weight × attainment / 100 over the agreement's items, uncapped.
  While some items have no actual or target yet, the score covers the others, their weights
  scaled up to 100 (`covered` says how much weight it covers); with none, it is None.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Q

from kaohe.lib.periods import Period, PeriodKind
from kaohe.metrics.models import (
    ADDITIVE,
    Actual,
    Aggregation,
    AgreementItem,
    Direction,
    Metric,
    TargetAgreement,
    Unit,
)
from kaohe.org.actions import company_today
from kaohe.org.models import Employee

HUNDRED = Decimal(100)
SCALE = Decimal(10_000)  # Actual.total_e4 counts ten-thousandths
PERCENT_PLACES = Decimal("0.01")


@dataclass
class Cell:
    """One month of one metric for one employee, all org units of that month together."""

    total: Decimal = Decimal(0)
    count: int = 0
    latest_value: Decimal | None = None
    latest_at: dt.datetime | None = None

    def add(self, total_e4: int, count: int, latest_value, latest_at) -> None:
        self.total += Decimal(total_e4) / SCALE
        self.count += count
        if latest_at is not None and (self.latest_at is None or latest_at > self.latest_at):
            self.latest_value, self.latest_at = latest_value, latest_at


def percent(actual: Decimal | None, target: Decimal | None, direction: str) -> Decimal | None:
    """Attainment in percent (see the module docstring); None without actual or target."""
    if actual is None or target is None:
        return None
    higher = direction != Direction.LOWER
    if target == 0:
        met = actual >= 0 if higher else actual <= 0
        return HUNDRED if met else Decimal(0)
    ratio = actual / target
    return ratio * HUNDRED if higher else (2 - ratio) * HUNDRED


def weighted_score(
    pairs: Iterable[tuple[Decimal, Decimal | None]],
) -> tuple[Decimal | None, Decimal]:
    """(score, covered weight) from (weight, attainment) pairs; see the module docstring."""
    scored = [(w, a) for w, a in pairs if a is not None]
    covered = sum((w for w, _a in scored), Decimal(0))
    if not scored or covered == 0:
        return None, covered
    return sum((w * a for w, a in scored), Decimal(0)) / covered, covered


def rounded(value: Decimal | None, places: int = 2) -> Decimal | None:
    if value is None:
        return None
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


class Actuals:
    """An employee's monthly actuals over a range of months, read in one query."""

    def __init__(
        self,
        cells: dict[tuple[int, dt.date], Cell],
        metrics: dict[int, Metric],
        today: dt.date | None = None,
        ratios: list[Metric] | None = None,
    ):
        self.cells = cells
        self.metrics = metrics  # every metric with rows in the range
        self.ratios = ratios or []  # the ratios whose parts both have rows in the range
        self.today = today  # months up to this day's have begun; None: all have

    @classmethod
    def load(
        cls, employee: Employee | int, start: dt.date, end: dt.date, today: dt.date | None = None
    ) -> "Actuals":
        """The rows of months start <= month < end (the employee's rows only: the unique
        index on (employee, metric, month, org_unit) serves the query). `today` (the
        company's) tells begun months from those ahead."""
        rows = Actual.objects.filter(employee=employee, month__gte=start, month__lt=end)
        cells: dict[tuple[int, dt.date], Cell] = defaultdict(Cell)
        # Plain tuples: a year of a dozen metrics is a few hundred rows, read per page view.
        for metric_id, month, *figures in rows.values_list(
            "metric_id", "month", "total_e4", "count", "latest_value", "latest_at"
        ):
            cells[(metric_id, month)].add(*figures)
        ids = {metric_id for metric_id, _month in cells}
        found = list(
            Metric.objects.filter(
                Q(pk__in=ids)
                | Q(aggregation=Aggregation.RATIO, numerator__in=ids, denominator__in=ids)
            ).select_related("numerator", "denominator")
            if ids
            else []
        )
        metrics = {m.pk: m for m in found if m.pk in ids}
        ratios = [m for m in found if m.pk not in ids]
        return cls(dict(cells), metrics, today, ratios)

    def has_data(self, metric: Metric, period: Period) -> bool:
        if metric.aggregation == Aggregation.RATIO:
            return self.has_data(metric.numerator, period) and self.has_data(
                metric.denominator, period
            )
        return any((metric.pk, month) in self.cells for month in period.months)

    def actual(self, metric: Metric, period: Period) -> Decimal | None:
        """The period's actual, unrounded; None when nothing arrived."""
        if metric.aggregation == Aggregation.RATIO:
            return self._ratio(metric, period)
        cells = [self.cells[key] for m in period.months if (key := (metric.pk, m)) in self.cells]
        if not cells:
            begun = self.today is None or period.start <= self.today
            return Decimal(0) if begun and metric.aggregation in ADDITIVE else None
        match metric.aggregation:
            case Aggregation.SUM:
                return sum((c.total for c in cells), Decimal(0))
            case Aggregation.COUNT:
                return Decimal(sum(c.count for c in cells))
            case Aggregation.AVERAGE:
                count = sum(c.count for c in cells)
                return sum((c.total for c in cells), Decimal(0)) / count if count else None
        dated = [(c.latest_at, c.latest_value) for c in cells if c.latest_at is not None]
        return max(dated, key=lambda pair: pair[0])[1] if dated else None

    def _ratio(self, metric: Metric, period: Period) -> Decimal | None:
        numerator = self.actual(metric.numerator, period)
        denominator = self.actual(metric.denominator, period)
        if numerator is None or denominator is None or denominator == 0:
            return None
        value = numerator / denominator
        return value * HUNDRED if metric.unit == Unit.PERCENT else value


def agreement_period(agreement: TargetAgreement) -> Period:
    return Period(agreement.period_start, PeriodKind(agreement.period_kind))


def covering(agreements: Iterable[TargetAgreement], period: Period) -> TargetAgreement | None:
    """The smallest of `agreements` whose period contains `period`."""
    containing = [
        a
        for a in agreements
        if (p := agreement_period(a)).start <= period.start and period.end <= p.end
    ]
    return min(containing, key=lambda a: agreement_period(a).end - a.period_start, default=None)


def item_target(item: AgreementItem, within: Period, period: Period) -> Decimal | None:
    """The target of `item` (of an agreement for `within`) for `period`, or None when the
    period is not inside the agreement's."""
    if not (within.start <= period.start and period.end <= within.end):
        return None
    if period == within or item.metric.aggregation not in ADDITIVE:
        return item.target
    months = within.months
    if item.monthly:
        return sum(
            (Decimal(item.monthly.get(m.strftime("%Y-%m"), "0")) for m in period.months),
            Decimal(0),
        )
    return item.target * len(period.months) / len(months)


@dataclass
class MonthFigure:
    month: Period
    actual: Decimal | None
    target: Decimal | None
    attainment: Decimal | None


@dataclass
class Figure:
    """One metric's figures for a period; `weight` is None for a metric outside the
    agreement (shown for its actuals, with no target)."""

    metric: Metric
    actual: Decimal | None
    target: Decimal | None
    attainment: Decimal | None
    weight: Decimal | None = None
    months: list[MonthFigure] = field(default_factory=list)

    @property
    def bar(self) -> int:
        """How much of a progress bar to fill: 0 to 100."""
        return max(0, min(100, int(self.attainment or 0)))


@dataclass
class Scorecard:
    employee: Employee
    period: Period
    agreement: TargetAgreement | None
    figures: list[Figure]
    score: Decimal | None
    covered: Decimal

    @property
    def version(self):
        return self.agreement.in_force if self.agreement else None

    @property
    def targeted(self) -> list[Figure]:
        return [f for f in self.figures if f.weight is not None]

    @property
    def untargeted(self) -> list[Figure]:
        return [f for f in self.figures if f.weight is None]

    @property
    def bar(self) -> int:
        return max(0, min(100, int(self.score or 0)))


def in_force_agreements(employee: Employee) -> list[TargetAgreement]:
    """The employee's agreements in force, with their versions' items and metrics: two
    queries, whatever the number of agreements."""
    agreements = list(
        TargetAgreement.objects.filter(employee=employee, in_force__isnull=False).select_related(
            "in_force", "in_force__published_by"
        )
    )
    items: dict[int, list[AgreementItem]] = defaultdict(list)
    rows = AgreementItem.objects.filter(
        version__in=[a.in_force_id for a in agreements]
    ).select_related("metric", "metric__numerator", "metric__denominator")
    for item in rows.order_by("-weight", "metric__code"):
        items[item.version_id].append(item)
    for agreement in agreements:
        agreement.in_force_items = items[agreement.in_force_id]
    return agreements


def scorecard(employee: Employee, period: Period, today: dt.date | None = None) -> Scorecard:
    """The employee's figures for `period`; with the month-by-month breakdown for a period
    longer than a month. Five queries at most, whatever the data."""
    return scorecards(employee, [period], today)[0]


def scorecards(
    employee: Employee, periods: list[Period], today: dt.date | None = None
) -> list[Scorecard]:
    """Scorecards of several periods from one read of agreements and actuals; `today` is
    the company's (read when not given)."""
    agreements = in_force_agreements(employee)
    start = min(p.start for p in periods)
    end = max(p.end for p in periods)
    actuals = Actuals.load(employee, start, end, today or company_today())
    return [_scorecard(employee, p, agreements, actuals) for p in periods]


def _scorecard(employee, period, agreements, actuals: Actuals) -> Scorecard:
    agreement = covering(agreements, period)
    figures = []
    targeted: set[int] = set()
    if agreement is not None:
        within = agreement_period(agreement)
        for item in agreement.in_force_items:
            targeted.add(item.metric_id)
            figures.append(_figure(item.metric, period, actuals, item, within))
    others = [*actuals.metrics.values(), *actuals.ratios]
    for metric in sorted(others, key=lambda m: m.code):
        if metric.pk not in targeted and actuals.has_data(metric, period):
            targeted.add(metric.pk)
            figures.append(_figure(metric, period, actuals))
    score, covered = weighted_score(
        (f.weight, f.attainment) for f in figures if f.weight is not None
    )
    return Scorecard(employee, period, agreement, figures, score, covered)


def _figure(metric, period, actuals: Actuals, item=None, within=None) -> Figure:
    actual = actuals.actual(metric, period)
    target = item_target(item, within, period) if item is not None else None
    figure = Figure(
        metric,
        actual,
        target,
        percent(actual, target, metric.direction),
        weight=item.weight if item is not None else None,
    )
    if period.kind != PeriodKind.MONTH:
        for month in period.months:
            month_period = Period(month, PeriodKind.MONTH)
            month_actual = actuals.actual(metric, month_period)
            month_target = item_target(item, within, month_period) if item is not None else None
            figure.months.append(
                MonthFigure(
                    month_period,
                    month_actual,
                    month_target,
                    percent(month_actual, month_target, metric.direction),
                )
            )
    return figure
