"""What people do with documents: sign (passkey, password, e-mail code), dispute, answer,
withdraw, record another delivery; register and revoke passkeys. Each action checks who
acts and the document's state, writes, and appends its ledger entry in one transaction.
Issuing lives in kaohe.signing.content (re-exported here)."""

import datetime as dt
import hashlib
import hmac
import os
import secrets

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Sum
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kaohe.lib import clock
from kaohe.lib.canonical import canonical
from kaohe.lib.http import client_ip, current_request
from kaohe.notify.send import Message, address_of, notify
from kaohe.org.evidence import record
from kaohe.org.models import EmploymentStatus, Role, RoleAssignment
from kaohe.signing import webauthn as wa
from kaohe.signing.content import SigningError, document_url, issue, issue_many
from kaohe.signing.models import (
    VOID_STATES,
    AlternativeDelivery,
    Attachment,
    Ceremony,
    CeremonyPurpose,
    Credential,
    DeliveryMethod,
    Dispute,
    DisputeOutcome,
    Document,
    DocumentState,
    Method,
    Signature,
)
from kaohe.signing.visibility import may_manage

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

CEREMONY_LIFETIME = dt.timedelta(minutes=5)
MAX_ATTEMPTS = 5
# Wrong passwords and codes per user across ceremonies: at most MAX_FAILURES in FAILURE_WINDOW.
MAX_FAILURES = 5
FAILURE_WINDOW = dt.timedelta(minutes=15)
SECRET_METHODS = (Method.PASSWORD, Method.EMAIL_CODE)
MAX_DRAWN_PNG = 200 * 1024
MAX_ATTACHMENT = 10 * 1024 * 1024
MAX_ATTACHMENTS = 20
MAX_ATTACHMENTS_TOTAL = 50 * 1024 * 1024
MAX_REASON = 5000
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SIGNABLE = (DocumentState.PENDING, DocumentState.DISPUTED, DocumentState.SERVED)
EVIDENCE_FORMAT = "kaohe-signature-evidence/v1"


# -- reading ------------------------------------------------------------------------------


def do_mark_opened(user, document: Document, request=None) -> bool:
    """Records the first time the employee herself opens her document ("document.opened");
    anyone else's visit, and later visits, change nothing. Returns whether it recorded."""
    return _mark(user, document, "opened_at", "document.opened")


def do_mark_read(user, document: Document, request=None) -> bool:
    """Records the first time the employee scrolled her document to the end
    ("document.read"); opening is implied."""
    do_mark_opened(user, document, request)
    return _mark(user, document, "read_at", "document.read")


def _mark(user, document: Document, field: str, kind: str) -> bool:
    if not _is_own(user, document) or getattr(document, field) is not None:
        return False
    with transaction.atomic():
        row = _lock(document)
        if getattr(row, field) is not None or row.state in VOID_STATES:
            return False
        setattr(row, field, clock.now())
        row.save(update_fields=[field])
        _record(kind, user, row, {"doc_sha256": row.doc_sha256})
    setattr(document, field, getattr(row, field))
    return True


# -- passkeys -----------------------------------------------------------------------------


def do_begin_registration(user) -> tuple[Ceremony, dict]:
    """A registration ceremony and its options for navigator.credentials.create."""
    _check_person(user)
    ceremony = _new_ceremony(user, CeremonyPurpose.REGISTER, Method.PASSKEY, None)
    ceremony.challenge = os.urandom(32)
    ceremony.save()
    exclude = [bytes(c.credential_id) for c in _active_passkeys(user)]
    return ceremony, wa.registration_options(user, bytes(ceremony.challenge), exclude)


