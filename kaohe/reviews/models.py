"""Assessment templates (考核模板), cycles (考核周期) and each employee's result with its
version history.

A template is frozen once a cycle using it has published its standard: what employees were
told must stay what they are assessed by, so an edit then makes a new template. A result's
every change before publication is a ResultVersion (who, when, what changed); a change after
publication makes the result "changed" until it is published again, superseding the first
document.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from kaohe.lib.periods import Period, PeriodKind
from kaohe.metrics.models import Metric
from kaohe.org.models import Employee, OrgUnit
from kaohe.signing.models import Document

DEFAULT_CAP = 120


class Template(models.Model):
    """What a cycle assesses: weighted items (summing to 100) and the grading scale.

    `scale` lists the bands from the best down: [{"grade": "S", "min": "95"}, ...]; the last
    band has "min": null and takes every total below the others.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=200)
    scale = models.JSONField(_("grading scale"), default=list)
    cap_percent = models.PositiveIntegerField(
        _("cap item attainment at (percent)"), default=DEFAULT_CAP
    )
    based_on = models.ForeignKey(
        "self", models.SET_NULL, null=True, blank=True, related_name="+"
    )  # the frozen template this one was copied from to be edited
    frozen_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["name", "-created_at"]
        verbose_name = _("assessment template")

    def __str__(self) -> str:
        return self.name

    @property
    def is_frozen(self) -> bool:
        return self.frozen_at is not None


class ItemKind(models.TextChoices):
    QUANTITATIVE = "quantitative", _("quantitative (from a metric)")
    QUALITATIVE = "qualitative", _("qualitative (scored by the manager)")


class TemplateItem(models.Model):
    template = models.ForeignKey(Template, models.CASCADE, related_name="items")
    position = models.PositiveSmallIntegerField(default=0)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=12, choices=ItemKind.choices)
    metric = models.ForeignKey(
        Metric, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("metric")
    )
    weight = models.DecimalField(_("weight"), max_digits=5, decimal_places=2)
    description = models.CharField(_("description"), max_length=500, blank=True)

    class Meta:
        ordering = ["template", "position", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(weight__gt=0, weight__lte=100), name="reviews_item_weight"
            ),
            models.CheckConstraint(
                condition=Q(kind="quantitative", metric__isnull=False)
                | Q(kind="qualitative", metric__isnull=True),
                name="reviews_item_metric_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class CycleState(models.TextChoices):
    DRAFT = "draft", _("draft")
    STANDARD_PUBLISHED = "standard_published", _("standard published")
    SCORING = "scoring", _("scoring")
    RESULTS_PUBLISHED = "results_published", _("results published")
    CLOSED = "closed", _("closed")


# Results may still be scored, adjusted and published.
EDITABLE_CYCLE_STATES = [CycleState.SCORING, CycleState.RESULTS_PUBLISHED]


class Cycle(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=200)
    period_kind = models.CharField(
        _("period"), max_length=10, choices=[(k.value, k.value) for k in PeriodKind]
    )
    period_start = models.DateField()
    template = models.ForeignKey(
        Template, models.PROTECT, related_name="cycles", verbose_name=_("template")
    )
    org_units = models.ManyToManyField(OrgUnit, related_name="+", verbose_name=_("org units"))
    positions = models.JSONField(_("positions"), default=list, blank=True)  # empty: all
    scoring_deadline = models.DateField(_("scoring deadline"), null=True, blank=True)
    signing_days = models.PositiveSmallIntegerField(
        _("working days to sign after publication"), default=5
    )
    managers_may_publish = models.BooleanField(_("managers may publish results"), default=False)
    state = models.CharField(
        _("state"), max_length=20, choices=CycleState.choices, default=CycleState.DRAFT
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField()
    standard_published_at = models.DateTimeField(null=True, blank=True)
    # Published on or after the period's first day: disclosed late, and the record says so.
    standard_late = models.BooleanField(default=False)
    scoring_started_at = models.DateTimeField(null=True, blank=True)
    results_published_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # A step of a large cycle runs in the task worker (kaohe.reviews.jobs): which one, since
    # when, for whom, and why the last one failed.
    job = models.CharField(max_length=20, blank=True)
    job_started_at = models.DateTimeField(null=True, blank=True)
    job_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    job_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-period_start", "name", "-pk"]
        verbose_name = _("assessment cycle")

    def __str__(self) -> str:
        return self.name

    @property
    def period(self) -> Period:
        return Period(self.period_start, PeriodKind(self.period_kind))


class ResultState(models.TextChoices):
    DRAFT = "draft", _("draft")
    PUBLISHED = "published", _("published")
    CHANGED = "changed", _("changed after publication")


# A result the employee has not been shown in its current form.
UNPUBLISHED = [ResultState.DRAFT, ResultState.CHANGED]


class Result(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    cycle = models.ForeignKey(Cycle, models.CASCADE, related_name="results")
    employee = models.ForeignKey(Employee, models.PROTECT, related_name="results")
    # Where the employee stood when the population was taken (shown on the document).
    org_unit = models.ForeignKey(OrgUnit, models.PROTECT, related_name="+")
    position = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=10, choices=ResultState.choices, default=ResultState.DRAFT)
    version = models.PositiveIntegerField(default=0)  # the latest ResultVersion's number
    total = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    grade = models.CharField(max_length=20, blank=True)
    standard_document = models.ForeignKey(
        Document, models.PROTECT, null=True, blank=True, related_name="+"
    )
    document = models.ForeignKey(  # the result document in force, once published
        Document, models.PROTECT, null=True, blank=True, related_name="+"
    )
    published_version = models.PositiveIntegerField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["cycle", "employee__employee_no"]
        constraints = [
            models.UniqueConstraint(fields=["cycle", "employee"], name="reviews_result_once")
        ]
        indexes = [
            # "results of this cycle in this state": the cycle page's counts and publishing.
            models.Index(fields=["cycle", "state"], name="reviews_result_state_idx"),
        ]


class ResultItem(models.Model):
    """One template item's figures and score within a result."""

    result = models.ForeignKey(Result, models.CASCADE, related_name="items")
    item = models.ForeignKey(TemplateItem, models.PROTECT, related_name="+")
    target = models.DecimalField(max_digits=24, decimal_places=4, null=True, blank=True)
    actual = models.DecimalField(max_digits=24, decimal_places=4, null=True, blank=True)
    attainment = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    sources = models.JSONField(default=dict, blank=True)  # {"crm": 12, ...} facts per source
    score = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    comment = models.TextField(blank=True)
    adjusted_reason = models.CharField(max_length=500, blank=True)  # HR's, when adjusted

    class Meta:
        ordering = ["result", "item__position", "item__pk"]
        constraints = [
            models.UniqueConstraint(fields=["result", "item"], name="reviews_result_item_once")
        ]


class Change(models.TextChoices):
    FILLED = "filled", _("filled from attainment")
    SCORED = "scored", _("scored by the manager")
    ADJUSTED = "adjusted", _("adjusted by HR")


class ResultVersion(models.Model):
    """One edit of a result: who, when, why, what changed (field by field) and the result as
    it stood afterwards."""

    result = models.ForeignKey(Result, models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    change = models.CharField(max_length=10, choices=Change.choices)
    reason = models.CharField(max_length=500, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    changed_at = models.DateTimeField()
    diff = models.JSONField(default=list)  # [{"item", "field", "before", "after"}, ...]
    snapshot = models.JSONField(default=dict)  # {"total", "grade", "items": [...]}
    entry_index = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["result", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["result", "number"], name="reviews_version_no")
        ]
