"""Turning findings into alerts: the scheduled sweep, the re-evaluation after new facts,
and `kaohe sweep --as-of DATE`.

Idempotent by construction: an alert is unique per (rule, subject, period), a subject with
an unresolved alert of the rule gets no second one, and a rule's alerts are raised under a
lock on the rule's row, so several workers (PostgreSQL) or a re-run change nothing. A
subject the rule no longer finds has its open alert resolved. The ledger entries of the
alerts raised are appended in bulk; the recipients are told afterwards by the worker
(`deliver_task`), so a sweep over 100,000 people does not wait on sending.
"""

import datetime as dt
import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.db import transaction

from kaohe.alerts.actions import escalate, resolve
from kaohe.alerts.kinds import EVENT_KINDS, Finding, Spec, evaluate
from kaohe.alerts.models import OPEN_STATUSES, UNRESOLVED, Alert, Kind, Rule, Status
from kaohe.ledger import bulk
from kaohe.ledger.tasks import checkpoint_task
from kaohe.lib import clock
from kaohe.org.models import Company

logger = logging.getLogger(__name__)


@dataclass
class SweepResult:
    raised: list[int] = field(default_factory=list)  # alert ids
    resolved: int = 0
    escalated: int = 0
    rules: int = 0

    def add(self, other: "SweepResult") -> None:
        self.raised += other.raised
        self.resolved += other.resolved
        self.escalated += other.escalated
        self.rules += other.rules


def active_rules(now: dt.datetime, kinds: Collection[str] | None = None):
    today = now.astimezone(ZoneInfo(Company.get().timezone)).date()
    rules = Rule.objects.filter(active=True).prefetch_related("scope_units")
    if kinds is not None:
        rules = rules.filter(kind__in=list(kinds))
    return [
        rule
        for rule in rules.order_by("code")
        if (rule.active_from is None or rule.active_from <= today)
        and (rule.active_until is None or today <= rule.active_until)
    ]


def sweep(
    now: dt.datetime | None = None,
    employee_ids: Collection[int] | None = None,
    kinds: Collection[str] | None = None,
    deliver: bool = True,
) -> SweepResult:
    """Evaluates every active rule (of `kinds`) at `now`, for `employee_ids` or everyone;
    raises, resolves and escalates. Returns what changed."""
    now = now or clock.now()
    result = SweepResult()
    for rule in active_rules(now, kinds):
        result.add(sweep_rule(rule, now, employee_ids))
    undelivered: list[int] = []
    if employee_ids is None:
        result.escalated = escalate_due(now)
        # Alerts whose delivery task was lost (a worker killed, a queue emptied) are sent
        # again; a delivered one is skipped by deliver() and by the notifications' dedupe.
        stale = Alert.objects.filter(status=Status.RAISED, raised_at__lt=now - REDELIVER_AFTER)
        undelivered = list(stale.values_list("pk", flat=True)[:REDELIVER_BATCH])
    if (result.raised or undelivered) and deliver:
        from kaohe.alerts.tasks import deliver_task

        ids = [*undelivered, *result.raised]
        # In tasks of a few hundred, so that other work (new facts) gets its turn between.
        for start in range(0, len(ids), DELIVER_BATCH):
            batch = ids[start : start + DELIVER_BATCH]
            transaction.on_commit(lambda batch=batch: deliver_task.enqueue(batch))
    return result


def sweep_rule(
    rule: Rule, now: dt.datetime, employee_ids: Collection[int] | None = None
) -> SweepResult:
    findings = evaluate(Spec.of(rule), now, employee_ids)
    with transaction.atomic():
        # One sweep of a rule at a time: the row lock orders concurrent workers.
        Rule.objects.select_for_update().filter(pk=rule.pk).first()
        result = _apply(rule, findings, now, employee_ids)
    result.rules = 1
    return result


# Kinds whose finding names one item (a document, a task, a silence): one alert per item,
# resolved when that item is no longer found. The kinds over figures keep one open alert
# per person, whatever the period: a new complete period still below the threshold raises
# a new alert only once the earlier one was acknowledged.
PER_ITEM = (Kind.UNCONFIRMED, Kind.PIP_OVERDUE, Kind.SOURCE_SILENT)
REDELIVER_AFTER = dt.timedelta(minutes=5)
REDELIVER_BATCH = 5_000
DELIVER_BATCH = 200


