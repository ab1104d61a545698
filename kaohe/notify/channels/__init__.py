"""How a delivery goes out on its channel. Each sender raises Failed with a short reason."""

from collections.abc import Callable

from kaohe.notify.channels.base import Failed
from kaohe.notify.channels.email import send_email
from kaohe.notify.channels.robots import send_robot
from kaohe.notify.channels.webhook import send_webhook
from kaohe.notify.models import Channel, Delivery

SENDERS: dict[str, Callable[[Delivery], None]] = {
    Channel.EMAIL: send_email,
    Channel.WECOM: send_robot,
    Channel.DINGTALK: send_robot,
    Channel.FEISHU: send_robot,
    Channel.WEBHOOK: send_webhook,
}


def send(delivery: Delivery) -> None:
    """Sends one delivery; raises Failed when it did not arrive."""
    SENDERS[delivery.channel](delivery)


__all__ = ["SENDERS", "Failed", "send"]
