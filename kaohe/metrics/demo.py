"""The demo company's metrics, target agreements and a few months of business facts.

Everything goes through the real entry points: the HR admin defines the metrics and
assigns the agreements with the actions (so the ledger holds them), and the facts arrive
through `ingest_facts` as a CRM, finance, attendance and survey system would send them.
The reference story's regional director (login `director`) signs his agreements and then
closes no deal at all. The same seed on the same day gives the same data; loading twice
changes nothing (facts are upserted by their external ids).
"""

import calendar
import datetime as dt
import random
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction

from kaohe.lib.periods import Period, PeriodKind, add_months
from kaohe.metrics.actions import ItemSpec, do_bulk_assign, do_save_metric
from kaohe.metrics.ingest import ingest_facts
from kaohe.metrics.models import Metric, TargetAgreement
from kaohe.org.actions import company_today
from kaohe.org.models import Employee, EmploymentStatus, is_hr_admin

# code: (name_zh, name_en, unit, aggregation, direction, sources)
METRICS = {
    "sales_amount": ("销售额", "Sales amount", "cny", "sum", "higher", ["crm"]),
    "deals_signed": ("签约单数", "Deals signed", "count", "count", "higher", ["crm"]),
    "payment_collected": ("回款金额", "Payment collected", "cny", "sum", "higher", ["finance"]),
    "new_customers": ("新增客户数", "New customers", "count", "count", "higher", ["crm"]),
    "days_present": ("实际出勤天数", "Days present", "days", "sum", "higher", ["attendance"]),
    "days_required": ("应出勤天数", "Days required", "days", "sum", "higher", ["attendance"]),
    "attendance_rate": ("出勤率", "Attendance rate", "percent", "ratio", "higher", []),
    "overtime_hours": ("加班时长", "Overtime hours", "hours", "sum", "lower", ["attendance"]),
    "customer_satisfaction": ("客户满意度", "Customer satisfaction", "score", "average",
                              "higher", ["survey"]),
    "on_time_delivery_rate": ("按时交付率", "On-time delivery rate", "percent", "latest",
                              "higher", ["erp"]),
}  # fmt: skip
RATIO_PARTS = {"attendance_rate": ("days_present", "days_required")}
SOURCES = {"crm": "CRM 客户管理系统", "finance": "财务系统", "attendance": "考勤系统",
           "survey": "客户满意度调查", "erp": "ERP 交付系统"}  # fmt: skip

REPS = ("销售代表", "高级销售代表", "客户经理", "大客户经理")
LEADS = ("销售经理",)
DIRECTOR_SUFFIX = "区域总监"
STORY_DIRECTOR = "director"  # the login of the reference story's regional director
MAX_SALES_PEOPLE = 300  # a synthetic company larger than this gets the definitions only
MONTHS_OF_FACTS = 6

# role: (quarterly sales target, payment share, deals, new customers per quarter)
ROLE_TARGETS = {
    "rep": (Decimal(450_000), Decimal("0.8"), 9, 6),
    "lead": (Decimal(1_200_000), Decimal("0.8"), 15, 9),
    "director": (Decimal(3_000_000), Decimal("0.85"), 18, 9),
}


@dataclass
class Loaded:
    metrics: int = 0
    agreements: int = 0
    facts: int = 0  # new or changed
    facts_kept: int = 0  # sent again as they were


def hr_admin():
    for user in get_user_model().objects.filter(role_assignments__role="hr_admin"):
        if is_hr_admin(user):
            return user
    return None


def is_loaded() -> bool:
    return Metric.objects.filter(code__in=list(METRICS)).count() == len(METRICS)


def load(seed: int = 1) -> Loaded:
    """Defines the metrics, then (for a company of demo size) the sales people's
    agreements for this year and this quarter and the facts of the last few months."""
    admin = hr_admin()
    if admin is None:
        return Loaded()
    loaded = Loaded(metrics=define_metrics(admin))
    people = sales_people()
    if not people or len(people) > MAX_SALES_PEOPLE:
        return loaded
    if not TargetAgreement.objects.filter(employee__in=[p for p, _role in people]).exists():
        loaded.agreements = assign_targets(admin, people)
    loaded.facts, loaded.facts_kept = send_facts(people, random.Random(seed))  # noqa: S311
    return loaded


