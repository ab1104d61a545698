"""E-mail through Django's configured backend (SMTP in production: KAOHE_EMAIL_*)."""

import smtplib

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.utils.translation import gettext as _

from kaohe.notify.channels.base import Failed
from kaohe.notify.models import Delivery

TIMEOUT = 20


def send_email(delivery: Delivery) -> None:
    payload = delivery.payload
    subject = " ".join(payload["subject"].split())  # a line break in a header is refused
    message = EmailMessage(
        subject, payload["body"], settings.DEFAULT_FROM_EMAIL, [payload["to"]],
        connection=get_connection(timeout=TIMEOUT),
    )  # fmt: skip
    try:
        message.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as refused:
        reason = _("The mail server refused the address: %(error)s") % {"error": refused}
        raise Failed(reason) from None
    except (smtplib.SMTPException, OSError) as error:
        reason = f"{type(error).__name__}: {error}"
        raise Failed(_("Could not send the e-mail: %(reason)s") % {"reason": reason}) from None
