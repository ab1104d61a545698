"""Every change of a rule or an alert: permission, state, write, ledger entry, then the
notifications after commit."""

import datetime as dt

from django.db import transaction
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kaohe.alerts.kinds import ParamError, check_params
from kaohe.alerts.models import (
    LEVEL_RANK,
    OPEN_STATUSES,
    UNRESOLVED,
    Alert,
    Kind,
    Level,
    Rule,
    RuleVersion,
    Status,
)
from kaohe.alerts.recipients import may_acknowledge, recipients_for
from kaohe.lib import clock
from kaohe.notify.send import Message, emit_event, notify
from kaohe.org.actions import ActionError, FieldErrors
from kaohe.org.evidence import record
from kaohe.org.models import OrgUnit, Role, roles_of

CHANNELS = ("inbox", "email")
MAX_NAME = 200


def may_edit_rules(user) -> bool:
    return Role.HR_ADMIN in roles_of(user) or getattr(user, "is_superuser", False)


def rule_content(rule: Rule) -> dict:
    """The rule as one JSON object: what a version keeps and the ledger entry hashes."""
    return {
        "code": rule.code,
        "name": rule.name,
        "kind": rule.kind,
        "params": rule.params,
        "level": rule.level,
        "scope_units": sorted(unit.code for unit in rule.scope_units.all()),
        "scope_positions": rule.scope_positions,
        "recipients": rule.recipients,
        "channels": rule.channels,
        "cooldown_days": rule.cooldown_days,
        "escalate_after_days": rule.escalate_after_days,
        "escalate_to": rule.escalate_to,
        "escalate_managers": rule.escalate_managers,
        "active": rule.active,
        "active_from": rule.active_from.isoformat() if rule.active_from else None,
        "active_until": rule.active_until.isoformat() if rule.active_until else None,
    }


def check_rule(data: dict) -> dict:
    """The rule's fields checked together; raises FieldErrors naming each fault."""
    errors: dict[str, str] = {}
    cleaned = dict(data)
    if not str(data.get("name") or "").strip():
        errors["name"] = _("This field is required.")
    if data.get("kind") not in Kind.values:
        errors["kind"] = _("Choose a kind of rule.")
    if data.get("level") not in Level.values:
        errors["level"] = _("Choose a level.")
    try:
        if "kind" not in errors:
            cleaned["params"] = check_params(data["kind"], data.get("params") or {})
    except ParamError as fault:
        errors.update({f"params.{k}": v for k, v in fault.errors.items()})
    recipients = data.get("recipients") or {}
    if data.get("kind") != Kind.SOURCE_SILENT and not (
        recipients.get("hr")
        or recipients.get("managers")
        or recipients.get("employee")
        or recipients.get("users")
    ):
        errors["recipients"] = _("Choose at least one recipient.")
    channels = list(data.get("channels") or [])
    bad = [c for c in channels if c not in CHANNELS and not str(c).startswith("robot:")]
    if bad or not channels:
        errors["channels"] = _("Choose at least one channel.")
    if data.get("escalate_after_days") and data.get("escalate_to") not in (
        *Level.values,
        "",
        None,
    ):
        errors["escalate_to"] = _("Choose a level.")
    start, end = data.get("active_from"), data.get("active_until")
    if start and end and end < start:
        errors["active_until"] = _("The end lies before the start.")
    if errors:
        raise FieldErrors(errors)
    return cleaned


@transaction.atomic
def do_save_rule(actor, rule: Rule | None, data: dict, units: list[OrgUnit] = ()) -> Rule:
    """Creates or changes a rule: a new version with its whole content, and a ledger entry."""
    if not may_edit_rules(actor):
        raise ActionError(_("Only HR admins may change warning rules."))
    cleaned = check_rule(data)
    now = clock.now()
    if rule is None:
        if Rule.objects.filter(code=cleaned["code"]).exists():
            raise FieldErrors({"code": _("A rule with this code exists.")})
        rule = Rule(code=cleaned["code"], version=0, updated_at=now)
    else:
        rule = Rule.objects.select_for_update().get(pk=rule.pk)
    for name in ("name", "kind", "params", "level", "scope_positions", "recipients",
                 "channels", "cooldown_days", "escalate_after_days", "escalate_to",
                 "escalate_managers", "active", "active_from", "active_until"):  # fmt: skip
        if name in cleaned:
            setattr(rule, name, cleaned[name])
    rule.escalate_to = rule.escalate_to or ""
    rule.version += 1
    rule.updated_at = now
    rule.save()
    rule.scope_units.set(units)
    content = rule_content(rule)
    RuleVersion.objects.create(
        rule=rule, number=rule.version, content=content, saved_by=actor, saved_at=now
    )
    record("alerts.rule.saved", actor, {"version": rule.version, "rule": content}, rule=rule.code)
    return rule


# --- the lifecycle of an alert ----------------------------------------------------------

LEVEL_WORDS = {Level.LEVEL1: "warning", Level.LEVEL2: "critical", Level.REMINDER: "info"}


