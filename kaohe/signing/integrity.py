"""Checking a document against the ledger: its stored content and hashes against the
"document.issued" entry, its state against its signature, its signature's evidence against
"document.signed" and its receipt against that entry, its letter against "letter.sealed",
the attachments of other deliveries against "document.served", and the archived passkey
assertion against the document.

`check_document` returns problems as "<document id>: <field>: <what is wrong>" lines; an
empty list means everything agrees. `kaohe signing check` prints them."""

import datetime as dt
import hashlib
import json

from django.utils.translation import gettext as _

from kaohe.ledger.models import Entry
from kaohe.lib import merkle
from kaohe.lib.canonical import CanonicalError, canonical
from kaohe.signing import webauthn as wa
from kaohe.signing.content import SigningError, doc_hash, sha256_hex
from kaohe.signing.models import (
    AlternativeDelivery,
    Document,
    DocumentState,
    Letter,
    Method,
    Signature,
)


def reverify(signature: Signature) -> None:
    """Raises SigningError unless the archived passkey assertion still verifies with its
    archived public key and binds this signature's document (its doc_sha256, its employee).
    Needs neither the Credential row nor the Ceremony row."""
    archived = signature.assertion or {}
    document = signature.document
    inputs = archived.get("challenge_inputs") or {}
    if inputs.get("doc_sha256") != document.doc_sha256:
        raise SigningError(_("The passkey signature was made for another document."))
    if inputs.get("employee") != str(document.employee.public_id):
        raise SigningError(_("The passkey signature was made by another employee."))
    try:
        wa.verify_archived(archived)
    except wa.PasskeyError as exc:
        raise SigningError(_("The archived passkey signature does not verify.")) from exc


def check_document(document: Document) -> list[str]:
    """Every disagreement between the stored document (and its signature and letter) and
    the ledger entries and hashes that fixed them."""
    found = _document_problems(document)
    signature = Signature.objects.filter(document=document).select_related("signer").first()
    found += _state_problems(document, signature)
    if signature is not None:
        found += _signature_problems(document, signature) + _receipt_problems(signature)
    letter = Letter.objects.filter(document=document).first()
    if letter is not None:
        found += _letter_problems(document, letter)
    for delivery in AlternativeDelivery.objects.filter(document=document).order_by("pk"):
        found += _delivery_problems(document, delivery)
    return [f"{document.public_id}: {p}" for p in found]


def _document_problems(document: Document) -> list[str]:
    problems = []
    try:
        data_json = canonical(document.data)
    except CanonicalError:
        data_json = b""
    if data_json.decode() != document.data_json:
        problems.append("data: differs from data_json")
    if sha256_hex(document.data_json.encode()) != document.data_sha256:
        problems.append("data_sha256: is not the SHA-256 of data_json")
    if sha256_hex(bytes(document.pdf)) != document.pdf_sha256:
        problems.append("pdf_sha256: is not the SHA-256 of pdf")
    if doc_hash(document.data_sha256, document.pdf_sha256) != document.doc_sha256:
        problems.append("doc_sha256: does not cover data_sha256 and pdf_sha256")
    if document.data.get("kind") != document.kind:
        problems.append("kind: differs from the data's kind")
    if (document.data.get("employee") or {}).get("employee_no") != document.employee.employee_no:
        problems.append("employee: differs from the data's employee")
    entry = _entry(document.issued_entry)
    if entry is None or entry.get("kind") != "document.issued":
        return [*problems, f"issued_entry: ledger entry {document.issued_entry} is not its issue"]
    payload, subject = entry.get("payload", {}), entry.get("subject", {})
    expected = {
        "document": str(document.public_id),
        "kind": document.kind,
        "title": document.title,
        "doc_sha256": document.doc_sha256,
        "data_sha256": document.data_sha256,
        "pdf_sha256": document.pdf_sha256,
    }
    problems += [
        f"{name}: differs from the ledger's document.issued entry"
        for name, value in expected.items()
        if payload.get(name) != value
    ]
    if subject.get("employee") != document.employee.employee_no:
        problems.append("employee: differs from the ledger's document.issued entry")
    return problems + _issue_terms_problems(document, payload)


def _issue_terms_problems(document: Document, payload: dict) -> list[str]:
    """The source record and the due date, as "document.issued" recorded them."""
    problems = []
    source = payload.get("source")
    if source is not None:
        if source.get("type") != document.source_type:
            problems.append("source_type: differs from the ledger's document.issued entry")
        if source.get("id") != document.source_id:
            problems.append("source_id: differs from the ledger's document.issued entry")
    if _parse_time(payload.get("due_at")) != document.due_at:
        problems.append("due_at: differs from the ledger's document.issued entry")
    return problems


def _parse_time(value) -> dt.datetime | str | None:
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return str(value)


