"""The attainment page of one employee with 24 months of data, at 10M facts in the table.

On PostgreSQL (a scratch database, see `pg.py`): one employee gets published year
agreements and the last 24 months of facts through `ingest_facts`; the other
KAOHE_BENCH_ATTAINMENT_FACTS facts (default 10,000,000) are bulk-loaded by SQL over the
rest of a synthetic company, with their monthly actuals (the benchmark may fill the table
with a bulk loader). Then the attainment section (/people/<no>/attainment/?period=<this
year>, what the employee page loads for a year) is requested KAOHE_BENCH_ATTAINMENT_REQUESTS
times (default 300) by a signed-in HR admin through Django's test client, and so are the
attainment API and a trivial page (/healthz) as the same-run baseline.
"""

import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

from benchmarks import Measurement, benchmark, pg

DATABASE = "kaohe_bench_attainment"
FACTS = int(os.environ.get("KAOHE_BENCH_ATTAINMENT_FACTS", 10_000_000))
REQUESTS = int(os.environ.get("KAOHE_BENCH_ATTAINMENT_REQUESTS", 300))
EMPLOYEES, SEED = 2_000, 20260301
FILL_CHUNK = 1_000_000
PAGE_TARGET_MS = 50


@benchmark
def attainment(scratch: Path) -> dict[str, Measurement]:
    figures = pg.run_child(scratch, "attainment", DATABASE)
    return {
        "attainment.p95_ms": Measurement(
            figures["page_p95"], unit="ms", baseline=None, target=PAGE_TARGET_MS
        ),
        "attainment.api_p95_ms": Measurement(figures["api_p95"], unit="ms"),
        "attainment.trivial_page_p95_ms": Measurement(figures["trivial_p95"], unit="ms"),
        "attainment.facts_in_table": Measurement(figures["facts"], unit="rows"),
    }


def postgres_child() -> None:
    pg.setup_child()
    import json

    employee, admin, secret = _company()
    _fill(employee)
    print(json.dumps(_measure(employee, admin, secret)))


def _company():
    """The synthetic company, metrics, the measured employee with two published years."""
    from kaohe.integrations.models import Source
    from kaohe.lib import clock
    from kaohe.metrics.actions import do_draft_agreement, do_publish_agreement, do_set_items
    from kaohe.metrics.checks import ItemSpec
    from kaohe.metrics.testing import make_sales_metrics
    from kaohe.org import demo
    from kaohe.org.actions import do_create_api_key
    from kaohe.org.models import Employee, Role
    from kaohe.org.testing import grant, make_user

    demo.load(demo.synthetic_company(EMPLOYEES, SEED))
    metrics = make_sales_metrics()
    Source.objects.create(code="crm", name="CRM", created_at=clock.now())
    admin = make_user("bench-admin")
    grant(admin, Role.HR_ADMIN)
    employee = Employee.objects.order_by("employee_no").first()
    for year in sorted({str(month.year) for month in _months()}):
        version = do_draft_agreement(admin, employee, year)
        do_set_items(admin, version, [ItemSpec(metrics["sales_amount"], "1200000", "70"),
                                      ItemSpec(metrics["deals_signed"], "24", "30")])  # fmt: skip
        do_publish_agreement(admin, version)
    _key, secret = do_create_api_key(admin, "bench", ["employees:read"])
    _own_facts(employee)
    return employee, admin, secret


def _months() -> list[dt.date]:
    """The first days of the 24 months up to this one."""
    from kaohe.lib.clock import today
    from kaohe.lib.periods import add_months

    return [add_months(today(), -n) for n in range(23, -1, -1)]