def _key(rule: Rule, subject: str, period: str):
    return (subject, period) if rule.kind in PER_ITEM else subject


def _apply(rule, findings: list[Finding], now, employee_ids) -> SweepResult:
    result = SweepResult()
    alerts = Alert.objects.filter(rule=rule)
    subjects = {f.subject for f in findings}
    open_alerts = alerts.filter(status__in=UNRESOLVED)
    if employee_ids is not None:
        # After new facts only those employees were looked at (and only they can be found):
        # the rule's other open alerts, thousands of them, stay unread.
        open_alerts = open_alerts.filter(employee_id__in=list(employee_ids))
    unresolved = list(open_alerts.select_related("employee", "rule"))
    # An acknowledged alert is being dealt with; it does not hold back the next period's.
    blocking = {_key(rule, a.subject, a.period) for a in unresolved if a.status in OPEN_STATUSES}
    taken = set(
        alerts.filter(subject__in=list(subjects)).values_list("subject", "period")
    ) if subjects else set()  # fmt: skip
    cooling = _cooling(rule, subjects, now)
    new = [
        Alert(
            rule=rule,
            rule_version=rule.version,
            employee_id=f.employee_id,
            subject=f.subject,
            period=f.period,
            level=rule.level,
            status=Status.RAISED,
            figures=f.figures,
            raised_at=now,
        )
        for f in findings
        if _key(rule, f.subject, f.period) not in blocking
        and (f.subject, f.period) not in taken
        and _key(rule, f.subject, f.period) not in cooling
    ]
    if new:
        created = Alert.objects.bulk_create(new, batch_size=1000)
        result.raised = [alert.pk for alert in created]
        _record_raised(rule, created)
    found = {_key(rule, f.subject, f.period) for f in findings}
    ids = None if employee_ids is None else set(employee_ids)
    for alert in unresolved:
        looked_at = ids is None or alert.employee_id in ids
        if looked_at and _key(rule, alert.subject, alert.period) not in found:
            resolve(alert, "condition no longer holds", now=now)
            result.resolved += 1
    return result


def _cooling(rule: Rule, subjects: set[str], now: dt.datetime) -> set:
    """Keys (see _key) whose last alert of the rule was resolved within the cooldown."""
    if not rule.cooldown_days or not subjects:
        return set()
    since = now - dt.timedelta(days=rule.cooldown_days)
    recent = Alert.objects.filter(
        rule=rule, subject__in=list(subjects), resolved_at__gte=since
    ).values_list("subject", "period")
    return {_key(rule, subject, period) for subject, period in recent}


def _record_raised(rule: Rule, alerts: list[Alert]) -> None:
    """One ledger entry per alert raised, appended in bulk (one lock, few statements)."""
    items = (
        (
            "alerts.alert.raised",
            {
                **({"employee": a.subject} if a.employee_id else {"source": a.subject}),
                "alert": str(a.pk),
            },
            "system",
            {
                "alert": a.pk,
                "rule": rule.code,
                "rule_version": a.rule_version,
                "level": a.level,
                "period": a.period,
                "figures": a.figures,
            },
        )
        for a in alerts
    )
    bulk.append_many(items)
    transaction.on_commit(checkpoint_task.enqueue)


def escalate_due(now: dt.datetime) -> int:
    """Escalates once each alert of an active rule that its recipients were told of and
    nobody acknowledged in the time the rule allows (one not yet told waits for its first
    notice: nobody hears "escalated" of something they never heard of). A rule switched
    off escalates nothing more; its open alerts stay as they are."""
    count = 0
    rules = [rule for rule in active_rules(now) if rule.escalate_after_days is not None]
    for rule in rules:
        cutoff = now - dt.timedelta(days=rule.escalate_after_days)
        due = Alert.objects.filter(
            rule=rule,
            status=Status.NOTIFIED,
            raised_at__lte=cutoff,
        ).select_related("rule", "employee")
        for alert in due:
            with transaction.atomic():
                locked = Alert.objects.select_for_update().filter(pk=alert.pk, status=alert.status)
                if locked.exists():
                    escalate(alert, now)
                    count += 1
    return count


def reevaluate(employee_ids: Collection[int], now: dt.datetime | None = None) -> SweepResult:
    """After new facts: the rules that depend on figures, for those employees only."""
    return sweep(now, employee_ids=employee_ids, kinds=EVENT_KINDS)
