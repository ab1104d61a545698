from django.db import models
from django.utils.translation import gettext_lazy as _


class IdempotentRequest(models.Model):
    """The first response to a POST sent with an `Idempotency-Key`, replayed on retries.

    `principal` says who sent it (a digest of the API key, or the session user), so two
    clients cannot see each other's responses by choosing the same key. A row whose
    `status` is null is still being answered.
    """

    principal = models.CharField(max_length=80)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField(null=True)
    content_type = models.CharField(max_length=100, blank=True)
    body = models.BinaryField(default=b"")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["principal", "key"], name="idempotent_request_key")
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotent_request_age_idx")]


class Source(models.Model):
    """A system that sends business data (a CRM, ERP, attendance or finance system).

    Facts name their source by `code`; a metric lists the sources allowed to feed it, and
    an API key may be limited to some sources. `mapping` turns a sender's own JSON (a
    webhook body, a pulled page) into fact items; `preset` names a shipped mapping.
    """

    code = models.CharField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    # The shared secret of signed webhooks (HMAC-SHA256); kept as given, HMAC needs it.
    webhook_secret = models.CharField(max_length=200, blank=True)
    preset = models.CharField(_("payload format"), max_length=40, blank=True)
    mapping = models.JSONField(_("field mapping"), default=dict, blank=True)
    # Flag the source as silent when nothing arrived for this long; null: never.
    silent_after_hours = models.PositiveIntegerField(
        _("silent after (hours)"), null=True, blank=True
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField()
    # The sync log's running figures, updated by every accepted delivery.
    last_received_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_fact_at = models.DateTimeField(null=True, blank=True)  # the newest occurred_at
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created = models.BigIntegerField(default=0)
    updated = models.BigIntegerField(default=0)
    unchanged = models.BigIntegerField(default=0)
    voided = models.BigIntegerField(default=0)
    rejected = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["code"]
        verbose_name = _("source")

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Channel(models.TextChoices):
    API = "api", _("API")
    WEBHOOK = "webhook", _("webhook")
    FILE = "file", _("file")
    PULL = "pull", _("pull")


class Outcome(models.TextChoices):
    ACCEPTED = "accepted", _("accepted")
    PARTLY = "partly", _("partly accepted")
    REJECTED = "rejected", _("rejected")
    FAILED = "failed", _("failed")


class Delivery(models.Model):
    """One delivery from a source, whatever its channel: the request log HR admins read.

    Rejected deliveries are kept too (a bad signature, a stale timestamp, a body that is
    not JSON), with the reason; `source` is null when the path named no known source.
    """

    id = models.BigAutoField(primary_key=True)
    source = models.ForeignKey(
        Source, models.CASCADE, null=True, blank=True, related_name="deliveries"
    )
    source_code = models.CharField(max_length=40)  # as the sender named it
    channel = models.CharField(max_length=10, choices=Channel.choices)
    received_at = models.DateTimeField()
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    reason = models.TextField(blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    body_sha256 = models.CharField(max_length=64, blank=True)
    body_bytes = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    voided = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    # The first rejections ({index, field, code, message}), enough to see what went wrong.
    rejections = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            # The request log of one source, newest first.
            models.Index(fields=["source", "-received_at"], name="delivery_source_recent_idx"),
            models.Index(fields=["-received_at"], name="delivery_recent_idx"),
        ]


class PullState(models.TextChoices):
    IDLE = "idle", _("idle")
    RUNNING = "running", _("running")
    FAILING = "failing", _("failing")


class PullConnector(models.Model):
    """For a source that cannot push: kaohe fetches pages of JSON from `url` on a schedule.

    `cursor` is the last cursor (or page) whose facts were committed; a run resumes there,
    so a failure midway loses nothing and counts nothing twice.
    """

    source = models.OneToOneField(Source, models.CASCADE, related_name="pull")
    url = models.URLField(_("URL"), max_length=500)
    # "cursor": pass the previous page's next cursor; "page": pass 1, 2, 3, ...
    paging = models.CharField(_("paging"), max_length=10, default="cursor")
    cursor_param = models.CharField(_("cursor parameter"), max_length=50, default="cursor")
    headers = models.JSONField(_("request headers"), default=dict, blank=True)
    every_minutes = models.PositiveIntegerField(_("every (minutes)"), default=15)
    active = models.BooleanField(_("active"), default=True)
    cursor = models.CharField(max_length=500, blank=True)
    state = models.CharField(max_length=10, choices=PullState.choices, default=PullState.IDLE)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [
            # The scheduler's question: WHERE active AND next_run_at <= now
            models.Index(fields=["active", "next_run_at"], name="pull_due_idx"),
        ]
