"""Attainment of many employees over several periods, for the warnings: the same figures
the scorecard shows (attainment.py decides every rule), read for a whole population with a
few queries per chunk of employees instead of a few per employee.

Only what can change a value is read: the agreements that may cover one of the periods
(of each kind of period, the one agreement of that kind that could contain it), their items
(only the metric's, when the series is of one metric) and the actuals of those items'
metrics in the periods' months. Thousands of ids go as one array parameter on PostgreSQL
(or as a range on SQLite when they lie close together), not as thousands of placeholders.
"""

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import BooleanField, Q, TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast

from kaohe.lib.periods import Period, PeriodKind
from kaohe.metrics.attainment import Actuals, Cell, item_target, percent, weighted_score
from kaohe.metrics.models import Actual, Aggregation, AgreementItem, Metric, TargetAgreement

CHUNK = 5_000  # employees per read
DENSE = 4  # ids spanning at most DENSE times their number are read by range
_ANY = "%s = ANY(string_to_array(%%s, ',')::bigint[])"  # a column, then the ids


@dataclass(slots=True)
class _Item:
    """What the attainment rules read of an agreement item."""

    metric_id: int
    metric: Metric
    target: Decimal
    weight: Decimal
    monthly: dict
    split: str  # `monthly` as stored: part of what its targets are remembered by


@dataclass(slots=True)
class _Agreement:
    within: Period  # one object per period of agreement in a read (see _Reader.targets)
    start: dt.date
    end: dt.date
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
    ids = sorted(set(employee_ids))
    if not periods or not ids:
        return
    reader = _Reader(periods, metric, today)
    for at in range(0, len(ids), CHUNK):
        yield from reader.chunk(ids[at : at + CHUNK])


class _Reader:
    def __init__(self, periods: list[Period], metric: Metric | None, today: dt.date) -> None:
        self.periods, self.metric, self.today = periods, metric, today
        self.metric_id = metric.pk if metric is not None else None
        self.metrics = {m.pk: m for m in Metric.objects.select_related("numerator", "denominator")}
        self.start = min(p.start for p in periods)
        self.end = max(p.end for p in periods)
        self.windows = _windows(periods)
        self.bounds = [(p, p.start, p.end) for p in periods]
        self.withins: dict[tuple[str, dt.date], tuple[Period, dt.date]] = {}  # and its end
        # item_target per (item content, id of the agreement's period, index of the period):
        # people given the same targets share it. The withins above keep those ids alive.
        self.targets: dict[tuple, Decimal | None] = {}

    def chunk(self, chunk: list[int]) -> Iterator[Series]:
        agreements = self._agreements(chunk)
        cells = self._cells(chunk, agreements)
        nothing = [None] * len(self.periods)
        for employee_id in chunk:
            own = agreements.get(employee_id)
            if not own:
                yield Series(employee_id, list(nothing))
                continue
            actuals = Actuals(cells.get(employee_id, {}), self.metrics, self.today)
            values = [self._value(own, actuals, index) for index in range(len(self.periods))]
            yield Series(employee_id, values)

    def _value(self, agreements: list[_Agreement], actuals: Actuals, index: int):
        period, start, end = self.bounds[index]
        agreement = _covering(agreements, start, end)
        if agreement is None:
            return None
        metric = self.metric
        if metric is not None:
            for item in agreement.in_force_items:
                if item.metric_id == self.metric_id:
                    target = self._target(item, agreement.within, index)
                    return percent(actuals.actual(metric, period), target, metric.direction)
            return None
        pairs = []
        for item in agreement.in_force_items:
            target = self._target(item, agreement.within, index)
            value = percent(actuals.actual(item.metric, period), target, item.metric.direction)
            pairs.append((item.weight, value))
        return weighted_score(pairs)[0]

    def _target(self, item: _Item, within: Period, index: int) -> Decimal | None:
        key = (item.metric_id, item.target, item.split, id(within), index)
        found = self.targets.get(key, self)
        if found is self:
            found = self.targets[key] = item_target(item, within, self.periods[index])
        return found

    def _agreements(self, chunk: list[int]) -> dict[int, list[_Agreement]]:
        """The agreements in force of the chunk's employees that may cover a period, with
        their items (the metric's only, when given: the others cannot change its value)."""
        rows = (
            TargetAgreement.objects.filter(
                _ids(TargetAgreement, "employee", chunk), self.windows, in_force__isnull=False
            )
            .order_by()
            .values_list("employee_id", "period_kind", "period_start", "in_force_id")
        )
        found: dict[int, list[_Agreement]] = defaultdict(list)
        by_version: dict[int, _Agreement] = {}
        for employee_id, kind, period_start, version_id in rows:
            known = self.withins.get((kind, period_start))
            if known is None:
                period = Period(period_start, PeriodKind(kind))
                known = self.withins[kind, period_start] = (period, period.end)
            agreement = _Agreement(known[0], period_start, known[1], [])
            by_version[version_id] = agreement
            found[employee_id].append(agreement)
        if not by_version:
            return found
        items = AgreementItem.objects.filter(_ids(AgreementItem, "version", sorted(by_version)))
        if self.metric is not None:
            items = items.filter(metric=self.metric)
        splits: dict[str, dict] = {"{}": {}}
        rows = items.annotate(split=Cast("monthly", TextField())).values_list(
            "version_id", "metric_id", "target", "weight", "split"
        )
        for version_id, metric_id, target, weight, split in rows.order_by("-weight", "metric_id"):
            agreement = by_version.get(version_id)
            if agreement is None:  # read by range: a version not in force, or not wanted
                continue
            if split not in splits:
                splits[split] = json.loads(split)
            item = _Item(metric_id, self.metrics[metric_id], target, weight, splits[split], split)
            agreement.in_force_items.append(item)
        return found

    def _cells(self, chunk, agreements) -> dict[int, dict[tuple[int, dt.date], Cell]]:
        """The actuals of the metrics the values need (the items' and the parts of ratios)."""
        if self.metric is not None:
            wanted = {self.metric.pk}
        else:
            wanted = {
                item.metric_id
                for own in agreements.values()
                for agreement in own
                for item in agreement.in_force_items
            }
        for pk in list(wanted):
            if self.metrics[pk].aggregation == Aggregation.RATIO:
                wanted |= {self.metrics[pk].numerator_id, self.metrics[pk].denominator_id}
        if not wanted:
            return {}
        rows = Actual.objects.filter(
            _ids(Actual, "employee", chunk),
            month__gte=self.start,
            month__lt=self.end,
            metric_id__in=sorted(wanted),
        )
        latest = any(self.metrics[pk].aggregation == Aggregation.LATEST for pk in wanted)
        columns = ["total_e4", "count", *(["latest_value", "latest_at"] if latest else [])]
        cells: dict[int, dict[tuple[int, dt.date], Cell]] = defaultdict(lambda: defaultdict(Cell))
        for employee_id, metric_id, month, total_e4, count, *last in rows.values_list(
            "employee_id", "metric_id", "month", *columns
        ):
            cells[employee_id][(metric_id, month)].add(total_e4, count, *(last or (None, None)))
        return cells


