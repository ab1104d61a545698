"""Metrics, the facts that feed them, the monthly actuals kept from those facts, and the
target agreements (业绩目标责任书) that set what each employee should reach.

Facts are the business records sources send (a deal, a payment, a day's attendance).
Actuals are kept per employee, metric, month and org unit (the unit the employee stood in
when the fact occurred), updated by the delta of each fact as it arrives, so a quarter or a
year is the sum of at most twelve rows and nothing is ever recomputed from all facts.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from kaohe.lib.periods import PeriodKind
from kaohe.org.models import Employee, OrgUnit

METRIC_CODE_PATTERN = r"^[a-z][a-z0-9_]{1,49}$"
SOURCE_CODE_PATTERN = r"^[a-z][a-z0-9_-]{1,39}$"
VALUE_DIGITS, VALUE_PLACES = 20, 4


class Unit(models.TextChoices):
    CNY = "cny", _("yuan (CNY)")
    COUNT = "count", _("count")
    PERCENT = "percent", _("percent")
    HOURS = "hours", _("hours")
    DAYS = "days", _("days")
    SCORE = "score", _("score")


class Aggregation(models.TextChoices):
    SUM = "sum", _("sum")
    COUNT = "count", _("count of records")
    AVERAGE = "average", _("average")
    RATIO = "ratio", _("ratio of two metrics")
    LATEST = "latest", _("latest value")


# Aggregations whose period value is the sum of its months' values; a target for a quarter
# or a year of these may be split into months. Averages, ratios and latest values are not.
ADDITIVE = {Aggregation.SUM, Aggregation.COUNT}


class Direction(models.TextChoices):
    HIGHER = "higher", _("higher is better")
    LOWER = "lower", _("lower is better")


class Metric(models.Model):
    code = models.CharField(_("code"), max_length=50, unique=True)
    name_zh = models.CharField(_("name (Chinese)"), max_length=100)
    name_en = models.CharField(_("name (English)"), max_length=100)
    unit = models.CharField(_("unit"), max_length=10, choices=Unit.choices)
    aggregation = models.CharField(_("aggregation"), max_length=10, choices=Aggregation.choices)
    direction = models.CharField(
        _("direction"), max_length=10, choices=Direction.choices, default=Direction.HIGHER
    )
    # A ratio metric has no facts of its own: numerator / denominator over the period.
    numerator = models.ForeignKey(
        "self", models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("numerator")
    )
    denominator = models.ForeignKey(
        "self",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("denominator"),
    )
    # Codes of the sources allowed to send facts of this metric.
    sources = models.JSONField(_("sources"), default=list, blank=True)
    decimal_places = models.PositiveSmallIntegerField(_("decimal places"), default=2)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["code"]
        verbose_name = _("metric")
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(aggregation="ratio", numerator__isnull=False, denominator__isnull=False)
                    | (
                        ~Q(aggregation="ratio")
                        & Q(numerator__isnull=True, denominator__isnull=True)
                    )
                ),
                name="metric_ratio_has_parts",
            ),
            models.CheckConstraint(
                condition=Q(decimal_places__lte=VALUE_PLACES), name="metric_decimal_places"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name_zh} ({self.code})"


class Fact(models.Model):
    """One business record from a source, upserted by (source, external_id).

    A voided fact stays, with its last value, so that a retry of the void changes nothing
    and the history can be shown; it no longer counts in any actual.
    """

    id = models.BigAutoField(primary_key=True)
    source = models.CharField(max_length=40)
    external_id = models.CharField(max_length=200)
    # No single-column indexes on the keys: the composite index below serves lookups by
    # employee, and every index costs the bulk ingest at millions of rows. Employees,
    # metrics and units are never deleted (they are closed or deactivated), so PROTECT's
    # lookup by metric or unit does not need one either.
    employee = models.ForeignKey(Employee, models.PROTECT, related_name="facts", db_index=False)
    metric = models.ForeignKey(Metric, models.PROTECT, related_name="facts", db_index=False)
    # Where the employee stood when the fact occurred (a transfer mid-month splits a month).
    org_unit = models.ForeignKey(OrgUnit, models.PROTECT, related_name="+", db_index=False)
    value = models.DecimalField(max_digits=VALUE_DIGITS, decimal_places=VALUE_PLACES)
    occurred_at = models.DateTimeField()
    # The first day of the month occurred_at falls in, in the company's timezone.
    month = models.DateField()
    attributes = models.JSONField(default=dict, blank=True)
    voided = models.BooleanField(default=False)
    received_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="fact_source_external")
        ]
        indexes = [
            # The facts behind one actual: WHERE employee = ? AND metric = ? AND month = ?
            models.Index(fields=["employee", "metric", "month"], name="fact_employee_month_idx"),
            # The sync log: the latest facts of a source.
            models.Index(fields=["source", "received_at"], name="fact_source_received_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.external_id}"


class Actual(models.Model):
    """The running aggregate of one employee's facts of one metric in one month and unit."""

    id = models.BigAutoField(primary_key=True)
    # The cell's unique constraint and the (org_unit, month) index serve every lookup; see
    # Fact for why the keys have no single-column indexes. An actual is derived from facts
    # written in the same transaction, whose own foreign keys the database checks: checking
    # the cell's again (at every new cell) would cost the ingest without guarding anything.
    employee = models.ForeignKey(
        Employee, models.PROTECT, related_name="actuals", db_index=False, db_constraint=False
    )
    metric = models.ForeignKey(
        Metric, models.PROTECT, related_name="actuals", db_index=False, db_constraint=False
    )
    month = models.DateField()
    org_unit = models.ForeignKey(
        OrgUnit, models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    # The sum of the values in ten-thousandths (value * 10**VALUE_PLACES): an integer, so
    # that both databases add deltas exactly in SQL (SQLite has no exact decimal type).
    total_e4 = models.BigIntegerField()
    count = models.IntegerField()
    latest_value = models.DecimalField(
        max_digits=VALUE_DIGITS, decimal_places=VALUE_PLACES, null=True
    )
    latest_at = models.DateTimeField(null=True)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["employee", "metric", "month", "org_unit"], name="actual_cell"
            )
        ]
        indexes = [
            # Team views: WHERE org_unit IN (...) AND month BETWEEN ? AND ?
            models.Index(fields=["org_unit", "month"], name="actual_unit_month_idx"),
        ]


