"""Group robots: each platform's message format and signature, from its public documentation.

- WeCom (企业微信《群机器人配置说明》): POST JSON {"msgtype": "markdown", "markdown":
  {"content": ...}} to the webhook address (it carries the key); content at most 4096 bytes.
  The answer is {"errcode": 0, "errmsg": "ok"}, with HTTP 200 for errors too.
- DingTalk (钉钉《自定义机器人安全设置》 and 《自定义机器人发送群消息》): with 加签, add
  `timestamp` (milliseconds) and `sign` = urlencode(base64(HMAC-SHA256(key=secret,
  msg=f"{timestamp}\\n{secret}"))) to the address as query parameters; the body is
  {"msgtype": "markdown", "markdown": {"title": ..., "text": ...}}; the answer carries
  errcode, non-zero on failure.
- Feishu (飞书《自定义机器人使用指南》): with signature verification, `timestamp` (seconds)
  and `sign` = base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b"")) go into the JSON
  body, beside {"msg_type": "interactive", "card": {...}}; the answer carries code
  (older bots: StatusCode), non-zero on failure.
"""

import base64
import hashlib
import hmac
import urllib.parse

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from kaohe.lib import clock
from kaohe.notify.channels.base import Failed, json_answer, json_body, post
from kaohe.notify.models import TEST_KIND, Delivery, Platform, Robot

WECOM_MAX_BYTES = 4096
WECOM_COLOURS = {"critical": "warning", "warning": "warning", "info": "info"}
FEISHU_TEMPLATES = {"critical": "red", "warning": "orange", "info": "blue"}


def _hmac_b64(key: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """The `sign` query parameter, not yet URL-encoded."""
    return _hmac_b64(secret.encode(), f"{timestamp_ms}\n{secret}".encode())


def feishu_sign(secret: str, timestamp: int) -> str:
    return _hmac_b64(f"{timestamp}\n{secret}".encode(), b"")


def _open_link(link: str) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        return f"[{_('Open in kaohe')}]({link})" if link else ""


def _truncate_bytes(text: str, limit: int) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode(errors="ignore") + "..."


def wecom_request(robot: Robot, message: dict) -> tuple[str, dict]:
    title = message["title"]
    colour = WECOM_COLOURS.get(message.get("level", ""))
    heading = f'<font color="{colour}">{title}</font>' if colour else title
    lines = [f"**{heading}**", message["body"], _open_link(message["link"])]
    content = _truncate_bytes("\n".join(line for line in lines if line), WECOM_MAX_BYTES)
    return robot.url, {"msgtype": "markdown", "markdown": {"content": content}}


def dingtalk_request(robot: Robot, message: dict) -> tuple[str, dict]:
    url = robot.url
    if robot.secret:
        timestamp = int(clock.now().timestamp() * 1000)
        query = urllib.parse.urlencode(
            {"timestamp": timestamp, "sign": dingtalk_sign(robot.secret, timestamp)}
        )
        url += ("&" if urllib.parse.urlsplit(url).query else "?") + query
    parts = [f"### {message['title']}", message["body"], _open_link(message["link"])]
    text = "\n\n".join(part for part in parts if part)
    return url, {"msgtype": "markdown", "markdown": {"title": message["title"], "text": text}}


def feishu_request(robot: Robot, message: dict) -> tuple[str, dict]:
    header = {
        "title": {"tag": "plain_text", "content": message["title"]},
        "template": FEISHU_TEMPLATES.get(message.get("level", ""), "blue"),
    }
    elements: list[dict] = [{"tag": "div", "text": {"tag": "lark_md", "content": message["body"]}}]
    if message["link"]:
        with translation.override(settings.LANGUAGE_CODE):
            label = _("Open in kaohe")
        button = {"tag": "button", "text": {"tag": "plain_text", "content": label},
                  "type": "primary", "url": message["link"]}  # fmt: skip
        elements.append({"tag": "action", "actions": [button]})
    body: dict = {"msg_type": "interactive", "card": {"header": header, "elements": elements}}
    if robot.secret:
        timestamp = int(clock.now().timestamp())
        body = {"timestamp": str(timestamp), "sign": feishu_sign(robot.secret, timestamp), **body}
    return robot.url, body


REQUESTS = {
    Platform.WECOM: wecom_request,
    Platform.DINGTALK: dingtalk_request,
    Platform.FEISHU: feishu_request,
}


def check_answer(platform: str, answer: bytes) -> None:
    """The platforms answer HTTP 200 to errors too; the JSON says whether it worked."""
    data = json_answer(answer)
    if platform == Platform.FEISHU:
        code = data.get("code", data.get("StatusCode", 0))
        text = data.get("msg", data.get("StatusMessage", ""))
    else:
        code, text = data.get("errcode", 0), data.get("errmsg", "")
    if code != 0:
        raise Failed(_("The robot refused the message: %(code)s %(text)s")
                     % {"code": code, "text": text})  # fmt: skip


def send_robot(delivery: Delivery) -> None:
    robot = delivery.robot
    if robot is None:
        raise Failed(_("The robot was removed."))
    if not robot.active and delivery.kind != TEST_KIND:
        raise Failed(_("The robot is disabled."))
    url, document = REQUESTS[Platform(robot.platform)](robot, delivery.payload)
    _status, answer = post(url, json_body(document), {"User-Agent": "kaohe-notify/1"})
    check_answer(robot.platform, answer)