def _covering(agreements: list[_Agreement], start: dt.date, end: dt.date) -> _Agreement | None:
    """attainment.covering over pre-computed bounds: the smallest agreement containing the
    period from `start` to `end`."""
    found = None
    for agreement in agreements:
        contains = agreement.start <= start and end <= agreement.end
        if contains and (
            found is None or agreement.end - agreement.start < found.end - found.start
        ):
            found = agreement
    return found


def _windows(periods: list[Period]) -> Q:
    """Which agreements may cover one of `periods`: of each kind, only the period of that
    kind containing it can (when it is at least as long)."""
    starts: dict[str, set[dt.date]] = defaultdict(set)
    for period in periods:
        for kind in PeriodKind:
            around = Period.containing(kind, period.start)
            if around.start <= period.start and period.end <= around.end:
                starts[kind.value].add(around.start)
    condition = Q(pk__in=[])
    for kind, found in starts.items():
        condition |= Q(period_kind=kind, period_start__in=sorted(found))
    return condition


def _ids(model, field: str, ids: list[int]):
    """A filter: `field` of `model` among the sorted `ids`. On PostgreSQL one array
    parameter (sent as text: no thousands of placeholders or elements to adapt), which the
    index is probed with; elsewhere a range when the ids lie close together (the caller
    skips the rows of ids in between), else a list."""
    if connection.vendor == "postgresql":
        column = f'"{model._meta.db_table}"."{model._meta.get_field(field).column}"'
        listed = ",".join(map(str, ids))
        return RawSQL(_ANY % column, [listed], output_field=BooleanField())  # noqa: S611
    if ids[-1] - ids[0] < DENSE * len(ids):
        return Q(**{f"{field}__gte": ids[0], f"{field}__lte": ids[-1]})
    return Q(**{f"{field}__in": ids})


def complete_periods(kind: PeriodKind | str, today: dt.date, count: int) -> list[Period]:
    """The last `count` periods of `kind` that are over on `today`, oldest first: the one
    containing today is still running and never counts."""
    period = Period.containing(kind, today).previous()
    found = []
    for _ in range(count):
        found.append(period)
        period = period.previous()
    return found[::-1]
