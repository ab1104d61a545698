"""One document for HR, managers and auditors: its state, what happened to it (issued,
delivered, opened, read, signed, disputed, answered, served, withdrawn), the signature's
evidence, downloads, and HR's actions (answer a dispute, record another delivery,
withdraw). Everything goes through kaohe.signing.visibility and kaohe.signing.actions."""

import json

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from kaohe.org.evidence import entries_visible_to
from kaohe.signing.actions import do_answer_dispute, do_record_delivery, do_withdraw
from kaohe.signing.content import SigningError
from kaohe.signing.models import (
    OPEN_STATES,
    VOID_STATES,
    Attachment,
    DeliveryMethod,
    DisputeOutcome,
    Document,
    DocumentState,
    Letter,
)
from kaohe.signing.visibility import documents_visible_to, may_manage

TEXTAREA = forms.Textarea(attrs={"rows": 3})


class AnswerForm(forms.Form):
    answer = forms.CharField(label=gettext_lazy("Answer"), max_length=5000, widget=TEXTAREA)
    outcome = forms.ChoiceField(
        label=gettext_lazy("Outcome"), choices=DisputeOutcome.choices, widget=forms.RadioSelect
    )


class DeliveryForm(forms.Form):
    method = forms.ChoiceField(label=gettext_lazy("Delivered by"), choices=DeliveryMethod.choices)
    delivered_on = forms.DateField(
        label=gettext_lazy("Delivered on"), widget=forms.DateInput(attrs={"type": "date"})
    )
    note = forms.CharField(
        label=gettext_lazy("Details (tracking number, witnesses, address)"),
        max_length=5000,
        widget=TEXTAREA,
    )


class WithdrawForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=5000, widget=TEXTAREA)


def visible_document(user, document_id) -> Document:
    """The document for those who may see it; anyone else gets 404."""
    rows = documents_visible_to(user).select_related("employee", "employee__org_unit")
    document = rows.filter(public_id=document_id).first()
    if document is None:
        raise Http404
    return document


# -- the page ------------------------------------------------------------------------------


@login_required
def document_detail(request, document_id):
    return _page(request, visible_document(request.user, document_id))


def _page(request, document: Document, status: int = 200, **forms_) -> HttpResponse:
    manage = may_manage(request.user, document)
    signature = getattr(document, "signature", None)
    open_dispute = document.disputes.filter(answered_at__isnull=True).first()
    context = {
        "document": document,
        "signature": signature,
        "letter": Letter.objects.filter(document=document).defer("pdf").first(),
        "timeline": timeline(request.user, document),
        "disputes": document.disputes.select_related("raised_by", "answered_by"),
        "deliveries": document.alternative_deliveries.prefetch_related("attachments"),
        "open_dispute": open_dispute,
        "may_manage": manage,
        "may_answer": manage and open_dispute is not None,
        # Once signed, the signature is the proof of receipt: no other delivery to record.
        "may_deliver": manage and document.state not in [*VOID_STATES, DocumentState.SIGNED],
        "may_withdraw": manage and document.state in OPEN_STATES,
        "answer_form": forms_.get("answer_form") or AnswerForm(),
        "delivery_form": forms_.get("delivery_form") or DeliveryForm(),
        "withdraw_form": forms_.get("withdraw_form") or WithdrawForm(),
        "states": DocumentState,
    }
    return render(request, "front/documents/detail.html", context, status=status)


def timeline(user, document: Document) -> list[dict]:
    """The document's ledger entries, oldest first, with the request's IP and browser; the
    employee reading her own document sees those of her own requests only (not HR's)."""
    own = document.employee.user_id == user.pk
    entries = entries_visible_to(user).filter(
        employee_no=document.employee.employee_no, subject__contains=str(document.public_id)
    )
    rows = []
    for entry in entries.order_by("index"):
        body = json.loads(entry.body)
        request = body.get("request") or {}
        if own and not entry.actor.startswith(f"user:{user.pk}:"):
            request = {}
        rows.append(
            {
                "index": entry.index,
                "kind": entry.kind,
                "at": entry.at,
                "actor": entry.actor,
                "ip": request.get("ip", ""),
                "user_agent": request.get("user_agent", ""),
            }
        )
    return rows