def message_of(alert: Alert, escalated: bool = False) -> Message:
    """What people are told, in each one's language."""
    who = alert.employee.name if alert.employee_id else alert.subject.removeprefix("source:")
    title = format_lazy(
        "{level}: {rule} ({who})",
        level=Level(alert.level).label,
        rule=alert.rule.name,
        who=who,
    )
    if escalated:
        title = format_lazy("{prefix} {title}", prefix=gettext_lazy("Escalated:"), title=title)
    body = format_lazy(
        "{what} — {period}",
        what=Kind(alert.rule.kind).label,
        period=alert.period,
    )
    url = f"/alerts/{alert.pk}/"
    return Message(
        "alert.escalated" if escalated else "alert.raised",
        title,
        body,
        url=url,
        level=LEVEL_WORDS.get(alert.level, "warning"),
        data={"alert": alert.pk, "rule": alert.rule.code},
    )


def event_data(alert: Alert) -> dict:
    return {
        "alert": alert.pk,
        "rule": alert.rule.code,
        "level": alert.level,
        "status": alert.status,
        "subject": alert.subject,
        "period": alert.period,
        "figures": alert.figures,
        "raised_at": alert.raised_at.isoformat(),
    }


def _robots(rule: Rule) -> list[int]:
    return [int(c.split(":", 1)[1]) for c in rule.channels if str(c).startswith("robot:")]


def deliver(alert: Alert) -> None:
    """Tells the alert's recipients (raised -> notified); run by the worker after the sweep
    committed, so a sweep over many people is not held up by sending."""
    with transaction.atomic():
        alert = _locked(alert)
        if alert.status != Status.RAISED:
            return
        alert.status = Status.NOTIFIED
        alert.notified_at = clock.now()
        alert.save(update_fields=["status", "notified_at"])
        _tell(alert, recipients_for(alert.rule, alert.employee), escalated=False)


def _tell(alert: Alert, people: list, escalated: bool) -> None:
    """Notifies `people` on the rule's channels, emits the event and records that they
    were told: the first notice, or escalation number `alert.escalations`."""
    rule = alert.rule
    if escalated:
        stage, event, kind = f"escalated:{alert.escalations}", "alert.escalated", "escalated"
        details = {"level": alert.level}
    else:
        stage, event, kind, details = "raised", "alert.raised", "notified", {}
    notify(
        people,
        message_of(alert, escalated=escalated),
        channels=[c for c in rule.channels if c in CHANNELS],
        robots=_robots(rule),
        dedupe_key=f"alert:{alert.pk}:{stage}",
    )
    emit_event(event, event_data(alert))
    _record(f"alerts.alert.{kind}", None, alert, recipients=len(people), **details)


def _record(kind: str, actor, alert: Alert, **payload) -> None:
    record(
        kind, actor, {"alert": alert.pk, **payload}, employee=alert.employee, alert=str(alert.pk)
    )


@transaction.atomic
def do_acknowledge(actor, alert: Alert, comment: str) -> Alert:
    alert = _locked(alert)
    if not may_acknowledge(actor, alert):
        raise ActionError(_("You may not acknowledge this alert."))
    if alert.status not in OPEN_STATUSES:
        raise ActionError(_("This alert is no longer open."))
    comment = (comment or "").strip()
    if not comment:
        raise FieldErrors({"comment": _("Say what is being done about it.")})
    alert.status = Status.ACKNOWLEDGED
    alert.acknowledged_at = clock.now()
    alert.acknowledged_by = actor
    alert.comment = comment[:2000]
    alert.save(update_fields=["status", "acknowledged_at", "acknowledged_by", "comment"])
    _record("alerts.alert.acknowledged", actor, alert, comment=alert.comment)
    return alert


def _locked(alert: Alert) -> Alert:
    """The alert's row, locked (not the employee's: an alert about a source has none)."""
    rows = Alert.objects.select_for_update(of=("self",)).select_related("rule", "employee")
    return rows.get(pk=alert.pk)


def resolve(alert: Alert, reason: str, actor=None, now: dt.datetime | None = None) -> None:
    """Closes an alert whose condition no longer holds (the sweep) or that someone closed."""
    if alert.status not in UNRESOLVED:
        return
    alert.status = Status.RESOLVED
    alert.resolved_at = now or clock.now()
    alert.resolution = reason[:200]
    alert.save(update_fields=["status", "resolved_at", "resolution"])
    _record("alerts.alert.resolved", actor, alert, reason=alert.resolution)


@transaction.atomic
def do_resolve(actor, alert: Alert, reason: str) -> Alert:
    alert = _locked(alert)
    if not may_acknowledge(actor, alert):
        raise ActionError(_("You may not close this alert."))
    if alert.status not in UNRESOLVED:
        raise ActionError(_("This alert is no longer open."))
    if not (reason or "").strip():
        raise FieldErrors({"reason": _("Say why it is closed.")})
    resolve(alert, reason.strip(), actor)
    return alert


def escalate(alert: Alert, now: dt.datetime) -> None:
    """Not acknowledged in time: the next level and more of the manager chain are told."""
    rule = alert.rule
    if rule.escalate_to and LEVEL_RANK[Level(rule.escalate_to)] > LEVEL_RANK[Level(alert.level)]:
        alert.level = rule.escalate_to
    alert.status = Status.ESCALATED
    alert.escalated_at = now
    alert.escalations += 1
    alert.save(update_fields=["level", "status", "escalated_at", "escalations"])
    people = recipients_for(rule, alert.employee, rule.escalate_managers * alert.escalations)
    _tell(alert, people, escalated=True)