class AgreementState(models.TextChoices):
    DRAFT = "draft", _("draft")
    PUBLISHED = "published", _("in force")
    SUPERSEDED = "superseded", _("superseded")


class Acknowledgement(models.TextChoices):
    # Until the signing ceremony exists, a published version waits as "pending".
    PENDING = "pending", _("awaiting the employee's acknowledgement")
    ACKNOWLEDGED = "acknowledged", _("acknowledged by the employee")


class TargetAgreement(models.Model):
    """An employee's target agreement (业绩目标责任书) for one period; its versions hold the
    targets, and the published one is in force."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    employee = models.ForeignKey(Employee, models.PROTECT, related_name="agreements")
    period_kind = models.CharField(max_length=10, choices=[(k.value, k.value) for k in PeriodKind])
    period_start = models.DateField()
    in_force = models.ForeignKey(
        "AgreementVersion", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["employee", "-period_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["employee", "period_kind", "period_start"], name="agreement_period"
            )
        ]


class AgreementVersion(models.Model):
    agreement = models.ForeignKey(TargetAgreement, models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    state = models.CharField(
        max_length=12, choices=AgreementState.choices, default=AgreementState.DRAFT
    )
    note = models.CharField(_("reason for the change"), max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    # SHA-256 of the canonical JSON of the version as published (what the ledger entry names).
    content_sha256 = models.CharField(max_length=64, blank=True)
    acknowledgement = models.CharField(max_length=12, choices=Acknowledgement.choices, blank=True)

    class Meta:
        ordering = ["agreement", "number"]
        constraints = [
            models.UniqueConstraint(fields=["agreement", "number"], name="agreement_version_no"),
            # At most one draft per agreement: the one being edited.
            models.UniqueConstraint(
                fields=["agreement"], condition=Q(state="draft"), name="agreement_one_draft"
            ),
        ]


class AgreementItem(models.Model):
    """One weighted metric of a version: the target for the agreement's period, and for
    additive metrics optionally its split into months ({"2026-01": "100000.00", ...})."""

    version = models.ForeignKey(AgreementVersion, models.CASCADE, related_name="items")
    metric = models.ForeignKey(Metric, models.PROTECT, related_name="+")
    target = models.DecimalField(max_digits=VALUE_DIGITS, decimal_places=VALUE_PLACES)
    weight = models.DecimalField(max_digits=5, decimal_places=2)  # percent; 100 in all
    monthly = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["version", "metric__code"]
        constraints = [
            models.UniqueConstraint(fields=["version", "metric"], name="agreement_item_metric"),
            models.CheckConstraint(
                condition=Q(weight__gte=0, weight__lte=100), name="agreement_item_weight"
            ),
        ]


class FactBatch(models.Model):
    """What one accepted delivery changed, kept whole: every created, updated (with its
    previous content) and voided record. `changes` is gzip of the exact JSON bytes whose
    SHA-256 the batch's ledger entry (`entry_index`) names, so anyone can check that this
    is what was recorded, and see what a corrected record said before."""

    id = models.BigAutoField(primary_key=True)
    source = models.CharField(max_length=40)
    channel = models.CharField(max_length=10)
    received_at = models.DateTimeField()
    entry_index = models.BigIntegerField(unique=True)
    counts = models.JSONField(default=dict)
    changes_sha256 = models.CharField(max_length=64)
    # Stored out of line and uncompressed on PostgreSQL (migration 0005): gzip already.
    changes = models.BinaryField()

    class Meta:
        indexes = [models.Index(fields=["source", "received_at"], name="factbatch_source_idx")]
