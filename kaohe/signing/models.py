"""Documents put before an employee, and what became of each: delivered, opened, read to
the end, signed (how, with what evidence), disputed and answered, or served another way.

A Document is fixed when it is issued: its data (canonical JSON) and its rendered PDF are
stored, and `doc_sha256` covers both (see `kaohe.signing.content`). Nothing of it changes
afterwards; a correction is a new Document that supersedes the old one.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from kaohe.org.models import Employee


class DocumentKind(models.TextChoices):
    RESULT = "result", _("assessment result")
    AGREEMENT = "agreement", _("target agreement")
    PIP = "pip", _("improvement plan")
    STANDARD = "standard", _("assessment standard")


class DocumentState(models.TextChoices):
    PENDING = "pending", _("awaiting the employee")
    SIGNED = "signed", _("signed")
    DISPUTED = "disputed", _("disputed")
    SERVED = "served", _("served by other means")
    WITHDRAWN = "withdrawn", _("withdrawn")
    SUPERSEDED = "superseded", _("superseded")


# Document.source_type of a target agreement's version (source_id: the version's pk).
AGREEMENT_SOURCE = "metrics.agreement_version"

# The kinds whose signature is chased by the unconfirmed-document warning; a disclosed
# assessment standard needs none.
CHASED_KINDS = [DocumentKind.RESULT, DocumentKind.AGREEMENT, DocumentKind.PIP]

# The employee can still act on these (sign or dispute).
OPEN_STATES = [DocumentState.PENDING, DocumentState.DISPUTED]
# No longer in force: nobody can sign them.
VOID_STATES = [DocumentState.WITHDRAWN, DocumentState.SUPERSEDED]


class Document(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(_("kind"), max_length=12, choices=DocumentKind.choices)
    employee = models.ForeignKey(Employee, models.PROTECT, related_name="documents")
    title = models.CharField(_("title"), max_length=200)
    # What the document is about, as plain identifiers ("reviews.result", "42"): signing
    # sits below the apps whose records it puts before employees.
    source_type = models.CharField(max_length=40)
    source_id = models.CharField(max_length=64)
    data = models.JSONField()  # the content; stored exactly as `data_json` was hashed
    data_json = models.TextField()  # RFC 8785 canonical JSON of `data`
    pdf = models.BinaryField()  # the rendered document, before any signature
    data_sha256 = models.CharField(max_length=64)
    pdf_sha256 = models.CharField(max_length=64)
    doc_sha256 = models.CharField(max_length=64, unique=True)
    state = models.CharField(
        _("state"), max_length=12, choices=DocumentState.choices, default=DocumentState.PENDING
    )
    supersedes = models.OneToOneField(
        "self", models.PROTECT, null=True, blank=True, related_name="superseded_by"
    )
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, related_name="+"
    )
    issued_at = models.DateTimeField()
    issued_entry = models.BigIntegerField()  # ledger index of the issue entry
    due_at = models.DateTimeField(null=True, blank=True)  # sign or dispute by then
    delivered_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)  # scrolled to the end
    closed_at = models.DateTimeField(null=True, blank=True)  # signed, served or withdrawn

    class Meta:
        ordering = ["-issued_at", "-pk"]
        indexes = [
            # "documents of this source record": the reviews and agreement pages.
            models.Index(fields=["source_type", "source_id"], name="signing_doc_source_idx"),
            # "open documents of these employees": the employee app and the warning sweep.
            models.Index(fields=["employee", "state"], name="signing_doc_emp_state_idx"),
        ]

    def __str__(self) -> str:
        return self.title


class Credential(models.Model):
    """A passkey the user registered from their profile."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="passkeys")
    name = models.CharField(_("name"), max_length=100)
    credential_id = models.BinaryField()
    credential_id_b64 = models.CharField(max_length=1400, unique=True)  # base64url, for lookup
    public_key = models.BinaryField()  # COSE key
    sign_count = models.BigIntegerField(default=0)
    transports = models.JSONField(default=list, blank=True)
    aaguid = models.CharField(max_length=36, blank=True)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["user", "created_at"]

    def __str__(self) -> str:
        return self.name