def _own_facts(employee) -> None:
    """Two years of the measured employee's deals, through the real ingest path."""
    from kaohe.lib.clock import today
    from kaohe.metrics.ingest import ingest_facts

    items, shanghai = [], dt.timezone(dt.timedelta(hours=8))
    for month in _months():
        for n in range(20):
            day = dt.datetime(month.year, month.month, 1 + n, 10, tzinfo=shanghai)
            if day.date() > today():
                break
            common = {"employee": employee.employee_no, "occurred_at": day.isoformat()}
            key = f"OWN-{month:%Y%m}-{n}"
            items.append({"external_id": key, "metric": "sales_amount",
                          "value": f"{3000 + n * 17}.50", **common})  # fmt: skip
            items.append({"external_id": f"{key}-d", "metric": "deals_signed",
                          "value": "1", **common})  # fmt: skip
    result = ingest_facts("crm", items, None)
    assert not result.rejected, result.rejected[:3]


_FILL = """
WITH people AS (
    SELECT array_agg(id ORDER BY id) AS ids, array_agg(org_unit_id ORDER BY id) AS units,
           count(*) AS n
    FROM org_employee WHERE id <> %(skip)s
)
INSERT INTO metrics_fact (source, external_id, employee_id, metric_id, org_unit_id, value,
                          occurred_at, month, attributes, voided, received_at, updated_at)
SELECT 'crm', 'BULK-' || g, p.ids[1 + g %% p.n], %(metric)s, p.units[1 + g %% p.n],
       (g %% 100000) / 100.0, at, date_trunc('month', at AT TIME ZONE 'Asia/Shanghai')::date,
       '{}'::jsonb, false, now(), now()
FROM people p, generate_series(%(first)s, %(last)s) AS g,
     LATERAL (SELECT timestamptz '2025-01-01 00:00+08' + (g %% 730) * interval '1 day'
                     + (g %% 86400) * interval '1 second' AS at) t
"""

_ACTUALS = """
INSERT INTO metrics_actual (employee_id, metric_id, month, org_unit_id, total_e4, "count",
                            updated_at)
SELECT employee_id, metric_id, month, org_unit_id, sum(value * 10000)::bigint, count(*), now()
FROM metrics_fact WHERE external_id LIKE 'BULK-%%'
GROUP BY employee_id, metric_id, month, org_unit_id
"""


def _fill(employee) -> None:
    """FACTS facts of everyone else, in one-million-row statements, then their actuals."""
    from django.db import connection, transaction

    from kaohe.metrics.models import Metric

    metric = Metric.objects.get(code="sales_amount").pk
    started = time.perf_counter()
    for first in range(0, FACTS, FILL_CHUNK):
        last = min(first + FILL_CHUNK, FACTS) - 1
        with transaction.atomic(), connection.cursor() as cursor:
            params = {"skip": employee.pk, "metric": metric, "first": first, "last": last}
            cursor.execute(_FILL, params)
        print(f"   filled {last + 1:,} facts", file=sys.stderr, flush=True)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_ACTUALS)
        cursor.execute("ANALYZE")
    print(f"   fill took {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)


def _measure(employee, admin, secret) -> dict:
    from django.test import Client

    from kaohe.metrics.models import Fact

    browser = Client()
    browser.force_login(admin)
    year = _months()[-1].year  # this year: the page's heaviest view
    page = f"/people/{employee.employee_no}/attainment/?period={year}"
    api = f"/api/v1/employees/{employee.employee_no}/attainment?period={year}"
    bearer = {"Authorization": f"Bearer {secret}"}
    assert browser.get(page).status_code == 200
    assert Client().get(api, headers=bearer).status_code == 200
    return {
        "page_p95": _p95(lambda: browser.get(page)),
        "api_p95": _p95(lambda: Client().get(api, headers=bearer)),
        "trivial_p95": _p95(lambda: Client().get("/healthz")),
        "facts": Fact.objects.count(),
    }


def _p95(request) -> float:
    for _ in range(10):  # warm caches and the connection
        request()
    times = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        response = request()
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    return statistics.quantiles(times, n=20)[-1]


if __name__ == "__main__":
    {"postgres": postgres_child}[sys.argv[1]]()