def do_finish_registration(user, ceremony_id, credential: dict, name: str) -> Credential:
    name = (name or "").strip()[:100] or _("My passkey")
    with transaction.atomic():
        ceremony = _lock_ceremony(user, ceremony_id, CeremonyPurpose.REGISTER)
        try:
            registered = wa.verify_registration(credential, bytes(ceremony.challenge))
        except wa.PasskeyError as exc:
            raise SigningError(_("The passkey could not be registered. Please try again.")) from exc
        cid = wa.bytes_to_base64url(registered.credential_id)
        if Credential.objects.filter(credential_id_b64=cid).exists():
            raise SigningError(_("This passkey is registered already."))
        now = clock.now()
        passkey = Credential.objects.create(
            user=user,
            name=name,
            credential_id=registered.credential_id,
            credential_id_b64=cid,
            public_key=registered.public_key,
            sign_count=registered.sign_count,
            transports=registered.transports,
            aaguid=registered.aaguid,
            created_at=now,
        )
        ceremony.used_at = now
        ceremony.save(update_fields=["used_at"])
        payload = {
            "credential_id": cid,
            "name": name,
            "aaguid": registered.aaguid,
            "public_key_sha256": hashlib.sha256(registered.public_key).hexdigest(),
        }
        _record_about_user("passkey.registered", user, payload, passkey=cid)
    return passkey


def do_revoke_passkey(user, credential: Credential) -> None:
    """The owner revokes one of her passkeys; it signs nothing from then on."""
    if credential.user_id != user.pk:
        raise SigningError(_("You may only revoke your own passkeys."))
    with transaction.atomic():
        row = Credential.objects.select_for_update().get(pk=credential.pk)
        if row.revoked_at is not None:
            return
        row.revoked_at = clock.now()
        row.save(update_fields=["revoked_at"])
        _record_about_user(
            "passkey.revoked",
            user,
            {"credential_id": row.credential_id_b64},
            passkey=row.credential_id_b64,
        )
    credential.revoked_at = row.revoked_at


def _active_passkeys(user):
    return Credential.objects.filter(user=user, revoked_at__isnull=True)


# -- signing ------------------------------------------------------------------------------


def do_begin_signing(user, document: Document, method) -> tuple[Ceremony, dict]:
    """Starts a signing ceremony: for a passkey, the options for navigator.credentials.get
    (challenge bound to this document, ceremony, nonce and employee); for an e-mail code,
    sends a 6-digit code and returns {}; for a password, {}."""
    method = _method(method)
    document = Document.objects.select_related("employee").get(pk=document.pk)
    _check_signer(user, document)
    _check_signable(document)
    if method in SECRET_METHODS:
        _check_not_throttled(user)
    allow = [bytes(c.credential_id) for c in _active_passkeys(user)]
    if method == Method.PASSKEY and not allow:
        raise SigningError(_("You have no passkey yet: register one, or sign another way."))
    ceremony = _new_ceremony(user, CeremonyPurpose.SIGN, method, document)
    ceremony.challenge = wa.signing_challenge(
        document.doc_sha256, ceremony.public_id, bytes(ceremony.nonce), document.employee.public_id
    )
    code = ""
    if method == Method.EMAIL_CODE:
        code = f"{secrets.randbelow(10**6):06d}"
        ceremony.code_hash = _code_hash(ceremony, code)
        address = address_of(user, document.employee)
        if not address:
            raise SigningError(_("There is no e-mail address to send a code to."))
    ceremony.save()
    if method == Method.PASSKEY:
        return ceremony, wa.authentication_options(bytes(ceremony.challenge), allow)
    if code:
        transaction.on_commit(lambda: _send_code(address, code, document))
    return ceremony, {}


