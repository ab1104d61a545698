"""The alerts API: `GET /api/v1/alerts`, the warnings within the caller's reach."""

import datetime as dt
from typing import Literal

from ninja import Query, Router, Schema
from pydantic import Field

from kaohe.alerts.models import UNRESOLVED, Alert, Level, Status
from kaohe.alerts.visibility import alerts_visible_to, alerts_visible_to_key
from kaohe.lib.problem import Problem
from kaohe.org.api import (
    Caller,
    TimeCursor,
    auth_for,
    newest_first_page,
    optional_query,
    pattern_text,
)
from kaohe.org.validators import EMPLOYEE_NO_PATTERN

SCOPE = "alerts:read"
RULE_CODE_PATTERN = r"^[-a-zA-Z0-9_]+$"
STATUS_FILTERS = (*Status.values, "open")

router = Router(tags=["alerts"])


RuleFilter = optional_query(
    pattern_text(50, RULE_CODE_PATTERN), maxLength=50, pattern=RULE_CODE_PATTERN
)
LevelName = Literal[tuple(Level.values)]  # type: ignore[valid-type]
StatusName = Literal[STATUS_FILTERS]  # type: ignore[valid-type]


class AlertFilters(Schema):
    employee: optional_query(
        pattern_text(32, EMPLOYEE_NO_PATTERN), maxLength=32, pattern=EMPLOYEE_NO_PATTERN
    ) = (  # type: ignore[valid-type]
        Field(None, description="An employee number.")
    )
    rule: optional_query(
        pattern_text(50, RULE_CODE_PATTERN), maxLength=50, pattern=RULE_CODE_PATTERN
    ) = Field(  # type: ignore[valid-type]
        None, description="A rule's code."
    )
    level: optional_query(LevelName, enum=list(Level.values)) = Field(  # type: ignore[valid-type]
        None, description="`level1` (一级预警), `level2` (二级预警) or `reminder` (督办)."
    )
    status: optional_query(StatusName, enum=list(STATUS_FILTERS)) = Field(  # type: ignore[valid-type]
        None,
        description="`raised`, `notified`, `acknowledged`, `escalated`, `resolved`, or `open` "
        "for every alert not yet resolved.",
    )
    cursor: TimeCursor = Field(None, description="The `next_cursor` of the previous page.")
    limit: int = Field(100, ge=1, le=500, description="At most this many alerts.")

    def apply(self, rows):
        if self.employee:
            rows = rows.filter(employee__employee_no=self.employee)
        if self.rule:
            rows = rows.filter(rule__code=self.rule)
        if self.level:
            rows = rows.filter(level=self.level)
        if self.status == "open":
            rows = rows.filter(status__in=UNRESOLVED)
        elif self.status:
            rows = rows.filter(status=self.status)
        return rows


class AlertOut(Schema):
    id: int = Field(description="The alert's number; its page is /alerts/{id}/.")
    rule: str = Field(description="The rule's code.")
    rule_name: str
    rule_version: int = Field(description="The version of the rule that raised it.")
    kind: str
    level: str
    status: str
    employee: str | None = Field(description="The employee number; null for a data source.")
    subject: str = Field(description='The employee number, or "source:<code>".')
    period: str = Field(description='What it is about: a month ("2026-02"), a document, a task.')
    figures: dict = Field(description="The figures that made the rule fire.")
    raised_at: dt.datetime
    notified_at: dt.datetime | None
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None = Field(description="The login name of who acknowledged it.")
    comment: str
    escalated_at: dt.datetime | None
    escalations: int
    resolved_at: dt.datetime | None
    resolution: str


class AlertPage(Schema):
    items: list[AlertOut]
    next_cursor: str | None = Field(
        description="Pass it as `cursor` for the next page; null on the last page."
    )


def alert_out(alert: Alert) -> dict:
    return {
        "id": alert.pk,
        "rule": alert.rule.code,
        "rule_name": alert.rule.name,
        "rule_version": alert.rule_version,
        "kind": alert.rule.kind,
        "level": alert.level,
        "status": alert.status,
        "employee": alert.employee.employee_no if alert.employee_id else None,
        "subject": alert.subject,
        "period": alert.period,
        "figures": alert.figures,
        "raised_at": alert.raised_at,
        "notified_at": alert.notified_at,
        "acknowledged_at": alert.acknowledged_at,
        "acknowledged_by": alert.acknowledged_by.get_username() if alert.acknowledged_by else None,
        "comment": alert.comment,
        "escalated_at": alert.escalated_at,
        "escalations": alert.escalations,
        "resolved_at": alert.resolved_at,
        "resolution": alert.resolution,
    }


def _visible(caller: Caller):
    if caller.key is not None:
        return alerts_visible_to_key(caller.key)
    return alerts_visible_to(caller.user)


@router.get(
    "/alerts",
    auth=auth_for(SCOPE),
    response={200: AlertPage, 401: Problem, 403: Problem, 422: Problem},
    summary="List alerts",
)
def list_alerts(request, filters: Query[AlertFilters]):
    """The alerts within the caller's reach, newest first, a page at a time.

    A key limited to org units sees the alerts about the employees in them; alerts about a
    data source only reach keys without unit limits. A signed-in user sees what the alerts
    page shows them. An unknown employee or rule gives an empty page; an unknown level or
    status is a 422.

    Scope: `alerts:read`.
    """
    rows = _visible(request.auth).select_related("rule", "employee", "acknowledged_by")
    page, cursor = newest_first_page(
        filters.apply(rows), "raised_at", filters.cursor, filters.limit
    )
    return {"items": [alert_out(alert) for alert in page], "next_cursor": cursor}
