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
}


def targets(cast) -> dict[str, str]:
    from kaohe.signing.testing import make_document

    document = make_document(cast.amy)
    return {"<document_id>": str(document.public_id)}
