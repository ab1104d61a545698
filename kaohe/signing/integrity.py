"""Checking a document against the ledger: its stored content and hashes against the
"document.issued" entry, its signature's evidence against "document.signed", its letter
against "letter.sealed", and the archived passkey assertion against the document."""

from django.utils.translation import gettext as _

from kaohe.signing import webauthn as wa
from kaohe.signing.content import SigningError
from kaohe.signing.models import Signature


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
