"""Target agreements as documents: a published metrics.AgreementVersion put before the
employee to sign."""

from kaohe.signing.models import Document, DocumentKind

SOURCE_TYPE = "metrics.agreement_version"


def on_signed(document: Document) -> None:
    """Called in the signing transaction: a signed agreement document acknowledges its
    AgreementVersion."""
    if document.kind != DocumentKind.AGREEMENT or document.source_type != SOURCE_TYPE:
        return
