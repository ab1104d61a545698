"""Attainment of many employees over several periods, for the warnings: the same figures
the scorecard shows (attainment.py decides every rule), read for a whole population with a
few queries per chunk of employees instead of a few per employee.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from kaohe.lib.periods import Period, PeriodKind, add_months
from kaohe.metrics.attainment import (
    Actuals,
    Cell,
    agreement_period,
    covering,
    item_target,
    percent,
    weighted_score,
)
from kaohe.metrics.models import Actual, AgreementItem, Metric, TargetAgreement

CHUNK = 2_000  # employees per read


@dataclass(slots=True)
class _Item:
    """What the attainment rules read of an agreement item."""

    metric_id: int
    metric: Metric
    target: Decimal
    weight: Decimal
    monthly: dict


@dataclass(slots=True)
class _Agreement:
    period_kind: str
    period_start: dt.date
    in_force_items: list[_Item]


@dataclass(slots=True)
class Series:
    """One employee's attainment per period (None: no target or no figure), for one metric
    or, when `metric` is None, for the weighted score of the agreement in force."""

    employee_id: int
    values: list[Decimal | None]


def attainment_series(
    employee_ids: Iterable[int],
    periods: list[Period],
    metric: Metric | None,
    today: dt.date,
) -> Iterator[Series]:
    """The series of each employee (in chunks, so memory stays small at 100,000 people)."""
    ids = sorted(employee_ids)
    if not periods or not ids:
        return
    metrics = {m.pk: m for m in Metric.objects.select_related("numerator", "denominator")}
    start = min(p.start for p in periods)
    end = max(p.end for p in periods)
    for at in range(0, len(ids), CHUNK):
        chunk = ids[at : at + CHUNK]
        agreements = _agreements(chunk, start, end, metrics)
        cells = _cells(chunk, start, end)
        for employee_id in chunk:
            actuals = Actuals(cells.get(employee_id, {}), metrics, today)
            own = agreements.get(employee_id, [])
            yield Series(employee_id, [_value(own, actuals, p, metric) for p in periods])


def _value(agreements, actuals: Actuals, period: Period, metric: Metric | None):
    agreement = covering(agreements, period)
    if agreement is None:
        return None
    within = agreement_period(agreement)
    if metric is not None:
        for item in agreement.in_force_items:
            if item.metric_id == metric.pk:
                target = item_target(item, within, period)
                return percent(actuals.actual(metric, period), target, metric.direction)
        return None
    pairs = []
    for item in agreement.in_force_items:
        target = item_target(item, within, period)
        value = percent(actuals.actual(item.metric, period), target, item.metric.direction)
        pairs.append((item.weight, value))
    return weighted_score(pairs)[0]


def _agreements(chunk, start, end, metrics) -> dict[int, list[_Agreement]]:
    """The agreements in force of the chunk's employees that may cover a period in
    [start, end): a year is the longest agreement, so none starting a year before."""
    rows = TargetAgreement.objects.filter(
        employee_id__in=chunk,
        in_force__isnull=False,
        period_start__lt=end,
        period_start__gt=add_months(start, -12),
    ).values_list("employee_id", "period_kind", "period_start", "in_force_id")
    found: dict[int, list[_Agreement]] = defaultdict(list)
    by_version: dict[int, _Agreement] = {}
    for employee_id, kind, period_start, version_id in rows:
        agreement = _Agreement(kind, period_start, [])
        by_version[version_id] = agreement
        found[employee_id].append(agreement)
    items = AgreementItem.objects.filter(version_id__in=list(by_version)).values_list(
        "version_id", "metric_id", "target", "weight", "monthly"
    )
    for version_id, metric_id, target, weight, monthly in items.order_by("-weight", "metric_id"):
        by_version[version_id].in_force_items.append(
            _Item(metric_id, metrics[metric_id], target, weight, monthly)
        )
    return found


def _cells(chunk, start, end) -> dict[int, dict[tuple[int, dt.date], Cell]]:
    rows = Actual.objects.filter(employee_id__in=chunk, month__gte=start, month__lt=end)
    cells: dict[int, dict[tuple[int, dt.date], Cell]] = defaultdict(lambda: defaultdict(Cell))
    for employee_id, metric_id, month, *figures in rows.values_list(
        "employee_id", "metric_id", "month", "total_e4", "count", "latest_value", "latest_at"
    ):
        cells[employee_id][(metric_id, month)].add(*figures)
    return cells


def complete_periods(kind: PeriodKind | str, today: dt.date, count: int) -> list[Period]:
    """The last `count` periods of `kind` that are over on `today`, oldest first: the one
    containing today is still running and never counts."""
    period = Period.containing(kind, today).previous()
    found = []
    for _ in range(count):
        found.append(period)
        period = period.previous()
    return found[::-1]
