"""Pages of the app area (namespace `front`, included by kaohe/front/urls.py): the
employee's documents on the phone, her passkeys, and the PWA shell."""

from django.urls import path

from kaohe.front.views import app

DOC = "app/documents/<uuid:document_id>/"

urlpatterns = [
    path("app/", app.home, name="app_home"),
    path(DOC, app.document_page, name="app_document"),
    path(DOC + "read/", app.mark_read, name="app_read"),
    path(DOC + "sign/begin/", app.sign_begin, name="app_sign_begin"),
    path(DOC + "sign/finish/", app.sign_finish, name="app_sign_finish"),
    path(DOC + "dispute/", app.dispute, name="app_dispute"),
    path(DOC + "done/", app.done, name="app_done"),
    path(DOC + "document.pdf", app.document_pdf, name="app_document_pdf"),
    path(DOC + "letter.pdf", app.letter_pdf, name="app_letter_pdf"),
    path(DOC + "receipt.json", app.receipt, name="app_receipt"),
    path("app/passkeys/", app.passkeys, name="app_passkeys"),
    path("app/passkeys/begin/", app.passkey_begin, name="app_passkey_begin"),
    path("app/passkeys/finish/", app.passkey_finish, name="app_passkey_finish"),
    path("app/passkeys/<str:credential_id>/revoke/", app.passkey_revoke, name="app_passkey_revoke"),
    path("app/manifest.webmanifest", app.manifest, name="app_manifest"),
    path("app/sw.js", app.service_worker, name="app_sw"),
    path("app/offline/", app.offline, name="app_offline"),
]
