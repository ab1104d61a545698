"""The employee app: her documents on the phone, reading them to the end, confirming them
(passkey, login password or an e-mailed code, with an optional drawn signature) or raising
a dispute, the sealed letter and the receipt; her passkeys; the PWA shell (manifest,
service worker, offline page).

Every page and file here is the employee's own: nobody else, whatever their role, opens
another person's documents through the app (HR and managers have their own pages).
"""

import base64
import binascii
import functools
import hashlib
import json
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from kaohe.front.views.documents import PRIVATE, private_file, receipt_file
from kaohe.lib import clock
from kaohe.signing import actions
from kaohe.signing.actions import SigningError
from kaohe.signing.models import OPEN_STATES, Credential, Document, DocumentState, Method
from kaohe.signing.visibility import documents_visible_to

MAX_REASON_CHARS = 2000
MAX_PASSKEY_NAME_CHARS = 100
MAX_DRAWN_BYTES = 512 * 1024  # a drawn signature as PNG; a phone canvas makes some 20 kB
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DONE_STATES = [DocumentState.SIGNED, DocumentState.SERVED]
SHELL_FILES = ["front/kaohe.css", "front/app.css", "front/app.js", "front/icon.svg"]


class BadInput(Exception):
    """A request the app's own pages never send (a missing field, malformed JSON)."""


# -- helpers ----------------------------------------------------------------------------


def own_documents(user):
    """The user's own documents in force (never another person's, whatever her roles)."""
    return documents_visible_to(user).filter(employee__user=user)


def _own_document(request, document_id) -> Document:
    rows = own_documents(request.user).select_related("employee")
    return get_object_or_404(rows, public_id=document_id)


def _message(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error)


def _json_body(request) -> dict:
    if request.content_type != "application/json":
        return request.POST.dict()
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError) as error:
        raise BadInput(_("The request was not understood.")) from error
    if not isinstance(body, dict):
        raise BadInput(_("The request was not understood."))
    return body


