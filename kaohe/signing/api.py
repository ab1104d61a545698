"""The signing API (routes under /api/v1/): documents within the caller's reach, their
PDFs and receipts, and the company CA that seals the letters."""

import datetime as dt
import uuid
from typing import Annotated, Literal

from django.http import HttpResponse
from django.utils.translation import gettext as _
from ninja import Path, Query, Router, Schema
from pydantic import Field

from kaohe.lib.problem import Problem, ProblemError
from kaohe.org.api import (
    Caller,
    TimeCursor,
    auth_for,
    newest_first_page,
    optional_query,
    pattern_text,
)
from kaohe.org.validators import EMPLOYEE_NO_PATTERN
from kaohe.signing.models import Document, DocumentKind, DocumentState, Letter, Signature
from kaohe.signing.visibility import documents_visible_to, documents_visible_to_key

SCOPE = "documents:read"
# "<microseconds since 1970>-<id>" of the last document of a page (newest first).
DENIED = {401: Problem, 403: Problem}

router = Router(tags=["signing"])


KindName = Literal[tuple(DocumentKind.values)]  # type: ignore[valid-type]
StateName = Literal[tuple(DocumentState.values)]  # type: ignore[valid-type]


class DocumentFilters(Schema):
    employee: optional_query(
        pattern_text(32, EMPLOYEE_NO_PATTERN), maxLength=32, pattern=EMPLOYEE_NO_PATTERN
    ) = (  # type: ignore[valid-type]
        Field(None, description="An employee number.")
    )
    kind: optional_query(KindName, enum=list(DocumentKind.values)) = Field(  # type: ignore[valid-type]
        None, description="`result`, `agreement`, `pip` or `standard`."
    )
    state: optional_query(StateName, enum=list(DocumentState.values)) = Field(  # type: ignore[valid-type]
        None,
        description="`pending`, `signed`, `disputed`, `served`, `withdrawn` or `superseded`.",
    )
    cursor: TimeCursor = Field(None, description="The `next_cursor` of the previous page.")
    limit: int = Field(100, ge=1, le=500, description="At most this many documents.")

    def apply(self, rows):
        if self.employee:
            rows = rows.filter(employee__employee_no=self.employee)
        if self.kind:
            rows = rows.filter(kind=self.kind)
        if self.state:
            rows = rows.filter(state=self.state)
        return rows


class SignatureOut(Schema):
    method: str = Field(description="`passkey`, `password` or `email_code`.")
    signed_at: dt.datetime
    entry_index: int = Field(description="The ledger entry of the signature.")
    has_receipt: bool
    letter_sha256: str | None = Field(description="SHA-256 of the sealed letter, once made.")


class DocumentOut(Schema):
    id: uuid.UUID = Field(description="The document's public id; its page is /app/documents/{id}/.")
    kind: str
    title: str
    employee: str = Field(description="The employee number.")
    state: str
    source_type: str
    source_id: str
    doc_sha256: str = Field(description="SHA-256 over the data and PDF hashes (kaohe-doc/v1).")
    data_sha256: str
    pdf_sha256: str
    issued_at: dt.datetime
    issued_entry: int
    due_at: dt.datetime | None
    delivered_at: dt.datetime | None
    opened_at: dt.datetime | None
    read_at: dt.datetime | None
    closed_at: dt.datetime | None
    supersedes: uuid.UUID | None
    signature: SignatureOut | None


class DocumentDetail(DocumentOut):
    data: dict = Field(description='The document\'s content ("kaohe-document/v1").')


class DocumentPage(Schema):
    items: list[DocumentOut]
    next_cursor: str | None = Field(
        description="Pass it as `cursor` for the next page; null on the last page."
    )


def document_out(document: Document) -> dict:
    signature = getattr(document, "signature", None)
    letter = getattr(document, "letter", None)
    return {
        "id": document.public_id,
        "kind": document.kind,
        "title": document.title,
        "employee": document.employee.employee_no,
        "state": document.state,
        "source_type": document.source_type,
        "source_id": document.source_id,
        "doc_sha256": document.doc_sha256,
        "data_sha256": document.data_sha256,
        "pdf_sha256": document.pdf_sha256,
        "issued_at": document.issued_at,
        "issued_entry": document.issued_entry,
        "due_at": document.due_at,
        "delivered_at": document.delivered_at,
        "opened_at": document.opened_at,
        "read_at": document.read_at,
        "closed_at": document.closed_at,
        "supersedes": document.supersedes.public_id if document.supersedes_id else None,
        "signature": None
        if signature is None
        else {
            "method": signature.method,
            "signed_at": signature.signed_at,
            "entry_index": signature.entry_index,
            "has_receipt": bool(signature.receipt),
            "letter_sha256": letter.sha256 if letter is not None else None,
        },
    }


