"""Warnings in the browser: the list (with HR's summary per rule), one alert with its figures,
rule version, lifecycle and ledger entries, and acknowledging or closing it."""

import datetime as dt
from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from kaohe.alerts.actions import do_acknowledge, do_resolve, may_edit_rules
from kaohe.alerts.models import OPEN_STATUSES, UNRESOLVED, Alert, Kind, Level, RuleVersion, Status
from kaohe.alerts.recipients import may_acknowledge
from kaohe.alerts.visibility import alerts_visible_to
from kaohe.front.templatetags.alerts import metric_label
from kaohe.ledger.models import Entry
from kaohe.org.actions import ActionError, FieldErrors
from kaohe.org.evidence import entries_visible_to
from kaohe.org.models import is_hr
from kaohe.org.workdays import company_deadline

PAGE_SIZE = 50


class AcknowledgeForm(forms.Form):
    comment = forms.CharField(
        label=gettext_lazy("What is being done about it"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class CloseForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Why it is closed"), max_length=200)


# --- the list -----------------------------------------------------------------------------


def _filtered(alerts, params):
    """The list's filters: open (default) or all or one status, a level, a rule."""
    status = params.get("status") or "open"
    if status == "open":
        alerts = alerts.filter(status__in=UNRESOLVED)
    elif status in Status.values:
        alerts = alerts.filter(status=status)
    if params.get("level") in Level.values:
        alerts = alerts.filter(level=params["level"])
    rule = params.get("rule") or ""
    if rule:  # PostgreSQL refuses a NUL even in a query: no code has one
        alerts = alerts.filter(rule__code=rule) if "\x00" not in rule else alerts.none()
    return alerts


def rule_summary(alerts) -> list[dict]:
    """Per rule, how many people (or sources) have an open alert: "3 employees below ..."."""
    rows = (
        alerts.filter(status__in=UNRESOLVED)
        .values("rule__code", "rule__name", "rule__kind")
        .annotate(people=Count("subject", distinct=True))
        .order_by("-people", "rule__name")
    )
    return [
        {
            "code": row["rule__code"],
            "name": row["rule__name"],
            "count": row["people"],
            "sources": row["rule__kind"] == Kind.SOURCE_SILENT,
        }
        for row in rows
    ]


@login_required
def alert_list(request):
    visible = alerts_visible_to(request.user)
    rows = _filtered(visible, request.GET).select_related("rule", "employee")
    page = Paginator(rows.order_by("-raised_at", "-pk"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page": page,
        "params": request.GET,
        "status": request.GET.get("status") or "open",
        "levels": Level.choices,
        "statuses": Status.choices,
        "rules": _rules_seen(visible),
        "summary": rule_summary(visible) if is_hr(request.user) else None,
        "querystring": query.urlencode(),
    }
    template = "front/alert_rows.html" if request.htmx else "front/alert_list.html"
    return render(request, template, context)


def _rules_seen(visible) -> list[tuple[str, str]]:
    rules = visible.values_list("rule__code", "rule__name").distinct().order_by("rule__name")
    return list(rules)


# --- one alert ----------------------------------------------------------------------------


def visible_alert(user, alert_id: int) -> Alert:
    """The alert, for those who may see it or act on it; anyone else gets 404."""
    rows = Alert.objects.select_related("rule", "employee", "acknowledged_by")
    alert = rows.filter(pk=alert_id).first()
    if alert is None:
        raise Http404
    if alerts_visible_to(user).filter(pk=alert.pk).exists():
        return alert
    raise Http404


def attainment_rows(alert: Alert) -> list[dict]:
    figures = alert.figures or {}
    try:
        threshold = Decimal(str(figures.get("threshold")))
    except InvalidOperation:
        threshold = None
    rows = []
    for period, value in zip(
        figures.get("periods", []), figures.get("attainment", []), strict=False
    ):
        try:
            below = threshold is not None and Decimal(str(value)) < threshold
        except InvalidOperation:
            below = False
        rows.append({"period": period, "value": value, "below": below})
    return rows


def document_deadline(alert: Alert) -> dt.datetime | None:
    figures = alert.figures or {}
    try:
        delivered = dt.datetime.fromisoformat(figures["delivered_at"])
        return company_deadline(delivered, int(figures["days"]), figures.get("day_kind"))
    except (KeyError, TypeError, ValueError):
        return None


def alert_entries(user, alert: Alert) -> list[Entry]:
    """The ledger entries about the alert that the viewer may open."""
    entries = entries_visible_to(user)
    if alert.employee_id:
        entries = entries.filter(employee_no=alert.employee.employee_no)
    else:
        entries = entries.filter(kind__startswith="alerts.alert.")
    entries = entries.filter(subject__contains=f'"alert":"{alert.pk}"')
    return list(entries.defer("body").order_by("index")[:100])


def detail_context(request, alert: Alert, ack_form=None, close_form=None) -> dict:
    may_act = may_acknowledge(request.user, alert)
    version = RuleVersion.objects.filter(rule=alert.rule, number=alert.rule_version).first()
    return {
        "alert": alert,
        "rule": alert.rule,
        "version": version,
        "may_edit_rules": may_edit_rules(request.user),
        "attainment": attainment_rows(alert) if alert.rule.kind == Kind.ATTAINMENT else None,
        "metric": metric_label((alert.figures or {}).get("metric", "")),
        "deadline": document_deadline(alert),
        "figures": sorted((alert.figures or {}).items()),
        "entries": alert_entries(request.user, alert),
        "may_acknowledge": may_act and alert.status in OPEN_STATUSES,
        "may_close": may_act and alert.status in UNRESOLVED,
        "ack_form": ack_form or AcknowledgeForm(),
        "close_form": close_form or CloseForm(),
    }


@login_required
def alert_detail(request, alert_id: int):
    alert = visible_alert(request.user, alert_id)
    return render(request, "front/alert_detail.html", detail_context(request, alert))


def _act(request, alert_id: int, form_class, action, form_name: str, success: str):
    alert = visible_alert(request.user, alert_id)
    if not may_acknowledge(request.user, alert):
        raise PermissionDenied
    form = form_class(request.POST)
    if form.is_valid():
        try:
            action(request.user, alert, next(iter(form.cleaned_data.values())))
        except FieldErrors as exc:
            for message in exc.errors.values():
                form.add_error(None, message)
        except ActionError as exc:
            messages.error(request, str(exc))
            return redirect("front:alert_detail", alert.pk)
        else:
            messages.success(request, success)
            return redirect("front:alert_detail", alert.pk)
    context = detail_context(request, alert, **{form_name: form})
    return render(request, "front/alert_detail.html", context)


@login_required
@require_POST
def acknowledge(request, alert_id: int):
    return _act(
        request, alert_id, AcknowledgeForm, do_acknowledge, "ack_form",
        gettext_lazy("The alert is acknowledged."),
    )  # fmt: skip


@login_required
@require_POST
def close(request, alert_id: int):
    return _act(
        request, alert_id, CloseForm, do_resolve, "close_form",
        gettext_lazy("The alert is closed."),
    )  # fmt: skip
