"""What people do with documents: sign (passkey, password, e-mail code), dispute, answer,
withdraw, record another delivery; register and revoke passkeys. Each action checks who
acts and the document's state, writes, and appends its ledger entry in one transaction."""

from django.utils.translation import gettext as _

from kaohe.signing.content import SigningError, issue, issue_many
from kaohe.signing.models import Method

__all__ = [
    "SigningError",
    "do_answer_dispute",
    "do_begin_registration",
    "do_begin_signing",
    "do_dispute",
    "do_finish_registration",
    "do_mark_opened",
    "do_mark_read",
    "do_record_delivery",
    "do_revoke_passkey",
    "do_sign",
    "do_withdraw",
    "issue",
    "issue_many",
]


def do_withdraw(actor, document, reason):
    raise NotImplementedError(_("not yet"))


def do_mark_opened(user, document, request):
    raise NotImplementedError


def do_mark_read(user, document, request):
    raise NotImplementedError


def do_begin_registration(user):
    raise NotImplementedError


def do_finish_registration(user, ceremony_id, credential: dict, name: str):
    raise NotImplementedError


def do_revoke_passkey(user, credential):
    raise NotImplementedError


def do_begin_signing(user, document, method: Method):
    raise NotImplementedError


def do_sign(user, document, ceremony_id, *, assertion=None, password=None, code=None,
            drawn_png=None, request=None):  # fmt: skip
    raise NotImplementedError


def do_dispute(user, document, reason, request=None):
    raise NotImplementedError


def do_answer_dispute(actor, dispute, answer, outcome):
    raise NotImplementedError


def do_record_delivery(actor, document, method, delivered_on, note, files):
    raise NotImplementedError
