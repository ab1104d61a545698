"""The one way other apps tell people something: notify() and emit_event().

Call them inside the transaction of the change they report. The inbox items and the
delivery rows are written in that transaction, and the sender is woken with
transaction.on_commit: a rolled-back change sends nothing, a committed one loses nothing
(the scheduler sends what is due every minute even if the wake-up is lost).

    notify([manager.user], Message("alert.raised", title=format_lazy(...), body=...,
                                   url="/people/E0003/", level="warning"),
           channels=("inbox", "email"), robots=Robot.objects.filter(active=True),
           dedupe_key=f"alert:{alert.pk}")
    emit_event("alert.raised", {"alert": str(alert.public_id), ...})
"""

import hashlib
import json
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext as _

from kaohe.lib import clock
from kaohe.notify.models import (
    Channel,
    Delivery,
    Notification,
    Preference,
    Robot,
    WebhookEndpoint,
)
from kaohe.notify.quiet import quiet_until
from kaohe.org.models import Company, Employee

logger = logging.getLogger(__name__)

INBOX, EMAIL = "inbox", "email"
MAX_TITLE = 200


@dataclass(frozen=True)
class Message:
    """What to say. `title` and `body` may be lazy translations (gettext_lazy, format_lazy):
    each recipient reads them in their own language. `url` is a path on this site (or a full
    address); `level` is the caller's severity word ("info", "warning", "critical", ...)."""

    kind: str
    title: str | Promise
    body: str | Promise
    url: str = ""
    level: str = ""
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Rendered:
    title: str
    body: str
    link: str  # an absolute address, or ""


def render(message: Message, language: str) -> Rendered:
    with translation.override(language):
        title = " ".join(str(message.title).split())[:MAX_TITLE]
        return Rendered(title, str(message.body), absolute(message.url))


def absolute(url: str) -> str:
    if not url or url.startswith(("http://", "https://")):
        return url
    return settings.SITE_URL + "/" + url.lstrip("/")


