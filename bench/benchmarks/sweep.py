"""The warnings' sweep over a large company, and the time from a fact to its alert.

A synthetic company of KAOHE_BENCH_SWEEP_EMPLOYEES people (default 100,000) gets, written in
bulk (the ingest path is measured by `ingest.py`): 24 months of monthly actuals, month after
month as two years of ingest leave them in the table (sales amount and deals signed for
everyone, a satisfaction score for a quarter of them), published
target agreements in force for every period those months touch (years for seven in ten,
quarters for the others; sales 70 % and deals 30 %, some with a monthly split), the same
rows and content hash `do_publish_agreement` writes, all acknowledged but one in a hundred
of the running period's, published three weeks ago; open improvement plans with overdue
tasks (and some overdue plans); and a source that never sent anything. One employee in
fifty sells below 80 % of target in both of the last two complete months, another one in
fifty only in the month before last. The standard rules (the reference story's three and
a silent source) are saved with `do_save_rule`.

Measured: the full `kaohe.alerts.sweep.sweep()` at a fixed `now`, first run (raising every
alert, deliver=True: the delivery task is enqueued, and run by the worker afterwards, as in
production) and the second (nothing changes), on PostgreSQL (a scratch database, see
`pg.py`) and SQLite (the fresh database `run.py` prepared). Then, on PostgreSQL with a real
task worker (`kaohe db_worker`, as `kaohe run` starts it): KAOHE_BENCH_SWEEP_EVENTS fact
batches (default 20), each a refund that pushes one of the month-before-last employees below
80 % in the last complete month, go through `ingest_facts`; the time from the call to the
moment the alert row exists (polled) is the event's latency.
"""

import datetime as dt
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

from benchmarks import Measurement, benchmark, pg, timed

ROOT = Path(__file__).resolve().parents[2]
EMPLOYEES = int(os.environ.get("KAOHE_BENCH_SWEEP_EMPLOYEES", 100_000))
EVENTS = int(os.environ.get("KAOHE_BENCH_SWEEP_EVENTS", 20))
DATABASE = "kaohe_bench_sweep"
SEED = 20260501
SWEEP_TARGET_S, EVENT_TARGET_S = 10.0, 5.0
MONTHS = 24
SLUMP, DIP = 7, 13  # employee index % 50: below 80 % two months running; the first only
TAG = f"{EMPLOYEES // 1000}k" if EMPLOYEES % 1000 == 0 else str(EMPLOYEES)


@benchmark
def sweep(scratch: Path) -> dict[str, Measurement]:
    on_pg = pg.run_child(scratch, "sweep", DATABASE)
    on_sqlite = _build_and_sweep()
    return {
        f"sweep.seconds_{TAG}_pg": Measurement(on_pg["first"], target=SWEEP_TARGET_S),
        f"sweep.rerun_seconds_{TAG}_pg": Measurement(on_pg["again"]),
        f"sweep.cpu_seconds_{TAG}_pg": Measurement(
            on_pg["cpu"]
        ),  # this process's, not the server's
        "sweep.load_average_pg": Measurement(on_pg["load"], unit="load"),
        f"sweep.seconds_{TAG}_sqlite": Measurement(on_sqlite["first"]),
        f"sweep.rerun_seconds_{TAG}_sqlite": Measurement(on_sqlite["again"]),
        "sweep.per_employee_ms_pg": Measurement(on_pg["first"] * 1000 / EMPLOYEES, unit="ms"),
        "sweep.alerts_raised": Measurement(on_pg["raised"], unit="alerts"),
        "alerts.deliver_ms_per_alert_pg": Measurement(on_pg["deliver_ms"], unit="ms"),
        "alerts.event_to_alert_p95_s": Measurement(on_pg["event_p95"], target=EVENT_TARGET_S),
        "alerts.event_to_alert_median_s": Measurement(on_pg["event_median"]),
    }


def postgres_child() -> None:
    pg.setup_child()
    figures = _build_and_sweep()
    figures.update(_events(figures.pop("dips")))
    print(json.dumps(figures))


# --- the company ------------------------------------------------------------------------


def _build_and_sweep() -> dict:
    """Builds the company on the current database and times two sweeps at one `now`."""
    from django.db import connection

    from kaohe.alerts.sweep import sweep as run_sweep
    from kaohe.lib import clock

    started = time.perf_counter()
    world = _build()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")  # what autovacuum does after a bulk load
    _say(f"built {EMPLOYEES:,} people in {time.perf_counter() - started:.0f} s")
    now = clock.now()
    cpu = time.process_time()
    first_s, first = timed(run_sweep, now, deliver=True)
    cpu = time.process_time() - cpu
    again_s, again = timed(run_sweep, now, deliver=True)
    _say(f"sweep {first_s:.2f} s ({cpu:.2f} s CPU here, {len(first.raised)} raised), "
         f"again {again_s:.2f} s; load {os.getloadavg()[0]:.1f}")  # fmt: skip
    expected = world["slumps"] + world["pending"] + world["overdue"] + 1  # + the silent source
    assert len(first.raised) == expected, (len(first.raised), expected, world)
    assert (again.raised, again.resolved, again.escalated) == ([], 0, 0), again
    return {"first": first_s, "cpu": cpu, "again": again_s, "raised": len(first.raised),
            "load": os.getloadavg()[0], "dips": world["dips"]}  # fmt: skip