class Method(models.TextChoices):
    PASSKEY = "passkey", _("passkey")
    PASSWORD = "password", _("password re-authentication")
    EMAIL_CODE = "email_code", _("one-time code by e-mail")


class CeremonyPurpose(models.TextChoices):
    REGISTER = "register", _("register a passkey")
    SIGN = "sign", _("sign")


class Ceremony(models.Model):
    """One attempt to register a passkey or to sign one document: the challenge (or code)
    issued, accepted at most once, and expiring."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    purpose = models.CharField(max_length=10, choices=CeremonyPurpose.choices)
    method = models.CharField(max_length=12, choices=Method.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="+")
    document = models.ForeignKey(Document, models.CASCADE, null=True, related_name="ceremonies")
    nonce = models.BinaryField()
    challenge = models.BinaryField()
    code_hash = models.CharField(max_length=64, blank=True)  # one-time codes only
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "created_at"], name="signing_ceremony_user_idx")]


class Signature(models.Model):
    """The employee's acknowledgement of one document, with all the evidence kept."""

    document = models.OneToOneField(Document, models.PROTECT, related_name="signature")
    ceremony = models.OneToOneField(Ceremony, models.PROTECT, related_name="signature")
    method = models.CharField(_("method"), max_length=12, choices=Method.choices)
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    credential = models.ForeignKey(
        Credential, models.PROTECT, null=True, blank=True, related_name="signatures"
    )
    # The WebAuthn assertion as received (base64url fields), and the public key that
    # verified it, so it can be checked again without the database.
    assertion = models.JSONField(default=dict, blank=True)
    drawn_png = models.BinaryField(null=True, blank=True)  # optional drawn signature
    signed_at = models.DateTimeField()
    ip = models.GenericIPAddressField(null=True)
    user_agent = models.CharField(max_length=1000, blank=True)
    session_hash = models.CharField(max_length=64, blank=True)
    entry_index = models.BigIntegerField()  # ledger entry of the signature
    evidence = models.JSONField(default=dict)  # the canonical evidence record of the letter
    receipt = models.JSONField(null=True, blank=True)  # inclusion proof, once checkpointed


class Letter(models.Model):
    """The sealed confirmation letter (确认函) made on signing."""

    document = models.OneToOneField(Document, models.PROTECT, related_name="letter")
    pdf = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    entry_index = models.BigIntegerField()  # ledger entry naming the letter's hash


class DisputeOutcome(models.TextChoices):
    UPHELD = "upheld", _("upheld: the document will be corrected")
    REJECTED = "rejected", _("rejected: the document stands")


class Dispute(models.Model):
    document = models.ForeignKey(Document, models.PROTECT, related_name="disputes")
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    reason = models.TextField(_("reason"))
    raised_at = models.DateTimeField()
    raised_entry = models.BigIntegerField()
    answer = models.TextField(_("answer"), blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=10, choices=DisputeOutcome.choices, blank=True
    )
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    answered_at = models.DateTimeField(null=True, blank=True)
    answered_entry = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["document", "raised_at"]
        constraints = [
            # One open dispute per document at a time.
            models.UniqueConstraint(
                fields=["document"],
                condition=models.Q(answered_at__isnull=True),
                name="signing_dispute_one_open",
            )
        ]


class DeliveryMethod(models.TextChoices):
    EMAIL = "email", _("e-mail")
    COURIER = "courier", _("courier (EMS / 快递)")
    WITNESS = "witness", _("handed over before a witness")


class AlternativeDelivery(models.Model):
    """HR's record that the document reached the employee another way, when they neither
    sign nor dispute."""

    document = models.ForeignKey(Document, models.PROTECT, related_name="alternative_deliveries")
    method = models.CharField(_("method"), max_length=10, choices=DeliveryMethod.choices)
    delivered_on = models.DateField(_("delivered on"))
    note = models.TextField(_("details"))  # tracking number, witness names, address
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()
    entry_index = models.BigIntegerField()


class Attachment(models.Model):
    delivery = models.ForeignKey(AlternativeDelivery, models.PROTECT, related_name="attachments")
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    content = models.BinaryField()
    sha256 = models.CharField(max_length=64)