def dedupe_digest(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()


def notify(
    users: Iterable,
    message: Message,
    *,
    channels: Iterable[str] = (INBOX, EMAIL),
    robots: Iterable[Robot | int] = (),
    dedupe_key: str | None = None,
) -> list[Notification]:
    """Puts `message` in each user's inbox and sends it on the other channels asked for.

    `users` are accounts (User) or Employees; an employee without an account gets e-mail
    only. E-mail goes to those whose preference allows it and who have an address, in their
    language, and waits out their quiet hours. Each active robot gets one message (in the
    site's language), not one per user. With `dedupe_key`, a repeated call changes nothing
    for a user (or robot) that already had it. Returns the inbox items created now.
    """
    channels = set(channels)
    now = clock.now()
    created: list[Notification] = []
    recipients = _recipients(users)
    preferences = _preferences([user for user, _employee in recipients if user is not None])
    tz = Company.get().timezone if EMAIL in channels else ""
    for user, employee in recipients:
        preference = preferences.get(user.pk) if user is not None else None
        rendered = render(message, _language(preference))
        item = None
        if user is not None and INBOX in channels:
            item = _inbox(user, message, rendered, dedupe_key, now)
            if item is None:
                continue  # already told
            created.append(item)
        if EMAIL in channels and (preference is None or preference.email):
            _email(user, employee, message, rendered, item, preference, dedupe_key, now, tz)
    for robot in _active_robots(robots):
        _robot(robot, message, dedupe_key, now)
    _wake_sender()
    return created


def _recipients(users: Iterable) -> list[tuple[object | None, Employee | None]]:
    """(account, employee) pairs, each person once."""
    seen, pairs = set(), []
    for person in users:
        if isinstance(person, Employee):
            user, employee = person.user, person
        else:
            user, employee = person, getattr(person, "employee", None)
        key = ("user", user.pk) if user is not None else ("employee", employee.pk)
        if key not in seen:
            seen.add(key)
            pairs.append((user, employee))
    return pairs


def _preferences(users: list) -> dict[int, Preference]:
    rows = Preference.objects.filter(user__in=[user.pk for user in users])
    return {preference.user_id: preference for preference in rows}


def _language(preference: Preference | None) -> str:
    codes = {code for code, _name in settings.LANGUAGES}
    if preference is not None and preference.language in codes:
        return preference.language
    return settings.LANGUAGE_CODE


def _inbox(user, message: Message, rendered: Rendered, dedupe_key, now) -> Notification | None:
    fields = {
        "user": user, "kind": message.kind, "title": rendered.title, "body": rendered.body,
        "url": message.url, "level": message.level, "data": message.data, "created_at": now,
    }  # fmt: skip
    if not dedupe_key:
        return Notification.objects.create(**fields)
    if Notification.objects.filter(user=user, dedupe_key=dedupe_key).exists():
        return None
    try:
        with transaction.atomic():
            return Notification.objects.create(dedupe_key=dedupe_key, **fields)
    except IntegrityError:  # a concurrent call with the same key won
        return None


def address_of(user, employee: Employee | None) -> str:
    """Where e-mail for this person goes: the account's address, else the employee's."""
    if user is not None and user.email:
        return user.email
    return employee.email if employee is not None else ""


def _email(user, employee, message, rendered: Rendered, item, preference, dedupe_key, now, tz):
    address = address_of(user, employee)
    if not address:
        return
    when = now
    if preference is not None:
        when = quiet_until(now, preference.quiet_start, preference.quiet_end, tz) or now
    with translation.override(_language(preference)):
        body = email_text(rendered)
    payload = {"subject": rendered.title, "body": body, "to": address}
    dedupe = dedupe_digest(Channel.EMAIL, address, dedupe_key) if dedupe_key else ""
    queue(Channel.EMAIL, address, message.kind, payload, dedupe, when, now,
           user=user, notification=item)  # fmt: skip


def email_text(rendered: Rendered) -> str:
    parts = [rendered.body.strip()]
    if rendered.link:
        parts.append(_("Open in kaohe: %(link)s") % {"link": rendered.link})
    settings_link = absolute("/me/notifications/")
    parts.append("-- \n" + _("kaohe 考核. Change what reaches you by e-mail: %(link)s")
                 % {"link": settings_link})  # fmt: skip
    return "\n\n".join(part for part in parts if part)


def _active_robots(robots: Iterable[Robot | int]) -> list[Robot]:
    ids = [robot.pk if isinstance(robot, Robot) else int(robot) for robot in robots]
    return list(Robot.objects.filter(pk__in=ids, active=True)) if ids else []


def robot_payload(message: Message) -> dict:
    rendered = render(message, settings.LANGUAGE_CODE)
    return {"title": rendered.title, "body": rendered.body, "link": rendered.link,
            "level": message.level}  # fmt: skip


def _robot(robot: Robot, message: Message, dedupe_key, now) -> None:
    dedupe = dedupe_digest(robot.platform, robot.pk, dedupe_key) if dedupe_key else ""
    queue(robot.platform, robot.name, message.kind, robot_payload(message), dedupe, now, now,
           robot=robot)  # fmt: skip


def queue(channel, target, kind, payload, dedupe, when, now, **links) -> Delivery | None:
    """Writes one delivery due at `when`; None when `dedupe` was queued before."""
    fields = {"channel": channel, "target": target[:320], "kind": kind[:60], "payload": payload,
              "next_attempt_at": when, "created_at": now, **links}  # fmt: skip
    if not dedupe:
        return Delivery.objects.create(**fields)
    if Delivery.objects.filter(dedupe=dedupe).exists():
        return None
    try:
        with transaction.atomic():
            return Delivery.objects.create(dedupe=dedupe, **fields)
    except IntegrityError:
        return None


def emit_event(event_type: str, data: dict) -> str:
    """Queues `{"type", "id", "created_at", "data"}` for every active endpoint subscribed to
    `event_type`, signed at each attempt (X-Kaohe-Signature). `data` must be JSON-able
    (dates, decimals and UUIDs become strings). Returns the event id, the same for every
    endpoint and every retry, so receivers can drop repeats."""
    now = clock.now()
    event_id, body = event_body(event_type, data, now)
    endpoints = [e for e in WebhookEndpoint.objects.filter(active=True) if e.wants(event_type)]
    for endpoint in endpoints:
        payload = {"body": body, "event_id": event_id}
        queue(Channel.WEBHOOK, endpoint.name, event_type, payload, "", now, now,
               endpoint=endpoint)  # fmt: skip
    _wake_sender()
    return event_id


def event_body(event_type: str, data: dict, now) -> tuple[str, str]:
    """A new event id, and the JSON body that carries the event."""
    event_id = "evt_" + uuid.uuid4().hex
    event = {"type": event_type, "id": event_id, "created_at": now.isoformat(), "data": data}
    body = json.dumps(event, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))
    return event_id, body


def _wake_sender() -> None:
    """Once per transaction, however many messages it makes (a sweep makes thousands)."""
    connection = transaction.get_connection()
    if not any(entry[1] is _enqueue_sender for entry in connection.run_on_commit):
        transaction.on_commit(_enqueue_sender)


def _enqueue_sender() -> None:
    from kaohe.notify.tasks import send_due_task

    try:
        send_due_task.enqueue()
    except Exception:  # the scheduler's minute job sends it anyway
        logger.exception("could not enqueue the notification sender")