def _visible(caller: Caller):
    if caller.key is not None:
        return documents_visible_to_key(caller.key)
    return documents_visible_to(caller.user)


def _rows(caller: Caller):
    # Only what the answers show: the content (data, pdf) and evidence stay unread.
    return (
        _visible(caller)
        .select_related("employee", "supersedes", "signature", "letter")
        .defer(
            "data",
            "data_json",
            "pdf",
            "letter__pdf",
            "signature__assertion",
            "signature__evidence",
            "signature__receipt",
            "signature__drawn_png",
        )
    )


def _one(caller: Caller, document_id: uuid.UUID, rows=None) -> Document:
    """The document within the caller's reach (of `rows` when given), else a 404."""
    rows = rows if rows is not None else _visible(caller).select_related("employee")
    document = rows.filter(public_id=document_id).first()
    if document is None:
        detail = _("There is no document %(id)s within your reach.")
        raise ProblemError(404, detail % {"id": document_id})
    return document


DocumentId = Annotated[uuid.UUID, Path(description="The document's public id.")]


@router.get(
    "/documents",
    auth=auth_for(SCOPE),
    response={200: DocumentPage, 400: Problem, **DENIED, 422: Problem},
    summary="List documents",
)
def list_documents(request, filters: Query[DocumentFilters]):
    """The documents (results, agreements, plans, standards) within the caller's reach,
    newest first, a page at a time. An employee sees her own documents in force; a key
    limited to org units, those of the employees in them. Scope: `documents:read`."""
    rows = filters.apply(_rows(request.auth))
    page, cursor = newest_first_page(rows, "issued_at", filters.cursor, filters.limit)
    return {"items": [document_out(document) for document in page], "next_cursor": cursor}


@router.get(
    "/documents/{document_id}",
    auth=auth_for(SCOPE),
    response={200: DocumentDetail, 400: Problem, **DENIED, 404: Problem, 422: Problem},
    summary="Get one document",
)
def get_document(request, document_id: DocumentId):
    """One document with its content; anyone outside the caller's reach is a 404.
    Scope: `documents:read`."""
    document = _one(request.auth, document_id, _rows(request.auth).defer(None))
    return document_out(document) | {"data": document.data}


@router.get(
    "/documents/{document_id}/pdf",
    auth=auth_for(SCOPE),
    response={200: None, 400: Problem, **DENIED, 404: Problem, 422: Problem},
    summary="Download a document's PDF",
    openapi_extra={
        "responses": {200: {"description": "application/pdf", "content": {"application/pdf": {}}}}
    },
)
def get_document_pdf(request, document_id: DocumentId):
    """The sealed confirmation letter once the document is signed, else the document as
    issued. Scope: `documents:read`."""
    document = _one(request.auth, document_id)
    letter = Letter.objects.filter(document=document).first()
    pdf, suffix = (bytes(letter.pdf), "-letter") if letter else (bytes(document.pdf), "")
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{document.public_id}{suffix}.pdf"'
    return response


@router.get(
    "/documents/{document_id}/receipt",
    auth=auth_for(SCOPE),
    response={200: dict, 400: Problem, **DENIED, 404: Problem, 422: Problem},
    summary="Get a signature's receipt",
)
def get_document_receipt(request, document_id: DocumentId):
    """The receipt of the document's signature: the ledger entry with its inclusion proof
    up to a signed checkpoint, a document `kaohe verify` accepts. 404 until there is one.
    Scope: `documents:read`."""
    document = _one(request.auth, document_id)
    receipt = Signature.objects.filter(document=document).values_list("receipt", flat=True).first()
    if not receipt:
        raise ProblemError(404, _("This document has no receipt yet."))
    return receipt


@router.get(
    "/signing/ca.pem",
    auth=None,
    response={200: None},
    summary="The company CA certificate",
    openapi_extra={
        "responses": {
            200: {
                "description": "application/x-pem-file",
                "content": {"application/x-pem-file": {}},
            }
        }
    },
)
def get_ca_certificate(request):
    """The certificate of the company CA that issued the seal certificate of the letters;
    PDF readers check the letters' signatures against it. Public."""
    from kaohe.signing.seal import ca_certificate_pem

    return HttpResponse(ca_certificate_pem(), content_type="application/x-pem-file")
