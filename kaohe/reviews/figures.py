"""The figures behind each quantitative item: target, actual and attainment from the
employee's scorecard (kaohe.metrics decides every rule), and how many facts each source sent
for the item's metric in the period."""

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count

from kaohe.lib.periods import Period
from kaohe.metrics.attainment import rounded, scorecard
from kaohe.metrics.models import Aggregation, Fact, Metric
from kaohe.org.actions import company_today
from kaohe.reviews.models import Result

CHUNK = 500


@dataclass
class ItemFigures:
    target: Decimal | None = None
    actual: Decimal | None = None
    attainment: Decimal | None = None
    sources: dict[str, int] = field(default_factory=dict)


def figures_for(
    results: list[Result], period: Period, metrics: list[Metric]
) -> dict[int, dict[int, ItemFigures]]:
    """{result id: {metric id: figures}} for the results' employees in `period`."""
    today = company_today()
    found: dict[int, dict[int, ItemFigures]] = {}
    for at in range(0, len(results), CHUNK):
        chunk = results[at : at + CHUNK]
        counts = _source_counts([r.employee_id for r in chunk], period, metrics)
        for result in chunk:
            card = scorecard(result.employee, period, today)
            by_metric = {f.metric.pk: f for f in card.figures}
            own = found[result.pk] = {}
            for metric in metrics:
                figure = by_metric.get(metric.pk)
                own[metric.pk] = ItemFigures(
                    target=figure.target if figure else None,
                    actual=figure.actual if figure else None,
                    attainment=rounded(figure.attainment) if figure else None,
                    sources=counts.get((result.employee_id, metric.pk), {}),
                )
    return found


def _parts(metric: Metric) -> list[int]:
    if metric.aggregation == Aggregation.RATIO:
        return [metric.numerator_id, metric.denominator_id]
    return [metric.pk]


def _source_counts(employee_ids, period: Period, metrics: list[Metric]) -> dict:
    """{(employee id, metric id): {source: facts}}; a ratio counts its parts' facts."""
    wanted = {part: metric.pk for metric in metrics for part in _parts(metric)}
    owners: dict[int, list[int]] = defaultdict(list)
    for metric in metrics:
        for part in _parts(metric):
            owners[part].append(metric.pk)
    rows = (
        Fact.objects.filter(
            employee_id__in=employee_ids,
            metric_id__in=list(wanted),
            month__gte=period.start,
            month__lt=period.end,
            voided=False,
        )
        .values("employee_id", "metric_id", "source")
        .annotate(facts=Count("pk"))
        .order_by()
    )
    counts: dict[tuple[int, int], dict[str, int]] = defaultdict(dict)
    for row in rows:
        for metric_id in owners[row["metric_id"]]:
            own = counts[(row["employee_id"], metric_id)]
            own[row["source"]] = own.get(row["source"], 0) + row["facts"]
    return counts
