"""attainment_series reads many employees at once and must give exactly the scorecard's
figures (attainment.py decides every rule): compared here over every kind of metric,
direction, split, transfer and agreement nesting."""

import datetime as dt

import pytest

from kaohe.lib.periods import Period, PeriodKind
from kaohe.metrics import series
from kaohe.metrics.actions import ItemSpec, do_draft_agreement, do_publish_agreement, do_set_items
from kaohe.metrics.attainment import scorecard
from kaohe.metrics.series import attainment_series, complete_periods
from kaohe.metrics.tests import test_attainment as base
from kaohe.org.testing import make_unit

pytestmark = pytest.mark.django_db

frozen, m, put = base.frozen, base.m, base.put  # the fixtures and the row writer
TODAY = base.NOW.date()


def at(month: str, day: int) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{month}-{day:02d}T08:00Z")


def agree(cast, employee, period: str, *items):
    version = do_draft_agreement(cast.ada, employee, period)
    do_set_items(cast.ada, version, list(items))
    do_publish_agreement(cast.ada, version)


def card_value(employee, period, metric):
    card = scorecard(employee, period, TODAY)
    if metric is None:
        return card.score
    return next((f.attainment for f in card.targeted if f.metric.pk == metric.pk), None)


PERIODS = [
    Period.parse(label)
    for label in ("2025-12", "2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-Q1",
                  "2026-Q2", "2025-Q4")
]  # fmt: skip


@pytest.mark.parametrize("dense", [series.DENSE, 0], ids=["by range", "by list"])
def test_the_series_equal_the_scorecards_for_every_kind_of_metric(cast, m, dense, monkeypatch):
    monkeypatch.setattr(series, "DENSE", dense)
    other = make_unit("EAST-N", "华东北区", parent=cast.east)
    year = [
        ItemSpec(m["sales_amount"], "300000.5", "30", {"2026-01": "50000", "2026-03": "250000.5"}),
        ItemSpec(m["deals_signed"], "24", "10"),
        ItemSpec(m["overtime"], "120", "10"),
        ItemSpec(m["satisfaction"], "4.5", "15"),
        ItemSpec(m["attendance_rate"], "95", "20"),
        ItemSpec(m["csat"], "4.2", "15"),
    ]
    agree(cast, cast.amy, "2026", *year)
    agree(cast, cast.amy, "2026-Q1", ItemSpec(m["sales_amount"], "300000", "70"),
          ItemSpec(m["deals_signed"], "0", "30"))  # fmt: skip
    agree(cast, cast.olga, "2026-Q1", ItemSpec(m["sales_amount"], "0", "50"),
          ItemSpec(m["overtime"], "0", "50"))  # fmt: skip
    agree(cast, cast.olga, "2025", ItemSpec(m["sales_amount"], "1000000", "100"))
    agree(cast, cast.mike, "2026-02", ItemSpec(m["csat"], "4", "100"))
    for employee, sign in ((cast.amy, 1), (cast.olga, -1), (cast.mike, 1)):
        put(employee, m["sales_amount"], "2025-12", str(sign * 70000.25), 3)
        put(employee, m["sales_amount"], "2026-01", str(sign * 41000.5), 2)
        put(employee, m["sales_amount"], "2026-01", "-1000.0003", 1, unit=other)  # a transfer
        put(employee, m["sales_amount"], "2026-03", "333333.3333", 7)
        put(employee, m["deals_signed"], "2026-02", "3", 3)
        put(employee, m["overtime"], "2026-01", "12.5", 2)
        put(employee, m["overtime"], "2026-02", "61", 4)
        put(employee, m["satisfaction"], "2026-01", "4", 1, latest="4", at=at("2026-01", 30))
        put(
            employee,
            m["satisfaction"],
            "2026-02",
            "4.7",
            1,
            unit=other,
            latest="4.7",
            at=at("2026-02", 2),
        )
        put(employee, m["satisfaction"], "2026-02", "3.9", 1, latest="3.9", at=at("2026-02", 1))
        put(employee, m["days_present"], "2026-01", "20", 20)
        put(employee, m["days_required"], "2026-01", "22", 22)
        put(employee, m["days_present"], "2026-02", "19", 19)
        put(employee, m["days_required"], "2026-03", "21", 21)
        put(employee, m["csat"], "2026-01", "13", 3)
        put(employee, m["csat"], "2026-02", "4.4", 1, unit=other)
    people = [cast.amy, cast.olga, cast.mike, cast.dora]
    checked = 0
    for metric in [None, *m.values()]:
        found = {s.employee_id: s.values for s in attainment_series(
            [p.pk for p in people], PERIODS, metric, TODAY)}  # fmt: skip
        assert set(found) == {p.pk for p in people}
        for person in people:
            expected = [card_value(person, p, metric) for p in PERIODS]
            assert found[person.pk] == expected, (person.employee_no, metric)
            checked += sum(value is not None for value in expected)
    assert checked > 30  # the comparison saw real figures, not only Nones


def test_complete_periods_leave_out_the_running_one():
    today = dt.date(2026, 4, 1)
    assert [p.label for p in complete_periods(PeriodKind.MONTH, today, 2)] == ["2026-02", "2026-03"]
    assert [p.label for p in complete_periods(PeriodKind.QUARTER, today, 1)] == ["2026-Q1"]