def do_sign(
    user,
    document: Document,
    ceremony_id,
    *,
    assertion: dict | None = None,
    password: str | None = None,
    code: str | None = None,
    drawn_png: bytes | None = None,
    request=None,
) -> Signature:
    """Signs `document` as the employee herself, with the ceremony begun for it. A wrong
    password or code counts as an attempt (5 per ceremony, and 5 per user across ceremonies
    in FAILURE_WINDOW) and is refused."""
    _check_drawn(drawn_png)
    request = request or current_request.get()
    refusal = None
    with transaction.atomic():
        row = _lock(document)
        _check_signer(user, row)
        _check_signable(row)
        ceremony = _lock_ceremony(user, ceremony_id, CeremonyPurpose.SIGN, row)
        if ceremony.attempts >= MAX_ATTEMPTS:
            raise SigningError(_("Too many wrong attempts. Please start again."))
        if ceremony.method in SECRET_METHODS:
            _check_not_throttled(user)
        refusal = _check_secret(user, ceremony, password, code)
        if refusal is None:
            passkey, archived = _check_assertion(user, ceremony, row, assertion)
            signature = _write_signature(user, row, ceremony, passkey, archived, drawn_png, request)
    if refusal is not None:
        raise SigningError(refusal)
    document.state, document.closed_at = row.state, row.closed_at
    return signature


def _check_secret(user, ceremony: Ceremony, password, code) -> str | None:
    """For password and code ceremonies: None when right, else the refusal (the attempt is
    counted and kept: the caller commits it before raising)."""
    if ceremony.method == Method.PASSWORD:
        ok = bool(password) and user.check_password(password)
        wrong = _("The password is wrong.")
    elif ceremony.method == Method.EMAIL_CODE:
        given = (code or "").strip()
        ok = len(given) == 6 and hmac.compare_digest(
            _code_hash(ceremony, given), ceremony.code_hash
        )
        wrong = _("The code is wrong.")
    else:
        return None
    if ok:
        return None
    ceremony.attempts += 1
    ceremony.save(update_fields=["attempts"])
    return wrong


def _check_not_throttled(user) -> None:
    """Refuses password and code attempts once the user has failed MAX_FAILURES times in
    FAILURE_WINDOW, counted over all her signing ceremonies. A ceremony's failures fall
    within its lifetime, so the ceremonies begun in the window plus one lifetime hold every
    failure of the window (and a few older ones: the lock lasts 15 to 20 minutes)."""
    since = clock.now() - FAILURE_WINDOW - CEREMONY_LIFETIME
    failures = Ceremony.objects.filter(
        user=user, purpose=CeremonyPurpose.SIGN, created_at__gte=since, attempts__gt=0
    ).aggregate(total=Sum("attempts"))["total"]
    if (failures or 0) >= MAX_FAILURES:
        raise SigningError(
            _("Too many wrong passwords or codes. Please wait 20 minutes, or sign with a passkey.")
        )


def _check_assertion(user, ceremony: Ceremony, document: Document, assertion):
    if ceremony.method != Method.PASSKEY:
        return None, {}
    if not isinstance(assertion, dict):
        raise SigningError(_("The passkey's answer is missing."))
    try:
        cid = wa.credential_id_of(assertion)
    except wa.PasskeyError as exc:
        raise SigningError(_("The passkey's answer is malformed.")) from exc
    passkey = (
        Credential.objects.select_for_update().filter(user=user, credential_id_b64=cid).first()
    )
    if passkey is None:
        raise SigningError(_("This passkey is not registered to you."))
    if passkey.revoked_at is not None:
        raise SigningError(_("This passkey was revoked."))
    try:
        count, origin = wa.verify_assertion(
            assertion, bytes(ceremony.challenge), bytes(passkey.public_key), passkey.sign_count
        )
    except wa.PasskeyError as exc:
        raise SigningError(
            _("The passkey's answer does not match this document's signing request.")
        ) from exc
    passkey.sign_count, passkey.last_used_at = count, clock.now()
    passkey.save(update_fields=["sign_count", "last_used_at"])
    inputs = {
        "doc_sha256": document.doc_sha256,
        "ceremony": str(ceremony.public_id),
        "nonce": bytes(ceremony.nonce).hex(),
        "employee": str(document.employee.public_id),
    }
    return passkey, wa.archive(assertion, bytes(passkey.public_key), origin, inputs)


