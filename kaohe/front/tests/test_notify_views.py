"""The inbox, notification preferences and the HR admin's notification settings."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kaohe.ledger.models import Entry
from kaohe.notify.models import Delivery, Notification, Platform, Preference, Robot, Status
from kaohe.notify.models import WebhookEndpoint as Endpoint
from kaohe.notify.send import Message, notify
from kaohe.notify.tests import servers

pytestmark = pytest.mark.django_db

NEW_YEAR = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

ADMIN_URLS = [
    ("get", "/settings/notifications/"),
    ("get", "/settings/notifications/robots/new/"),
    ("post", "/settings/notifications/robots/new/"),
    ("get", "/settings/notifications/robots/{robot}/"),
    ("post", "/settings/notifications/robots/{robot}/"),
    ("post", "/settings/notifications/robots/{robot}/test/"),
    ("get", "/settings/notifications/webhooks/new/"),
    ("post", "/settings/notifications/webhooks/new/"),
    ("get", "/settings/notifications/webhooks/{endpoint}/"),
    ("post", "/settings/notifications/webhooks/{endpoint}/"),
    ("post", "/settings/notifications/webhooks/{endpoint}/test/"),
    ("post", "/settings/notifications/deliveries/{delivery}/retry/"),
]


def text(response) -> str:
    return response.content.decode()


def tell(user, title="一级预警：艾米", **more):
    return notify([user], Message("alert.raised", title=title, body="正文", url="/me/", **more))


@pytest.fixture
def configured(cast):
    robot = Robot.objects.create(name="销售群", platform=Platform.WECOM,
                                 url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRETKEY",
                                 created_at=NEW_YEAR)  # fmt: skip
    endpoint = Endpoint.objects.create(name="hris", url="https://hris.example.com/hook",
                                       secret="whsec_0123456789abcdef", event_types=["*"],
                                       created_at=robot.created_at)  # fmt: skip
    tell(cast.amy.user)
    delivery = Delivery.objects.get()
    Delivery.objects.filter(pk=delivery.pk).update(status=Status.DEAD, last_error="boom")
    return {"robot": robot.pk, "endpoint": endpoint.pk, "delivery": delivery.pk}


# --- the inbox ---------------------------------------------------------------------------


def test_the_inbox_lists_unread_first_and_the_nav_shows_the_count(cast, client_for):
    old = tell(cast.amy.user, title="旧的")[0]
    tell(cast.amy.user, title="新的")
    Notification.objects.filter(pk=old.pk).update(read_at=old.created_at)
    Notification.objects.filter(pk=old.pk).update(created_at=old.created_at + dt.timedelta(days=1))
    tell(cast.mike.user, title="马克的")

    page = text(client_for(cast.amy.user).get("/inbox/"))

    assert page.index("新的") < page.index("旧的") and "马克的" not in page
    assert re.search(r'id="inbox-badge"[^>]*>1</span>', page)


def test_marking_one_read_with_htmx_answers_the_item_and_the_badge(cast, client_for):
    [item] = tell(cast.amy.user)
    client = client_for(cast.amy.user)

    response = client.post(f"/inbox/{item.public_id}/read/", HTTP_HX_REQUEST="true")

    item.refresh_from_db()
    assert item.read_at is not None
    assert 'hx-swap-oob="true"' in text(response) and "mark-read" not in text(response)


def test_users_cannot_mark_or_see_each_others_notifications(cast, client_for):
    [item] = tell(cast.amy.user, title="私密")

    response = client_for(cast.olga.user).post(f"/inbox/{item.public_id}/read/")

    assert response.status_code == 404
    item.refresh_from_db()
    assert item.read_at is None
    assert "私密" not in text(client_for(cast.harry).get("/inbox/"))


def test_mark_all_read_touches_only_ones_own(cast, client_for):
    tell(cast.amy.user)
    tell(cast.amy.user, title="二")
    tell(cast.mike.user)

    client_for(cast.amy.user).post("/inbox/read-all/")

    assert not Notification.objects.filter(user=cast.amy.user, read_at__isnull=True).exists()
    assert Notification.objects.filter(user=cast.mike.user, read_at__isnull=True).count() == 1


def test_the_inbox_costs_the_same_queries_for_one_or_many_items(cast, client_for):
    client = client_for(cast.amy.user)
    tell(cast.amy.user)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            client.get("/inbox/")
        return len(captured)

    few = queries()
    for number in range(10):
        tell(cast.amy.user, title=f"第{number}条")
    assert queries() == few


# --- preferences -------------------------------------------------------------------------


def test_a_user_saves_quiet_hours_and_language(cast, client_for):
    client = client_for(cast.amy.user)
    data = {"quiet_start": "22:00", "quiet_end": "07:30", "language": "en"}

    response = client.post("/me/notifications/", data)

    assert response.status_code == 302
    preference = Preference.objects.get(user=cast.amy.user)
    assert preference.email is False and preference.language == "en"
    assert (preference.quiet_start, preference.quiet_end) == (dt.time(22), dt.time(7, 30))


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"quiet_start": "25:00", "quiet_end": "07:00"}, "quiet_start"),
        ({"quiet_start": "晚上", "quiet_end": "07:00"}, "quiet_start"),
        ({"quiet_start": "22:00"}, "quiet_end"),
        ({"quiet_start": "22:00", "quiet_end": "22:00"}, "quiet_end"),
        ({"language": "fr"}, "language"),
    ],
)
def test_malformed_preferences_get_a_clear_error(cast, client_for, data, field):
    response = client_for(cast.amy.user).post("/me/notifications/", {"email": "on", **data})

    assert response.status_code == 200
    assert response.context["form"].errors.get(field), response.context["form"].errors
    assert not Preference.objects.exists()


# --- the HR admin's page -----------------------------------------------------------------


@pytest.mark.parametrize("who", ["olga", "harry", "hazel", "amy"])
def test_only_hr_admins_reach_the_notification_settings(cast, configured, client_for, who):
    user = (
        cast.olga.user if who == "olga" else cast.amy.user if who == "amy" else getattr(cast, who)
    )
    client = client_for(user)
    for method, url in ADMIN_URLS:
        response = getattr(client, method)(url.format(**configured))
        assert response.status_code == 403, (method, url)
    assert Robot.objects.count() == 1 and Delivery.objects.get().status == Status.DEAD


def test_anonymous_visitors_are_sent_to_login(client, configured):
    urls = ["/inbox/", "/me/notifications/"] + [url for _m, url in ADMIN_URLS]
    for url in urls:
        response = client.get(url.format(**configured))
        assert response.status_code in (302, 405)
        if response.status_code == 302:
            assert "/login/" in response.url


def test_the_settings_page_lists_robots_endpoints_and_failing_deliveries(cast, configured,
                                                                         client_for):  # fmt: skip
    client = client_for(cast.ada)

    page = text(client.get("/settings/notifications/?status=failed"))

    assert "销售群" in page and "hris" in page and "boom" in page
    assert "SECRETKEY" not in page
    sent = text(client.get("/settings/notifications/?status=sent"))
    assert "boom" not in sent


def test_an_admin_adds_a_robot_and_the_ledger_keeps_no_token(cast, client_for):
    client = client_for(cast.ada)
    url = "https://oapi.dingtalk.com/robot/send?access_token=TOKEN123"
    data = {"name": "钉钉群", "platform": "dingtalk", "secret": "SECabc", "url": url,
            "active": "on"}  # fmt: skip

    response = client.post("/settings/notifications/robots/new/", data)

    assert response.status_code == 302
    robot = Robot.objects.get()
    assert (robot.platform, robot.secret, robot.active) == ("dingtalk", "SECabc", True)
    entry = Entry.objects.get(kind="notify.robot.created")
    assert "TOKEN123" not in entry.body and "SECabc" not in entry.body
    assert "https://oapi.dingtalk.com" in entry.body


def test_editing_a_robot_keeps_its_masked_secret_and_disabling_is_recorded(cast, client_for):
    robot = Robot.objects.create(name="r", platform="feishu", url="https://open.feishu.cn/x",
                                 secret="s3cret", created_at=NEW_YEAR)  # fmt: skip
    client = client_for(cast.ada)
    form = client.get(f"/settings/notifications/robots/{robot.pk}/").context["form"]
    data = {**form.initial}
    data.pop("active")

    client.post(f"/settings/notifications/robots/{robot.pk}/", data)

    robot.refresh_from_db()
    assert robot.secret == "s3cret" and robot.active is False
    entry = Entry.objects.get(kind="notify.robot.changed")
    assert '"active"' in entry.body and "secret" not in entry.body


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"url": "ftp://example.com/robot"}, "url"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": "http://169.254.169.254/latest/meta-data"}, "url"),
        ({"url": "http://[fe80::1]/x"}, "url"),
        ({"url": "http://[::1"}, "url"),  # urlsplit raises on it
        ({"url": "https://user:pw@example.com/x"}, "url"),
        ({"url": "https://example.com:99999/x"}, "url"),
        ({"name": "   "}, "name"),
        ({"platform": "slack"}, "platform"),
    ],
)
def test_bad_robot_settings_get_a_clear_error(cast, client_for, data, field):
    base = {"name": "群", "platform": "wecom", "url": "https://qyapi.weixin.qq.com/x?key=1"}

    response = client_for(cast.ada).post("/settings/notifications/robots/new/", {**base, **data})

    assert response.status_code == 200
    assert response.context["form"].errors.get(field), response.context["form"].errors
    assert not Robot.objects.exists()


def test_robot_hosts_outside_the_allowed_list_are_refused(cast, client_for, settings):
    settings.KAOHE_PULL_ALLOWED_HOSTS = ["oapi.dingtalk.com"]
    data = {"name": "群", "platform": "wecom", "url": "https://qyapi.weixin.qq.com/x?key=1"}

    response = client_for(cast.ada).post("/settings/notifications/robots/new/", data)

    assert "KAOHE_PULL_ALLOWED_HOSTS" in str(response.context["form"].errors["url"])


def test_a_new_endpoint_shows_its_generated_secret_once(cast, client_for):
    client = client_for(cast.ada)
    data = {"name": "hris", "url": "https://hris.example.com/hook",
            "event_types": "alert.raised, result.signed", "active": "on"}  # fmt: skip

    response = client.post("/settings/notifications/webhooks/new/", data)

    endpoint = Endpoint.objects.get()
    assert endpoint.secret.startswith("whsec_") and endpoint.secret in text(response)
    assert response["Cache-Control"] == "no-store"
    assert endpoint.event_types == ["alert.raised", "result.signed"]
    assert endpoint.secret not in Entry.objects.get(kind="notify.endpoint.created").body
    page = text(client.get(f"/settings/notifications/webhooks/{endpoint.pk}/"))
    assert endpoint.secret not in page


@pytest.mark.parametrize("types", ["", "alert raised!", "ALERT.RAISED"])
def test_bad_event_types_get_a_clear_error(cast, client_for, types):
    data = {"name": "x", "url": "https://hris.example.com/hook", "event_types": types}

    response = client_for(cast.ada).post("/settings/notifications/webhooks/new/", data)

    assert response.context["form"].errors.get("event_types")


def test_a_test_send_reports_what_happened(cast, client_for):
    server = servers.start(lambda request: (200, {"errcode": 0, "errmsg": "ok"}))
    try:
        robot = Robot.objects.create(name="r", platform="wecom", url=server.url, active=False,
                                     created_at=NEW_YEAR)  # fmt: skip
        response = client_for(cast.ada).post(
            f"/settings/notifications/robots/{robot.pk}/test/", follow=True
        )
    finally:
        servers.stop(server)

    assert len(server.received) == 1  # a disabled robot may be tried before it is enabled
    assert Delivery.objects.get().status == Status.SENT
    assert [m.level_tag for m in response.context["messages"]] == ["success"]


def test_a_failing_test_send_shows_the_error(cast, client_for):
    endpoint = Endpoint.objects.create(
        name="down", url=f"http://127.0.0.1:{servers.free_port()}/hook", secret="x" * 20,
        event_types=["alert.raised"], created_at=NEW_YEAR,
    )  # fmt: skip

    response = client_for(cast.ada).post(
        f"/settings/notifications/webhooks/{endpoint.pk}/test/", follow=True
    )

    [message] = response.context["messages"]
    assert message.level_tag == "error" and "refused" in str(message).lower()
    assert Delivery.objects.get().status == Status.FAILING


def test_an_admin_retries_a_dead_delivery(cast, configured, client_for):
    client_for(cast.ada).post(f"/settings/notifications/deliveries/{configured['delivery']}/retry/")

    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (Status.PENDING, 0)
