"""Pages of the signing area (namespace `front`, included by kaohe/front/urls.py)."""

from django.urls import path

from kaohe.front.views import documents

urlpatterns: list = [
    path("documents/<uuid:document_id>/", documents.document_detail, name="document_detail"),
    path("documents/<uuid:document_id>/pdf/", documents.document_pdf, name="document_pdf"),
    path("documents/<uuid:document_id>/letter/", documents.document_letter, name="document_letter"),
    path(
        "documents/<uuid:document_id>/receipt/",
        documents.document_receipt,
        name="document_receipt",
    ),
    path(
        "documents/<uuid:document_id>/attachments/<int:attachment_id>/",
        documents.document_attachment,
        name="document_attachment",
    ),
    path("documents/<uuid:document_id>/answer/", documents.document_answer, name="document_answer"),
    path(
        "documents/<uuid:document_id>/deliver/",
        documents.document_deliver,
        name="document_deliver",
    ),
    path(
        "documents/<uuid:document_id>/withdraw/",
        documents.document_withdraw,
        name="document_withdraw",
    ),
]
