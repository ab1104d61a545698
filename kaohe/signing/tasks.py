"""Background work of signing, run by the task worker: telling employees of new documents,
and what follows a signature (checkpoint, receipt, sealed letter, notice)."""

import json
import logging

from django.core.mail import EmailMessage
from django.db import transaction
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_tasks import task

from kaohe.ledger.checkpoints import as_document, covering
from kaohe.ledger.proofs import inclusion
from kaohe.lib import clock
from kaohe.notify.send import Message, address_of, notify
from kaohe.org.evidence import record
from kaohe.signing.content import deliver, document_url, sha256_hex
from kaohe.signing.models import Letter, Signature

logger = logging.getLogger(__name__)


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
    """After a signature commits: a checkpoint covering its ledger entry, the receipt (the
    entry's inclusion proof, a document `kaohe verify` accepts), the sealed letter with its
    "letter.sealed" entry, and the employee told (inbox, and e-mail with receipt.json).
    Does nothing for a signature already finished. Returns whether it did the work."""
    signature = Signature.objects.select_related("document__employee__user", "signer").get(
        pk=signature_id
    )
    if signature.receipt and Letter.objects.filter(document=signature.document_id).exists():
        return False
    checkpoint = covering(signature.entry_index)
    receipt = inclusion(signature.entry_index, checkpoint)
    pdf = _letter_pdf(signature, as_document(checkpoint))
    with transaction.atomic():
        row = Signature.objects.select_for_update().get(pk=signature.pk)
        if row.receipt and Letter.objects.filter(document=row.document_id).exists():
            return False
        row.receipt = receipt
        row.save(update_fields=["receipt"])
        if pdf is not None and not Letter.objects.filter(document=row.document_id).exists():
            _store_letter(signature, pdf)
        _tell(signature, receipt)
    return True


def _letter_pdf(signature: Signature, checkpoint: dict) -> bytes | None:
    try:
        from kaohe.signing.letter import make_letter
    except ImportError:  # the letter maker is not installed yet
        logger.warning("no kaohe.signing.letter: signature %s gets no letter", signature.pk)
        return None
    return make_letter(signature.document, signature, checkpoint)


def _store_letter(signature: Signature, pdf: bytes) -> Letter:
    document = signature.document
    digest = sha256_hex(pdf)
    payload = {"document": str(document.public_id), "doc_sha256": document.doc_sha256,
               "signature_entry": signature.entry_index, "letter_sha256": digest}  # fmt: skip
    entry = record("letter.sealed", None, payload, document.employee,
                   document=str(document.public_id))  # fmt: skip
    return Letter.objects.create(document=document, pdf=pdf, sha256=digest,
                                 created_at=clock.now(), entry_index=entry.index)  # fmt: skip


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
