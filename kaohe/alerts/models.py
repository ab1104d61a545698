"""Warning rules and the alerts they raise.

A rule is versioned: every save stores its whole content as a new RuleVersion, and each
alert names the version that raised it. An alert exists once per rule, subject and period
(the unique constraint makes a repeated or concurrent sweep harmless). Its lifecycle:
raised -> notified -> acknowledged -> resolved, or escalated when nobody acknowledged it in
time; every transition is an action in `actions.py` with a ledger entry.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from kaohe.org.models import Employee, OrgUnit


class Level(models.TextChoices):
    LEVEL1 = "level1", _("Level 1 warning")
    LEVEL2 = "level2", _("Level 2 warning")
    REMINDER = "reminder", _("Reminder")


# How pressing each level is, for escalation (to a higher one) and ordering.
LEVEL_RANK = {Level.REMINDER: 0, Level.LEVEL1: 1, Level.LEVEL2: 2}


class Kind(models.TextChoices):
    ATTAINMENT = "attainment_below", _("Attainment below target")
    UNCONFIRMED = "unconfirmed_document", _("Document not confirmed")
    PIP_OVERDUE = "pip_overdue", _("Improvement plan overdue")
    SOURCE_SILENT = "source_silent", _("Data source silent")
    CUSTOM = "custom", _("Custom condition")


class Status(models.TextChoices):
    RAISED = "raised", _("raised")
    NOTIFIED = "notified", _("notified")
    ACKNOWLEDGED = "acknowledged", _("acknowledged")
    ESCALATED = "escalated", _("escalated")
    RESOLVED = "resolved", _("resolved")


OPEN_STATUSES = (Status.RAISED, Status.NOTIFIED, Status.ESCALATED)
UNRESOLVED = (*OPEN_STATUSES, Status.ACKNOWLEDGED)


class Rule(models.Model):
    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=30, choices=Kind.choices)
    # The kind's parameters, checked by kinds.check_params (e.g. {"metric": "sales_amount",
    # "threshold": "80", "periods": 2, "period_kind": "month"}).
    params = models.JSONField(_("parameters"), default=dict)
    level = models.CharField(_("level"), max_length=10, choices=Level.choices)
    # Whom it watches: employees of these units (and below) and positions; empty: everyone.
    scope_units = models.ManyToManyField(OrgUnit, blank=True, related_name="+")
    scope_positions = models.JSONField(default=list, blank=True)
    # Whom it tells: {"hr": bool, "managers": N levels, "employee": bool, "users": [ids]}.
    recipients = models.JSONField(default=dict)
    # "inbox", "email" and "robot:<id>".
    channels = models.JSONField(default=list)
    # After an alert of this rule about someone is resolved, none again for so many days.
    cooldown_days = models.PositiveIntegerField(_("cooldown (days)"), default=0)
    # Not acknowledged after so many days: raised to `escalate_to` and told to
    # `escalate_managers` more levels of the manager chain.
    escalate_after_days = models.PositiveIntegerField(null=True, blank=True)
    escalate_to = models.CharField(max_length=10, choices=Level.choices, blank=True)
    escalate_managers = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(_("active"), default=True)
    active_from = models.DateField(null=True, blank=True)
    active_until = models.DateField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class RuleVersion(models.Model):
    """A rule as saved, whole: what an alert of that version was raised under."""

    rule = models.ForeignKey(Rule, models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    content = models.JSONField()
    saved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    saved_at = models.DateTimeField()

    class Meta:
        ordering = ["rule", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "number"], name="rule_version_number")
        ]


class Alert(models.Model):
    id = models.BigAutoField(primary_key=True)
    rule = models.ForeignKey(Rule, models.PROTECT, related_name="alerts")
    rule_version = models.PositiveIntegerField()
    employee = models.ForeignKey(
        Employee, models.PROTECT, null=True, blank=True, related_name="alerts"
    )
    # Who or what it is about: the employee number, or "source:<code>".
    subject = models.CharField(max_length=60)
    # What it is about within the subject: a month ("2026-03"), a document, a task.
    period = models.CharField(max_length=60)
    level = models.CharField(max_length=10, choices=Level.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RAISED)
    # The figures that made the rule fire, as shown to people and kept as evidence.
    figures = models.JSONField(default=dict)
    raised_at = models.DateTimeField()
    notified_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    comment = models.TextField(blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    escalations = models.PositiveSmallIntegerField(default=0)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-raised_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "subject", "period"], name="alert_once")
        ]
        indexes = [
            models.Index(
                fields=["rule", "subject"],
                condition=Q(resolved_at__isnull=True),
                name="alert_unresolved_idx",
            ),
            models.Index(fields=["employee", "status"], name="alert_employee_idx"),
            models.Index(fields=["status", "raised_at"], name="alert_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.rule.code} {self.subject} {self.period}"