def _write_signature(user, document, ceremony, passkey, archived, drawn_png, request) -> Signature:
    now = clock.now()
    signature = Signature(
        document=document,
        ceremony=ceremony,
        method=ceremony.method,
        signer=user,
        credential=passkey,
        assertion=archived,
        drawn_png=drawn_png,
        signed_at=now,
        ip=client_ip(request) if request is not None else None,
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:1000] if request is not None else "",
        session_hash=_session_hash(request),
    )
    evidence = evidence_of(signature)
    entry = _record(
        "document.signed",
        user,
        document,
        {
            "doc_sha256": document.doc_sha256,
            "method": signature.method,
            "evidence_sha256": hashlib.sha256(canonical(evidence)).hexdigest(),
        },
    )
    signature.entry_index = entry.index
    signature.evidence = evidence | {"entry_index": entry.index}
    signature.save(force_insert=True)
    ceremony.used_at = now
    ceremony.save(update_fields=["used_at"])
    document.state, document.closed_at = DocumentState.SIGNED, now
    document.save(update_fields=["state", "closed_at"])
    _after_signing(document, signature)
    return signature


def evidence_of(signature: Signature) -> dict:
    """The canonical evidence record of a signature, without "entry_index" (the ledger entry
    "document.signed" carries the SHA-256 of exactly this)."""
    document, signer = signature.document, signature.signer
    employee = document.employee
    evidence = {
        "format": EVIDENCE_FORMAT,
        "document": {
            "public_id": str(document.public_id),
            "kind": document.kind,
            "title": document.title,
            "doc_sha256": document.doc_sha256,
            "data_sha256": document.data_sha256,
            "pdf_sha256": document.pdf_sha256,
            "issued_entry": document.issued_entry,
        },
        "signer": {
            "employee_no": employee.employee_no,
            "name": employee.name,
            "user": str(signer.pk),
        },
        "method": str(signature.method),
        "signed_at": signature.signed_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "ip": signature.ip or "",
        "user_agent": signature.user_agent,
        "session_hash": signature.session_hash,
    }
    if signature.method == Method.PASSKEY:
        evidence["assertion"] = signature.assertion
    if signature.drawn_png:
        evidence["drawn_png_sha256"] = hashlib.sha256(bytes(signature.drawn_png)).hexdigest()
    return evidence


def _after_signing(document: Document, signature: Signature) -> None:
    from kaohe.signing.agreements import on_signed
    from kaohe.signing.tasks import finish_signature

    on_signed(document)
    transaction.on_commit(lambda: finish_signature.enqueue(signature.pk))


def _check_drawn(drawn_png: bytes | None) -> None:
    if drawn_png is None:
        return
    if not isinstance(drawn_png, bytes) or not drawn_png.startswith(PNG_MAGIC):
        raise SigningError(_("The drawn signature must be a PNG image."))
    if len(drawn_png) > MAX_DRAWN_PNG:
        raise SigningError(_("The drawn signature is too large (at most 200 KB)."))


def _code_hash(ceremony: Ceremony, code: str) -> str:
    message = ceremony.public_id.bytes + code.encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def _send_code(address: str, code: str, document: Document) -> None:
    subject = _("Your kaohe signing code: %(code)s") % {"code": code}
    body = _(
        "Enter %(code)s to sign “%(title)s”. The code is valid for 5 minutes. "
        "If you did not ask for it, ignore this message."
    ) % {"code": code, "title": document.title}
    send_mail(subject, body, None, [address])


def _session_hash(request) -> str:
    key = getattr(getattr(request, "session", None), "session_key", None) if request else None
    return hashlib.sha256(key.encode()).hexdigest() if key else ""


# -- disputes -----------------------------------------------------------------------------


