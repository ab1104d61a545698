"""Fact ingest at scale, and POST /api/v1/facts under concurrent clients.

A synthetic company (`kaohe demo --employees`, KAOHE_BENCH_FACT_EMPLOYEES people, default
10,000) and KAOHE_BENCH_FACTS (default 1,000,000) generated facts go through the bulk path
(`ingest_stream`, as a fact file is taken: chunks of 10,000, each one transaction of
validation, upsert and actuals kept current, the next chunk checked while the current one
commits). The facts are generated beforehand, untimed, and frozen out of the garbage
collector's sight (a streaming reader holds two chunks, not a million records). Baselines
from the same run, on the same database:

- a raw PostgreSQL `COPY` of the same rows (already resolved to ids) into a copy of the
  facts table, with its indexes, constraints and foreign keys;
- a per-row ORM loop on a sample (KAOHE_BENCH_ORM_SAMPLE, default 20,000 rows): each fact
  `save()`d and its actual updated (or created) by the ORM, a transaction per 10,000 rows;
  its rate is extrapolated.

The PostgreSQL part runs in a child process on a scratch database created (and dropped) on
the server of KAOHE_BENCH_PG_URL (`make bench` defaults it to the test server); the SQLite
part on the fresh SQLite database `bench/run.py` prepared. Then the API: a gunicorn server on
loopback (PostgreSQL, 4 workers) and 4 concurrent clients sending 1,000-item batches of new
facts (KAOHE_BENCH_API_BATCHES per client, default 25): items per second and p95 latency.
"""

import datetime as dt
import gc
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

from benchmarks import Measurement, benchmark, pg, timed

