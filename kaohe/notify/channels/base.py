"""What every channel shares: the failure it raises and the one way out to HTTP."""

import json
import urllib.error
import urllib.request
from http.client import HTTPException

from django.utils.translation import gettext as _

from kaohe.integrations import outbound

TIMEOUT = 10  # seconds, to connect and between bytes
MAX_ANSWER = 64 * 1024
MAX_ERROR = 300


class Failed(Exception):
    """The message did not arrive; the text goes to the delivery log (short, no secrets)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason[:MAX_ERROR])


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """POSTs `body` through the pull connectors' guarded opener (no link-local or metadata
    addresses, KAOHE_PULL_ALLOWED_HOSTS, no environment proxy); returns status and answer.
    Raises Failed for a refused address, a network error or an HTTP error status."""
    if not url.startswith(("http://", "https://")):
        raise Failed(_("Only http:// and https:// addresses are allowed."))
    request = urllib.request.Request(  # noqa: S310 (the scheme is checked above)
        url, data=body, headers={"Content-Type": "application/json", **headers}, method="POST"
    )
    try:
        with outbound._OPENER.open(request, timeout=TIMEOUT) as answer:
            return answer.status, answer.read(MAX_ANSWER)
    except urllib.error.HTTPError as error:
        raise Failed(_("HTTP %(status)s from the receiver.") % {"status": error.code}) from None
    except outbound.Refused as refused:
        raise Failed(str(refused)) from None
    except urllib.error.URLError as error:
        raise Failed(_("Could not connect: %(reason)s") % {"reason": error.reason}) from None
    except (OSError, HTTPException) as error:
        raise Failed(_("Could not connect: %(reason)s") % {"reason": error}) from None


def json_answer(answer: bytes) -> dict:
    """The receiver's JSON answer; Failed when it is not a JSON object."""
    try:
        data = json.loads(answer)
    except ValueError:
        raise Failed(_("The answer is not JSON: %(start)s") % {"start": answer[:80]}) from None
    if not isinstance(data, dict):
        raise Failed(_("The answer is not a JSON object."))
    return data


def json_body(document: dict) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
