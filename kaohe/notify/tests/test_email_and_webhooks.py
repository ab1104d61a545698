"""E-mail against a local SMTP server process, outbound webhooks against a local receiver
that checks the signature as the inbound webhooks do, and claims between workers."""

import datetime as dt
import json
import threading

import pytest
import time_machine
from django.db import connection

from kaohe.integrations.hooks import sign
from kaohe.notify.models import Delivery, Preference, Status, WebhookEndpoint
from kaohe.notify.send import Message, emit_event, notify
from kaohe.notify.sending import claim, send_due
from kaohe.notify.tests import servers

NOW = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)
SECRET = "whsec_test-0123456789"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def smtp(tmp_path, settings):
    server = servers.start_smtp(tmp_path)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_USE_TLS, settings.DEFAULT_FROM_EMAIL = False, "kaohe@example.com"
    yield server
    servers.stop_smtp(server)


@pytest.mark.django_db
def test_email_reaches_an_smtp_server_in_utf8(cast, smtp):
    Preference.objects.create(user=cast.mike.user, language="en")
    message = Message("alert.raised", title="一级预警：艾米", body="连续两个月达成率低于 80%。",
                      url="/people/E0003/")  # fmt: skip

    notify([cast.amy.user, cast.mike.user], message)
    run = send_due()

    assert run.sent == 2 and set(Delivery.objects.values_list("status", flat=True)) == {"sent"}
    received = {m["To"]: m for m in smtp.messages()}
    assert set(received) == {"e0003@example.com", "e0002@example.com"}
    amy = received["e0003@example.com"]
    assert amy["Subject"] == "一级预警：艾米" and amy["From"] == "kaohe@example.com"
    text = amy.get_content()
    assert "连续两个月达成率低于 80%。" in text and "http://127.0.0.1:8000/people/E0003/" in text
    assert "http://127.0.0.1:8000/me/notifications/" in text
    assert "Change what reaches you" in received["e0002@example.com"].get_content()


@pytest.mark.django_db
def test_email_to_a_server_that_is_down_keeps_failing_visibly(cast, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", servers.free_port()

    notify([cast.amy.user], Message("x", title="标题", body="正文"))
    send_due()

    delivery = Delivery.objects.get()
    assert delivery.status == Status.FAILING and delivery.attempts == 1
    assert "ConnectionRefusedError" in delivery.last_error


def endpoint(url: str, types=("*",)) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        name="hr-bus", url=url, secret=SECRET, event_types=list(types), created_at=NOW
    )


def signed_judge(request: servers.Received) -> tuple[int, dict]:
    header = request.headers.get("X-Kaohe-Signature", "")
    expected = sign(SECRET, int(NOW.timestamp()), request.body)
    return (204, {}) if header == expected else (401, {"error": "bad signature"})


@pytest.mark.django_db
def test_an_outbound_webhook_is_signed_like_inbound_ones(cast):
    server = servers.start(signed_judge)
    try:
        endpoint(server.url)
        event_id = emit_event("alert.raised", {"employee": "E0003", "level": "一级"})
        send_due()
    finally:
        servers.stop(server)

    delivery = Delivery.objects.get()
    assert delivery.status == Status.SENT, delivery.last_error
    [request] = server.received
    assert request.headers["X-Kaohe-Event"] == "alert.raised"
    assert request.headers["X-Kaohe-Event-Id"] == event_id
    body = json.loads(request.body)
    assert body["id"] == event_id and body["data"] == {"employee": "E0003", "level": "一级"}


@pytest.mark.django_db
def test_an_endpoint_that_refuses_is_retried_with_the_same_event(cast, frozen):
    answers = iter([(503, {})])
    server = servers.start(lambda request: next(answers, None) or signed_judge(request))
    try:
        endpoint(server.url)
        emit_event("alert.raised", {"n": 1})
        send_due()
        frozen.move_to(NOW + dt.timedelta(minutes=1))
        server.judge = lambda request: (204, {})
        send_due()
        send_due()
    finally:
        servers.stop(server)

    first, second = server.received
    assert first.body == second.body  # the same event id: receivers drop repeats
    assert first.headers["X-Kaohe-Signature"] != second.headers["X-Kaohe-Signature"]
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (Status.SENT, 2)


@pytest.mark.django_db
def test_a_claimed_delivery_is_not_claimed_again(cast):
    notify([cast.amy.user], Message("x", title="标题", body="正文"))

    first = claim(NOW)
    second = claim(NOW)

    assert len(first) == 1 and second == []
    assert claim(NOW + dt.timedelta(minutes=11))  # a worker that died: taken over


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.django_db(transaction=True)
def test_two_workers_never_send_the_same_delivery(cast):
    server = servers.start(lambda request: (200, {"errcode": 0}))
    try:
        from kaohe.notify.models import Platform, Robot

        bot = Robot.objects.create(name="r", platform=Platform.WECOM, url=server.url,
                                   created_at=NOW)  # fmt: skip
        for number in range(40):
            notify([], Message("x", title=f"第{number}条", body="正文"), channels=(), robots=[bot])

        def work():
            try:
                send_due()
            finally:
                connection.close()

        workers = [threading.Thread(target=work) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        servers.stop(server)

    titles = [request.json()["markdown"]["content"] for request in server.received]
    assert len(titles) == 40 == len(set(titles))
    assert set(Delivery.objects.values_list("status", flat=True)) == {Status.SENT}