def json_endpoint(view):
    """POST only, signed in; a refused or malformed request answers {"error": "..."}."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except Http404:
            return JsonResponse({"error": _("Not found.")}, status=404)
        except (SigningError, ValidationError, BadInput) as error:
            return JsonResponse({"error": _message(error)}, status=400)

    return login_required(require_POST(wrapped))


def _text(body: dict, name: str) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadInput(_("The request was not understood."))
    return value


def _ceremony_id(body: dict) -> uuid.UUID:
    try:
        return uuid.UUID(str(body.get("ceremony")))
    except ValueError as error:
        raise BadInput(_("The signing session is missing; start again.")) from error


def _drawn_png(value) -> bytes | None:
    """The drawn signature from a canvas data URL, or None when none was drawn."""
    if not value:
        return None
    prefix = "data:image/png;base64,"
    if not isinstance(value, str) or not value.startswith(prefix):
        raise BadInput(_("The drawn signature is not a PNG image."))
    try:
        png = base64.b64decode(value[len(prefix) :], validate=True)
    except (binascii.Error, ValueError) as error:
        raise BadInput(_("The drawn signature is not a PNG image.")) from error
    if not png.startswith(PNG_MAGIC) or len(png) > MAX_DRAWN_BYTES:
        raise BadInput(_("The drawn signature is not a PNG image."))
    return png


# -- documents --------------------------------------------------------------------------


@login_required
@require_GET
def home(request):
    documents = list(own_documents(request.user).order_by("-issued_at"))
    waiting = [d for d in documents if d.state in OPEN_STATES]
    waiting.sort(key=lambda d: (d.due_at is None, d.due_at or d.issued_at))
    context = {
        "waiting": waiting,
        "done": [d for d in documents if d.state in DONE_STATES],
        "now": clock.now(),
        "employee": getattr(request.user, "employee", None),
    }
    return render(request, "front/app/home.html", context)


DISPUTABLE = (DocumentState.PENDING, DocumentState.SERVED)


def _document_context(request, document: Document) -> dict:
    disputes = list(document.disputes.order_by("raised_at"))
    signature = getattr(document, "signature", None) if document.state == "signed" else None
    open_dispute = next((d for d in disputes if d.answered_at is None), None)
    return {
        "document": document,
        "data": document.data,
        "sections": document.data.get("sections", []),
        "signature": signature,
        "letter": getattr(document, "letter", None) if signature else None,
        "disputes": disputes,
        # As the actions allow: a document served by other means can still be signed or
        # disputed; one whose dispute was upheld awaits its correction.
        "may_sign": document.state in actions.SIGNABLE,
        "may_dispute": document.state in DISPUTABLE and open_dispute is None,
        "read": document.read_at is not None,
        "has_passkey": request.user.passkeys.filter(revoked_at__isnull=True).exists(),
        "max_reason": MAX_REASON_CHARS,
    }


@login_required
@require_GET
def document_page(request, document_id):
    document = _own_document(request, document_id)
    actions.do_mark_opened(request.user, document, request)
    response = render(request, "front/app/document.html", _document_context(request, document))
    response["Cache-Control"] = PRIVATE
    return response


@json_endpoint
def mark_read(request, document_id):
    document = _own_document(request, document_id)
    actions.do_mark_read(request.user, document, request)
    return JsonResponse({"read": True})


@json_endpoint
def sign_begin(request, document_id):
    document = _own_document(request, document_id)
    method = _json_body(request).get("method")
    if method not in Method.values:
        raise BadInput(_("Choose how to confirm the document."))
    ceremony, options = actions.do_begin_signing(request.user, document, Method(method))
    return JsonResponse({"ceremony": str(ceremony.public_id), "options": options})


@json_endpoint
def sign_finish(request, document_id):
    document = _own_document(request, document_id)
    body = _json_body(request)
    assertion = body.get("assertion")
    if assertion is not None and not isinstance(assertion, dict):
        raise BadInput(_("The passkey's answer was not understood."))
    actions.do_sign(
        request.user,
        document,
        _ceremony_id(body),
        assertion=assertion,
        password=_text(body, "password"),
        code=_text(body, "code"),
        drawn_png=_drawn_png(body.get("drawn")),
        request=request,
    )
    return JsonResponse({"redirect": reverse("front:app_done", args=[document.public_id])})


@login_required
@require_POST
def dispute(request, document_id):
    document = _own_document(request, document_id)
    reason = request.POST.get("reason", "").strip()
    error = None
    if not reason:
        error = _("Please give the reason for your dispute.")
    elif len(reason) > MAX_REASON_CHARS:
        error = _("The reason is too long (at most %(count)d characters).") % {
            "count": MAX_REASON_CHARS
        }
    else:
        try:
            actions.do_dispute(request.user, document, reason, request=request)
        except (SigningError, ValidationError) as failure:
            error = _message(failure)
    if error is None:
        messages.success(request, _("Your dispute was sent to HR."))
        return redirect("front:app_document", document.public_id)
    document.refresh_from_db()
    context = _document_context(request, document) | {"dispute_error": error, "reason": reason}
    return render(request, "front/app/document.html", context, status=400)


@login_required
@require_GET
def done(request, document_id):
    document = _own_document(request, document_id)
    if document.state != DocumentState.SIGNED:
        return redirect("front:app_document", document.public_id)
    return render(request, "front/app/done.html", _document_context(request, document))


@login_required
@require_GET
def document_pdf(request, document_id):
    document = _own_document(request, document_id)
    name = f"kaohe-{document.public_id}.pdf"
    return private_file(bytes(document.pdf), "application/pdf", name, attachment=False)


@login_required
@require_GET
def letter_pdf(request, document_id):
    document = _own_document(request, document_id)
    letter = getattr(document, "letter", None)
    if letter is None:
        raise Http404
    name = f"kaohe-letter-{document.public_id}.pdf"
    return private_file(bytes(letter.pdf), "application/pdf", name, attachment=True)


@login_required
@require_GET
def receipt(request, document_id):
    document = _own_document(request, document_id)
    return receipt_file(document, "receipt.json")


# -- passkeys ---------------------------------------------------------------------------


@login_required
@require_GET
def passkeys(request):
    keys = Credential.objects.filter(user=request.user, revoked_at__isnull=True)
    return render(request, "front/app/passkeys.html", {"passkeys": keys})


@json_endpoint
def passkey_begin(request):
    ceremony, options = actions.do_begin_registration(request.user)
    return JsonResponse({"ceremony": str(ceremony.public_id), "options": options})


@json_endpoint
def passkey_finish(request):
    body = _json_body(request)
    credential = body.get("credential")
    if not isinstance(credential, dict):
        raise BadInput(_("The passkey's answer was not understood."))
    name = (_text(body, "name") or "").strip()
    if not name or len(name) > MAX_PASSKEY_NAME_CHARS:
        raise BadInput(_("Give the passkey a name (at most 100 characters)."))
    actions.do_finish_registration(request.user, _ceremony_id(body), credential, name)
    return JsonResponse({"redirect": reverse("front:app_passkeys")})


@login_required
@require_POST
def passkey_revoke(request, credential_id: str):
    credential = get_object_or_404(
        Credential, user=request.user, credential_id_b64=credential_id, revoked_at__isnull=True
    )
    try:
        actions.do_revoke_passkey(request.user, credential)
    except (SigningError, ValidationError) as error:
        messages.error(request, _message(error))
    else:
        messages.success(request, _("The passkey was removed."))
    return redirect("front:app_passkeys")


# -- the PWA shell ----------------------------------------------------------------------


@require_GET
def manifest(request):
    icons = [
        {"src": static("front/icon.svg"), "sizes": "any", "type": "image/svg+xml"},
        {"src": static("front/icon-192.png"), "sizes": "192x192", "type": "image/png"},
        {"src": static("front/icon-512.png"), "sizes": "512x512", "type": "image/png"},
    ]
    body = {
        "name": "考核",
        "short_name": "考核",
        "description": _("Your assessment documents: read, confirm or dispute them."),
        "start_url": reverse("front:app_home"),
        "scope": reverse("front:app_home"),
        "display": "standalone",
        "background_color": "#f5f7fa",
        "theme_color": "#b4232a",
        "lang": "zh-CN",
        "icons": icons,
    }
    response = JsonResponse(body, json_dumps_params={"ensure_ascii": False, "indent": 2})
    response["Content-Type"] = "application/manifest+json"
    return response


@functools.cache
def _shell_version() -> str:
    digest = hashlib.sha256()
    for name in SHELL_FILES:
        path = finders.find(name)
        if path:
            with open(path, "rb") as handle:
                digest.update(handle.read())
    return digest.hexdigest()[:16]


@require_GET
def service_worker(request):
    offline_url = reverse("front:app_offline")
    context = {
        "version": _shell_version(),
        "shell": json.dumps([static(name) for name in SHELL_FILES] + [offline_url]),
        "offline": json.dumps(offline_url),
    }
    response = render(request, "front/app/sw.js", context, content_type="application/javascript")
    response["Service-Worker-Allowed"] = reverse("front:app_home")
    response["Cache-Control"] = "no-cache"
    return response


@require_GET
def offline(request):
    return render(request, "front/app/offline.html")
