"""notify() and emit_event(): what they write, in whose language, and when nothing is sent."""

import datetime as dt
import json

import pytest
import time_machine
from django.core import mail
from django.db import transaction
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy

from kaohe.notify.models import (
    Channel,
    Delivery,
    Notification,
    Platform,
    Preference,
    Robot,
    Status,
    WebhookEndpoint,
)
from kaohe.notify.send import Message, emit_event, notify
from kaohe.notify.sending import send_due

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def message(**more) -> Message:
    title = format_lazy("{}: {}", gettext_lazy("Password"), "艾米")
    return Message("test.hello", title=title, body="正文", url="/people/E0003/", **more)


def test_it_puts_the_message_in_the_inbox_and_queues_an_email(cast):
    [item] = notify([cast.amy.user], message(level="warning"))

    assert item.user == cast.amy.user and item.title == "密码: 艾米" and item.read_at is None
    [email] = Delivery.objects.filter(channel=Channel.EMAIL)
    assert email.target == "e0003@example.com" and email.status == Status.PENDING
    assert email.payload["subject"] == "密码: 艾米"
    assert "http://127.0.0.1:8000/people/E0003/" in email.payload["body"]


def test_each_recipient_reads_it_in_their_own_language(cast):
    Preference.objects.create(user=cast.mike.user, language="en")

    items = notify([cast.amy.user, cast.mike.user], message())

    assert [item.title for item in items] == ["密码: 艾米", "Password: 艾米"]
    subjects = set(Delivery.objects.values_list("payload__subject", flat=True))
    assert subjects == {"密码: 艾米", "Password: 艾米"}


def test_a_dedupe_key_makes_a_repeat_a_no_op(cast):
    robot = Robot.objects.create(name="群", platform=Platform.WECOM, url="http://127.0.0.1:9/x",
                                 created_at=NOW)  # fmt: skip
    first = notify([cast.amy.user], message(), robots=[robot], dedupe_key="alert:1")
    again = notify([cast.amy.user], message(), robots=[robot], dedupe_key="alert:1")
    other = notify([cast.amy.user], message(), dedupe_key="alert:2")

    assert len(first) == 1 and again == [] and len(other) == 1
    assert Notification.objects.count() == 2
    assert Delivery.objects.filter(channel=Channel.WECOM).count() == 1
    assert Delivery.objects.filter(channel=Channel.EMAIL).count() == 2


def test_email_follows_the_preference_and_needs_an_address(cast):
    Preference.objects.create(user=cast.amy.user, email=False)
    cast.mike.email = ""
    cast.mike.save()

    notify([cast.amy.user, cast.mike.user, cast.dora], message())

    assert Notification.objects.count() == 3
    assert list(Delivery.objects.values_list("target", flat=True)) == ["e0001@example.com"]


def test_an_employee_without_an_account_gets_email_only(cast):
    from kaohe.org.testing import make_employee

    nobody = make_employee("E0100", "无账号", cast.south)

    assert notify([nobody], message()) == []
    assert Delivery.objects.get().target == "e0100@example.com"


def test_robots_get_one_message_each_not_one_per_user(cast):
    on = Robot.objects.create(name="on", platform=Platform.DINGTALK, url="http://127.0.0.1:9/",
                              created_at=NOW)  # fmt: skip
    off = Robot.objects.create(name="off", platform=Platform.FEISHU, url="http://127.0.0.1:9/",
                               active=False, created_at=NOW)  # fmt: skip

    notify([cast.amy.user, cast.mike.user], message(), channels=("inbox",), robots=[on, off])

    [delivery] = Delivery.objects.all()
    assert delivery.robot == on and delivery.channel == Channel.DINGTALK
    assert delivery.payload["title"] == "密码: 艾米"


def test_nothing_is_sent_for_a_rolled_back_change(cast, django_capture_on_commit_callbacks):
    class Undone(Exception):
        pass

    capture = django_capture_on_commit_callbacks(execute=True)
    with capture as callbacks, pytest.raises(Undone), transaction.atomic():
        notify([cast.amy.user], message())
        raise Undone

    assert callbacks == [] and not Notification.objects.exists()
    assert not Delivery.objects.exists() and mail.outbox == []


def test_a_committed_change_wakes_the_sender_once(cast, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        notify([cast.amy.user], message())
        notify([cast.mike.user], message())

    assert len(callbacks) == 1
    assert sorted(m.to[0] for m in mail.outbox) == ["e0002@example.com", "e0003@example.com"]
    assert set(Delivery.objects.values_list("status", flat=True)) == {Status.SENT}


def test_email_in_quiet_hours_waits_until_they_end(cast, frozen):
    Preference.objects.create(
        user=cast.amy.user, quiet_start=dt.time(22, 0), quiet_end=dt.time(8, 0)
    )
    frozen.move_to(dt.datetime(2026, 3, 2, 15, 30, tzinfo=dt.UTC))  # 23:30 in Shanghai

    notify([cast.amy.user], message())
    send_due()

    delivery = Delivery.objects.get()
    assert delivery.status == Status.PENDING and delivery.attempts == 0 and mail.outbox == []
    assert delivery.next_attempt_at == dt.datetime(2026, 3, 3, 0, 0, tzinfo=dt.UTC)  # 08:00
    frozen.move_to(dt.datetime(2026, 3, 3, 0, 0, 1, tzinfo=dt.UTC))
    send_due()
    assert len(mail.outbox) == 1


def test_quiet_hours_set_after_queueing_still_hold_the_email(cast):
    notify([cast.amy.user], message())
    Preference.objects.create(
        user=cast.amy.user, quiet_start=dt.time(9, 0), quiet_end=dt.time(12, 0)
    )

    run = send_due()

    assert run.deferred == 1 and mail.outbox == []
    delivery = Delivery.objects.get()
    assert delivery.status == Status.PENDING and delivery.attempts == 0
    assert delivery.next_attempt_at == dt.datetime(2026, 3, 2, 4, 0, tzinfo=dt.UTC)


def test_emit_event_queues_one_delivery_per_subscribed_active_endpoint(cast):
    def endpoint(name, types, active=True):
        return WebhookEndpoint.objects.create(
            name=name, url="http://127.0.0.1:9/hook", secret="s" * 20, event_types=types,
            active=active, created_at=NOW,
        )  # fmt: skip

    every, alerts = endpoint("all", ["*"]), endpoint("alerts", ["alert.raised"])
    endpoint("other", ["result.signed"])
    endpoint("off", ["*"], active=False)

    event_id = emit_event("alert.raised", {"employee": "E0003", "at": NOW, "名": "艾米"})

    rows = Delivery.objects.filter(channel=Channel.WEBHOOK).order_by("endpoint__name")
    assert [row.endpoint for row in rows] == [alerts, every]
    body = json.loads(rows[0].payload["body"])
    data = {"employee": "E0003", "at": "2026-03-02T02:00:00Z", "名": "艾米"}
    assert body == {"type": "alert.raised", "id": event_id, "created_at": NOW.isoformat(),
                    "data": data}  # fmt: skip
    assert rows[0].payload["body"] == rows[1].payload["body"]
