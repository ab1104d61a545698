"""How alerts read on the pages: level and status badges, who an alert is about, a one-line
summary of its figures, and the open alerts about an employee."""

from django import template
from django.utils.translation import gettext as _

from kaohe.alerts.models import UNRESOLVED, Kind, Level, Status
from kaohe.alerts.visibility import alerts_visible_to
from kaohe.metrics.models import Metric

register = template.Library()

LEVEL_BADGES = {Level.LEVEL2: "badge-terminated", Level.LEVEL1: "badge-pending"}
STATUS_BADGES = {
    Status.ACKNOWLEDGED: "badge-acknowledged",
    Status.ESCALATED: "badge-terminated",
    Status.RAISED: "badge-pending",
    Status.NOTIFIED: "badge-pending",
}


@register.filter
def level_badge(level: str) -> str:
    return LEVEL_BADGES.get(level, "")


@register.filter
def status_badge(status: str) -> str:
    return STATUS_BADGES.get(status, "")


@register.filter
def alert_who(alert) -> str:
    if alert.employee_id:
        return alert.employee.name
    return alert.subject.removeprefix("source:")


def metric_label(code: str) -> str:
    """The metric an attainment rule watches; no metric means the weighted score."""
    if not code:
        return _("weighted score")
    metric = Metric.objects.filter(code=code).first()
    return (metric.name_zh or code) if metric else code


@register.filter
def alert_summary(alert) -> str:
    """One line: what made the rule fire."""
    figures, kind = alert.figures or {}, alert.rule.kind
    if kind == Kind.ATTAINMENT:
        values = " · ".join(f"{v}%" for v in figures.get("attainment", []))
        return _("%(values)s, below %(threshold)s%%") % {
            "values": values,
            "threshold": figures.get("threshold", "?"),
        }
    if kind == Kind.UNCONFIRMED:
        return _("Target agreement %(period)s not confirmed") % {"period": figures.get("period")}
    if kind == Kind.PIP_OVERDUE:
        what = figures.get("task") or figures.get("plan") or ""
        return _("%(what)s due on %(day)s") % {"what": what, "day": figures.get("due_on")}
    if kind == Kind.SOURCE_SILENT:
        return _("No data since %(since)s") % {"since": (figures.get("since") or "")[:16]}
    return alert.period


@register.inclusion_tag("front/_open_alerts.html", takes_context=True)
def open_alerts(context, employee) -> dict:
    """{% open_alerts employee %}: the unresolved alerts about `employee` the viewer may see."""
    request = context.get("request")
    alerts = (
        alerts_visible_to(request.user)
        .filter(employee=employee, status__in=UNRESOLVED)
        .select_related("rule", "employee")
        .order_by("-raised_at", "-pk")
    )
    return {"alerts": list(alerts[:20]), "request": request}
