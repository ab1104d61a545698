"""Outbound webhooks, signed like the inbound ones (DESIGN.md, "Integration API"):
X-Kaohe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>."""

import hashlib
import hmac

from django.utils.translation import gettext as _

from kaohe.lib import clock
from kaohe.notify.channels.base import Failed, post
from kaohe.notify.models import TEST_KIND, Delivery

HEADER = "X-Kaohe-Signature"
USER_AGENT = "kaohe-webhook/1"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def send_webhook(delivery: Delivery) -> None:
    endpoint = delivery.endpoint
    if endpoint is None:
        raise Failed(_("The webhook endpoint was removed."))
    if not endpoint.active and delivery.kind != TEST_KIND:
        raise Failed(_("The webhook endpoint is disabled."))
    body = delivery.payload["body"].encode()
    headers = {
        HEADER: signature(endpoint.secret, int(clock.now().timestamp()), body),
        "User-Agent": USER_AGENT,
        "X-Kaohe-Event": delivery.kind,
        "X-Kaohe-Event-Id": delivery.payload.get("event_id", ""),
    }
    post(endpoint.url, body, headers)  # any 2xx is taken; an error status raises
