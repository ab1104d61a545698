"""Background work of signing, run by the task worker: telling employees of new documents,
and what follows a signature (checkpoint, receipt, sealed letter, notice)."""

import datetime as dt
import json
import logging

from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Q
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_tasks import task

from kaohe.ledger.checkpoints import covering
from kaohe.ledger.proofs import inclusion
from kaohe.lib import clock
from kaohe.notify.send import Message, address_of, notify
from kaohe.org.evidence import record
from kaohe.signing.content import deliver, document_url, sha256_hex
from kaohe.signing.models import Letter, Signature

logger = logging.getLogger(__name__)

# How long a signature may wait for its receipt and letter before the sweep steps in.
FINISH_GRACE = dt.timedelta(minutes=2)


@task()
def deliver_documents(pks: list[int]) -> int:
    """Tells employees of their new documents and records the delivery."""
    return deliver(pks)


@task()
def issue_agreements() -> int:
    """Puts published target agreements that have no document yet before their employees."""
    from kaohe.signing.agreements import issue_pending

    return issue_pending()


@task()
def finish_signature(signature_id: int) -> bool:
    """After a signature commits: a checkpoint covering its ledger entry and the receipt
    (the entry's inclusion proof, a document `kaohe verify` accepts), stored and sent to the
    employee (inbox, and e-mail with receipt.json) in their own transaction; then the sealed
    letter with its "letter.sealed" entry. A failure of the letter (seal, TSA) keeps the
    receipt; `finish_pending_signatures` tries again later. Does nothing for a signature
    already finished. Returns whether it did the work."""
    signature = Signature.objects.select_related("document__employee__user", "signer").get(
        pk=signature_id
    )
    if signature.receipt and _has_letter(signature):
        return False
    if not signature.receipt:
        signature.receipt = _store_receipt(signature)
    if _has_letter(signature):
        return True
    pdf = _letter_pdf(signature, signature.receipt["proof"]["checkpoint"])
    if pdf is None:
        return True
    with transaction.atomic():
        Signature.objects.select_for_update().get(pk=signature.pk)
        if not _has_letter(signature):
            _store_letter(signature, pdf)
    return True


@task()
def finish_pending_signatures() -> int:
    """Enqueues `finish_signature` again for signatures older than FINISH_GRACE that still
    lack their receipt or their letter (a checkpoint, seal or TSA failure). Returns how many."""
    cutoff = clock.now() - FINISH_GRACE
    pending = Signature.objects.filter(signed_at__lt=cutoff).filter(
        Q(receipt__isnull=True) | Q(document__letter__isnull=True)
    )
    pks = list(pending.order_by("pk").values_list("pk", flat=True))
    for pk in pks:
        finish_signature.enqueue(pk)
    return len(pks)


def _has_letter(signature: Signature) -> bool:
    return Letter.objects.filter(document=signature.document_id).exists()


def _store_receipt(signature: Signature) -> dict:
    """Makes the receipt, stores it (unless another worker did) and tells the employee."""
    checkpoint = covering(signature.entry_index)
    receipt = inclusion(signature.entry_index, checkpoint)
    with transaction.atomic():
        row = Signature.objects.select_for_update().get(pk=signature.pk)
        if row.receipt:
            return row.receipt
        row.receipt = receipt
        row.save(update_fields=["receipt"])
        _tell(signature, receipt)
    return receipt


def _letter_pdf(signature: Signature, checkpoint: dict) -> bytes | None:
    try:
        from kaohe.signing.letter import make_letter
    except ImportError:  # the letter maker is not installed yet
        logger.warning("no kaohe.signing.letter: signature %s gets no letter", signature.pk)
        return None
    return make_letter(signature.document, signature, checkpoint)


def _store_letter(signature: Signature, pdf: bytes) -> Letter:
    """The letter row first, its ledger entry last (the log stays locked until commit)."""
    document = signature.document
    digest = sha256_hex(pdf)
    letter = Letter.objects.create(document=document, pdf=pdf, sha256=digest,
                                   created_at=clock.now(), entry_index=-1)  # fmt: skip
    payload = {"document": str(document.public_id), "doc_sha256": document.doc_sha256,
               "signature_entry": signature.entry_index, "letter_sha256": digest}  # fmt: skip
    entry = record("letter.sealed", None, payload, document.employee,
                   document=str(document.public_id))  # fmt: skip
    Letter.objects.filter(pk=letter.pk).update(entry_index=entry.index)
    letter.entry_index = entry.index
    return letter


def _tell(signature: Signature, receipt: dict) -> None:
    document = signature.document
    message = Message(
        "document.signed",
        title=format_lazy(gettext_lazy("You signed “{title}”"), title=document.title),
        body=gettext_lazy(
            "Your signature is recorded. The sealed confirmation letter and your receipt "
            "are on the document's page."
        ),
        url=document_url(document),
        level="info",
        data={"document": str(document.public_id)},
    )
    notify([document.employee], message, channels=("inbox",),
           dedupe_key=f"document:{document.public_id}:signed")  # fmt: skip
    address = address_of(document.employee.user, document.employee)
    if address:
        body = json.dumps(receipt, ensure_ascii=False, indent=2).encode()
        transaction.on_commit(lambda: _email_receipt(address, document, body))


def _email_receipt(address: str, document, receipt_json: bytes) -> None:
    subject = _("Your signature on “%(title)s”: receipt") % {"title": document.title}
    text = _(
        "You signed “%(title)s”. The attached receipt.json proves that your signature is "
        "recorded in the company's evidence log; anyone can check it with `kaohe verify`."
    ) % {"title": document.title}
    mail = EmailMessage(subject, text, None, [address])
    mail.attach("receipt.json", receipt_json, "application/json")
    try:
        mail.send()
    except OSError:
        logger.exception("could not e-mail the receipt of document %s", document.public_id)