def _build() -> dict:
    from django.db import transaction

    from kaohe.integrations.models import Source
    from kaohe.lib import clock
    from kaohe.metrics.testing import make_sales_metrics
    from kaohe.org import demo
    from kaohe.org.models import Employee, EmploymentStatus, Role
    from kaohe.org.testing import grant, make_user

    demo.load(demo.synthetic_company(EMPLOYEES, SEED))
    metrics = make_sales_metrics()
    admin = make_user("bench-admin")
    grant(admin, Role.HR_ADMIN)
    now = clock.now()
    Source.objects.create(code="crm", name="CRM", created_at=now)
    Source.objects.create(code="hr-sync", name="HR sync", created_at=now - dt.timedelta(days=3))
    people = list(
        Employee.objects.filter(status__in=EmploymentStatus.employed())
        .order_by("pk")
        .values_list("pk", "employee_no", "name", "org_unit_id")
    )
    world = {"slumps": 0, "pending": 0, "overdue": 0, "dips": []}
    with transaction.atomic():
        _trust_bulk_rows()
        _load_actuals(people, metrics, now)
        world["pending"] = _load_agreements(people, metrics, admin, now)
        world["overdue"] = _load_plans(people, now)
    world["slumps"] = sum(1 for i in range(len(people)) if i % 50 == SLUMP)
    world["dips"] = [no for i, (_pk, no, *_r) in enumerate(people) if i % 50 == DIP][:EVENTS]
    _rules(admin)
    return world


def _months() -> list[dt.date]:
    """The first days of the 24 months up to the running one (company time)."""
    from kaohe.lib.clock import today
    from kaohe.lib.periods import add_months

    this = today().replace(day=1)
    return [add_months(this, -n) for n in range(MONTHS - 1, -1, -1)]


def _year_target(i: int) -> Decimal:
    return Decimal(1_200_000 + (i % 5) * 120_000)


def _split(i: int) -> bool:
    """Yearly agreements of every third employee split the target: 7.5 % a month in the
    first half, 9.1666.. in the second (the sum is the year's)."""
    return i % 3 == 0


def _month_target(i: int, month: dt.date) -> Decimal:
    year = _year_target(i)
    if _yearly(i) and _split(i):
        return year * Decimal("0.075") if month.month <= 6 else (year - year * Decimal("0.45")) / 6
    return year / 12


def _yearly(i: int) -> bool:
    return i % 10 < 7


def _sales_factor(i: int, k: int) -> Decimal:
    """The share of the month's target sold in month k (MONTHS - 1 is the running one)."""
    last, before = MONTHS - 2, MONTHS - 3
    if i % 50 == SLUMP and k in (before, last):
        return Decimal(45 + (i + k) % 20) / 100
    if i % 50 == DIP and k == before:
        return Decimal("0.60")
    if i % 50 == DIP and k == last:
        return Decimal("0.90")
    return Decimal(85 + (i * 7 + k * 13) % 46) / 100


def _load_actuals(people, metrics, now) -> None:
    from kaohe.metrics.models import Actual

    months = _months()
    sales, deals, score = (metrics[c].pk for c in ("sales_amount", "deals_signed", "satisfaction"))

    def rows():  # month after month, as ingest leaves them over two years
        for k, month in enumerate(months):
            for i, (pk, _no, _name, unit) in enumerate(people):
                amount = (_month_target(i, month) * _sales_factor(i, k)).quantize(Decimal("0.01"))
                n = 3 + (i + k) % 5
                yield (pk, sales, month, unit, int(amount * 10_000), n, None, None, now)
                signed = 1 + (i + 3 * k) % 4
                yield (pk, deals, month, unit, signed * 10_000, signed, None, None, now)
                if i % 4 == 0:
                    value = Decimal(70 + (i + k) % 30)
                    at = dt.datetime.combine(month, dt.time(12), dt.UTC) + dt.timedelta(days=9)
                    yield (pk, score, month, unit, int(value * 10_000), 1, value, at, now)

    columns = ["employee_id", "metric_id", "month", "org_unit_id", "total_e4", "count",
               "latest_value", "latest_at", "updated_at"]  # fmt: skip
    _insert(Actual, columns, rows())