def _state_problems(document: Document, signature: Signature | None) -> list[str]:
    """Signed exactly when a signature exists (a signed document may be superseded later
    by a correction, and keeps its signature)."""
    if signature is None and document.state == DocumentState.SIGNED:
        return ["state: signed, but there is no signature"]
    if signature is not None and document.state not in (
        DocumentState.SIGNED,
        DocumentState.SUPERSEDED,
    ):
        return [f"state: {document.state}, but the document has a signature"]
    return []


def _signature_problems(document: Document, signature: Signature) -> list[str]:
    from kaohe.signing.actions import evidence_of

    problems = []
    signature.document = document
    stored = dict(signature.evidence or {})
    entry_index = stored.pop("entry_index", None)
    # The stored record is checked whole against the ledger's hash below; against today's
    # rows only what cannot change lawfully (an employee may be renamed).
    if _stable(stored) != _stable(evidence_of(signature)):
        problems.append(
            "signature: its method, time, signer, IP, user agent, session or "
            "assertion differs from its evidence record"
        )
    if entry_index != signature.entry_index:
        problems.append("signature.entry_index: differs from its evidence record")
    if document.employee.user_id != signature.signer_id:
        problems.append("signature.signer: is not the employee's account")
    entry = _entry(signature.entry_index)
    if entry is None or entry.get("kind") != "document.signed":
        return [*problems, "signature: its ledger entry is not a document.signed entry"]
    payload = entry.get("payload", {})
    evidence_sha = hashlib.sha256(canonical(stored)).hexdigest() if _canonical_ok(stored) else ""
    if payload.get("evidence_sha256") != evidence_sha:
        problems.append("signature.evidence: differs from the ledger's document.signed entry")
    if payload.get("doc_sha256") != document.doc_sha256 or payload.get("document") != str(
        document.public_id
    ):
        problems.append("signature: the ledger's document.signed entry names another document")
    if payload.get("method") != signature.method:
        problems.append("signature.method: differs from the ledger's document.signed entry")
    if signature.method == Method.PASSKEY:
        try:
            reverify(signature)
        except SigningError as exc:
            problems.append(f"signature.assertion: {exc.message}")
    return problems


def _stable(evidence: dict) -> dict:
    """The evidence without the signer's name, which follows the employee record."""
    signer = evidence.get("signer")
    if not isinstance(signer, dict):
        return evidence
    return evidence | {"signer": {k: v for k, v in signer.items() if k != "name"}}


def _receipt_problems(signature: Signature) -> list[str]:
    """The receipt, once made, proves the signature's own ledger entry."""
    receipt = signature.receipt
    if not receipt:
        return []
    proof = receipt.get("proof") if isinstance(receipt, dict) else None
    proof = proof if isinstance(proof, dict) else {}
    body = Entry.objects.filter(index=signature.entry_index).values_list("body", flat=True).first()
    leaf_hash = merkle.leaf_hash(body.encode()).hex() if body else None
    problems = []
    if proof.get("leaf_index") != signature.entry_index:
        problems.append("signature.receipt: its leaf index is not the signature's ledger entry")
    if leaf_hash is None or proof.get("leaf_hash") != leaf_hash:
        problems.append("signature.receipt: its leaf hash is not the signature's ledger entry")
    return problems


def _delivery_problems(document: Document, delivery: AlternativeDelivery) -> list[str]:
    """Each attachment's content against its SHA-256, and all of them against the hashes
    the "document.served" entry named."""
    problems = []
    attachments = list(delivery.attachments.order_by("pk"))
    for attachment in attachments:
        if sha256_hex(bytes(attachment.content)) != attachment.sha256:
            problems.append(f"attachment {attachment.name}: is not the file whose SHA-256 was kept")
    entry = _entry(delivery.entry_index)
    payload = (entry or {}).get("payload", {})
    if entry is None or entry.get("kind") != "document.served":
        return [*problems, "delivery: its ledger entry is not a document.served entry"]
    if payload.get("document") != str(document.public_id):
        problems.append("delivery: the ledger's document.served entry names another document")
    named = [(a.get("name"), a.get("sha256")) for a in payload.get("attachments") or []]
    if sorted(named) != sorted((a.name, a.sha256) for a in attachments):
        problems.append("delivery.attachments: differ from the ledger's document.served entry")
    return problems


def _letter_problems(document: Document, letter: Letter) -> list[str]:
    problems = []
    digest = sha256_hex(bytes(letter.pdf))
    if digest != letter.sha256:
        problems.append("letter.pdf: is not the PDF whose SHA-256 was recorded")
    entry = _entry(letter.entry_index)
    payload = (entry or {}).get("payload", {})
    if entry is None or entry.get("kind") != "letter.sealed":
        problems.append("letter: its ledger entry is not a letter.sealed entry")
    elif payload.get("letter_sha256") != digest or payload.get("document") != str(
        document.public_id
    ):
        problems.append("letter.pdf: differs from the ledger's letter.sealed entry")
    return problems


def _canonical_ok(value) -> bool:
    try:
        canonical(value)
    except CanonicalError:
        return False
    return True


def _entry(index: int) -> dict | None:
    body = Entry.objects.filter(index=index).values_list("body", flat=True).first()
    return json.loads(body) if body else None
