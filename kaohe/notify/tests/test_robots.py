"""Group robots against local servers that check each platform's format and signature, as
their public documentation describes them:

- WeCom: 企业微信开发者中心《群机器人配置说明》 (msgtype markdown, content; errcode in a 200);
- DingTalk: 钉钉开放平台《自定义机器人安全设置》(加签: timestamp and sign query parameters,
  sign = urlencode(base64(HmacSHA256(secret, timestamp + "\\n" + secret)))) and
  《自定义机器人发送群消息》 (msgtype markdown with title and text; errcode in a 200);
- Feishu: 飞书开放平台《自定义机器人使用指南》 (签名校验: timestamp and sign in the JSON body,
  sign = base64(HmacSHA256(key=timestamp + "\\n" + secret, msg="")); msg_type interactive
  with a card; code in a 200).
"""

import base64
import datetime as dt
import hashlib
import hmac

import pytest
import time_machine

from kaohe.lib import clock
from kaohe.notify.models import Channel, Delivery, Platform, Robot, Status
from kaohe.notify.send import Message, notify
from kaohe.notify.sending import send_due
from kaohe.notify.tests import servers

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)
SECRET = "SEC0123456789abcdef"  # DingTalk's secrets start with SEC


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def receiver(request):
    made = []

    def make(judge):
        made.append(servers.start(judge))
        return made[-1]

    yield make
    for server in made:
        servers.stop(server)


def robot(platform: str, url: str, secret: str = SECRET) -> Robot:
    return Robot.objects.create(
        name=platform, platform=platform, url=url, secret=secret, created_at=NOW
    )


def alert() -> Message:
    return Message("alert.raised", title="一级预警：艾米", body="连续两个月达成率低于 80%",
                   url="/people/E0003/", level="warning")  # fmt: skip


def send_to(bot: Robot) -> Delivery:
    notify([], alert(), channels=(), robots=[bot])
    send_due()
    return Delivery.objects.get(robot=bot)


