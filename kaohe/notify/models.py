"""The inbox, the delivery log (the work queue of e-mail, robots and outbound webhooks), the
group robots and webhook endpoints HR admins configure, and each user's preferences."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

TEST_KIND = "notify.test"  # a test message from the settings page; sent to disabled ones too


class Notification(models.Model):
    """An item in a user's in-app inbox, written in the user's language when it was sent."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=60)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True)
    level = models.CharField(max_length=20, blank=True)
    data = models.JSONField(default=dict, blank=True)
    # A caller's key that makes a repeated notify() for the same user a no-op; empty: none.
    dedupe_key = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "dedupe_key"],
                condition=~Q(dedupe_key=""),
                name="notification_dedupe",
            ),
        ]
        indexes = [
            # The inbox: WHERE user_id = %s ORDER BY created_at DESC
            models.Index(fields=["user", "-created_at"], name="notification_inbox_idx"),
            # The badge: SELECT COUNT(*) WHERE user_id = %s AND read_at IS NULL
            models.Index(
                fields=["user"], condition=Q(read_at__isnull=True), name="notification_unread_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Platform(models.TextChoices):
    WECOM = "wecom", _("WeCom")
    DINGTALK = "dingtalk", _("DingTalk")
    FEISHU = "feishu", _("Feishu")


class Robot(models.Model):
    """A group robot's webhook: messages for a whole group chat, one per notify() call."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    platform = models.CharField(_("platform"), max_length=10, choices=Platform.choices)
    # The webhook address carries the robot's token (WeCom's key, DingTalk's access_token,
    # Feishu's hook id): shown to HR admins, never written to the ledger or the log.
    url = models.CharField(_("webhook URL"), max_length=500)
    secret = models.CharField(_("signing secret"), max_length=200, blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]
        verbose_name = _("group robot")

    def __str__(self) -> str:
        return self.name


class WebhookEndpoint(models.Model):
    """An outside system that hears of kaohe's events, signed like inbound webhooks."""

    ALL_EVENTS = "*"

    name = models.CharField(_("name"), max_length=100, unique=True)
    url = models.CharField(_("URL"), max_length=500)
    secret = models.CharField(max_length=200)
    # Event types such as "alert.raised"; "*" subscribes to every event.
    event_types = models.JSONField(_("event types"), default=list)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]
        verbose_name = _("webhook endpoint")

    def __str__(self) -> str:
        return self.name

    def wants(self, event_type: str) -> bool:
        return self.ALL_EVENTS in self.event_types or event_type in self.event_types


class Channel(models.TextChoices):
    EMAIL = "email", _("e-mail")
    WECOM = "wecom", _("WeCom robot")
    DINGTALK = "dingtalk", _("DingTalk robot")
    FEISHU = "feishu", _("Feishu robot")
    WEBHOOK = "webhook", _("webhook")


class Status(models.TextChoices):
    PENDING = "pending", _("waiting")
    SENDING = "sending", _("sending")
    SENT = "sent", _("sent")
    FAILING = "failing", _("failing, will retry")
    DEAD = "dead", _("failed, gave up")


# Deliveries the sender still has to try; FAILED_STATES are shown as failing in the log.
WAITING_STATES = (Status.PENDING, Status.FAILING)
FAILED_STATES = (Status.FAILING, Status.DEAD)


class Delivery(models.Model):
    """One message to one target (an address, a robot, an endpoint), and its attempts.

    The rows are the work queue: the sender claims due ones with a conditional UPDATE
    (see kaohe/notify/sending.py), and they stay as the delivery log HR admins read.
    `payload` holds what is sent, rendered when the message was made; robot and webhook
    signatures are made at each attempt, with the configured secret of that moment.
    """

    id = models.BigAutoField(primary_key=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    target = models.CharField(max_length=320)  # for people reading the log: address or name
    kind = models.CharField(max_length=60)  # the message kind or event type
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.CASCADE, null=True, blank=True, related_name="+"
    )
    notification = models.ForeignKey(
        Notification, models.SET_NULL, null=True, blank=True, related_name="deliveries"
    )
    robot = models.ForeignKey(
        Robot, models.SET_NULL, null=True, blank=True, related_name="deliveries"
    )
    endpoint = models.ForeignKey(
        WebhookEndpoint, models.SET_NULL, null=True, blank=True, related_name="deliveries"
    )
    payload = models.JSONField(default=dict)
    # Digest of channel, target and the caller's dedupe key: one delivery per key and target.
    dedupe = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claim = models.UUIDField(null=True, blank=True)  # the sender run that holds it
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe"], condition=~Q(dedupe=""), name="notify_delivery_dedupe"
            ),
        ]
        indexes = [
            # The sender: WHERE status IN ('pending', 'failing') AND next_attempt_at <= now
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["pending", "failing"]),
                name="notify_delivery_due_idx",
            ),
            # Stale claims: WHERE status = 'sending' AND claimed_at < now - STALE_AFTER
            models.Index(
                fields=["claimed_at"],
                condition=Q(status="sending"),
                name="notify_delivery_sending_idx",
            ),
            models.Index(fields=["-created_at"], name="notify_delivery_recent_idx"),
            models.Index(fields=["status", "-created_at"], name="notify_delivery_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.target} ({self.status})"


class Preference(models.Model):
    """How one user wants to hear. No row: e-mail on, no quiet hours, the site's language."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="notify_preference"
    )
    email = models.BooleanField(_("e-mail"), default=True)
    # In the company's timezone; start > end spans midnight (22:00-08:00).
    quiet_start = models.TimeField(_("quiet hours from"), null=True, blank=True)
    quiet_end = models.TimeField(_("quiet hours until"), null=True, blank=True)
    language = models.CharField(_("language"), max_length=10, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(quiet_start__isnull=True, quiet_end__isnull=True)
                | (
                    Q(quiet_start__isnull=False, quiet_end__isnull=False)
                    & ~Q(quiet_start=models.F("quiet_end"))
                ),
                name="notify_preference_quiet_hours",
            ),
        ]