@transaction.atomic
def define_metrics(admin) -> int:
    made = 0
    for code, (name_zh, name_en, unit, aggregation, direction, sources) in METRICS.items():
        if Metric.objects.filter(code=code).exists():
            continue
        data = {"code": code, "name_zh": name_zh, "name_en": name_en, "unit": unit,
                "aggregation": aggregation, "direction": direction, "sources": sources,
                "decimal_places": 0 if unit in ("count", "days") else 2}  # fmt: skip
        if code in RATIO_PARTS:
            data["numerator"], data["denominator"] = RATIO_PARTS[code]
        do_save_metric(admin, data)
        made += 1
    return made


def sales_people() -> list[tuple[Employee, str]]:
    """(employee, role) of the sales force: reps, team leads and regional directors."""
    people = Employee.objects.filter(status__in=EmploymentStatus.employed()).select_related("user")
    found = []
    for employee in people.order_by("employee_no"):
        if employee.position.endswith(DIRECTOR_SUFFIX):
            found.append((employee, "director"))
        elif employee.position in LEADS:
            found.append((employee, "lead"))
        elif employee.position in REPS:
            found.append((employee, "rep"))
    return found


def quarter_items(metrics: dict[str, Metric], role: str) -> list[ItemSpec]:
    sales, share, deals, _customers = ROLE_TARGETS[role]
    return [
        ItemSpec(metrics["sales_amount"], sales, 40),
        ItemSpec(metrics["deals_signed"], deals, 20),
        ItemSpec(metrics["payment_collected"], (sales * share).quantize(Decimal(1)), 15),
        ItemSpec(metrics["attendance_rate"], 95, 10),
        ItemSpec(metrics["customer_satisfaction"], Decimal("4.5"), 10),
        ItemSpec(metrics["overtime_hours"], 60, 5),
    ]


def year_items(metrics: dict[str, Metric], role: str, year: Period) -> list[ItemSpec]:
    sales, share, _deals, customers = ROLE_TARGETS[role]
    yearly = sales * 4
    # A sales target that grows through the year: 7 % of it in January ... 10.8 % in December.
    weights = [Decimal(70 + 3.5 * i).quantize(Decimal("0.1")) for i in range(12)]
    split = {m.strftime("%Y-%m"): (yearly * w / sum(weights)).quantize(Decimal(1))
             for m, w in zip(year.months, weights, strict=True)}  # fmt: skip
    last = year.months[-1].strftime("%Y-%m")
    split[last] += yearly - sum(split.values())
    return [
        ItemSpec(metrics["sales_amount"], yearly, 50,
                 {label: str(value) for label, value in split.items()}),
        ItemSpec(metrics["payment_collected"], (yearly * share).quantize(Decimal(1)), 30),
        ItemSpec(metrics["new_customers"], customers * 4, 20),
    ]  # fmt: skip


def assign_targets(admin, people: list[tuple[Employee, str]]) -> int:
    """This year's and this quarter's agreements, published, one bulk assignment per role."""
    today = company_today()
    metrics = {m.code: m for m in Metric.objects.filter(code__in=list(METRICS))}
    year = Period.containing(PeriodKind.YEAR, today)
    quarter = Period.containing(PeriodKind.QUARTER, today)
    by_role: dict[str, list[Employee]] = defaultdict(list)
    for employee, role in people:
        if employee.user_id != admin.pk:
            by_role[role].append(employee)
    made = 0
    for role, employees in sorted(by_role.items()):
        do_bulk_assign(admin, employees, year, year_items(metrics, role, year), publish=True)
        do_bulk_assign(admin, employees, quarter, quarter_items(metrics, role), publish=True)
        made += 2 * len(employees)
    return made


# --- facts ------------------------------------------------------------------------------------


