"""Permission-matrix rows for the employee app (mobile pages, PWA shell).

See test_permission_matrix.py: MATRIX maps each URL pattern to how outsiders are treated,
and `targets(cast)` makes amy's objects and returns {placeholder: value} for the routes.
"""

import os

from kaohe.lib import clock

DOC = "app/documents/<uuid:document_id>/"

MATRIX: dict[str, tuple[str, list[str]]] = {
    # Everyone's own documents and passkeys only.
    "app/": ("filtered", ["get"]),
    "app/passkeys/": ("filtered", ["get"]),
    "app/passkeys/begin/": ("filtered", ["post"]),
    "app/passkeys/finish/": ("filtered", ["post"]),
    "app/passkeys/<str:credential_id>/revoke/": ("denied", ["post"]),
    # One document: the employee herself only (HR and managers have their own pages).
    DOC: ("denied", ["get"]),
    DOC + "read/": ("denied", ["post"]),
    DOC + "sign/begin/": ("denied", ["post"]),
    DOC + "sign/finish/": ("denied", ["post"]),
    DOC + "dispute/": ("denied", ["post"]),
    DOC + "done/": ("denied", ["get"]),
    DOC + "document.pdf": ("denied", ["get"]),
    DOC + "letter.pdf": ("denied", ["get"]),
    DOC + "receipt.json": ("denied", ["get"]),
    # The PWA shell holds no personal data.
    "app/manifest.webmanifest": ("open", ["get"]),
    "app/sw.js": ("open", ["get"]),
    "app/offline/": ("open", ["get"]),
}


def targets(cast) -> dict[str, str]:
    from kaohe.signing.models import Credential
    from kaohe.signing.testing import make_document

    document = make_document(cast.amy, title="艾米的考核结果（私密）")
    raw = os.urandom(32)
    credential = Credential.objects.create(
        user=cast.amy.user, name="艾米的手机", credential_id=raw,
        credential_id_b64=raw.hex(), public_key=b"-", created_at=clock.now(),
    )  # fmt: skip
    return {
        "<uuid:document_id>": str(document.public_id),
        "<str:credential_id>": credential.credential_id_b64,
    }
