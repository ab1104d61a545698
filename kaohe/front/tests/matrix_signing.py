"""Permission-matrix rows for signing: documents, passkeys, ceremonies, letters, receipts, the CA.

See test_permission_matrix.py: MATRIX maps each URL pattern to how outsiders are treated,
and `targets(cast)` makes amy's objects and returns {placeholder: value} for the routes.
"""

MATRIX: dict[str, tuple[str, list[str]]] = {
    # The documents API (helper "ceremony"): lists filter, one document is its viewers' only.
    "api/v1/documents": ("filtered", ["get"]),
    "api/v1/documents/<document_id>": ("denied", ["get"]),
    "api/v1/documents/<document_id>/pdf": ("denied", ["get"]),
    "api/v1/documents/<document_id>/receipt": ("denied", ["get"]),
    "api/v1/signing/ca.pem": ("open", ["get"]),
    # HR's document pages (helper "seal"): the document's viewers only.
    "documents/<uuid:document_id>/": ("denied", ["get"]),
    "documents/<uuid:document_id>/pdf/": ("denied", ["get"]),
    "documents/<uuid:document_id>/letter/": ("denied", ["get"]),
    "documents/<uuid:document_id>/receipt/": ("denied", ["get"]),
    "documents/<uuid:document_id>/attachments/<int:attachment_id>/": ("denied", ["get"]),
    "documents/<uuid:document_id>/answer/": ("denied", ["post"]),
    "documents/<uuid:document_id>/deliver/": ("denied", ["post"]),
    "documents/<uuid:document_id>/withdraw/": ("denied", ["post"]),
}


def targets(cast) -> dict[str, str]:
    from kaohe.signing.testing import make_document

    document = make_document(cast.amy)
    return {
        "<document_id>": str(document.public_id),
        "<uuid:document_id>": str(document.public_id),
        "<int:attachment_id>": str(_attachment(cast, document).pk),
    }


def _attachment(cast, document):
    from kaohe.lib import clock
    from kaohe.signing.models import AlternativeDelivery, Attachment

    delivery = AlternativeDelivery.objects.create(
        document=document, method="courier", delivered_on=clock.today(), note="EMS 私密",
        recorded_by=cast.hazel, recorded_at=clock.now(), entry_index=0,
    )  # fmt: skip
    return Attachment.objects.create(
        delivery=delivery,
        name="艾米.txt",
        content_type="text/plain",
        content=b"E0003",
        sha256="0" * 64,
    )