ROOT = Path(__file__).resolve().parents[2]
CHUNK = 10_000
SEED = 20260301
PG_DATABASE = "kaohe_bench_ingest"
API_CLIENTS, API_BATCH = 4, 1_000
START = dt.datetime(2025, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def _size(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


FACTS = _size("KAOHE_BENCH_FACTS", 1_000_000)
EMPLOYEES = _size("KAOHE_BENCH_FACT_EMPLOYEES", 10_000)
ORM_SAMPLE = min(_size("KAOHE_BENCH_ORM_SAMPLE", 20_000), FACTS)
API_BATCHES = _size("KAOHE_BENCH_API_BATCHES", 25)


@benchmark
def ingest(scratch: Path) -> dict[str, Measurement]:
    pg = _postgres_run(scratch)
    sqlite = _bulk_rate()
    return {
        "ingest.rows_per_s_pg": Measurement(pg["bulk"], unit="rows/s", baseline=pg["copy"]),
        "ingest.ratio_vs_copy": Measurement(
            pg["bulk"] / pg["copy"], unit="x", target=0.5, higher_is_better=True
        ),
        "ingest.ratio_vs_orm": Measurement(
            pg["bulk"] / pg["orm"], unit="x", target=20, higher_is_better=True
        ),
        "ingest.copy_rows_per_s_pg": Measurement(pg["copy"], unit="rows/s"),
        "ingest.orm_rows_per_s_pg": Measurement(pg["orm"], unit="rows/s"),
        "ingest.rerun_unchanged_rows_per_s_pg": Measurement(pg["rerun"], unit="rows/s"),
        "ingest.rows_per_s_sqlite": Measurement(sqlite, unit="rows/s"),
        "api.items_per_s": Measurement(pg["api_items_per_s"], unit="items/s"),
        "api.p95_ms": Measurement(pg["api_p95_ms"], unit="ms"),
    }


# --- the company and its facts ----------------------------------------------------------


def make_company() -> list[str]:
    """The synthetic company, the CRM source and its metrics; the employee numbers."""
    from kaohe.integrations.models import Source
    from kaohe.lib import clock
    from kaohe.metrics.testing import make_sales_metrics
    from kaohe.org import demo
    from kaohe.org.models import Employee

    demo.load(demo.synthetic_company(EMPLOYEES, SEED))
    make_sales_metrics()
    Source.objects.create(code="crm", name="CRM", created_at=clock.now())
    return list(Employee.objects.order_by("employee_no").values_list("employee_no", flat=True))


def fact(i: int, numbers: list[str], prefix: str = "D") -> dict:
    """Fact `i`: spread over the employees, two metrics and 2025, always the same."""
    moment = START + dt.timedelta(seconds=i * 9_973 % (364 * 86_400))
    return {
        "external_id": f"{prefix}-{i:08d}",
        "employee": numbers[i * 7_919 % len(numbers)],
        "metric": "sales_amount" if i % 4 else "deals_signed",
        "value": f"{i * 37 % 100_000}.{i % 100:02d}" if i % 4 else "1",
        "occurred_at": moment.isoformat(),
    }


def chunks(numbers: list[str], total: int, prefix: str = "D"):
    for start in range(0, total, CHUNK):
        yield [fact(i, numbers, prefix) for i in range(start, min(start + CHUNK, total))]


def _bulk_rate(numbers: list[str] | None = None, expect: str = "created") -> float:
    """Rows per second of the bulk path over all the facts (generated beforehand, untimed)."""
    from kaohe.metrics.ingest import ingest_stream

    numbers = numbers or make_company()
    generated = list(chunks(numbers, FACTS))
    gc.freeze()

    def ingest():
        for items, result in ingest_stream("crm", generated, None, channel="file"):
            assert getattr(result, expect) == len(items), result.rejected[:3]

    try:
        seconds, _ = timed(ingest)
    finally:
        gc.unfreeze()
    return FACTS / seconds


# --- PostgreSQL, in a child process -----------------------------------------------------


def _postgres_run(scratch: Path) -> dict:
    return pg.run_child(scratch, "ingest", PG_DATABASE)


def postgres_child() -> None:
    """Runs in the child: migrate, measure, print the figures as one JSON line."""
    pg.setup_child()
    numbers = make_company()
    figures = {"copy": _copy_rate(numbers), "orm": _orm_rate(numbers)}
    figures["bulk"] = _bulk_rate(numbers)
    figures["rerun"] = _rerun_rate(numbers)
    figures.update(_api_figures(numbers))
    print(json.dumps(figures))


def _resolved(numbers: list[str]):
    """The facts as table rows, resolved the way ingest resolves them (outside the timing)."""
    from zoneinfo import ZoneInfo

    from kaohe.lib.periods import month_of
    from kaohe.metrics.models import Metric
    from kaohe.org.models import Employee

    employees = dict(Employee.objects.values_list("employee_no", "pk"))
    units = dict(Employee.objects.values_list("pk", "org_unit_id"))
    metrics = dict(Metric.objects.values_list("code", "pk"))
    shanghai = ZoneInfo("Asia/Shanghai")
    for i in range(FACTS):
        item = fact(i, numbers)
        occurred = dt.datetime.fromisoformat(item["occurred_at"])
        employee = employees[item["employee"]]
        yield (item["external_id"], employee, metrics[item["metric"]], units[employee],
               Decimal(item["value"]), occurred, month_of(occurred, shanghai))  # fmt: skip


def _copy_rate(numbers: list[str]) -> float:
    """Rows per second of one raw COPY of all the facts into a copy of the facts table."""
    from django.db import connection

    from kaohe.metrics.models import Fact

    table = Fact._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE bench_fact_copy (LIKE {table} INCLUDING ALL)")
        for column, target in (("employee_id", "org_employee"), ("metric_id", "metrics_metric"),
                               ("org_unit_id", "org_orgunit")):  # fmt: skip
            cursor.execute(
                f"ALTER TABLE bench_fact_copy ADD FOREIGN KEY ({column}) REFERENCES {target} (id)"
                " DEFERRABLE INITIALLY DEFERRED"
            )
    now = dt.datetime.now(dt.UTC).isoformat()
    data = io.StringIO()
    for external_id, employee, metric, unit, value, occurred, month in _resolved(numbers):
        data.write(f"crm\t{external_id}\t{employee}\t{metric}\t{unit}\t{value}\t"
                   f"{occurred.isoformat()}\t{month}\t{{}}\tf\t{now}\t{now}\n")  # fmt: skip
    payload = data.getvalue().encode()
    columns = ("source, external_id, employee_id, metric_id, org_unit_id, value, occurred_at, "
               "month, attributes, voided, received_at, updated_at")  # fmt: skip

    def copy():
        copy_in = f"COPY bench_fact_copy ({columns}) FROM STDIN"
        with connection.cursor() as cursor, cursor.copy(copy_in) as stream:
            for start in range(0, len(payload), 1 << 20):
                stream.write(payload[start : start + (1 << 20)])

    seconds, _ = timed(copy)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_fact_copy")
    return FACTS / seconds


def _orm_rate(numbers: list[str]) -> float:
    """Rows per second of saving facts one by one with the ORM, keeping their actuals."""
    from django.db import transaction
    from django.db.models import F

    from kaohe.metrics.models import Actual, Fact

    rows = [row for _i, row in zip(range(ORM_SAMPLE), _resolved(numbers), strict=False)]
    now = dt.datetime.now(dt.UTC)

    def save_each(batch):
        with transaction.atomic():
            for external_id, employee, metric, unit, value, occurred, month in batch:
                Fact(source="orm", external_id=external_id, employee_id=employee,
                     metric_id=metric, org_unit_id=unit, value=value, occurred_at=occurred,
                     month=month, received_at=now, updated_at=now).save()  # fmt: skip
                cell = {"employee_id": employee, "metric_id": metric, "month": month,
                        "org_unit_id": unit}  # fmt: skip
                delta = int(value * 10_000)
                if not Actual.objects.filter(**cell).update(
                    total_e4=F("total_e4") + delta, count=F("count") + 1, updated_at=now
                ):
                    Actual(**cell, total_e4=delta, count=1, updated_at=now).save()

    seconds = sum(timed(save_each, rows[s : s + CHUNK])[0] for s in range(0, len(rows), CHUNK))
    Fact.objects.filter(source="orm").delete()
    Actual.objects.all().delete()  # the bulk path starts from none, as the COPY did
    return len(rows) / seconds


def _rerun_rate(numbers: list[str]) -> float:
    """The same facts again: every one unchanged, no actual touched."""
    return _bulk_rate(numbers, expect="unchanged")


# --- the API on loopback ----------------------------------------------------------------


def _api_figures(numbers: list[str]) -> dict:
    import requests

    from kaohe.org.actions import do_create_api_key

    _key, secret = do_create_api_key(None, "bench", ["facts:write"])
    bodies = [
        json.dumps({"source": "crm", "items": [
            fact(b * API_BATCH + i, numbers, prefix=f"API{c}") for i in range(API_BATCH)
        ]})
        for c in range(API_CLIENTS) for b in range(API_BATCHES)
    ]  # fmt: skip
    port = _free_port()
    server = _start_gunicorn(port)
    latencies: list[float] = []
    failures: list[str] = []

    def client(index: int):
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {secret}"
        session.headers["Content-Type"] = "application/json"
        for body in bodies[index * API_BATCHES : (index + 1) * API_BATCHES]:
            started = time.perf_counter()
            response = session.post(f"http://127.0.0.1:{port}/api/v1/facts", data=body)
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200 or response.json()["counts"]["rejected"]:
                failures.append(response.text[:300])

    try:
        _warm_up(port, secret)
        threads = [threading.Thread(target=client, args=(i,)) for i in range(API_CLIENTS)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert not failures, failures[:3]
    p95 = statistics.quantiles(latencies, n=20)[-1]
    return {"api_items_per_s": len(bodies) * API_BATCH / wall, "api_p95_ms": p95}


def _warm_up(port: int, secret: str) -> None:
    """Every worker answers a first, empty batch before the clock starts."""
    import requests

    def empty_batch():
        requests.post(f"http://127.0.0.1:{port}/api/v1/facts", timeout=60,
                      json={"source": "crm", "items": []},
                      headers={"Authorization": f"Bearer {secret}"})  # fmt: skip

    threads = [threading.Thread(target=empty_batch) for _ in range(API_CLIENTS * 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_gunicorn(port: int) -> subprocess.Popen:
    import requests

    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "kaohe.wsgi:application", "--bind",
         f"127.0.0.1:{port}", "--workers", str(API_CLIENTS), "--timeout", "120"],
        cwd=ROOT, env={**os.environ, "KAOHE_ENV": "development", "KAOHE_DEBUG": "false"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
            break
        except requests.RequestException:
            time.sleep(0.2)
    else:
        server.terminate()
        raise RuntimeError("gunicorn did not start")
    time.sleep(3)  # the other workers finish booting
    return server


if __name__ == "__main__":
    {"postgres": postgres_child}[sys.argv[1]]()