def fact_months(today: dt.date) -> list[dt.date]:
    """The last few months up to this one, within this year."""
    first = max(dt.date(today.year, 1, 1), add_months(today, 1 - MONTHS_OF_FACTS))
    months, month = [], first
    while month <= today:
        months.append(month)
        month = add_months(month, 1)
    return months


def send_facts(people: list[tuple[Employee, str]], rng: random.Random) -> tuple[int, int]:
    """Sends each source's facts through the ingest; (new or changed, unchanged)."""
    changed = kept = 0
    for source, items in sorted(fact_batches(people, rng, company_today()).items()):
        for start in range(0, len(items), 5000):
            result = ingest_facts(source, items[start : start + 5000], None, channel="demo")
            changed += result.created + result.updated
            kept += result.unchanged
    return changed, kept


def fact_batches(people, rng: random.Random, today: dt.date) -> dict[str, list[dict]]:
    """The facts each source sends, as fact items: deals, payments and new customers from
    the CRM and finance (none of the story's director), attendance and surveys for all."""
    batches: dict[str, list[dict]] = defaultdict(list)
    for employee, role in people:
        story = employee.user is not None and employee.user.username == STORY_DIRECTOR
        for month in fact_months(today):
            _month_facts(batches, employee, role, month, today, rng, closes_deals=not story)
    return dict(batches)


def _days(month: dt.date, today: dt.date) -> list[dt.date]:
    last = calendar.monthrange(month.year, month.month)[1]
    days = [month.replace(day=d) for d in range(1, last + 1)]
    return [d for d in days if d <= today]


def _at(day: dt.date, hour: int) -> str:
    return f"{day.isoformat()}T{hour:02d}:{(day.day * 7) % 60:02d}:00+08:00"


def _month_facts(batches, employee, role, month, today, rng, closes_deals: bool) -> None:
    days = _days(month, today)
    weekdays = [d for d in days if d.weekday() < 5]
    if not weekdays:
        return
    no, tag = employee.employee_no, f"{employee.employee_no}-{month:%Y%m}"
    sales, share, deals, customers = ROLE_TARGETS[role]

    def fact(source, key, metric, value, day, hour=10):
        batches[source].append({"external_id": f"{key}", "employee": no, "metric": metric,
                                "value": str(value), "occurred_at": _at(day, hour)})  # fmt: skip

    if closes_deals:
        # Most people land near their target, some well above, a few far below.
        drive = rng.choice((0.45, 0.7, 0.85, 0.95, 1.0, 1.05, 1.2, 1.4))
        for n in range(max(0, round(deals / 3 * drive + rng.uniform(-1, 1)))):
            day = rng.choice(weekdays)
            amount = Decimal(int(sales / deals * Decimal(rng.uniform(0.6, 1.4)) / 100) * 100)
            fact("crm", f"D-{tag}-{n}", "sales_amount", amount, day)
            fact("crm", f"D-{tag}-{n}-signed", "deals_signed", 1, day)
            if rng.random() < share:
                paid = min(today, day + dt.timedelta(days=rng.randint(5, 25)))
                if paid.month == month.month:
                    fact("finance", f"P-{tag}-{n}", "payment_collected", amount, paid, 15)
        for n in range(rng.randint(0, max(1, customers // 2))):
            fact("crm", f"C-{tag}-{n}", "new_customers", 1, rng.choice(weekdays))
    required = len(weekdays)
    absent = rng.choice((0, 0, 0, 1, 1, 2))
    last = weekdays[-1]
    fact("attendance", f"A-{tag}-required", "days_required", required, last, 20)
    fact("attendance", f"A-{tag}-present", "days_present", max(0, required - absent), last, 20)
    fact("attendance", f"A-{tag}-overtime", "overtime_hours", rng.randint(4, 28), last, 20)
    for n in range(rng.randint(1, 3)):
        score = Decimal(rng.randint(35, 50)) / 10
        fact("survey", f"S-{tag}-{n}", "customer_satisfaction", score, rng.choice(weekdays), 16)


def source_names() -> dict[str, str]:
    """The demo's sources, for the entry point to register (integrations own them)."""
    return dict(SOURCES)