def do_dispute(user, document: Document, reason: str, request=None) -> Dispute:
    """The employee says why she disagrees; HR of her unit is told."""
    reason = _text(reason, _("Please say why you disagree."))
    with transaction.atomic():
        row = _lock(document)
        _check_signer(user, row)
        if row.state not in (DocumentState.PENDING, DocumentState.SERVED):
            raise SigningError(_("This document cannot be disputed now."))
        if Dispute.objects.filter(document=row, answered_at__isnull=True).exists():
            raise SigningError(_("Your earlier dispute is still awaiting an answer."))
        dispute = Dispute.objects.create(
            document=row, raised_by=user, reason=reason, raised_at=clock.now(), raised_entry=-1
        )
        row.state = DocumentState.DISPUTED
        row.save(update_fields=["state"])
        hr = _hr_of(row)
        message = Message(
            "document.disputed",
            title=format_lazy(
                gettext_lazy("{name} disputes “{title}”"), name=row.employee.name, title=row.title
            ),
            body=reason,
            url=f"/documents/{row.public_id}/",
            level="warning",
        )
        transaction.on_commit(lambda: notify(hr, message, dedupe_key=f"dispute:{dispute.pk}"))
        # The ledger last: it stays locked from the append until the commit.
        entry = _record(
            "dispute.raised", user, row, {"doc_sha256": row.doc_sha256, "reason": reason}
        )
        dispute.raised_entry = entry.index
        dispute.save(update_fields=["raised_entry"])
    document.state = row.state
    return dispute


def do_answer_dispute(actor, dispute: Dispute, answer: str, outcome) -> Dispute:
    """HR answers a dispute: upheld (the document will be corrected: it stays disputed until
    a new version supersedes it) or rejected (the document stands and awaits the employee)."""
    if outcome not in DisputeOutcome.values:
        raise SigningError(_("Choose whether the dispute is upheld or rejected."))
    answer = _text(answer, _("Please write an answer."))
    if not may_manage(actor, dispute.document):
        raise SigningError(_("You may not answer this dispute."))
    with transaction.atomic():
        document = _lock(dispute.document)
        row = Dispute.objects.select_for_update().get(pk=dispute.pk)
        if row.answered_at is not None:
            raise SigningError(_("This dispute was answered already."))
        entry = _record(
            "dispute.answered",
            actor,
            document,
            {"dispute_entry": row.raised_entry, "outcome": outcome, "answer": answer},
        )
        row.answer, row.outcome, row.answered_by = answer, outcome, actor
        row.answered_at, row.answered_entry = clock.now(), entry.index
        row.save(
            update_fields=["answer", "outcome", "answered_by", "answered_at", "answered_entry"]
        )
        if outcome == DisputeOutcome.REJECTED and document.state == DocumentState.DISPUTED:
            # The document stands: served already if HR recorded another delivery.
            served = AlternativeDelivery.objects.filter(document=document).exists()
            document.state = DocumentState.SERVED if served else DocumentState.PENDING
            document.save(update_fields=["state"])
        notify(
            [document.employee],
            Message(
                "document.dispute_answered",
                title=format_lazy(
                    gettext_lazy("Your dispute of “{title}” was answered"), title=document.title
                ),
                body=answer,
                url=document_url(document),
                level="info",
            ),
            dedupe_key=f"dispute:{row.pk}:answered",
        )
    return row


# -- HR: withdraw, deliver another way ----------------------------------------------------


def do_withdraw(actor, document: Document, reason: str) -> Document:
    """HR withdraws a document not yet signed; nobody can sign it afterwards."""
    reason = _text(reason, _("Please give a reason."))
    if not may_manage(actor, document):
        raise SigningError(_("You may not withdraw this document."))
    with transaction.atomic():
        row = _lock(document)
        if row.state in VOID_STATES:
            raise SigningError(_("This document is no longer in force."))
        if row.state == DocumentState.SIGNED:
            raise SigningError(_("A signed document cannot be withdrawn; issue a correction."))
        row.state, row.closed_at = DocumentState.WITHDRAWN, clock.now()
        row.save(update_fields=["state", "closed_at"])
        _record("document.withdrawn", actor, row, {"doc_sha256": row.doc_sha256, "reason": reason})
        notify(
            [row.employee],
            Message(
                "document.withdrawn",
                title=format_lazy(gettext_lazy("“{title}” was withdrawn"), title=row.title),
                body=reason,
                url="/app/documents/",
                level="info",
            ),
            dedupe_key=f"document:{row.public_id}:withdrawn",
        )
    document.state, document.closed_at = row.state, row.closed_at
    return row