# -- HR's actions --------------------------------------------------------------------------


def _managed(request, document_id) -> Document:
    document = visible_document(request.user, document_id)
    if not may_manage(request.user, document):
        raise PermissionDenied
    return document


def _act(request, document_id, form_class, name: str, action, done: str) -> HttpResponse:
    """Validates the form, runs the action; errors go back into the form (status 400)."""
    document = _managed(request, document_id)
    form = form_class(request.POST, request.FILES)
    if form.is_valid():
        try:
            action(document, form.cleaned_data)
        except SigningError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, done)
            return redirect("front:document_detail", document_id=document.public_id)
    document.refresh_from_db()
    return _page(request, document, status=400, **{name: form})


@login_required
@require_POST
def document_answer(request, document_id):
    def answer(document, data):
        dispute = document.disputes.filter(answered_at__isnull=True).first()
        if dispute is None:
            raise SigningError(_("There is no open dispute to answer."))
        do_answer_dispute(request.user, dispute, data["answer"], data["outcome"])

    return _act(request, document_id, AnswerForm, "answer_form", answer, _("Answer recorded."))


@login_required
@require_POST
def document_deliver(request, document_id):
    def deliver(document, data):
        files = request.FILES.getlist("files")
        do_record_delivery(
            request.user, document, data["method"], data["delivered_on"], data["note"], files
        )

    done = _("Delivery recorded.")
    return _act(request, document_id, DeliveryForm, "delivery_form", deliver, done)


@login_required
@require_POST
def document_withdraw(request, document_id):
    def withdraw(document, data):
        do_withdraw(request.user, document, data["reason"])

    done = _("Document withdrawn.")
    return _act(request, document_id, WithdrawForm, "withdraw_form", withdraw, done)


# -- downloads -------------------------------------------------------------------------------


PRIVATE = "private, no-store"  # personal evidence: not kept on a shared computer


def private_file(
    content: bytes, content_type: str, filename: str, attachment: bool = True
) -> HttpResponse:
    """A file of personal evidence (document, letter, receipt, attachment), for HR's pages
    and the employee app alike: never cached, never sniffed as another type."""
    response = HttpResponse(content, content_type=content_type)
    disposition = "attachment" if attachment else "inline"
    response["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = PRIVATE
    return response


def receipt_file(document: Document, filename: str) -> HttpResponse:
    """The receipt of the document's signature as a JSON download; 404 until there is one."""
    signature = getattr(document, "signature", None)
    if signature is None or not signature.receipt:
        raise Http404
    content = json.dumps(signature.receipt, ensure_ascii=False, indent=2).encode()
    return private_file(content, "application/json", filename)


@login_required
def document_pdf(request, document_id):
    document = visible_document(request.user, document_id)
    return private_file(
        bytes(document.pdf), "application/pdf", f"document-{document.public_id}.pdf"
    )


@login_required
def document_letter(request, document_id):
    document = visible_document(request.user, document_id)
    letter = Letter.objects.filter(document=document).first()
    if letter is None:
        raise Http404
    return private_file(bytes(letter.pdf), "application/pdf", f"letter-{document.public_id}.pdf")


@login_required
def document_receipt(request, document_id):
    document = visible_document(request.user, document_id)
    return receipt_file(document, f"receipt-{document.public_id}.json")


@login_required
def document_attachment(request, document_id, attachment_id: int):
    document = visible_document(request.user, document_id)
    attachment = Attachment.objects.filter(pk=attachment_id, delivery__document=document).first()
    if attachment is None:
        raise Http404
    ascii_name = attachment.name.encode("ascii", "replace").decode().replace('"', "_")
    return private_file(bytes(attachment.content), "application/octet-stream", ascii_name)