def _load_agreements(people, metrics, admin, now) -> int:
    """Agreements in force for every period the months touch, as publishing leaves them;
    returns how many are still awaiting acknowledgement past the rule's deadline."""
    from kaohe.lib.canonical import canonical
    from kaohe.lib.periods import Period, PeriodKind
    from kaohe.metrics.checks import decimal_text
    from kaohe.metrics.models import AgreementItem, AgreementVersion, TargetAgreement

    months = _months()
    sales, deals = metrics["sales_amount"], metrics["deals_signed"]
    agreements, versions, items = [], [], []
    pending = 0
    for i, (pk, no, name, _unit) in enumerate(people):
        kind = PeriodKind.YEAR if _yearly(i) else PeriodKind.QUARTER
        periods = sorted({Period.containing(kind, month) for month in months})
        for period in periods:
            number = len(agreements) + 1
            sales_target = _year_target(i) * len(period.months) / 12
            deal_target = Decimal(2 * len(period.months))
            monthly = {}
            if kind == PeriodKind.YEAR and _split(i):
                monthly = {f"{m:%Y-%m}": decimal_text(_month_target(i, m)) for m in period.months}
            lines = [
                (sales, sales_target, Decimal(70), monthly),
                (deals, deal_target, Decimal(30), {}),
            ]
            public_id = uuid.UUID(int=random.Random(number).getrandbits(128), version=4)
            content = {
                "agreement": str(public_id),
                "employee": {"employee_no": no, "name": name},
                "period": period.label,
                "version": 1,
                "note": "",
                "items": [_item_content(*line) for line in sorted(lines, key=_code)],
            }
            waiting = i % 100 == 3 and months[-1] in period
            pending += waiting
            published = (
                now - dt.timedelta(days=21)
                if waiting
                else _aware(period.start) - dt.timedelta(days=10)
            )
            agreements.append((number, public_id, pk, kind.value, period.start, number, published))
            versions.append((number, number, 1, "published", "", admin.pk, published, admin.pk,
                             published, hashlib.sha256(canonical(content)).hexdigest(),
                             "pending" if waiting else "acknowledged"))  # fmt: skip
            items += [(number, m.pk, t, w, json.dumps(s)) for m, t, w, s in lines]
    _insert(TargetAgreement, ["id", "public_id", "employee_id", "period_kind", "period_start",
                              "in_force_id", "created_at"], agreements)  # fmt: skip
    _insert(AgreementVersion, ["id", "agreement_id", "number", "state", "note", "created_by_id",
                               "created_at", "published_by_id", "published_at", "content_sha256",
                               "acknowledgement"], versions)  # fmt: skip
    _insert(AgreementItem, ["version_id", "metric_id", "target", "weight", "monthly"], items)
    _reset_sequences(TargetAgreement, AgreementVersion)
    return pending


def _item_content(metric, target: Decimal, weight: Decimal, monthly: dict) -> dict:
    from kaohe.metrics.checks import decimal_text

    return {"metric": metric.code, "name_zh": metric.name_zh, "name_en": metric.name_en,
            "unit": metric.unit, "aggregation": metric.aggregation, "direction": metric.direction,
            "target": decimal_text(target.quantize(Decimal("0.01"))),
            "weight": decimal_text(weight), "monthly": monthly}  # fmt: skip


def _code(line) -> str:
    return line[0].code


def _aware(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(9), dt.UTC)


def _load_plans(people, now) -> int:
    """An open plan for one employee in 200, a task of it 20 days overdue and one not yet due;
    every other plan is itself 15 days overdue. Returns the overdue count (tasks and plans)."""
    from kaohe.pips.models import Plan, Task

    today = now.date()
    plans = [
        Plan(employee_id=pk, title=f"PIP {no}", starts_on=today - dt.timedelta(days=60),
             due_on=today - dt.timedelta(days=15 if n % 2 else -30), created_at=now)
        for n, (pk, no, *_rest) in enumerate(p for i, p in enumerate(people) if i % 200 == 11)
    ]  # fmt: skip
    Plan.objects.bulk_create(plans, batch_size=1000)
    tasks = []
    for plan in plans:
        tasks.append(Task(plan=plan, title="拜访10家客户", due_on=today - dt.timedelta(days=20)))
        tasks.append(Task(plan=plan, title="复盘", due_on=today + dt.timedelta(days=5)))
    Task.objects.bulk_create(tasks, batch_size=1000)
    return len(plans) + len(plans) // 2