def do_record_delivery(actor, document, method, delivered_on, note, files) -> AlternativeDelivery:
    """HR records that the document reached the employee another way (e-mail, courier,
    witness), with attachments (at most 20, each at most 10 MB, together at most 50 MB;
    SHA-256 kept and put in the ledger)."""
    if method not in DeliveryMethod.values:
        raise SigningError(_("Choose how the document was delivered."))
    note = _text(note, _("Please describe the delivery (tracking number, witnesses, ...)."))
    if not isinstance(delivered_on, dt.date) or delivered_on > clock.today():
        raise SigningError(_("The delivery date must be a date not in the future."))
    if not may_manage(actor, document):
        raise SigningError(_("You may not record deliveries of this document."))
    attachments = _read_attachments(list(files or []))
    with transaction.atomic():
        row = _lock(document)
        if row.state in VOID_STATES:
            raise SigningError(_("This document is no longer in force."))
        delivery = AlternativeDelivery.objects.create(
            document=row,
            method=method,
            delivered_on=delivered_on,
            note=note,
            recorded_by=actor,
            recorded_at=clock.now(),
            entry_index=-1,
        )
        for attachment in attachments:
            attachment.delivery = delivery
        Attachment.objects.bulk_create(attachments)
        if row.state == DocumentState.PENDING:
            row.state, row.closed_at = DocumentState.SERVED, row.closed_at or clock.now()
            row.save(update_fields=["state", "closed_at"])
        # The ledger last: it stays locked from the append until the commit.
        entry = _record(
            "document.served",
            actor,
            row,
            {
                "doc_sha256": row.doc_sha256,
                "method": method,
                "delivered_on": delivered_on.isoformat(),
                "note": note,
                "attachments": [{"name": a.name, "sha256": a.sha256} for a in attachments],
            },
        )
        delivery.entry_index = entry.index
        delivery.save(update_fields=["entry_index"])
    document.state, document.closed_at = row.state, row.closed_at
    return delivery


def _read_attachments(files: list) -> list[Attachment]:
    """Checks the count and the sizes the uploads declare before reading any of them, then
    reads them, stopping as soon as the total passes the limit."""
    if len(files) > MAX_ATTACHMENTS:
        raise SigningError(_("Too many attachments (at most 20)."))
    too_large = _("The attachments are larger than 50 MB together.")
    if sum(getattr(f, "size", None) or 0 for f in files) > MAX_ATTACHMENTS_TOTAL:
        raise SigningError(too_large)
    attachments, total = [], 0
    for upload in files:
        attachments.append(_read_attachment(upload))
        total += len(attachments[-1].content)
        if total > MAX_ATTACHMENTS_TOTAL:
            raise SigningError(too_large)
    return attachments


def _read_attachment(upload) -> Attachment:
    size = getattr(upload, "size", None)
    if size is not None and size > MAX_ATTACHMENT:
        raise SigningError(_("An attachment is larger than 10 MB."))
    content = upload.read(MAX_ATTACHMENT + 1)
    if len(content) > MAX_ATTACHMENT:
        raise SigningError(_("An attachment is larger than 10 MB."))
    content_type = (getattr(upload, "content_type", "") or "application/octet-stream")[:100]
    return Attachment(
        name=sanitise_name(getattr(upload, "name", "") or ""),
        content_type=content_type,
        content=content,
        sha256=hashlib.sha256(content).hexdigest(),
    )