def hmac_b64(key: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


# --- WeCom -------------------------------------------------------------------------------


def wecom_judge(request: servers.Received) -> tuple[int, dict]:
    document = request.json()
    well_formed = (
        request.query.get("key") == "k-123"
        and document.get("msgtype") == "markdown"
        and isinstance(document.get("markdown", {}).get("content"), str)
        and len(document["markdown"]["content"].encode()) <= 4096
    )
    return 200, {"errcode": 0, "errmsg": "ok"} if well_formed else {"errcode": 40008}


def test_wecom_gets_a_markdown_message(cast, receiver):
    server = receiver(wecom_judge)

    delivery = send_to(robot(Platform.WECOM, server.url))

    assert delivery.status == Status.SENT and delivery.channel == Channel.WECOM
    content = server.received[0].json()["markdown"]["content"]
    assert '**<font color="warning">一级预警：艾米</font>**' in content
    assert "连续两个月达成率低于 80%" in content
    assert "(http://127.0.0.1:8000/people/E0003/)" in content


def test_wecom_errcode_in_a_200_answer_is_a_failure(cast, receiver):
    server = receiver(lambda request: (200, {"errcode": 93000, "errmsg": "invalid webhook url"}))

    delivery = send_to(robot(Platform.WECOM, server.url))

    assert delivery.status == Status.FAILING and delivery.attempts == 1
    assert "93000" in delivery.last_error and "invalid webhook url" in delivery.last_error


def test_a_long_wecom_message_is_cut_to_4096_bytes(cast, receiver):
    server = receiver(wecom_judge)
    bot = robot(Platform.WECOM, server.url)

    notify([], Message("x", title="长", body="字" * 3000), channels=(), robots=[bot])
    send_due()

    assert Delivery.objects.get().status == Status.SENT
    assert len(server.received[0].json()["markdown"]["content"].encode()) <= 4096


# --- DingTalk ----------------------------------------------------------------------------


def dingtalk_judge(request: servers.Received) -> tuple[int, dict]:
    timestamp = request.query.get("timestamp", "")
    expected = hmac_b64(SECRET.encode(), f"{timestamp}\n{SECRET}".encode())
    if request.query.get("sign") != expected:  # parse_qsl has undone the urlencoding
        return 200, {"errcode": 310000, "errmsg": "sign not match"}
    if abs(int(timestamp) - int(NOW.timestamp() * 1000)) > 3600_000:
        return 200, {"errcode": 310000, "errmsg": "timestamp expired"}
    markdown = request.json().get("markdown", {})
    if request.json().get("msgtype") != "markdown" or not markdown.get("title"):
        return 200, {"errcode": 40035, "errmsg": "bad markdown"}
    return 200, {"errcode": 0, "errmsg": "ok"}


def test_dingtalk_gets_a_signed_address_and_markdown(cast, receiver):
    server = receiver(dingtalk_judge)

    delivery = send_to(robot(Platform.DINGTALK, server.url))

    assert delivery.status == Status.SENT, delivery.last_error
    request = server.received[0]
    assert request.query["key"] == "k-123" and request.query["timestamp"] == "1772416800000"
    markdown = request.json()["markdown"]
    assert markdown["title"] == "一级预警：艾米"
    assert markdown["text"].startswith("### 一级预警：艾米\n\n连续两个月达成率低于 80%")


def test_dingtalk_with_a_wrong_secret_fails_with_the_platform_reason(cast, receiver):
    server = receiver(dingtalk_judge)

    delivery = send_to(robot(Platform.DINGTALK, server.url, secret="SECwrong"))

    assert delivery.status == Status.FAILING and "sign not match" in delivery.last_error


# --- Feishu ------------------------------------------------------------------------------


def feishu_judge(request: servers.Received) -> tuple[int, dict]:
    document = request.json()
    timestamp = document.get("timestamp", "")
    if document.get("sign") != hmac_b64(f"{timestamp}\n{SECRET}".encode(), b""):
        return 200, {"code": 19021, "msg": "sign match fail or timestamp is not within one hour"}
    card = document.get("card", {})
    if document.get("msg_type") != "interactive" or "elements" not in card:
        return 200, {"code": 9499, "msg": "Bad Request"}
    return 200, {"code": 0, "msg": "success", "data": {}}


def test_feishu_gets_a_signed_interactive_card(cast, receiver):
    server = receiver(feishu_judge)

    delivery = send_to(robot(Platform.FEISHU, server.url))

    assert delivery.status == Status.SENT, delivery.last_error
    document = server.received[0].json()
    assert document["timestamp"] == "1772416800"
    card = document["card"]
    assert card["header"]["title"]["content"] == "一级预警：艾米"
    assert card["header"]["template"] == "orange"
    assert card["elements"][0]["text"] == {"tag": "lark_md", "content": "连续两个月达成率低于 80%"}
    assert card["elements"][1]["actions"][0]["url"] == "http://127.0.0.1:8000/people/E0003/"


def test_feishu_code_in_a_200_answer_is_a_failure(cast, receiver):
    server = receiver(feishu_judge)

    delivery = send_to(robot(Platform.FEISHU, server.url, secret="wrong"))

    assert delivery.status == Status.FAILING and "19021" in delivery.last_error


def test_a_robot_without_a_secret_sends_no_signature(cast, receiver):
    server = receiver(lambda request: (200, {"code": 0}))

    delivery = send_to(robot(Platform.FEISHU, server.url, secret=""))

    assert delivery.status == Status.SENT
    assert "sign" not in server.received[0].json()


# --- faults ------------------------------------------------------------------------------


def test_a_robot_that_fails_twice_is_retried_with_backoff_then_sent_once(cast, receiver, frozen):
    answers = iter([(500, {}), (200, {"errcode": 45009, "errmsg": "api freq out of limit"})])
    server = receiver(lambda request: next(answers, (200, {"errcode": 0, "errmsg": "ok"})))

    delivery = send_to(robot(Platform.WECOM, server.url))
    assert (delivery.status, delivery.attempts) == (Status.FAILING, 1)
    assert delivery.next_attempt_at == NOW + dt.timedelta(minutes=1)
    assert "500" in delivery.last_error

    send_due()  # not yet due
    assert len(server.received) == 1
    frozen.move_to(NOW + dt.timedelta(minutes=1))
    send_due()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Status.FAILING, 2)
    assert delivery.next_attempt_at == NOW + dt.timedelta(minutes=6)
    assert "45009" in delivery.last_error

    frozen.move_to(NOW + dt.timedelta(minutes=6))
    send_due()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Status.SENT, 3)
    assert delivery.sent_at == NOW + dt.timedelta(minutes=6)

    frozen.move_to(NOW + dt.timedelta(days=2))
    send_due()
    send_due()
    assert len(server.received) == 3  # never sent again


def test_a_down_robot_is_retried_until_it_gives_up_and_stays_in_the_log(cast, frozen):
    port = servers.free_port()  # nothing listens there
    delivery = send_to(robot(Platform.DINGTALK, f"http://127.0.0.1:{port}/robot/send"))
    waits = []
    while delivery.status == Status.FAILING:
        waits.append(delivery.next_attempt_at - clock.now())
        frozen.move_to(delivery.next_attempt_at)
        send_due()
        delivery.refresh_from_db()

    assert waits == [dt.timedelta(minutes=m) for m in (1, 5, 30, 120, 720)]
    assert delivery.status == Status.DEAD and delivery.attempts == 6
    assert "connect" in delivery.last_error.lower() or "连接" in delivery.last_error


def test_a_robot_at_a_metadata_address_is_never_reached(cast):
    delivery = send_to(robot(Platform.WECOM, "http://169.254.169.254/latest/meta-data"))

    assert delivery.status == Status.FAILING
    assert "169.254.169.254" in delivery.last_error


def test_a_disabled_robot_keeps_its_queued_message_failing_visibly(cast, receiver):
    server = receiver(wecom_judge)
    bot = robot(Platform.WECOM, server.url)
    notify([], alert(), channels=(), robots=[bot])
    bot.active = False
    bot.save()

    send_due()

    delivery = Delivery.objects.get()
    assert delivery.status == Status.FAILING and server.received == []
    assert "disabled" in delivery.last_error or "停用" in delivery.last_error