def _rules(admin) -> None:
    from kaohe.alerts.actions import do_save_rule
    from kaohe.alerts.models import Kind, Level

    common = {"channels": ["inbox"], "level": Level.LEVEL1}
    for data in (
        {"code": "below-80-2m", "name": "连续两个月未达成目标80%", "kind": Kind.ATTAINMENT,
         "params": {"metric": "sales_amount", "threshold": "80", "periods": 2},
         "recipients": {"hr": True, "managers": 1}, "escalate_after_days": 5,
         "escalate_to": Level.LEVEL2, "escalate_managers": 1},
        {"code": "unconfirmed-3d", "name": "目标责任书3个工作日未确认", "kind": Kind.UNCONFIRMED,
         "params": {"days": 3, "day_kind": "working"}, "level": Level.REMINDER,
         "recipients": {"employee": True, "hr": True}},
        {"code": "pip-overdue-10d", "name": "改进计划逾期10天", "kind": Kind.PIP_OVERDUE,
         "params": {"days": 10, "day_kind": "calendar"},
         "recipients": {"hr": True, "managers": 1}},
        {"code": "source-silent-24h", "name": "数据源24小时无数据", "kind": Kind.SOURCE_SILENT,
         "params": {"hours": 24}, "recipients": {"users": [admin.pk]}},
    ):  # fmt: skip
        do_save_rule(admin, None, {**common, **data})


# --- bulk writing -----------------------------------------------------------------------


def _insert(model, columns: list[str], rows) -> None:
    """Rows straight into the model's table: COPY on PostgreSQL, executemany on SQLite."""
    from django.db import connection

    table = model._meta.db_table
    names = ", ".join(f'"{c}"' for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join("%s" for _ in columns)
        sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608 - our own names
        batch = []
        for row in rows:
            batch.append(tuple(_sqlite_value(v) for v in row))
            if len(batch) == 10_000:
                cursor.executemany(sql, batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)


def _trust_bulk_rows() -> None:
    """PostgreSQL checks every row's foreign keys at commit, one by one: minutes for
    millions of rows that are right by construction. A superuser may skip the checks for
    this transaction."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if cursor.fetchone()[0]:
            cursor.execute("SET LOCAL session_replication_role = replica")


def _sqlite_value(value):
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _reset_sequences(*models) -> None:
    from django.core.management.color import no_style
    from django.db import connection

    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), models):
            cursor.execute(sql)


def _say(text: str) -> None:
    print(f"   {text}", file=sys.stderr, flush=True)


# --- from a fact to its alert, with a real worker ----------------------------------------


def _events(dips: list[str]) -> dict:
    from django_tasks_db.models import DBTaskResult

    from kaohe.alerts.models import Alert
    from kaohe.metrics.ingest import ingest_facts
    from kaohe.org.models import Employee

    log = open(Path(os.environ["KAOHE_DATA_DIR"]) / "worker.log", "wb")  # noqa: SIM115
    worker = subprocess.Popen(
        [sys.executable, "-m", "kaohe", "db_worker", "--no-reload"],
        cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=log, stderr=log,
    )  # fmt: skip
    try:
        while DBTaskResult.objects.ready().exists() or DBTaskResult.objects.running().exists():
            time.sleep(0.5)
        assert not DBTaskResult.objects.failed().exists(), "a task failed: see worker.log"
        # The sweep hands its alerts to the worker in tasks of a few hundred.
        tasks = DBTaskResult.objects.filter(task_path__endswith=".deliver_task")
        deliver_s = sum((t.finished_at - t.started_at).total_seconds() for t in tasks)
        deliver_ms = deliver_s * 1000 / sum(len(t.args_kwargs["args"][0]) for t in tasks)
        _say(f"the worker delivered the first sweep's alerts in {deliver_s:.1f} s")
        last = _months()[-2]
        pause = random.Random(SEED)
        latencies = []
        for no in dips:
            employee = Employee.objects.get(employee_no=no)
            refund = {"external_id": f"REFUND-{no}", "employee": no, "metric": "sales_amount",
                      "value": "-50000", "occurred_at": f"{last:%Y-%m}-20T10:00+08:00"}  # fmt: skip
            time.sleep(pause.uniform(0, 1.5))  # land anywhere in the worker's poll interval
            began = time.perf_counter()
            result = ingest_facts("crm", [refund], None)
            assert result.created == 1, result.rejected
            alerts = Alert.objects.filter(rule__code="below-80-2m", employee=employee)
            while not alerts.exists():
                if time.perf_counter() - began > 120:
                    raise RuntimeError(f"no alert for {no} after 120 s")
                time.sleep(0.01)
            latencies.append(time.perf_counter() - began)
        _say("event to alert: " + " ".join(f"{s:.2f}" for s in latencies))
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()
    return {
        "deliver_ms": deliver_ms,
        "event_p95": statistics.quantiles(latencies, n=20, method="inclusive")[-1],
        "event_median": statistics.median(latencies),
    }


if __name__ == "__main__":
    {"postgres": postgres_child}[sys.argv[1]]()