def sanitise_name(name: str) -> str:
    """A file name safe to show and to offer for download: the last path part, without
    control or path characters, at most 200 characters."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*')
    name = name.strip(" .")
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[:190] + dot + ext[:9]) if dot and len(ext) < 10 else name[:200]
    return name or "attachment"


# -- shared checks ------------------------------------------------------------------------


def _lock(document: Document) -> Document:
    return Document.objects.select_for_update().select_related("employee").get(pk=document.pk)


def _is_own(user, document: Document) -> bool:
    employee = getattr(user, "employee", None) if getattr(user, "is_authenticated", False) else None
    return employee is not None and employee.pk == document.employee_id


def _check_person(user) -> None:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        raise SigningError(_("Please sign in first."))
    employee = getattr(user, "employee", None)
    if employee is not None and employee.status == EmploymentStatus.TERMINATED:
        raise SigningError(_("Former employees cannot sign or dispute documents."))


def _check_signer(user, document: Document) -> None:
    _check_person(user)
    if not _is_own(user, document):
        raise SigningError(_("Only the employee this document is addressed to may sign it."))


def _check_signable(document: Document) -> None:
    if document.state in VOID_STATES:
        raise SigningError(
            _("This document was withdrawn or replaced; it can no longer be signed.")
        )
    if document.state == DocumentState.SIGNED:
        raise SigningError(_("This document is signed already."))
    if document.state not in SIGNABLE:
        raise SigningError(_("This document cannot be signed now."))


def _method(method) -> str:
    if method not in Method.values:
        raise SigningError(_("Unknown signing method."))
    return str(method)


def _new_ceremony(user, purpose, method, document) -> Ceremony:
    import uuid

    now = clock.now()
    return Ceremony(
        public_id=uuid.uuid4(),
        purpose=purpose,
        method=method,
        user=user,
        document=document,
        nonce=os.urandom(32),
        challenge=b"",
        created_at=now,
        expires_at=now + CEREMONY_LIFETIME,
    )


def _lock_ceremony(user, ceremony_id, purpose, document: Document | None = None) -> Ceremony:
    rows = Ceremony.objects.select_for_update().filter(
        public_id=str(ceremony_id), user=user, purpose=purpose
    )
    if document is not None:
        rows = rows.filter(document=document)
    try:
        ceremony = rows.get()
    except (Ceremony.DoesNotExist, ValueError) as exc:
        raise SigningError(_("This signing request is unknown. Please start again.")) from exc
    if ceremony.used_at is not None:
        raise SigningError(_("This request was used already. Please start again."))
    if ceremony.expires_at <= clock.now():
        raise SigningError(_("This request has expired. Please start again."))
    return ceremony


def _text(value, missing) -> str:
    value = (value or "").strip() if isinstance(value, str | type(None)) else ""
    if not value:
        raise SigningError(missing)
    if len(value) > MAX_REASON:
        raise SigningError(_("The text is too long (at most 5000 characters)."))
    return value


def _record(kind: str, actor, document: Document, payload: dict):
    return record(
        kind,
        actor,
        {"document": str(document.public_id), **payload},
        document.employee,
        document=str(document.public_id),
    )


def _record_about_user(kind: str, user, payload: dict, **subject):
    employee = getattr(user, "employee", None)
    if employee is None:
        subject = {"user": str(user.pk), **subject}
    return record(kind, user, payload, employee, **subject)


def _hr_of(document: Document) -> list:
    """HR partners of the employee's unit or any unit above it, and HR admins."""
    unit_ids = [int(part) for part in document.employee.org_unit.path.strip("/").split("/") if part]
    rows = (
        RoleAssignment.objects.filter(revoked_at__isnull=True)
        .filter(role__in=[Role.HR_PARTNER, Role.HR_ADMIN])
        .select_related("user")
    )
    users = {a.user for a in rows if a.role == Role.HR_ADMIN or a.org_unit_id in unit_ids}
    return [u for u in users if u.is_active]
